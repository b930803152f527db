/* liborm — the row cache: rows cached by model and primary key in front of the database,
 * as one layer of the db's middleware chain.
 *
 *     orm_cache *c;
 *     orm_cache_local_new(&c, NULL);
 *     orm_row_cache *rc;
 *     orm_row_cache_attach(&rc, db, c, NULL);          // takes c: orm_db_close closes it
 *     orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
 *     mo.mode = ORM_ROW_CACHE_READ_WRITE;
 *     mo.ttl_ms = 60000;
 *     orm_row_cache_model(rc, &user_model, &mo);
 *     orm_get(s, ctx, &user_model, &u, &key);          // from the cache, or loaded once
 *     orm_update_one(s, ctx, &user_model, &u);         // the cached row is dropped after
 *
 * What is cached. Rows read by primary key: orm_get and orm_get_many. Queries by any other
 * criteria (the select builder, raw SQL, joins, counts) are never cached; they always reach
 * the database. A hit fills the caller's struct as the database would have (NULLs, has_
 * flags, text, blobs, timestamps: a deep copy made with the model descriptor). A miss outside
 * a transaction loads the row once however many threads ask for it (the singleflight of
 * orm_cache_loading_new) and caches it unless the key or its model was written while it
 * loaded (per-key generations, orm_cache_gen / orm_cache_set_if_gen, and a per-model one).
 *
 * Modes, per model (orm_row_cache_model): OFF (the default: a model not named costs one
 * lookup and nothing else); READ_ONLY (rows never change through the ORM: orm_insert_one,
 * update, delete, upsert and the builders' writes of the model are refused with ORM_EINVAL
 * before they reach the database; raw SQL still invalidates); READ_WRITE (read-through,
 * invalidation on every write, transaction coherence); WRITE_BACK (as READ_WRITE, but outside
 * transactions orm_update_one, orm_delete_one and orm_insert_one of a row whose key is known
 * (no AUTOINCREMENT key, or one the caller set) are saves: the row is written later).
 *
 * Saves. An update or delete returns at once, unchecked against the database (an update of a
 * missing row inserts it when flushed: write-back is last-writer-wins). An insert is checked
 * for its primary key the way the database would check it, before it is taken: a key that
 * has a row now — a saved row not written yet, a cached row, or a row in the database (read
 * once, as orm_get would, and cached) — makes it fail with ORM_ECONSTRAINT and change
 * nothing; an insert of a key whose delete is saved replaces that delete. So a duplicate-key
 * insert is never turned into an overwrite of a row the database or this cache knows about.
 * This is what Hibernate does for persist() (a duplicate in the session fails at once, the
 * database decides the rest) and what write-behind stores that treat every put as an
 * upsert (JCache, Coherence, Ignite) do not: an insert that silently replaces a row is a lost
 * write nobody is told about, while a refused insert is an error the caller handles where it
 * made it. The check costs one read by key (none when the key is cached or saved). What it
 * cannot see: a row another process inserts between the save and the flush is overwritten
 * by the flush (the flush is an upsert); other constraints (UNIQUE columns, foreign keys,
 * CHECK) are checked only when the row is flushed, where a failure keeps the row dirty and
 * is reported (on_flush_error, stats). Tables that other writers insert into, or whose other
 * constraints matter at save time, belong in READ_WRITE mode.
 *
 * Write-back. Saved rows are held in a write buffer (not only in the evictable cache: an
 * eviction or an expiry never loses one) and a get of a saved key returns the saved row (or
 * not-found after a delete). The buffer is written in batches, one transaction per batch and
 * model, as one multi-row upsert (INSERT ... ON CONFLICT (key) DO UPDATE) and one DELETE ...
 * WHERE key IN (...): when it holds max_dirty rows, on orm_row_cache_flush, every
 * flush_interval_ms, and at orm_db_close. A query (select builder, raw SQL, get_many) or a
 * write the ORM cannot save (inserts without a key, builder writes, writes in a transaction)
 * on a model with dirty rows flushes that model first, so no query sees older data than a get.
 * A failed flush keeps the rows dirty, counts in the stats, calls on_flush_error, and
 * automatic flushes back off (100 ms doubling to 30 s). orm_db_close flushes everything; what
 * it cannot write it reports through on_flush_error and in orm_error_last() (every key named,
 * the message cut past ~400 bytes) — it never drops a row silently.
 *
 * Write-back inside a transaction. There the flush runs on the transaction's own connection,
 * as part of it (in a savepoint, so a failed flush fails the statement and leaves the
 * transaction usable): a second connection would wait for the locks the transaction holds
 * (SQLite's write lock: a stall until the busy timeout), would commit on its own whatever the
 * transaction's outcome, and would not be seen by a REPEATABLE READ snapshot. The rows it
 * writes stay dirty, held for that transaction (an autocommit flush, orm_row_cache_flush
 * included, leaves them alone), until it ends: COMMIT makes them clean (those saved again
 * meanwhile stay dirty); ROLLBACK, a COMMIT that failed or whose outcome is unknown, or a
 * rollback to any savepoint of the transaction (it may have been open on the connection when
 * they were written, whichever session wrote them), leaves them dirty as before, and a later
 * flush (or the transaction's next query) writes them. A transaction flushes a model again
 * only after a new save of it. Rows that another open transaction wrote this way, or that an
 * autocommit flush is writing at that moment, are left to that writer (two writers of the
 * same rows, each taking them in its own order, could deadlock): they reach the database
 * when it commits, and a READ COMMITTED transaction sees them from its next statement on;
 * orm_get and orm_get_many read saved rows from the buffer first, so they see them at once —
 * and still after another writer wrote them while the transaction was open: a transaction
 * may read one snapshot from its first read on (SQLite always; PostgreSQL at REPEATABLE
 * READ), which does not hold that write, so the buffer keeps such a row (clean) for the
 * transactions that were reading before it was written, until they end or until a drop of
 * its key (any write of it) makes it stale; at most max(max_dirty, 10000) rows are kept (past
 * that the oldest go, and a transaction open that long reads its snapshot's row). Queries (select
 * builder, raw SQL) in such a transaction read its snapshot.
 * In a transaction, orm_get of a key it wrote, and every get at REPEATABLE READ or
 * SERIALIZABLE, reads the database after the model's saved rows were written into the
 * transaction.
 *
 * Writes. After the database accepted (or failed: its outcome may be unknown) a write through
 * the ORM, the layer drops what it may have made stale: orm_update_one / orm_delete_one drop
 * their key, and so does orm_insert_one of a row whose key is known; other inserts (keys the
 * database assigns, batch inserts) drop the model's cached not-found answers (a per-model
 * insert generation, O(1)); a builder UPDATE / DELETE whose WHERE pins one primary
 * key drops that key alone (orm_update_from, orm_delete_by_key, orm_update_fields, or any
 * WHERE that is "key = value", or an AND holding one such equality per key column with a
 * value of the column's type, composite keys too, and an UPDATE that sets no key column);
 * upserts and every other builder UPDATE / DELETE (its rows are not known) drop every cached
 * row of the model in O(1) (a per-model generation);
 * raw SQL and scripts (orm_raw_exec, orm_exec_sql, migrations) that write drop the models
 * whose tables they name (INSERT INTO, UPDATE, DELETE FROM, REPLACE, ALTER TABLE, DROP TABLE,
 * TRUNCATE, also inside WITH, names quoted or schema-qualified), and every model when the
 * statement writes and its table cannot be told. A written row is dropped rather than stored:
 * the next read loads what the database holds (with its defaults and conversions), and two
 * writers racing on one key can never leave the older row cached.
 *
 * Transactions. Inside a transaction (orm_tx_begin, orm_do_tx, a ctx that carries one,
 * savepoints) drops are staged on the transaction and applied by its after-commit hook;
 * a rollback discards them (the database undid the writes); rolling back to a savepoint
 * discards only what followed it; a COMMIT that fails or whose outcome is unknown applies
 * them (drops are always safe). Reads in a transaction: a key (or model) the transaction
 * wrote goes to the database; a transaction begun with ORM_ISOLATION_REPEATABLE_READ or
 * SERIALIZABLE reads only from the database (its snapshot must hold); no read inside a
 * transaction fills the cache (it could see a snapshot older than the committed row).
 *
 * Keys. A row's key is "<table>:<pk>[:<pk2>...]". The table name and each key value are
 * encoded so that two different keys never give the same string:
 *   - in the table name and in text values, '\' is written "\\" and ':' is written "\:", so
 *     ':' alone always separates components;
 *   - an integer is its decimal digits, with '-' when negative (users:42);
 *   - text is "'" followed by the escaped text (users:'ada), so the text "1" ('1) never
 *     meets the integer 1;
 *   - a blob is "x" and lowercase hex; a double "d" and its shortest exact %.17g form; a bool
 *     "b0" / "b1"; a timestamp "t" and its microseconds; NULL "n".
 * orm_row_cache_key gives the key of a row, for code that shares the cache.
 *
 * Caches shared by processes. Attach a Redis cache or a two-level cache (cache_redis.h) itself,
 * not a decorator over one, and every process whose row cache uses the same Redis prefix
 * shares the rows: they travel in the model's binary codec (a changed model reads an old entry
 * as a miss), and the per-model generations that whole-model drops and inserts bump live in
 * Redis too ("<table>:#g", "<table>:#i"), read in the same round trip as the row (Redis alone)
 * or through the local level (two levels). A write, drop or commit in one process is a miss
 * for every other's next read: at once over Redis alone, once Redis' invalidation arrived over
 * two levels. While Redis is unreachable reads go to the database and drops are lost (give
 * rows a TTL when that matters).
 *
 * Observability. Every statement still goes through the chain's other layers: a get answered
 * by the cache carries ORM_STMT_CACHED (the log line says cache=hit, a miss cache=miss; the
 * metrics count it in orm_statements_cached_total; the trace span has cached set). Place the
 * row cache after (inside) the log, metrics and trace middlewares: orm_row_cache_attach
 * registers it where orm_db_use would. Per-model stats: orm_row_cache_stats_get, and as
 * Prometheus series in a metrics object's text with orm_row_cache_metrics.
 *
 * Ownership: attach takes the cache in every case (orm_db_close closes it; a failed attach
 * closes it at once). The orm_row_cache belongs to the db: valid until orm_db_close.
 * Thread safety: attach and orm_row_cache_model before the db runs its first statement (the
 * chain is frozen then) and before the db is shared; everything else from any thread.
 */
