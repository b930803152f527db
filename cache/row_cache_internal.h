/* liborm internal — the row cache's parts: the layer (row_cache.c), the transaction staging
 * (row_cache_tx.c) and the raw-SQL table scanner (row_cache_sql.c). */
#ifndef ORM_ROW_CACHE_INTERNAL_H
#define ORM_ROW_CACHE_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/row_cache.h"
#include "orm/tx.h"

/* A cached value: this header, then (at ROW_OFF) the model's struct, then room for its text
 * and blob bytes (rc_model.inline_cap; the struct's pointers point there, or into an arena
 * kept in row when they did not fit: see row_cache.c "cached values"). A not-found answer
 * (negative caching) has found 0 and a zeroed struct. While a value is being made from the
 * caller's struct (orm_cache_ref_new_obj), indirect is 1 and row points at that struct. */
typedef struct rc_hdr {
    uint64_t mgen;     /* the model's generation when the load began */
    uint64_t igen;     /* the model's insert generation then (not-found answers) */
    uint64_t kgen;     /* the key's cache generation then */
    uint32_t found;
    uint32_t indirect;
    const void *row;
    size_t var_len;    /* packed: the bytes of text and blobs packed (where the last one ends) */
} rc_hdr;

#define RC_ROW_OFF ((sizeof(rc_hdr) + 15) & ~(size_t)15)
/* Bytes of text and blobs a cached row keeps in the value's own allocation (a model with
 * text or blob fields): the bench's users rows (two texts of 8-24 bytes) fit. */
#define RC_INLINE 64

typedef struct rc_model {
    const orm_model *model;
    struct orm_row_cache *rc;
    orm_row_cache_model_options o;
    orm_cache_type type;      /* RC_ROW_OFF + struct_size + inline_cap; userdata: this */
    size_t inline_cap;        /* RC_INLINE for a model with text or blobs, else 0 */
    size_t *owned;            /* the text and blob fields' indexes, in field order (a hit's copy) */
    size_t nowned;
    orm_cache_type rowt;      /* the model row codec (the row part of type's encoding) */
    uint64_t fp;              /* type's fingerprint */
    char *gkey, *ikey;        /* shared caches: the generation counters' keys ("<table>:#g", "#i") */
    struct rc_mirror {        /* two levels: the last counter read and the local level's stamp
                                 then (a seqlock: seq odd while one thread writes) */
        _Atomic uint64_t seq, gen, stamp;
    } gm, im;
    char *prefix;             /* the escaped table and ':' */
    size_t prefix_len;
    _Atomic uint64_t gen;     /* bumped by a whole-model drop: older values are stale */
    _Atomic uint64_t igen;    /* bumped by inserts: older not-found answers are stale */
    _Atomic uint64_t hits, misses, loads, load_ns, invalidations;
    _Atomic uint64_t dirty, flushes, flush_failures; /* write-back */
    _Atomic uint64_t saves;   /* write-back: bumped by every save and every row that becomes
                                 writable again (a transaction's flush epoch) */
} rc_model;

struct orm_row_cache {
    orm_db *db;
    orm_cache *cache;         /* the cache given to attach (hits, drops, generations) */
    orm_cache *loading;       /* the singleflight over it (misses); closing it closes cache */
    rc_model **slots;         /* open addressing by model pointer; cap a power of two */
    size_t cap;
    rc_model **list;          /* every model configured, in order */
    size_t n;
    uint64_t rng;             /* jitter */
    orm_metrics *metrics;     /* the collector's, or NULL */
    struct rc_notify *notify; /* cross-process coherence (row_cache_notify.c), or NULL */
    int notify_strict;        /* check the feed before every read by key (orm__rc_notify_check) */
    orm_row_cache_options opts;
    struct rc_wb *wb;         /* the write-back buffer (a model in WRITE_BACK mode), or NULL */
    int registered;           /* the layer is in the chain (since the first model not OFF) */
    int shared;               /* the cache is shared by processes (Redis, two levels): the
                                 model generations live in it (row_cache_shared.c) */
    int redis;                /* ... and it is Redis itself (one MGET reads a row and them) */
};

/* The configured model (any mode), or NULL. */
static inline rc_model *orm__rc_find(const struct orm_row_cache *rc, const orm_model *m)
{
    if (!rc->cap)
        return NULL;
    size_t mask = rc->cap - 1;
    size_t i = (size_t)(((uintptr_t)m >> 4) * 0x9E3779B97F4A7C15ull >> 32) & mask;
    for (;; i = (i + 1) & mask) {
        rc_model *e = rc->slots[i];
        if (!e || e->model == m)
            return e;
    }
}

