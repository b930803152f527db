/* liborm — the row cache's write-back buffer: saves of write-back models kept in memory and
 * written to the database in batches.
 *
 * A dirty row lives in this buffer (a chained hash of key -> deep copy of the row, or a
 * delete), not only in the cache: the cache holds a copy to serve gets, but an eviction or an
 * expiry of that copy can never lose a write. The buffer is flushed: when it holds max_dirty
 * rows (the save that reaches it flushes first: the buffer's eviction), on
 * orm_row_cache_flush, every flush_interval_ms (a thread), before a query or a write the ORM
 * cannot map to keys on a model with dirty rows, and when the db closes.
 *
 * A flush writes one model's rows per transaction, at most `batch` of them: one multi-row
 * upsert (INSERT ... ON CONFLICT (key) DO UPDATE) for the saved rows and one
 * DELETE ... WHERE key IN (...) for the deleted ones. Its statements pass the row cache
 * untouched (a thread-local flag): they write what the cache already holds.
 *
 * Transactions. A statement inside a transaction that needs a model's saved rows in the
 * database writes them in a savepoint of that transaction, on its connection
 * (orm__rc_wb_flush_tx), and claims them for it: autocommit flushes skip claimed rows, so
 * they never wait on the transaction's locks nor write an older version after it, and a
 * transaction skips the rows another transaction claimed or an autocommit flush is writing
 * (two writers of one set of rows, each taking them in its own order, could deadlock); the
 * transaction's end settles them (committed: clean unless saved again or an autocommit flush
 * of an older version is in flight) or releases them (dirty again). Any ROLLBACK TO in the
 * transaction releases them all (row_cache.c sees the statement).
 *
 * Rows kept for older transactions. A transaction may read one snapshot of the database from
 * its first read on (SQLite always; PostgreSQL at REPEATABLE READ): a saved row that another
 * writer (an autocommit flush, another transaction's commit) wrote after that is not in it,
 * and once the row left the buffer a get of it in that transaction would read the older row.
 * So while transactions are reading (rc_reader: registered at their first statement, in seq
 * order), a row that becomes clean is kept in the table, marked kept with the seq of its
 * write and the generations it was written at, instead of freed: a get in a transaction that
 * began reading before that seq answers it (unless a drop since made it stale), every other
 * read ignores it, and a save makes it a saved row again. Kept rows are freed, oldest first,
 * once every transaction reading before them ended, or past max(max_dirty, 10000) of them
 * (then a very long transaction may read the older row: the bound keeps memory in check).
 *
 * Keeps true:
 *  - one autocommit flush at a time (flush_mu), so two flushes never write one key out of
 *    order; a transaction's flush takes no flush_mu (it could wait for a flush that waits for
 *    the transaction's own locks): claims and the in-flight mark keep the order instead;
 *  - a row leaves the buffer only when the transaction that wrote it committed and no save
 *    replaced it meanwhile (a version per entry); a failed flush keeps every row dirty,
 *    reports through the stats and the callback, and the automatic flushes back off
 *    (100 ms doubling to 30 s; explicit flushes and close do not wait);
 *  - close flushes everything it can and reports every row it could not write, by key.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cache/row_cache_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/ctx_internal.h"
#include "orm/middleware_internal.h"
#include "orm/txn.h"
#include "orm/write.h"

#define BUCKETS 1024

typedef struct wb_entry {
    struct wb_entry *next;
    uint64_t h;
    char *key;
    rc_model *m;
    void *row;         /* a deep copy (a delete: the key fields only) */
    int deleted;
    uint64_t version;
    /* Written inside an open transaction (see "Transactions" above): the top-level tx, the
     * savepoint depth and the version it wrote; NULL when none. */
    const void *claim;
    unsigned claim_depth;
    uint64_t claim_version;
    int inflight;      /* an autocommit flush is writing it (collected, not settled) */
    /* Clean, kept for the transactions that began reading before kept_seq (see "Rows kept
     * for older transactions"): not counted in n or dirty, never flushed. */
    int kept;
    uint64_t kept_seq;
    uint64_t kept_stamp[3];
    struct wb_entry *kprev, *knext; /* the kept rows, oldest first */
} wb_entry;