#ifndef ORM_ROW_CACHE_H
#define ORM_ROW_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/cache.h"
#include "orm/db.h"
#include "orm/export.h"
#include "orm/middleware.h"
#include "orm/model.h"
#include "orm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orm_row_cache orm_row_cache;

typedef enum orm_row_cache_mode {
    ORM_ROW_CACHE_OFF = 0,
    ORM_ROW_CACHE_READ_ONLY,
    ORM_ROW_CACHE_READ_WRITE,
    ORM_ROW_CACHE_WRITE_BACK
} orm_row_cache_mode;

/* A write-back flush that failed (its rows stay dirty and are retried), or, at orm_db_close,
 * the rows that could never be written: the model, the keys (borrowed for the call), the
 * error and its message. Called on the thread that flushed. */
typedef void (*orm_row_cache_flush_error_cb)(const orm_model *model, const char *const *keys, size_t nkeys,
                                             int error, const char *message, void *userdata);

#define ORM_ROW_CACHE_OPTIONS_VERSION 1u

typedef struct orm_row_cache_options {
    unsigned version;         /* ORM_ROW_CACHE_OPTIONS_VERSION */
    int64_t load_wait_ms;     /* longest a reader waits for another thread's load of the same
                                 key before reading the database itself; 0: 5000 */
    /* Write-back (models in WRITE_BACK mode): */
    size_t flush_batch;       /* rows per flush transaction; 0: 100 */
    int64_t flush_interval_ms; /* a thread flushes this often; 0: no thread */
    size_t max_dirty;         /* a save that makes this many dirty rows flushes; 0: 10000 */
    orm_row_cache_flush_error_cb on_flush_error; /* may be NULL */
    void *flush_userdata;
} orm_row_cache_options;