/* Encode model's key into buf (see row_cache.h "Keys"); returns the length it needs without
 * the NUL, writing only what fits (NUL-terminated when it all fits). */
/* Pack row (a model struct owning its text and blobs; left as it was) into d's value: the
 * struct after the header, text and blobs inline when they fit, else in one arena. */
int orm__rc_pack(const rc_model *m, rc_hdr *d, const void *row);

size_t orm__rc_key(char *buf, size_t cap, const rc_model *m, const orm_value *key);

/* ---- drops, now (autocommit) ---- */
void orm__rc_drop_key(rc_model *m, const char *key);
void orm__rc_drop_model(rc_model *m);
void orm__rc_drop_inserts(rc_model *m);
void orm__rc_drop_every(struct orm_row_cache *rc);

/* ---- caches shared by processes (row_cache_shared.c) ---- */

typedef struct rc_gens {
    uint64_t mgen, igen; /* 0: unknown (no value is current against it) */
} rc_gens;

/* Give m's type its encoding (encode, decode, fingerprint) for caches outside the process. */
int orm__rc_shared_type(rc_model *m);
/* Whether c is shared by processes (*redis: it is the Redis backend itself). */
int orm__rc_cache_is_shared(const orm_cache *c, int *redis);
/* On a shared cache: m's generation keys; then m's type registered with the Redis level. */
int orm__rc_shared_keys(rc_model *m);
int orm__rc_shared_register(rc_model *m);
/* m's generations now (made anew when lost; 0 when unreadable). */
void orm__rc_shared_gens(const rc_model *m, rc_gens *g);
/* The value at key (*out, NULL on a miss) and m's generations, read together. ORM_OK, or an
 * error (Redis bypassed, no memory): a miss. */
int orm__rc_shared_get(const rc_model *m, const char *key, orm_cache_ref **out, rc_gens *g);
/* A whole-model drop (inserts 0) or an insert (1) seen by every process. */
void orm__rc_shared_bump(const rc_model *m, int inserts);

/* ---- transaction staging (row_cache_tx.c) ---- */

/* The staging state of tx's top-level transaction (made and hooked, on it and on every
 * savepoint from tx up, on first use). NULL with ORM_ENOMEM set. */
struct rc_tx *orm__rc_tx_state(struct orm_row_cache *rc, orm_tx *tx);
/* Stage a drop for a write run in tx (never fails: an allocation failure stages "drop
 * everything" instead). */
void orm__rc_tx_key(struct rc_tx *t, orm_tx *tx, rc_model *m, const char *key);
void orm__rc_tx_model(struct rc_tx *t, orm_tx *tx, rc_model *m);
void orm__rc_tx_inserts(struct rc_tx *t, orm_tx *tx, rc_model *m);
void orm__rc_tx_every(struct rc_tx *t, orm_tx *tx);
/* Whether tx's transaction will drop every row of m (or of every model) when it ends, staged
 * at tx's depth or an outer one: another write of m in tx then needs nothing staged. */
int orm__rc_tx_covers(const struct rc_tx *t, const orm_tx *tx, const rc_model *m);
/* Whether a read of key (NULL: any key) of m in tx must go to the database because tx's
 * transaction (any of its savepoints) wrote it. */
int orm__rc_tx_wrote(struct orm_row_cache *rc, orm_tx *tx, rc_model *m, const char *key);

/* ---- cross-process coherence (row_cache_notify.c) ---- */

/* Strict mode: have the feed check now (SQLite: data_version) before a read by key. */
void orm__rc_notify_check(struct orm_row_cache *rc);
/* Stop the listener (no report arrives after) and free its state; at the layer's free. */
void orm__rc_notify_free(struct orm_row_cache *rc);
/* ---- write-back (row_cache_wb.c) ---- */

/* Set while a flush runs its statements on this thread: the layer lets them pass. */
extern _Thread_local int orm__rc_in_flush;
int orm__rc_wb_start(struct orm_row_cache *rc);
/* Save obj (NULL: a delete of keyvals) under key. insert: obj is inserted, ORM_ECONSTRAINT
 * when the buffer holds a saved row of that key (a delete of it is replaced). ORM_OK,
 * ORM_ECONSTRAINT or ORM_ENOMEM. */