typedef struct rc_wb rc_wb;

struct rc_wb {
    pthread_mutex_t mu;        /* the table */
    pthread_mutex_t flush_mu;  /* one flush at a time */
    wb_entry *b[BUCKETS];
    size_t n;
    size_t batch, max_dirty;
    size_t max_kept;           /* kept rows past this go, oldest first (below) */
    int64_t interval_ms;
    int64_t backoff_ms, retry_at_ms; /* automatic flushes wait until retry_at_ms */
    pthread_t th;
    int running, stop;
    int closing;               /* orm_db_close: claims no longer hold rows back */
    pthread_cond_t cv;
    rc_reader *readers, *readers_tail; /* open transactions reading, oldest first */
    uint64_t seq;                      /* bumped by each row kept */
    wb_entry *kept_head, *kept_tail;
    _Atomic size_t nkept;
};

_Thread_local int orm__rc_in_flush;

static void start_flusher(orm_row_cache *rc);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static wb_entry **slot(rc_wb *w, uint64_t h, const char *key)
{
    wb_entry **pp = &w->b[h % BUCKETS];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->h == h && strcmp((*pp)->key, key) == 0)
            break;
    return pp;
}

static void entry_free(wb_entry *e)
{
    if (!e)
        return;
    if (e->row) {
        orm_model_clear(e->m->model, e->row);
        orm__free(e->row);
    }
    orm__free(e->key);
    orm__free(e);
}

/* ---- rows kept for older transactions (under mu) ---- */

static void kept_unlink(rc_wb *w, wb_entry *e)
{
    *(e->kprev ? &e->kprev->knext : &w->kept_head) = e->knext;
    *(e->knext ? &e->knext->kprev : &w->kept_tail) = e->kprev;
    e->kprev = e->knext = NULL;
    e->kept = 0;
    atomic_fetch_sub_explicit(&w->nkept, 1, memory_order_relaxed);
}

/* *pp's row was written and committed as it is: it is clean. Kept while a transaction is
 * reading (it may have begun before the write), else freed. Returns 1 when it left the chain
 * at *pp, 0 when kept (the caller steps over it). The key's cached copy goes either way: a
 * get that missed the buffer while the row was dirty may have loaded the older database row. */
static int retire(orm_row_cache *rc, rc_wb *w, wb_entry **pp)
{
    wb_entry *e = *pp;
    w->n--;
    atomic_fetch_sub_explicit(&e->m->dirty, 1, memory_order_relaxed);
    orm_cache_delete(rc->cache, e->key);
    if (w->readers && orm__rc_stamp_key(e->m, e->key, e->kept_stamp)) {
        e->kept = 1;
        e->kept_seq = ++w->seq;
        e->kprev = w->kept_tail;
        *(w->kept_tail ? &w->kept_tail->knext : &w->kept_head) = e;
        w->kept_tail = e;
        atomic_fetch_add_explicit(&w->nkept, 1, memory_order_relaxed);
        return 0;
    }
    *pp = e->next;
    entry_free(e);
    return 1;
}

/* Free the kept rows no reading transaction can need: written before the oldest reader began,
 * or past max_kept of them. */
static void sweep(rc_wb *w)
{
    uint64_t oldest = w->readers ? w->readers->seq : UINT64_MAX;
    wb_entry *e;
    while ((e = w->kept_head) &&
           (e->kept_seq <= oldest || atomic_load_explicit(&w->nkept, memory_order_relaxed) > w->max_kept)) {
        kept_unlink(w, e);
        wb_entry **pp = slot(w, e->h, e->key);
        *pp = e->next;
        entry_free(e);
    }
}