#define ORM_ROW_CACHE_OPTIONS_INIT { ORM_ROW_CACHE_OPTIONS_VERSION, 0, 0, 0, 0, NULL, NULL }

#define ORM_ROW_CACHE_MODEL_OPTIONS_VERSION 1u

typedef struct orm_row_cache_model_options {
    unsigned version;         /* ORM_ROW_CACHE_MODEL_OPTIONS_VERSION */
    orm_row_cache_mode mode;
    int64_t ttl_ms;           /* rows expire after this; 0: no expiry */
    double jitter;            /* each TTL stored is ttl * (1 +- jitter), uniformly (0..1) */
    bool negative;            /* cache "no row with this key" too */
    int64_t negative_ttl_ms;  /* for those; 0: the row TTL (or none) */
} orm_row_cache_model_options;

#define ORM_ROW_CACHE_MODEL_OPTIONS_INIT \
    { ORM_ROW_CACHE_MODEL_OPTIONS_VERSION, ORM_ROW_CACHE_OFF, 0, 0, false, 0 }

/* Attach cache to db as its row cache. The layer joins db's chain (where orm_db_use would put
 * it) with the first model configured in a mode other than OFF: until then it costs nothing.
 * ORM_EINVAL when the db already ran a statement, one is already attached, or an argument is
 * NULL. */
