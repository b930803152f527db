/* liborm — the db handle: DSN dispatch to a driver, the model registry, the default session
 * and the connection lease.
 *
 * Keeps true:
 *  - the registry is read without locks on the hot path (every orm_get looks its model up):
 *    an open-addressing table keyed by descriptor pointer, published with release stores and
 *    read with acquire loads. Writers serialize on reg_lock; a table that grows is replaced
 *    whole and the old one kept until close (a reader may still be probing it). Entries are
 *    never moved or freed before close, so builders may keep pointers to them.
 *    This table stays hand-written, not uthash (orm/hash.h): uthash may not be read while it
 *    is written (an add relinks a bucket, a growth rehashes them all), so readers would need
 *    reg_lock on every orm_get, or every registration a whole copy kept until close.
 *    The index by table name, read only by orm_db_register and orm_db_model, is a uthash
 *    table under reg_lock (`by_table`).
 *  - connections are handed out only by orm__db_acquire / orm__db_release / orm__db_discard,
 *    over the pool (orm/pool.c). A wait for a free connection ends at the ctx's deadline
 *    (ORM_ETIMEOUT) or, without one, after the busy timeout (ORM_EBUSY). With a single
 *    connection (in-memory SQLite), a thread that already holds it (an open transaction or
 *    cursor) and asks again gets ORM_EBUSY at once instead of deadlocking.
 *  - one connection is opened by orm_db_open, so a DSN that cannot be reached fails there.
 *  - the driver says everything backend-specific (orm/sys/driver.h): which DSN it takes, the
 *    pool's defaults, the alive check and the reset between users.
 *  - fast path (a driver's park_hot: SQLite): the pool's lock, clock reads and bookkeeping
 *    cost more than a cached point query, so one released connection may be parked in `hot`
 *    (one atomic exchange to take, one CAS to park) instead of going back to the pool. It is never parked while a
 *    caller is inside the pool (`in_pool`), and a parker that sees one arrive afterwards takes
 *    it back to the pool: both sides use sequentially consistent operations, so either the
 *    arriving caller's exchange finds the parked connection or the parker sees the caller.
 *    Off when idle_timeout_ms or max_lifetime_ms is set (the pool must see every idle
 *    connection to expire it); orm_db_stats counts a parked connection as idle.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_condattr_setclock */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/ctx_internal.h"
#include "orm/driver.h"
#include "orm/error_internal.h"
#include "orm/feed.h"
#include "orm/hash.h"
#include "orm/middleware_internal.h"
#include "orm/pool.h"
#include "orm/rows_internal.h"
#include "orm/session_internal.h"

typedef struct reg_table {
    struct reg_table *older; /* replaced tables, freed at close */
    size_t cap;              /* power of two */
    _Atomic(orm_model_entry *) slots[];
} reg_table;

/* A registered model by its table name (the descriptor's string is the key). */
typedef struct reg_name {
    UT_hash_handle hh;
    orm_model_entry *e;
} reg_name;

struct orm_db {
    const orm_driver *drv;
    orm_pool *pool;
    char *dsn;                  /* for the pool's open callback */
    orm_db_options opts;        /* normalized to this version */
    int single;                 /* exactly one connection (in-memory SQLite) */
    _Atomic(const void *) conn_owner; /* single: &this_thread of its holder, or NULL */
    int fast;                   /* the hot slot is in use (SQLite, no idle expiry) */
    _Atomic(orm_conn *) hot;    /* a parked idle connection, or NULL */
    atomic_int in_pool;         /* callers inside orm__pool_acquire */
    int busy_timeout_ms;
    orm_session session;

    pthread_mutex_t reg_lock;
    _Atomic(reg_table *) reg;
    size_t reg_count;
    reg_name *by_table;         /* uthash head, under reg_lock */

    orm__chain chain;           /* the middlewares, fixed by the first statement */
    _Atomic(void *) spare_rows; /* one freed orm_rows kept for the next cursor, or NULL */
    orm_driver_feed_cell feed_cell; /* the change feed's sink, watched by every connection */
    void (*close_hook)(void *); /* run first by orm_db_close, the db still whole (write-back) */
    void *close_hook_ud;
};

/* A per-thread address: identifies the calling thread without pthread_t comparisons. */
static _Thread_local char this_thread;

/* ---- options and drivers ---- */