void orm__rc_wb_forget(rc_model *m, const char *key)
{
    rc_wb *w = m->rc->wb;
    if (atomic_load_explicit(&w->nkept, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&w->mu);
    wb_entry **pp = slot(w, hash_key(key), key);
    wb_entry *e = *pp;
    if (e && e->kept) {
        kept_unlink(w, e);
        *pp = e->next;
        entry_free(e);
    }
    pthread_mutex_unlock(&w->mu);
}

void orm__rc_wb_reader_begin(orm_row_cache *rc, rc_reader *r)
{
    rc_wb *w = rc->wb;
    pthread_mutex_lock(&w->mu);
    r->seq = w->seq;
    r->next = NULL;
    r->prev = w->readers_tail;
    *(w->readers_tail ? &w->readers_tail->next : &w->readers) = r;
    w->readers_tail = r;
    pthread_mutex_unlock(&w->mu);
}

void orm__rc_wb_reader_end(orm_row_cache *rc, rc_reader *r)
{
    rc_wb *w = rc->wb;
    pthread_mutex_lock(&w->mu);
    *(r->prev ? &r->prev->next : &w->readers) = r->next;
    *(r->next ? &r->next->prev : &w->readers_tail) = r->prev;
    sweep(w);
    pthread_mutex_unlock(&w->mu);
}

/* A row holding only the key fields (for a delete). */
static void *key_row(const orm_model *model, const orm_value *key)
{
    void *row = orm__calloc(1, model->struct_size);
    for (size_t k = 0; row && k < model->npk; k++)
        if (orm_model_set(model, row, model->pk[k], key[k]) != ORM_OK) {
            orm_model_clear(model, row);
            orm__free(row);
            return NULL;
        }
    return row;
}

/* ---- flushing ---- */

typedef struct batch_item {
    char *key;
    void *row;
    int deleted;
    uint64_t version;
} batch_item;

/* A copy of e's saved row for a batch (it owns its key and row); ORM_ENOMEM leaves it empty. */
static int take_item(const rc_model *m, const wb_entry *e, batch_item *it)
{
    it->key = orm__strdup(e->key);
    it->row = orm__calloc(1, m->model->struct_size);
    if (!it->key || !it->row || orm_model_copy(m->model, it->row, e->row) != ORM_OK) {
        orm__free(it->key);
        orm__free(it->row);
        it->key = NULL;
        it->row = NULL;
        return orm__error_nomem("row_cache");
    }
    it->deleted = e->deleted;
    it->version = e->version;
    return ORM_OK;
}

static void items_free(const orm_model *model, batch_item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        orm__free(v[i].key);
        if (v[i].row) {
            orm_model_clear(model, v[i].row);
            orm__free(v[i].row);
        }
    }
    orm__free(v);
}

/* The batch's rows are no longer being written (a failed flush). */
static void uninflight(rc_wb *w, const batch_item *v, size_t n)
{
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        wb_entry *e = *slot(w, hash_key(v[i].key), v[i].key);
        if (e) {
            e->inflight = 0;
            atomic_fetch_add_explicit(&e->m->saves, 1, memory_order_relaxed); /* to write again */
        }
    }
    pthread_mutex_unlock(&w->mu);
}

/* Copy up to batch dirty rows of m out of the table (for an autocommit flush: not the rows an
 * open transaction wrote; marked in flight). */