ORM_API int orm_row_cache_attach(orm_row_cache **out, orm_db *db, orm_cache *cache,
                                 const orm_row_cache_options *opts);

/* Set model's mode and TTLs (opts NULL: OFF). The model must be valid (orm_model_validate)
 * and have a primary key. Before the db runs its first statement (ORM_EINVAL after, for a
 * mode other than OFF when no model had one: the layer can no longer join the chain) and
 * before it is shared; a later call for the same model replaces its options. */
ORM_API int orm_row_cache_model(orm_row_cache *rc, const orm_model *model,
                                const orm_row_cache_model_options *opts);

/* The key of the row whose primary key is key[0..npk-1] (see "Keys"), NUL-terminated, into
 * buf of cap bytes. *len (may be NULL) is its length, also when buf is too small, which is
 * ORM_EINVAL (buf NULL and cap 0 ask only for the length). */
ORM_API int orm_row_cache_key(char *buf, size_t cap, size_t *len, const orm_model *model,
                              const orm_value *key);

/* For writes made elsewhere (another process, a trigger, a listener): drop one cached row, or
 * every cached row of a model (O(1)), or of every model. Safe from any thread at any time;
 * a load racing with the drop never installs what it read before it. ORM_OK also when
 * nothing was cached; ORM_EINVAL for a model the row cache does not cache. */
ORM_API int orm_row_cache_drop_row(orm_row_cache *rc, const orm_model *model, const orm_value *key);
ORM_API int orm_row_cache_drop_model(orm_row_cache *rc, const orm_model *model);
ORM_API int orm_row_cache_drop_all(orm_row_cache *rc);

typedef struct orm_row_cache_stats {
    uint64_t hits;            /* gets (and keys of get_many) answered by the cache */
    uint64_t misses;          /* that went to the database */
    uint64_t loads;           /* database reads that could fill the cache */
    uint64_t load_time_ns;    /* time spent in those */
    uint64_t invalidations;   /* rows dropped, and whole-model drops (one each) */
    uint64_t dirty;           /* write-back: rows saved and not yet written (now) */
    uint64_t flushes;         /* write-back: batches written */
    uint64_t flush_failures;  /* write-back: batches that failed (their rows stay dirty) */
} orm_row_cache_stats;

/* Write every dirty row of every write-back model now (outside a transaction of yours: it
 * runs its own). ORM_OK, or the first error (those rows stay dirty; on_flush_error saw
 * them). */
ORM_API int orm_row_cache_flush(orm_row_cache *rc);

/* model's counters since attach. ORM_EINVAL for a model the row cache does not cache. */
ORM_API int orm_row_cache_stats_get(orm_row_cache *rc, const orm_model *model,
                                    orm_row_cache_stats *out);

/* Add the row cache's per-model series to m's Prometheus text: orm_row_cache_hits_total,
 * _misses_total, _loads_total, _load_seconds_total, _invalidations_total, the gauge
 * orm_row_cache_dirty_rows, _flushes_total and _flush_failures_total (label model = the
 * table). m must outlive the db or be freed after it (the db's close removes the series). */
ORM_API int orm_row_cache_metrics(orm_row_cache *rc, orm_metrics *m);

#ifdef __cplusplus
}
#endif
#endif