/* The bytes of an options struct of this version: an older caller's struct ends before the
 * fields later versions added. */
static size_t options_size(unsigned version)
{
    return version == 1 ? offsetof(orm_db_options, max_open)
         : version == 2 ? offsetof(orm_db_options, verify_models) : sizeof(orm_db_options);
}

int orm_db_options_init(orm_db_options *opts, unsigned version)
{
    if (!opts)
        return orm__error_set(ORM_EINVAL, "db", "orm_db_options_init: opts is NULL");
    if (version < 1 || version > ORM_DB_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "db", "unknown orm_db_options version %u (this liborm knows %u)",
                              version, ORM_DB_OPTIONS_VERSION);
    orm_db_options d = ORM_DB_OPTIONS_INIT;
    d.version = version;
    memcpy(opts, &d, options_size(version));
    return ORM_OK;
}

orm_driver_feed_cell *orm__db_feed_cell(orm_db *db) { return &db->feed_cell; }
const char *orm__db_dsn(const orm_db *db) { return db->dsn; }

/* ---- the pool's view of a driver ---- */

/* The ctx deadline of the acquire in progress on this thread (0: none): the pool opens
 * connections on the acquiring thread, and a connect must not outlast the caller's deadline
 * (the busy timeout that bounds the wait for a free connection does not bound a connect). */
static _Thread_local int64_t connect_deadline;