static int collect(rc_wb *w, rc_model *m, batch_item **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    batch_item *v = orm__calloc(w->batch, sizeof *v);
    if (!v)
        return orm__error_nomem("row_cache");
    int rc = ORM_OK;
    size_t k = 0;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < BUCKETS && k < w->batch && rc == ORM_OK; i++)
        for (wb_entry *e = w->b[i]; e && k < w->batch; e = e->next) {
            if (e->m != m || e->kept || e->inflight || (e->claim && !w->closing))
                continue; /* clean; or a transaction wrote it: its end settles or releases it */
            if ((rc = take_item(m, e, &v[k])) != ORM_OK)
                break;
            e->inflight = 1;
            k++;
        }
    pthread_mutex_unlock(&w->mu);
    if (rc != ORM_OK) {
        uninflight(w, v, k);
        items_free(m->model, v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return ORM_OK;
}

/* Write the batch's rows in s (a transaction): one upsert, one DELETE ... IN. */
static int write_rows(orm_session *s, rc_model *m, batch_item *v, size_t n)
{
    const orm_model *model = m->model;
    int r = ORM_OK;
    size_t nrows = 0, ndel = 0;
    for (size_t i = 0; i < n; i++)
        v[i].deleted ? ndel++ : nrows++;
    if (nrows) {
        orm_insert *ins = orm_insert_new(s, model);
        r = ins ? ORM_OK : orm_error_last()->code;
        for (size_t i = 0; r == ORM_OK && i < n; i++)
            if (!v[i].deleted)
                r = orm_insert_add(ins, v[i].row);
        if (r == ORM_OK) {
            const char *pk[16];
            size_t npk = model->npk < 16 ? model->npk : 16;
            for (size_t k = 0; k < npk; k++)
                pk[k] = model->fields[model->pk[k]].name;
            r = orm_insert_on_conflict(ins, pk, npk,
                                       model->nfields > model->npk ? ORM_CONFLICT_UPDATE : ORM_CONFLICT_NOTHING,
                                       NULL, 0);
        }
        if (r == ORM_OK)
            r = orm_insert_exec(ins, NULL, NULL);
        orm_insert_free(ins);
    }
    if (r == ORM_OK && ndel) {
        orm_delete *del = orm_delete_new(s, model);
        r = del ? ORM_OK : orm_error_last()->code;
        if (r == ORM_OK && model->npk == 1) {
            orm_value *keys = orm__calloc(ndel, sizeof *keys);
            size_t k = 0;
            for (size_t i = 0; keys && i < n; i++)
                if (v[i].deleted)
                    keys[k++] = orm_model_get(model, v[i].row, model->pk[0]);
            r = keys ? orm_delete_where(del, orm_in(model->fields[model->pk[0]].name, keys, k))
                     : orm__error_nomem("row_cache");
            if (r == ORM_OK)
                r = orm_delete_exec(del, NULL, NULL);
            orm__free(keys);
        } else if (r == ORM_OK) { /* a composite key: one DELETE by key each, same transaction */
            for (size_t i = 0; r == ORM_OK && i < n; i++)
                if (v[i].deleted) {
                    int d = orm_delete_one(s, NULL, model, v[i].row);
                    r = d == ORM_ENOTFOUND ? ORM_OK : d;
                }
        }
        orm_delete_free(del);
    }
    return r;
}

/* Write the batch in one transaction of its own. */
static int write_batch(orm_row_cache *rc, rc_model *m, batch_item *v, size_t n)
{
    orm_tx *tx = NULL;
    int r = orm_tx_begin(&tx, rc->db, NULL, NULL);
    if (r != ORM_OK)
        return r;
    r = write_rows(orm_tx_session(tx), m, v, n);
    if (r == ORM_OK)
        r = orm_tx_commit(tx);
    orm_tx_free(tx); /* rolls back when not committed */
    return r;
}

static void report(orm_row_cache *rc, rc_model *m, batch_item *v, size_t n, int err, const char *msg)
{
    if (!rc->opts.on_flush_error)
        return;
    const char **keys = orm__calloc(n ? n : 1, sizeof *keys);
    if (!keys)
        return;
    for (size_t i = 0; i < n; i++)
        keys[i] = v[i].key;
    rc->opts.on_flush_error(m->model, keys, n, err, msg, rc->opts.flush_userdata);
    orm__free(keys);
}

/* After a committed batch: the rows not saved again meanwhile leave the buffer (the next get
 * loads them from the database, now current). */
static void settle(orm_row_cache *rc, rc_model *m, batch_item *v, size_t n)
{
    rc_wb *w = rc->wb;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        wb_entry **pp = slot(w, hash_key(v[i].key), v[i].key);
        if (!*pp)
            continue;
        (*pp)->inflight = 0;
        if ((*pp)->version != v[i].version || (*pp)->claim)
            continue; /* saved again, or written by an open transaction since: still dirty */
        retire(rc, w, pp);
    }
    sweep(w);
    pthread_mutex_unlock(&w->mu);
    atomic_fetch_add_explicit(&m->flushes, 1, memory_order_relaxed);
}