int orm__rc_wb_save(rc_model *m, const char *key, const void *obj, const orm_value *keyvals, int insert);
/* A transaction reading through the row cache while the buffer exists (row_cache_tx.c
 * registers one per top-level transaction at its first statement): rows written by another
 * writer after seq are kept for it (see row_cache_wb.c "Rows kept for older transactions"). */
typedef struct rc_reader {
    struct rc_reader *prev, *next;
    uint64_t seq;
} rc_reader;
void orm__rc_wb_reader_begin(struct orm_row_cache *rc, rc_reader *r);
void orm__rc_wb_reader_end(struct orm_row_cache *rc, rc_reader *r);
/* A dirty key: 1 (out filled) / 0 (deleted), -1 not dirty, or ORM_ENOMEM. reader: the seq of
 * the reading transaction (orm__rc_tx_reader_seq), UINT64_MAX outside transactions: a row
 * written since that transaction began reading is answered too. */
int orm__rc_wb_get(rc_model *m, const char *key, void *out, uint64_t reader);
/* A drop of key: a clean row kept for older transactions under it is freed. */
void orm__rc_wb_forget(rc_model *m, const char *key);
/* The seq of tx's transaction as a reader, or UINT64_MAX when it has none. */
uint64_t orm__rc_tx_reader_seq(struct orm_row_cache *rc, orm_tx *tx);
/* What a kept row must still match to be answered: the model's generations and the key's
 * (a drop since makes it stale). 0 when they cannot be told (a shared cache unreachable). */
int orm__rc_stamp_key(const rc_model *m, const char *key, uint64_t out[3]);
/* Flush only's (NULL: every) write-back model. automatic: honour the failure backoff. */
int orm__rc_wb_flush(struct orm_row_cache *rc, rc_model *only, int automatic);
/* Inside transaction tx (a query or a write that reaches the database on a model with dirty
 * rows): write only's (NULL: every) write-back model's dirty rows that tx's transaction has
 * not written yet (and no other transaction or autocommit flush is writing), on tx's
 * connection, in a savepoint of tx. They stay dirty (claimed by the
 * transaction: autocommit flushes leave them alone) until it ends: clean when it commits,
 * dirty again when it rolls back (or the savepoint they were written in does). */
int orm__rc_wb_flush_tx(struct orm_row_cache *rc, rc_model *only, orm_tx *tx, orm_ctx *ctx);
/* The transaction root ended: committed, its claimed rows not saved again are clean; else
 * they are dirty as before. */
void orm__rc_wb_tx_end(struct orm_row_cache *rc, const void *root, int committed);
/* A savepoint at depth of root's transaction ended: released, its claims move to depth - 1;
 * rolled back, they are dropped (the rows are dirty as before). */
void orm__rc_wb_tx_savepoint(struct orm_row_cache *rc, const void *root, unsigned depth, int released);
/* The saves of m (rc_model.saves) as of the last time tx's transaction wrote m's dirty rows,
 * or UINT64_MAX; and recording it (an allocation failure records nothing: the next statement
 * looks again). */
uint64_t orm__rc_tx_epoch(struct rc_tx *t, const rc_model *m);
/* A ROLLBACK TO SAVEPOINT ran in tx's transaction: every write-back row it wrote is dirty
 * again (the savepoint may have been open when they were written, whatever session wrote
 * them), and the next statement that needs them writes them again. */
void orm__rc_tx_savepoint_undone(struct orm_row_cache *rc, orm_tx *tx);
void orm__rc_tx_set_epoch(struct rc_tx *t, rc_model *m, uint64_t saves);

/* Stop the flusher, flush, report what stays unwritten (ORM_OK or the error). */
int orm__rc_wb_close(struct orm_row_cache *rc);
void orm__rc_wb_free(struct orm_row_cache *rc);

/* ---- raw SQL (row_cache_sql.c) ---- */

/* Call fn for each table that the statements of sql write (name as written, unquoted,
 * without schema; len bytes), reading literals and comments by rules (orm/sql_scan.h's
 * ORM_SCAN_*: the db's dialect's). Returns 0 when every writing statement named its
 * table(s), -1 when some statement writes and its table could not be told (drop every
 * model). */
int orm__rc_sql_tables_by(const char *sql, size_t len, unsigned rules,
                          void (*fn)(const char *name, size_t len, void *ud), void *ud);
/* The same, for a text of either database (ORM_SCAN_RULES_EITHER). */
int orm__rc_sql_tables(const char *sql, size_t len,
                       void (*fn)(const char *name, size_t len, void *ud), void *ud);

#endif