static int pool_open(void **out, void *ud)
{
    orm_db *db = ud;
    orm_conn *c = NULL;
    int rc = db->drv->open(&c, db->dsn, &db->opts, connect_deadline);
    if (rc == ORM_OK && db->drv->feed && db->drv->feed->watch_conn &&
        (rc = db->drv->feed->watch_conn(c, &db->feed_cell)) != ORM_OK) {
        db->drv->close(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

static void pool_close(void *c, void *ud)
{
    orm_db *db = ud;
    db->drv->close(c);
}

static int pool_alive(void *c, void *ud)
{
    orm_db *db = ud;
    return db->drv->alive(c);
}

static int pool_reset(void *c, void *ud)
{
    orm_db *db = ud;
    return db->drv->reset(c);
}

/* A limit in ms as the pool's µs; <= 0 is "none", and a huge one saturates instead of
 * overflowing (INT64_MAX ms is "never" either way). */
static int64_t ms_to_us(int64_t ms)
{
    if (ms <= 0)
        return 0;
    return ms > INT64_MAX / 1000 ? INT64_MAX : ms * 1000;
}

static int make_pool(orm_db *db, const orm_driver_pool *dp)
{
    orm_pool_callbacks cb = { pool_open, pool_close, db->drv->alive ? pool_alive : NULL, pool_reset, db };
    orm_pool_config cfg = ORM_POOL_CONFIG_INIT;
    cfg.max_open = db->opts.max_open ? db->opts.max_open : dp->max_open ? dp->max_open : 1;
    if (db->single)
        cfg.max_open = 1;
    cfg.max_idle = db->opts.max_idle && db->opts.max_idle < cfg.max_open ? db->opts.max_idle
                                                                         : cfg.max_open;
    cfg.idle_timeout_us = ms_to_us(db->opts.idle_timeout_ms);
    cfg.max_lifetime_us = ms_to_us(db->opts.max_lifetime_ms);
    if (db->single) /* the one connection is the database: never close it while idle */
        cfg.idle_timeout_us = cfg.max_lifetime_us = 0;
    return orm__pool_new(&db->pool, &cfg, &cb);
}

static reg_table *reg_table_new(size_t cap)
{
    reg_table *t = orm__calloc(1, sizeof *t + cap * sizeof t->slots[0]);
    if (!t)
        return NULL;
    t->cap = cap;
    for (size_t i = 0; i < cap; i++)
        atomic_init(&t->slots[i], NULL);
    return t;
}

int orm_db_open(orm_db **out, const char *dsn, const orm_db_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "db", "orm_db_open: out is NULL");
    *out = NULL;
    if (!dsn)
        return orm__error_set(ORM_EINVAL, "db", "orm_db_open: DSN is NULL");
    if (opts && (opts->version < 1 || opts->version > ORM_DB_OPTIONS_VERSION))
        return orm__error_set(ORM_EINVAL, "db", "unknown orm_db_options version %u (this liborm knows %u)",
                              opts->version, ORM_DB_OPTIONS_VERSION);
    const orm_driver *drv = orm__driver_for_dsn(dsn);
    if (!drv)
        return orm_error_last()->code; /* set by the lookup */

    orm_db *db = orm__calloc(1, sizeof *db);
    if (!db)
        return orm__error_nomem("db");
    reg_table *t = reg_table_new(8);
    if (!t) {
        orm__free(db);
        return orm__error_nomem("db");
    }
    orm_db_options d = ORM_DB_OPTIONS_INIT;
    if (opts)
        memcpy(&d, opts, options_size(opts->version));
    d.version = ORM_DB_OPTIONS_VERSION;
    db->opts = d;
    db->drv = drv;
    orm_driver_pool dp = { 0, 0, 0 };
    drv->pool_defaults(dsn, &dp);
    db->single = dp.single;
    db->busy_timeout_ms = d.busy_timeout_ms > 0 ? d.busy_timeout_ms : 5000;
    atomic_init(&db->conn_owner, NULL);
    atomic_init(&db->hot, NULL);
    atomic_init(&db->spare_rows, NULL);
    atomic_init(&db->in_pool, 0);
    db->fast = dp.park_hot && d.idle_timeout_ms <= 0 && d.max_lifetime_ms <= 0;
    db->dsn = orm__strdup(dsn);
    int rc = db->dsn ? make_pool(db, &dp) : orm__error_nomem("db");
    if (rc == ORM_OK) {
        /* Open the first connection now: an unreachable database fails orm_db_open. */
        void *c;
        rc = orm__pool_acquire(db->pool, 0, &c);
        if (rc == ORM_OK)
            orm__pool_release(db->pool, c, 0);
    }
    if (rc != ORM_OK) {
        orm__pool_free(db->pool);
        orm__free(db->dsn);
        orm__free(t);
        orm__free(db);
        return rc;
    }
    pthread_mutex_init(&db->reg_lock, NULL);
    atomic_init(&db->reg, t);
    db->session.db = db;
    db->session.tx = NULL;
    orm__chain_init(&db->chain);
    *out = db;
    return ORM_OK;
}

int orm__db_set_close_hook(orm_db *db, void (*fn)(void *), void *ud)
{
    if (fn && db->close_hook)
        return ORM_EINVAL;
    db->close_hook = fn;
    db->close_hook_ud = ud;
    return ORM_OK;
}

void orm_db_close(orm_db *db)
{
    if (!db)
        return;
    if (db->close_hook) /* it may still run statements: everything is in place */
        db->close_hook(db->close_hook_ud);
    orm__pool_free(db->pool);
    orm__free(db->dsn);
    orm__free(atomic_load(&db->spare_rows));
    reg_table *t = atomic_load(&db->reg);
    /* The newest table holds every entry; older ones only share them. */
    for (size_t i = 0; i < t->cap; i++) {
        orm_model_entry *e = atomic_load(&t->slots[i]);
        if (!e)
            continue;
        for (int s = 0; s < ORM_MODEL_SLOT_COUNT; s++)
            orm__free(atomic_load(&e->sql[s]));
        for (orm_fieldset_sql *f = atomic_load(&e->fieldsets), *next; f; f = next) {
            next = f->next;
            orm__free(f->sql);
            orm__free(f);
        }
        orm__free(e);
    }
    reg_name *n, *tmp;
    HASH_ITER(hh, db->by_table, n, tmp) {
        HASH_DELETE(hh, db->by_table, n);
        orm__free(n);
    }
    while (t) {
        reg_table *older = t->older;
        orm__free(t);
        t = older;
    }
    pthread_mutex_destroy(&db->reg_lock);
    orm__chain_free(&db->chain);
    orm__free(db);
}

const char *orm_db_backend(const orm_db *db) { return db ? db->drv->name : NULL; }

const orm_driver *orm__db_driver(const orm_db *db) { return db->drv; }

const orm_driver *orm_db_driver(const orm_db *db) { return db ? db->drv : NULL; }

orm_session *orm_db_session(orm_db *db) { return db ? &db->session : NULL; }

orm__chain *orm__db_chain(orm_db *db) { return &db->chain; }

orm_db *orm_session_db(const orm_session *s) { return s ? s->db : NULL; }

/* ---- registry ---- */

static size_t ptr_hash(const void *p, size_t mask)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & mask;
}

orm_model_entry *orm__db_model_entry(orm_db *db, const orm_model *model)
{
    reg_table *t = atomic_load_explicit(&db->reg, memory_order_acquire);
    const size_t mask = t->cap - 1;
    for (size_t i = ptr_hash(model, mask);; i = (i + 1) & mask) {
        orm_model_entry *e = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (!e || e->model == model)
            return e;
    }
}

static void table_insert(reg_table *t, orm_model_entry *e)
{
    const size_t mask = t->cap - 1;
    size_t i = ptr_hash(e->model, mask);
    while (atomic_load_explicit(&t->slots[i], memory_order_relaxed))
        i = (i + 1) & mask;
    atomic_store_explicit(&t->slots[i], e, memory_order_release);
}

int orm_db_register(orm_db *db, const orm_model *model)
{
    if (!db || !model)
        return orm__error_set(ORM_EINVAL, "db", "orm_db_register: NULL argument");
    if (orm__db_model_entry(db, model))
        return ORM_OK;
    int rc = orm_model_validate(model);
    if (rc == ORM_OK && db->opts.verify_models)
        rc = orm_db_verify(db, NULL, model); /* before the lock: it runs a statement */
    if (rc != ORM_OK)
        return rc;
    pthread_mutex_lock(&db->reg_lock);
    reg_table *t = atomic_load_explicit(&db->reg, memory_order_relaxed);
    reg_name *same = NULL;
    HASH_FIND_STR(db->by_table, model->table, same);
    if (same) {
        if (same->e->model != model) /* else registered by another thread meanwhile */
            rc = orm__error_set(ORM_EINVAL, "db",
                                "table %s is already registered with model %s; model %s is a "
                                "different descriptor", model->table, same->e->model->name,
                                model->name);
        goto unlock;
    }
    orm_model_entry *e = orm__calloc(1, sizeof *e);
    reg_name *name = orm__calloc(1, sizeof *name);
    int hash_oom = 0;
    if (e && name) {
        name->e = e;
        HASH_ADD_KEYPTR(hh, db->by_table, model->table, (unsigned)strlen(model->table), name);
    }
    if (!e || !name || hash_oom) {
        orm__free(name);
        orm__free(e);
        rc = orm__error_nomem("db");
        goto unlock;
    }
    e->model = model;
    for (size_t i = 0; i < model->nfields; i++)
        e->has_fixed |= model->fields[i].type == ORM_FIELD_FIXED_TEXT;
    for (int s = 0; s < ORM_MODEL_SLOT_COUNT; s++)
        atomic_init(&e->sql[s], NULL);
    atomic_init(&e->fieldsets, NULL);
    /* Keep the load factor at or below 1/2 so probes stay short. */
    if ((db->reg_count + 1) * 2 > t->cap) {
        reg_table *bigger = reg_table_new(t->cap * 2);
        if (!bigger) {
            HASH_DELETE(hh, db->by_table, name);
            orm__free(name);
            orm__free(e);
            rc = orm__error_nomem("db");
            goto unlock;
        }
        for (size_t i = 0; i < t->cap; i++) {
            orm_model_entry *old = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
            if (old)
                table_insert(bigger, old);
        }
        bigger->older = t;
        table_insert(bigger, e);
        atomic_store_explicit(&db->reg, bigger, memory_order_release);
    } else {
        table_insert(t, e);
    }
    db->reg_count++;
unlock:
    pthread_mutex_unlock(&db->reg_lock);
    return rc;
}

int orm_db_is_registered(orm_db *db, const orm_model *model)
{
    return db && model && orm__db_model_entry(db, model) != NULL;
}

const orm_model *orm_db_model(orm_db *db, const char *table)
{
    if (!db || !table)
        return NULL;
    pthread_mutex_lock(&db->reg_lock);
    reg_name *n = NULL;
    HASH_FIND_STR(db->by_table, table, n);
    const orm_model *m = n ? n->e->model : NULL;
    pthread_mutex_unlock(&db->reg_lock);
    return m;
}

/* ---- connections ----
 * Every statement outside a transaction takes a connection from the pool and gives it back;
 * a transaction or an open cursor keeps it until it ends. The pool waits on a condition
 * variable; the deadline is the ctx's, or the busy timeout when the ctx has none. */

int orm__db_acquire(orm_db *db, orm_ctx *ctx, orm_conn **out)
{
    *out = NULL;
    int rc = orm__ctx_check(ctx, "db");
    if (rc != ORM_OK)
        return rc;
    if (db->single && atomic_load_explicit(&db->conn_owner, memory_order_relaxed) == &this_thread)
        return orm__error_set(ORM_EBUSY, "db",
                              "the database's one connection is held by an open transaction or "
                              "cursor on this thread: use the transaction's session (or a ctx "
                              "carrying it), or free the cursor");
    void *c = NULL;
    if (db->fast) {
        atomic_fetch_add(&db->in_pool, 1);
        c = atomic_exchange(&db->hot, NULL);
        if (c) {
            atomic_fetch_sub(&db->in_pool, 1);
            goto got;
        }
    }
    int64_t deadline = orm_ctx_deadline(ctx);
    const int by_ctx = deadline != 0;
    if (!by_ctx)
        deadline = orm__pool_now_us() + (int64_t)db->busy_timeout_ms * 1000;
    connect_deadline = by_ctx ? deadline : 0;
    rc = orm__pool_acquire(db->pool, deadline, &c);
    connect_deadline = 0;
    if (db->fast)
        atomic_fetch_sub(&db->in_pool, 1);
    if (rc == ORM_ETIMEOUT && !by_ctx)
        return orm__error_set(ORM_EBUSY, "db",
                              "every connection was held (by transactions or cursors) for more "
                              "than %d ms", db->busy_timeout_ms);
    if (rc != ORM_OK)
        return orm__ctx_fix(ctx, rc);
got:
    if (db->single)
        atomic_store_explicit(&db->conn_owner, &this_thread, memory_order_relaxed);
    *out = c;
    return ORM_OK;
}

static void give_back(orm_db *db, orm_conn *c, int broken)
{
    if (db->single)
        atomic_store_explicit(&db->conn_owner, NULL, memory_order_relaxed);
    if (db->fast && !broken && atomic_load(&db->in_pool) == 0 &&
        db->drv->rollback(c, NULL) == ORM_OK) { /* the pool's reset, done here */
        orm_conn *expected = NULL;
        if (atomic_compare_exchange_strong(&db->hot, &expected, c)) {
            if (atomic_load(&db->in_pool) == 0)
                return;
            /* Someone arrived meanwhile and may be waiting in the pool: hand it over there. */
            c = atomic_exchange(&db->hot, NULL);
            if (!c)
                return; /* they took it */
        }
    }
    orm__pool_release(db->pool, c, broken);
}

void orm__db_release(orm_db *db, orm_conn *c) { give_back(db, c, 0); }

/* The spare cursor object: a point query would otherwise pay a malloc and a free for its
 * orm_rows. One slot, taken with an exchange and filled with a CAS, so threads never share
 * one; the relaxed peek spares the exchange when the slot is empty. */
void *orm__db_rows_take(orm_db *db)
{
    if (!atomic_load_explicit(&db->spare_rows, memory_order_relaxed))
        return NULL;
    return atomic_exchange_explicit(&db->spare_rows, NULL, memory_order_acquire);
}

int orm__db_rows_park(orm_db *db, void *r)
{
    void *expected = NULL;
    return atomic_compare_exchange_strong_explicit(&db->spare_rows, &expected, r,
                                                   memory_order_release, memory_order_relaxed);
}

void orm__db_discard(orm_db *db, orm_conn *c) { give_back(db, c, 1); }

int orm_db_stats(orm_db *db, orm_db_pool_stats *out)
{
    if (!db || !out)
        return orm__error_set(ORM_EINVAL, "db", "orm_db_stats: NULL argument");
    orm_pool_stats st;
    orm__pool_stats(db->pool, &st);
    if (atomic_load(&db->hot) && st.in_use > 0) { /* parked: idle, in the pool's eyes in use */
        st.in_use--;
        st.idle++;
    }
    out->max_open = st.max_open;
    out->open = st.open;
    out->in_use = st.in_use;
    out->idle = st.idle;
    out->opened = st.opened;
    out->waits = st.waits;
    out->wait_us = st.wait_us;
    out->timeouts = st.timeouts;
    out->closed_max_idle = st.closed_max_idle;
    out->closed_idle_timeout = st.closed_idle_timeout;
    out->closed_lifetime = st.closed_lifetime;
    out->closed_broken = st.closed_broken;
    return ORM_OK;
}