/* Flush m's dirty rows (all of them, batch by batch). */
static int flush_model(orm_row_cache *rc, rc_model *m)
{
    rc_wb *w = rc->wb;
    int r = ORM_OK;
    while (atomic_load_explicit(&m->dirty, memory_order_relaxed) > 0) {
        batch_item *v;
        size_t n;
        if ((r = collect(w, m, &v, &n)) != ORM_OK)
            return r;
        if (n == 0) {
            orm__free(v);
            break;
        }
        int saved = orm__rc_in_flush;
        orm__rc_in_flush = 1;
        r = write_batch(rc, m, v, n);
        orm__rc_in_flush = saved;
        if (r == ORM_OK) {
            settle(rc, m, v, n);
            items_free(m->model, v, n);
            continue;
        }
        atomic_fetch_add_explicit(&m->flush_failures, 1, memory_order_relaxed);
        char msg[256];
        snprintf(msg, sizeof msg, "%s", orm_error_last()->message);
        uninflight(w, v, n);
        report(rc, m, v, n, r, msg);
        items_free(m->model, v, n);
        orm__error_set(r, "row_cache", "write-back flush of \"%s\" failed, its rows stay dirty: %s",
                       m->model->table, msg);
        return r;
    }
    return r;
}

int orm__rc_wb_flush(orm_row_cache *rc, rc_model *only, int automatic)
{
    rc_wb *w = rc->wb;
    if (!w)
        return ORM_OK;
    pthread_mutex_lock(&w->flush_mu);
    if (automatic && now_ms() < w->retry_at_ms) {
        pthread_mutex_unlock(&w->flush_mu);
        return ORM_OK; /* backing off after a failure */
    }
    int first = ORM_OK;
    for (size_t i = 0; i < rc->n; i++) {
        rc_model *m = rc->list[i];
        if ((only && m != only) || m->o.mode != ORM_ROW_CACHE_WRITE_BACK)
            continue;
        int r = flush_model(rc, m);
        if (r != ORM_OK && first == ORM_OK)
            first = r;
    }
    if (first != ORM_OK) {
        w->backoff_ms = w->backoff_ms ? (w->backoff_ms * 2 > 30000 ? 30000 : w->backoff_ms * 2) : 100;
        w->retry_at_ms = now_ms() + w->backoff_ms;
    } else {
        w->backoff_ms = 0;
        w->retry_at_ms = 0;
    }
    pthread_mutex_unlock(&w->flush_mu);
    return first;
}

/* ---- inside a transaction ---- */

/* Claim for root, at savepoint depth, up to batch rows of m that root has not written at
 * their current version and nobody else is writing, and copy them out. */
