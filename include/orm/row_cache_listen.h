/* liborm — cross-process coherence for the row cache: the database tells every process's row
 * cache what changed, so a row cached in process B does not stay stale for a TTL after
 * process A, a psql session, a cron job or another language's code changed it.
 *
 *     orm_row_cache_triggers_install(db, NULL, &user_model, 0);   // once (idempotent)
 *     orm_row_cache_listen(rc, &user_model, NULL);                // each process, at start
 *     // SQLite: with the triggers, lo.change_log = true drops only the rows changed
 *
 * PostgreSQL. orm_row_cache_triggers_install creates (or replaces) statement-level triggers on
 * the model's table that NOTIFY channel "orm_row_cache" at commit: one notification per row
 * key a statement touched (old and new keys of an UPDATE; composite keys too), or a single one
 * naming the table when a statement touched more than row_limit rows, on TRUNCATE, and for
 * keys with a double or timestamp column. A rolled-back transaction sends nothing (NOTIFY is
 * transactional). orm_row_cache_listen starts, on its first call for a db, one listener
 * connection outside the pool on its own thread; each notification drops the key (or every
 * row of the model) from this process's row cache. A drop never installs a row: a load that
 * began before the drop cannot install what it read (the row cache's generations), so a
 * notification of this process's own write never brings back an older row.
 * When the listener's connection is lost, every cached row of the listened models is dropped
 * (notifications may have been missed) and it reconnects with backoff (10 ms doubling up to
 * backoff_max_ms); losses and reconnects are counted (orm_row_cache_listen_stats_get) and
 * reported to on_event; queries never see an error from it. Rows loaded between the loss and
 * the next LISTEN may miss changes for that long; when it listens again it drops every
 * listened model once more, so nothing cached before then is served after it.
 *
 * SQLite. Every connection of the db reports
 * the rows written through it, raw SQL and triggers included (sqlite3_update_hook), after the
 * commit (a rollback reports nothing): the key is dropped when the primary key is the table's
 * rowid (one INTEGER PRIMARY KEY column), else every row of the model. SQLite reports no
 * change to WITHOUT ROWID tables, nor a DELETE without WHERE, nor rows a REPLACE conflict
 * deleted (the row cache's raw-SQL scanner still covers those written through this db). Other processes on the same file: a thread checks PRAGMA data_version every poll_ms and
 * drops every listened model (with the change log: the keys it names) when the file changed (also after this process's own commits:
 * data_version cannot tell them apart); with strict set, also before every read by key, so
 * a hit is never older than the file. An in-memory database has no other process: no poller.
 *
 * The change log (SQLite, opt-in). To drop only the rows other processes changed, install
 * the triggers (once, like PostgreSQL's) and set change_log in the listen options.
 * orm_row_cache_triggers_install then creates the table orm_row_cache_log (id INTEGER PRIMARY
 * KEY AUTOINCREMENT, key TEXT) and three row triggers on the model's table,
 * "orm_rc_ins:<table>", "orm_rc_upd:<table>", "orm_rc_del:<table>", which insert the row cache
 * key of each row written (old and new keys of an UPDATE that changes the key; the whole
 * table for double or timestamp keys) — whoever writes: another process, the sqlite3
 * client, another language. Cost: one more INSERT per row written (in the writer's
 * transaction), and the triggers prune the log as they go (about every 64th id, rows more
 * than 10,000 ids old), so it never grows much past 10,000 rows. When data_version moved,
 * the poller reads the rows past the last id it saw (in the same read transaction) and drops
 * those keys; a model whose table carries no triggers is still dropped whole. It drops every
 * listened model instead (counted as a loss) when the rows it has not read were pruned (more
 * than ~10,000 rows written between two polls), when more than 4096 rows came at once, when
 * the schema changed (a trigger installed or removed: writes before it may be unlogged) and
 * when the read fails. Strict mode reads the log the same way. row_limit is not used on
 * SQLite. orm_row_cache_triggers_remove drops the triggers; the log table stays. Not logged
 * (SQLite fires no trigger): rows a REPLACE conflict deletes on another unique column unless
 * PRAGMA recursive_triggers is on. Installing the triggers without setting change_log costs
 * the writes and gains nothing.
 *
 * Thread safety: orm_row_cache_listen as orm_row_cache_model (before the db is shared); the
 * listener stops at orm_db_close. Stats from any thread.
 */