static int collect_tx(rc_wb *w, rc_model *m, const void *root, unsigned depth, batch_item **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    batch_item *v = orm__calloc(w->batch, sizeof *v);
    if (!v)
        return orm__error_nomem("row_cache");
    int rc = ORM_OK;
    size_t k = 0;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < BUCKETS && k < w->batch && rc == ORM_OK; i++)
        for (wb_entry *e = w->b[i]; e && k < w->batch; e = e->next) {
            if (e->m != m || e->kept || (e->claim == root && e->claim_version == e->version) ||
                (e->claim && e->claim != root) || e->inflight)
                continue; /* written by this transaction, or being written by another one or
                             by an autocommit flush: writing it here could deadlock with it */
            if ((rc = take_item(m, e, &v[k])) != ORM_OK)
                break;
            e->claim = root;
            e->claim_depth = depth;
            e->claim_version = e->version;
            k++;
        }
    pthread_mutex_unlock(&w->mu);
    if (rc != ORM_OK) {
        orm__rc_wb_tx_savepoint(m->rc, root, depth, 0); /* what this call claimed */
        items_free(m->model, v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return ORM_OK;
}

/* Write m's rows that tx's transaction has not written yet, in a savepoint of tx (a failure
 * undoes only the flush: the caller's transaction stays usable). */
static int flush_model_tx(orm_row_cache *rc, rc_model *m, orm_tx *tx, orm_ctx *ctx)
{
    rc_wb *w = rc->wb;
    const void *root = orm__tx_root(tx);
    orm_ctx *c;
    int r = orm_ctx_new(&c, ctx); /* carries tx: orm_tx_begin makes a savepoint in it */
    if (r != ORM_OK)
        return r;
    orm__ctx_set_tx(c, tx);
    int saved = orm__rc_in_flush;
    orm__rc_in_flush = 1;
    orm_tx *sp = NULL;
    r = orm_tx_begin(&sp, rc->db, c, NULL);
    unsigned depth = sp ? sp->depth : tx->depth + 1;
    size_t written = 0;
    while (r == ORM_OK) {
        batch_item *v;
        size_t n;
        if ((r = collect_tx(w, m, root, depth, &v, &n)) != ORM_OK)
            break;
        if (n == 0) {
            orm__free(v);
            break;
        }
        r = write_rows(orm_tx_session(sp), m, v, n);
        items_free(m->model, v, n);
        written += n;
    }
    if (r == ORM_OK && sp)
        r = orm_tx_commit(sp); /* RELEASE: its rows belong to tx now */
    if (r == ORM_OK) {
        orm__rc_wb_tx_savepoint(rc, root, depth, 1);
        if (written)
            atomic_fetch_add_explicit(&m->flushes, 1, memory_order_relaxed);
    } else {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", orm_error_last()->message);
        if (sp && orm_tx_is_open(sp))
            orm_tx_rollback(sp);
        orm__rc_wb_tx_savepoint(rc, root, depth, 0); /* not written: dirty as before */
        atomic_fetch_add_explicit(&m->flush_failures, 1, memory_order_relaxed);
        orm__error_set(r, "row_cache", "write-back flush of \"%s\" inside the transaction failed, its rows "
                       "stay dirty: %s", m->model->table, msg);
    }
    orm_tx_free(sp);
    orm__rc_in_flush = saved;
    orm__ctx_set_tx(c, NULL);
    orm_ctx_free(c);
    return r;
}

int orm__rc_wb_flush_tx(orm_row_cache *rc, rc_model *only, orm_tx *tx, orm_ctx *ctx)
{
    if (!rc->wb)
        return ORM_OK;
    struct rc_tx *t = NULL;
    for (size_t i = 0; i < rc->n; i++) {
        rc_model *m = rc->list[i];
        if ((only && m != only) || m->o.mode != ORM_ROW_CACHE_WRITE_BACK ||
            atomic_load_explicit(&m->dirty, memory_order_relaxed) == 0)
            continue;
        if (!t && !(t = orm__rc_tx_state(rc, tx)))
            return ORM_ENOMEM;
        uint64_t saves = atomic_load_explicit(&m->saves, memory_order_acquire);
        if (orm__rc_tx_epoch(t, m) == saves)
            continue; /* no save since this transaction last wrote m's rows */
        int r = flush_model_tx(rc, m, tx, ctx);
        if (r != ORM_OK)
            return r;
        orm__rc_tx_set_epoch(t, m, saves);
    }
    return ORM_OK;
}

void orm__rc_wb_tx_savepoint(orm_row_cache *rc, const void *root, unsigned depth, int released)
{
    rc_wb *w = rc->wb;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < BUCKETS; i++)
        for (wb_entry *e = w->b[i]; e; e = e->next)
            if (e->claim == root && e->claim_depth >= depth) {
                if (released) {
                    e->claim_depth = depth - 1;
                } else {
                    e->claim = NULL;
                    atomic_fetch_add_explicit(&e->m->saves, 1, memory_order_relaxed); /* to write again */
                }
            }
    pthread_mutex_unlock(&w->mu);
}

void orm__rc_wb_tx_end(orm_row_cache *rc, const void *root, int committed)
{
    rc_wb *w = rc->wb;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < BUCKETS; i++)
        for (wb_entry **pp = &w->b[i]; *pp;) {
            wb_entry *e = *pp;
            if (e->claim != root) {
                pp = &e->next;
                continue;
            }
            e->claim = NULL;
            /* Committed as it is now, and no autocommit flush writing an older version that
             * could land after it: clean. Else dirty, for the next flush to write (and for
             * the other transactions, which left it to this one). */
            if (!committed || e->version != e->claim_version || e->inflight) {
                atomic_fetch_add_explicit(&e->m->saves, 1, memory_order_relaxed);
                pp = &e->next;
                continue;
            }
            if (!retire(rc, w, pp))
                pp = &e->next;
        }
    sweep(w);
    pthread_mutex_unlock(&w->mu);
}