#ifndef ORM_ROW_CACHE_LISTEN_H
#define ORM_ROW_CACHE_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/ctx.h"
#include "orm/db.h"
#include "orm/export.h"
#include "orm/model.h"
#include "orm/row_cache.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Install (or replace: idempotent) the model's change triggers (PostgreSQL: NOTIFY; SQLite:
 * the change log, above); row_limit 0: 100 (PostgreSQL only). Runs on a pooled connection of
 * db; ORM_EINVAL for a model without a table or key. */
ORM_API int orm_row_cache_triggers_install(orm_db *db, orm_ctx *ctx, const orm_model *model,
                                           size_t row_limit);
/* Remove them (ORM_OK when there were none). The shared trigger function stays. */
ORM_API int orm_row_cache_triggers_remove(orm_db *db, orm_ctx *ctx, const orm_model *model);

/* Version 2 added change_log; a version 1 caller's struct ends before it (read as false). */
#define ORM_ROW_CACHE_LISTEN_OPTIONS_VERSION 2u

typedef struct orm_row_cache_listen_options {
    unsigned version;            /* ORM_ROW_CACHE_LISTEN_OPTIONS_VERSION */
    int64_t poll_ms;             /* SQLite: data_version period; 0: 10; < 0: no poller */
    bool strict;                 /* SQLite: also check data_version before every read by key
                                    (orm_get / orm_get_many), so no hit is older than the
                                    file; costs one PRAGMA per read, serialized */
    int64_t backoff_max_ms;      /* PostgreSQL: longest wait between reconnects; 0: 1000 */
    /* The listener's log: listening, lost (rows dropped), cannot connect. Called on the
     * listener's thread. NULL: not logged (still counted). */
    void (*on_event)(void *userdata, const char *line);
    void *userdata;
    /* (version 2) SQLite: when data_version moved, read the change log that
     * orm_row_cache_triggers_install keeps and drop the keys it names, instead of every
     * listened model; a model whose table has no triggers is still dropped whole (see "The
     * change log" above). PostgreSQL: ignored (its triggers report keys already). */
    bool change_log;
} orm_row_cache_listen_options;

#define ORM_ROW_CACHE_LISTEN_OPTIONS_INIT { ORM_ROW_CACHE_LISTEN_OPTIONS_VERSION, 0, false, 0, NULL, NULL, false }

/* Drop model's cached rows when the database reports their change. The model must be cached
 * (orm_row_cache_model, not OFF). The first call for the db starts its listener with opts
 * (NULL: defaults; later calls' options are ignored): on PostgreSQL it returns once the
 * listener LISTENs (ORM_ECONN when it cannot connect: nothing started). Listening to a
 * model twice is ORM_OK. */
ORM_API int orm_row_cache_listen(orm_row_cache *rc, const orm_model *model,
                                 const orm_row_cache_listen_options *opts);

typedef struct orm_row_cache_listen_stats {
    uint64_t notifications;  /* changes reported by the database (keys, tables, rowids) */
    uint64_t rows_dropped;   /* of which dropped one key */
    uint64_t models_dropped; /* of which dropped a whole model */
    uint64_t losses;         /* listener connection lost, or the file changed elsewhere
                                (SQLite): every listened model dropped */
    uint64_t connects;       /* PostgreSQL: LISTEN established (the first and each reconnect) */
} orm_row_cache_listen_stats;

/* ORM_EINVAL when rc is NULL or listens to nothing. */
ORM_API int orm_row_cache_listen_stats_get(orm_row_cache *rc, orm_row_cache_listen_stats *out);

#ifdef __cplusplus
}
#endif
#endif