/* ---- saves and reads ---- */

int orm__rc_wb_save(rc_model *m, const char *key, const void *obj, const orm_value *keyvals, int insert)
{
    orm_row_cache *rc = m->rc;
    rc_wb *w = rc->wb;
    const orm_model *model = m->model;
    void *row = NULL;
    if (obj) {
        row = orm__calloc(1, model->struct_size);
        if (!row)
            return orm__error_nomem("row_cache");
        if (orm_model_copy(model, row, obj) != ORM_OK) {
            orm__free(row);
            return orm__error_nomem("row_cache");
        }
    } else if (!(row = key_row(model, keyvals))) {
        return orm__error_nomem("row_cache");
    }
    uint64_t h = hash_key(key);
    pthread_mutex_lock(&w->mu);
    wb_entry **pp = slot(w, h, key);
    wb_entry *e = *pp;
    if (insert && e && !e->kept && !e->deleted) { /* saved since the caller looked: a duplicate */
        pthread_mutex_unlock(&w->mu);
        orm_model_clear(model, row);
        orm__free(row);
        return orm__error_set(ORM_ECONSTRAINT, "row_cache", "insert into \"%s\": duplicate key %.200s (a "
                              "saved row not written yet)", model->table, key);
    }
    if (!e) {
        e = orm__calloc(1, sizeof *e);
        char *k = e ? orm__strdup(key) : NULL;
        if (!k) {
            pthread_mutex_unlock(&w->mu);
            orm__free(e);
            orm_model_clear(model, row);
            orm__free(row);
            return orm__error_nomem("row_cache");
        }
        e->key = k;
        e->h = h;
        e->m = m;
        *pp = e;
        w->n++;
        atomic_fetch_add_explicit(&m->dirty, 1, memory_order_relaxed);
    } else {
        if (e->kept) { /* clean, kept for older transactions: a saved row again */
            kept_unlink(w, e);
            w->n++;
            atomic_fetch_add_explicit(&m->dirty, 1, memory_order_relaxed);
        }
        orm_model_clear(model, e->row);
        orm__free(e->row);
    }
    e->row = row;
    e->deleted = obj == NULL;
    e->version++;
    atomic_fetch_add_explicit(&m->saves, 1, memory_order_relaxed);
    size_t n = w->n;
    start_flusher(rc);
    pthread_mutex_unlock(&w->mu);
    /* The cache's copy: gets are answered from the buffer first, this only keeps the key's
     * generation moving so no load in flight installs the database's older row. */
    orm_cache_delete(rc->cache, key);
    if (n >= w->max_dirty)
        orm__rc_wb_flush(rc, NULL, 1); /* the buffer is full: its "eviction" */
    return ORM_OK;
}

int orm__rc_wb_get(rc_model *m, const char *key, void *out, uint64_t reader)
{
    rc_wb *w = m->rc->wb;
    if (!w || (atomic_load_explicit(&m->dirty, memory_order_relaxed) == 0 &&
               (reader == UINT64_MAX || atomic_load_explicit(&w->nkept, memory_order_relaxed) == 0)))
        return -1;
    int r = -1;
    pthread_mutex_lock(&w->mu);
    wb_entry *e = *slot(w, hash_key(key), key);
    if (e && e->kept) { /* only for a transaction that began reading before it was written, and
                           only while no drop made it stale */
        uint64_t now[3];
        if (reader >= e->kept_seq || !orm__rc_stamp_key(m, key, now) ||
            memcmp(now, e->kept_stamp, sizeof now) != 0)
            e = NULL;
    }
    if (e) {
        if (e->deleted) {
            memset(out, 0, m->model->struct_size);
            r = 0;
        } else {
            r = orm_model_copy(m->model, out, e->row) == ORM_OK ? 1 : ORM_ENOMEM;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return r;
}

/* ---- the flusher thread, start and close ---- */

static void *flusher(void *arg)
{
    orm_row_cache *rc = arg;
    rc_wb *w = rc->wb;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        int64_t ns = dl.tv_nsec + (w->interval_ms % 1000) * 1000000;
        dl.tv_sec += (time_t)(w->interval_ms / 1000 + ns / 1000000000);
        dl.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&w->cv, &w->mu, &dl);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->mu);
        orm__rc_wb_flush(rc, NULL, 1);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int orm__rc_wb_start(orm_row_cache *rc)
{
    if (rc->wb)
        return ORM_OK;
    rc_wb *w = orm__calloc(1, sizeof *w);
    if (!w)
        return orm__error_nomem("row_cache");
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->flush_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    w->batch = rc->opts.flush_batch ? rc->opts.flush_batch : 100;
    w->max_dirty = rc->opts.max_dirty ? rc->opts.max_dirty : 10000;
    /* A buffer kept small to flush often (a small max_dirty) would otherwise also cut short
     * the rows kept for open transactions, and a transaction open a little longer than usual
     * read its snapshot's older row: the bound on kept rows is memory's, not the flush's. */
    w->max_kept = w->max_dirty > 10000 ? w->max_dirty : 10000;
    w->interval_ms = rc->opts.flush_interval_ms;
    rc->wb = w;
    return ORM_OK;
}

/* The flusher thread starts with the first save, not at configuration: by then the models
 * are configured for good (before the db's first statement), so the thread reads a model
 * list nobody writes any more. Under w->mu. */
static void start_flusher(orm_row_cache *rc)
{
    rc_wb *w = rc->wb;
    if (w->interval_ms <= 0 || w->running || w->stop)
        return;
    if (pthread_create(&w->th, NULL, flusher, rc) == 0)
        w->running = 1;
    else
        w->interval_ms = 0; /* no thread: the other triggers still flush (and close) */
}

int orm__rc_wb_close(orm_row_cache *rc)
{
    rc_wb *w = rc->wb;
    if (!w)
        return ORM_OK;
    pthread_mutex_lock(&w->mu);
    w->stop = 1; /* and no flusher starts after this */
    w->closing = 1;
    int running = w->running;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (running) {
        pthread_join(w->th, NULL);
        w->running = 0;
    }
    int r = orm__rc_wb_flush(rc, NULL, 0);
    if (r == ORM_OK)
        return ORM_OK;
    /* Report every row that could not be written, model by model, and name them. */
    char msg[512];
    size_t left = 0, at = 0;
    msg[0] = '\0';
    for (size_t i = 0; i < rc->n; i++) {
        rc_model *m = rc->list[i];
        if (m->o.mode != ORM_ROW_CACHE_WRITE_BACK)
            continue;
        batch_item *v;
        size_t n;
        size_t saved_batch = w->batch;
        w->batch = w->n ? w->n : 1; /* all of them */
        int c = collect(w, m, &v, &n);
        w->batch = saved_batch;
        if (c != ORM_OK)
            continue;
        report(rc, m, v, n, r, "not written at close");
        for (size_t k = 0; k < n; k++) {
            left++;
            if (at < sizeof msg - 80)
                at += (size_t)snprintf(msg + at, sizeof msg - at, "%s%s", at ? ", " : "", v[k].key);
        }
        items_free(m->model, v, n);
    }
    return orm__error_set(r, "row_cache", "orm_db_close: %zu write-back row(s) could not be written "
                          "(%s): %s%s", left, orm_strerror(r), msg, at >= sizeof msg - 80 ? ", ..." : "");
}

void orm__rc_wb_free(orm_row_cache *rc)
{
    rc_wb *w = rc->wb;
    if (!w)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        while (w->b[i]) {
            wb_entry *e = w->b[i];
            w->b[i] = e->next;
            entry_free(e);
        }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->flush_mu);
    orm__free(w);
    rc->wb = NULL;
}
