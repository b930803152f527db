/* liborm — the driver interface, for those who write a database backend.
 *
 * Applications do not include this header (orm/orm.h does not): it is the extension point, as
 * libgit2's include/git2/sys/ backends and SQLite's VFS are. A backend is one const
 * orm_driver: its version, its name, its DSN test, its connection and cursor calls, and every
 * fact the layers above need about its SQL and its server, each stated once here:
 *   - the dialect (struct orm_dialect below): identifier quoting, placeholders, boolean
 *     literals, LIMIT/OFFSET, RETURNING, upsert, last insert ids, the parameter limit, and how
 *     the server reads literals and comments (the library's SQL lexer reads by it);
 *   - the pool's defaults for a DSN, the alive check and the reset between users;
 *   - the BEGIN text for given transaction options (one function: the driver runs it, the
 *     middlewares see it);
 *   - an optional fast row mapper;
 *   - the drift check's column introspection (orm_db_check_models);
 *   - the migrator's lock and state-table SQL;
 *   - the name that traces report (OpenTelemetry's db.system);
 *   - optionally, the change feed the row cache's cross-process coherence listens to
 *     (orm_driver_feed below: triggers, a listener, connection hooks).
 * Nothing outside the drivers names a backend: the library asks the driver.
 *
 * Cancellation: a driver watches the ctx it is given (orm_ctx_err) while a statement runs and
 * interrupts the server itself (SQLite: the progress handler; PostgreSQL: a CancelRequest),
 * reporting ORM_ECANCELED or ORM_ETIMEOUT. orm_ctx_cancel only sets a flag: there is no
 * separate arm/disarm call, so a cancel can never block on a server that does not answer.
 *
 * Errors: every call returns ORM_OK or a negative ORM_E… code with the last error set
 * (orm_driver_error_set), mapping the backend's codes in one table per driver.
 *
 * Threads: a connection is used by one thread at a time (the db's pool hands them out); the
 * driver struct and its dialect are immutable and shared.
 *
 * Versioning: orm_driver.version is ORM_DRIVER_VERSION of the header the driver was built
 * with; orm_driver_register refuses a version this liborm does not know. Later versions only
 * append members (to orm_driver and to the structs a driver fills: the dialect, columns,
 * migrate, feed); the structs liborm fills for a driver (orm_query, orm_driver_feed_sink,
 * orm_driver_feed_options) may grow at their end, which a driver built before never reads.
 * The change feed joined this header at version 1: until then its types were internal and
 * no liborm has been released, so no driver was built against another layout of version 1.
 */
#ifndef ORM_SYS_DRIVER_H
#define ORM_SYS_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "orm/ctx.h"
#include "orm/db.h"
#include "orm/dialect.h"
#include "orm/error.h"
#include "orm/export.h"
#include "orm/model.h"
#include "orm/tx.h"
#include "orm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ORM_DRIVER_VERSION 1u

typedef struct orm_conn orm_conn;     /* defined by each driver */
typedef struct orm_cursor orm_cursor; /* defined by each driver */

/* ---- statements, as the library hands them to a driver ---- */

typedef enum orm_query_kind {
    ORM_QUERY_SELECT,
    ORM_QUERY_INSERT,
    ORM_QUERY_UPDATE,
    ORM_QUERY_DELETE,
    ORM_QUERY_RAW,
    ORM_QUERY_DDL,
    ORM_QUERY_BEGIN,
    ORM_QUERY_COMMIT,
    ORM_QUERY_ROLLBACK,
    ORM_QUERY_SAVEPOINT
} orm_query_kind;

/* A built statement: read-only for the driver, valid for the call. The SQL is in the
 * driver's own dialect (placeholders, quoting). */
typedef struct orm_query {
    orm_query_kind kind;
    const orm_model *model; /* NULL for raw and transaction statements */
    const char *sql;
    size_t sql_len;
    uint64_t sql_hash;      /* FNV-1a 64 of sql (never 0), or 0: the driver hashes if it caches */
    const orm_value *args;
    size_t nargs;
    const struct orm_stmt_intent *intent; /* what it is for (middleware.h); NULL: SQL only */
} orm_query;

/* What a statement that returns no rows reports. */
typedef struct orm_exec_result {
    int64_t affected;  /* rows changed */
    int64_t last_id;   /* the last inserted rowid when dialect.has_last_insert_id, else 0 */
} orm_exec_result;

/* ---- the dialect ---- */

/* How the server reads SQL text outside code: what the library's SQL lexer reads by for the
 * raw-SQL placeholder rewrite, the unsafe-write guard, the migration splitter and the row
 * cache's raw-SQL table finder. */
typedef enum orm_sql_lexer {
    ORM_SQL_LEXER_SQLITE,  /* '..' strings, "..", `..`, [..] names, flat block comments */
    ORM_SQL_LEXER_POSTGRES /* also E'..', $tag$..$tag$, nested block comments */
} orm_sql_lexer;

typedef enum orm_upsert_style {
    ORM_UPSERT_NONE,       /* orm_insert_on_conflict is refused */
    ORM_UPSERT_ON_CONFLICT /* ON CONFLICT (..) DO NOTHING / DO UPDATE SET c = excluded.c */
} orm_upsert_style;

/* What the builders render by. Immutable, one per backend (orm_dialect in orm/dialect.h is
 * this struct, opaque there). */
struct orm_dialect {
    const char *name;           /* the driver's name */
    char ident_quote;           /* quotes identifiers, doubled inside one ('"') */
    int numbered_params;        /* 0: ?   1: $1, $2 ... */
    const char *true_lit;       /* boolean literals for constant predicates */
    const char *false_lit;
    int has_returning;          /* INSERT/UPDATE/DELETE ... RETURNING */
    int has_last_insert_id;     /* exec reports the last inserted rowid */
    int needs_limit_for_offset; /* OFFSET needs a LIMIT before it (LIMIT -1 OFFSET n) */
    size_t max_params;          /* bound parameters per statement (batch sizing) */
    orm_upsert_style upsert;
    /* A multi-row INSERT that leaves the integer key to the database gets consecutive keys
     * ending at the last insert id (SQLite's rowid rule), so keys can be written back without
     * RETURNING. */
    int sequential_rowids;
    orm_sql_lexer lexer;
    /* The server may read a backslash in '..' as an escape (PostgreSQL with
     * standard_conforming_strings off): the guard reads a statement both ways. */
    int backslash_strings;
    /* Timestamps (and every other value) are never literals in the SQL the builders write:
     * they are bound, and the driver's codec chooses the wire form (SQLite: ISO-8601 text;
     * PostgreSQL: its timestamp type), so the dialect has no timestamp literal. */
};

/* ---- the other facts ---- */

/* The pool a db opens for a DSN, before orm_db_options override it. */
typedef struct orm_driver_pool {
    unsigned max_open;   /* connections when orm_db_options.max_open is 0 */
    int single;          /* 1: the DSN names a database private to one connection (in-memory):
                            exactly one connection, never closed while idle */
    int park_hot;        /* 1: a released idle connection may be parked outside the pool for
                            the next caller (a local database whose point query costs less than
                            the pool's lock); off anyway when idle expiry is set */
} orm_driver_pool;

/* The drift check (orm_db_check_models). */
typedef struct orm_driver_columns {
    /* One parameter, the table name, in the dialect's placeholder style; returns a row per
     * column: (name text, declared type text), in column order. */
    const char *sql;
    /* Type names read as text by the check (arrays, enums), NULL-terminated, or NULL. */
    const char *const *text_types;
    /* 1: integers of any width hold each other, booleans are integers and timestamps text
     * (SQLite's storage classes); 0: types are exact, and an integer field must be at least
     * as wide as its column. */
    int loose_types;
    /* 1: column names compare without regard to ASCII case. */
    int names_nocase;
} orm_driver_columns;

/* The migrator (orm_migrate_*): its lock and its state table. */
typedef struct orm_driver_migrate {
    /* orm_tx_options.begin_mode of each step's transaction (a BEGIN that takes the write
     * lock at once, when the backend has one). */
    int begin_mode;
    /* Optional: take the transaction-scoped lock `key` (the migrator's constants) in s's open
     * transaction, waiting at most wait_ms: ORM_ETIMEOUT when not taken in time. NULL: the
     * step's BEGIN is the lock, and no lock outlives a transaction's statements (a dirty row
     * left by a no-transaction migration always reads as failed). */
    int (*lock)(orm_session *s, orm_ctx *ctx, int64_t key, int64_t wait_ms, const char *what);
    /* With lock: take key if it is free, without waiting; *taken 1 or 0. */
    int (*try_lock)(orm_session *s, orm_ctx *ctx, int64_t key, int *taken);
    /* With lock, optional: run in the transaction that holds the running-migration marker
     * for as long as a no-transaction migration runs, after lock took it (PostgreSQL: no
     * idle-in-transaction timeout may end it). */
    const char *hold_sql;
    /* The state table, orm_schema_migrations, in the dialect's placeholder style: */
    const char *create_sql;       /* CREATE TABLE IF NOT EXISTS, no parameters */
    const char *select_sql;       /* version, name, checksum, applied_at as text, duration_ms,
                                     dirty; ORDER BY version */
    const char *insert_sql;       /* version, name, checksum, duration_ms, dirty */
    const char *clean_sql;        /* SET dirty = 0, duration_ms = ?1 WHERE version = ?2 */
    const char *dirty_sql;        /* SET dirty = 1 WHERE version = ?1 */
    const char *delete_sql;       /* WHERE version = ?1 */
    const char *delete_above_sql; /* WHERE version > ?1 */
    const char *refresh_sql;      /* SET name = ?1, checksum = ?2, dirty = 0 WHERE version = ?3 */
    /* 1: the server's error positions count characters (UTF-8), 0: bytes. */
    int position_chars;
} orm_driver_migrate;

/* ---- the change feed (optional): the row cache's cross-process coherence ---- */

/* A backend that can tell which rows other writers changed offers a feed; the row cache
 * (orm/row_cache_listen.h) turns what it reports into drops, so a process's cache never serves
 * a row another process has changed for longer than the report takes. Three sources, one
 * sink, any of them optional but start / stop:
 *   - triggers (install / remove per table), which make the server send the row cache key
 *     of each changed row, or the table when a statement touches many rows (PostgreSQL:
 *     NOTIFY; SQLite: rows of a change-log table);
 *   - a listener (start / stop, once per db, its own connection and thread), which delivers
 *     what the triggers sent and reports `lost` when it may have missed some (PostgreSQL:
 *     LISTEN; SQLite: a poller that reports `lost` when another process committed to the
 *     file, or with change_log the keys the log holds and `lost_except` for the tables it
 *     does not cover), with an optional synchronous check (check);
 *   - connection hooks (SQLite: watch_conn), which report the rows each connection of the
 *     db wrote, after the commit that made them visible.
 * Reports are drops, never values: a report that arrives twice, late, or for a write of this
 * very process does no harm; a report missed makes a cached row stale until its TTL. When in
 * doubt, report more (`lost`, or the whole table). */

/* Where a feed reports: filled by liborm, passed to start (valid until stop returns) and
 * reached by connection hooks through the db's cell (orm_driver_feed_cell_sink).
 *
 * Threads: the callbacks may run on any thread (the listener's, a committing one), several
 * at once; they take the row cache's own locks and may do I/O (a Redis cache), so a driver
 * calls them holding none of its locks that another of its calls could wait on. They never
 * call back into the driver. Strings are the caller's, read during the call only. */
typedef struct orm_driver_feed_sink {
    /* A row changed: key is its row cache key, "<escaped table>:<encoded pk>" (row_cache.h,
     * "Keys"), NUL-terminated, len bytes. Drops that key. */
    void (*key)(void *ud, const char *key, size_t len);
    /* Many rows of a table changed: prefix is the table's key prefix, "<escaped table>:"
     * (install's prefix), NUL-terminated. Drops every row of the models on that table. */
    void (*table)(void *ud, const char *prefix, size_t len);
    /* A committed change to the row rowid of table (the name the backend reports, unescaped);
     * whole 1 (rowid 0): too many rows, every row of the table. Drops the key when rowid_is
     * says the model's key is the rowid, else the model. */
    void (*rowid)(void *ud, const char *table, int64_t rowid, int whole);
    /* Changes may have been missed: drops every listened model. connected 1: the listener
     * (re)connected and listens from now on (report it at each connect: whatever was cached
     * before may have missed its report); 0: it lost its connection, or it only knows that
     * something changed (SQLite's data_version moved). Counted in the listen stats. */
    void (*lost)(void *ud, int connected);
    /* Optional (check for NULL): one line for the application's log (a reconnect, a loss). */
    void (*event)(void *ud, const char *msg);
    void *ud; /* the first argument of every callback */
    /* Changes may have been missed in every table but the n named (the backend's names,
     * compared without ASCII case), whose changes are reported by key or prefix (report those
     * after this call, so a reader that saw one of them finds the rest dropped): drops every
     * listened model on another table. n 0 is `lost` (0). (SQLite's change log: data_version
     * moved, the logged tables' keys were read from the log.) */
    void (*lost_except)(void *ud, const char *const *tables, size_t n);
} orm_driver_feed_sink;

/* What the application asked of the listener (orm_row_cache_listen_options), for start. */
typedef struct orm_driver_feed_options {
    int64_t poll_ms;        /* a poller's period (SQLite: data_version); < 0: no poller */
    int64_t backoff_max_ms; /* the longest wait between reconnects; <= 0: the driver's default */
    int change_log;         /* 1: read the change log install keeps, where the backend has one
                               (SQLite), to report keys instead of `lost` */
} orm_driver_feed_options;

/* A running listener, defined by each driver: what start makes and stop frees. */
typedef struct orm_driver_listener orm_driver_listener;

/* The db's cell: where a connection hook finds the sink. One per db, owned by liborm; it
 * holds the sink while a listener runs (published before start, cleared before stop) and
 * NULL otherwise. Opaque: read it with orm_driver_feed_cell_sink. */
typedef struct orm_driver_feed_cell orm_driver_feed_cell;

/* The sink cell holds now (an acquire load), or NULL: nobody listens, and a hook need
 * neither collect nor report. Load it at each report and use it only until the driver call
 * that loaded it returns (liborm clears the cell, and frees the sink, only once no statement
 * runs on the db). */
ORM_API const orm_driver_feed_sink *orm_driver_feed_cell_sink(const orm_driver_feed_cell *cell);

/* The feed's calls. start and stop are required; install and remove come as a pair (both or
 * neither); the rest are optional (NULL). orm_driver_register refuses anything else. */
typedef struct orm_driver_feed {
    /* Optional, with remove: make the server report writes to m's table (create or replace:
     * installing twice is ORM_OK), each changed row as its key (prefix, escaped already, then
     * the encoded key columns) through the listener, a table as prefix when a statement
     * touches more than row_limit rows or a key has no exact text form. On c, a connection
     * of the db's pool outside any transaction; c is the caller's again after the call.
     * NULL: the backend reports writes without per-table setup (hooks, a poller). */
    int (*install)(orm_conn *c, const orm_model *m, const char *prefix, size_t row_limit);
    /* With install: undo it for m's table (ORM_OK when nothing is installed). */
    int (*remove)(orm_conn *c, const orm_model *m);
    /* Required: start the db's listener, once per db, reporting to sink until stop. dsn is
     * the db's, valid during the call only (a driver that delegates strips its own part);
     * o likewise (copy what is kept). Return once it listens, so a write committed after
     * start returns is reported: an error (ORM_ECONN when it cannot reach the server) starts
     * nothing. Later losses are the listener's to handle (report `lost`, reconnect).
     * ORM_OK with *out NULL: nothing needs to run (an in-memory database, poll_ms < 0);
     * stop and check are then not called. */
    int (*start)(orm_driver_listener **out, const char *dsn, const orm_driver_feed_sink *sink,
                 const orm_driver_feed_options *o);
    /* Required: stop and free l (join its thread, close its connection). No callback of l
     * runs after it returns. Called from orm_db_close, before the sink is freed. */
    void (*stop)(orm_driver_listener *l);
    /* Optional: check now, on the caller's thread, what the listener checks periodically
     * (SQLite: data_version), reporting to the sink before returning. Called before a read
     * in strict mode, from any thread, concurrently with other checks and with l's thread. */
    void (*check)(orm_driver_listener *l);
    /* Optional: hook a connection the db just opened (every one, pooled or not) to the db's
     * cell, which outlives the connection. The hook reports, after the commit, the rows
     * written through c (to cell's sink, when it holds one); what it keeps is freed by the
     * driver's close. An error closes c and fails its open (ORM_ENOMEM). */
    int (*watch_conn)(orm_conn *c, const orm_driver_feed_cell *cell);
    /* Optional: 1 when column of table is the table's rowid (so rowid reports name that
     * model's key), 0 when not or unknown, < 0 an ORM_E... error. On a pooled connection, as
     * install. NULL: rowid reports drop the model. */
    int (*rowid_is)(orm_conn *c, const char *table, const char *column);
} orm_driver_feed;

/* ---- the driver ---- */

typedef struct orm_driver {
    unsigned version;   /* ORM_DRIVER_VERSION */
    const char *name;   /* "sqlite", ...: also what orm_db_backend returns; unique */
    const char *trace_name; /* the system traces report (OpenTelemetry db.system) */

    /* Does this driver take the DSN? (prefix match, no I/O) */
    int (*accepts)(const char *dsn);
    /* deadline_us (CLOCK_MONOTONIC µs, 0: none): a server that does not answer by then
     * makes it ORM_ETIMEOUT (drivers without a network ignore it). *out NULL on failure. */
    int (*open)(orm_conn **out, const char *dsn, const orm_db_options *opts, int64_t deadline_us);
    void (*close)(orm_conn *c);

    /* Run a statement; res may be NULL. */
    int (*exec)(orm_conn *c, orm_ctx *ctx, const orm_query *q, orm_exec_result *res);
    /* Run a statement and open a cursor on its rows; the cursor is owned by the connection
     * and valid until cursor_close (which must come before the next call on c). */
    int (*query)(orm_conn *c, orm_ctx *ctx, const orm_query *q, orm_cursor **out);
    /* Run statements that take no arguments, separated by ';'. */
    int (*exec_script)(orm_conn *c, orm_ctx *ctx, const char *sql);

    /* 1: a row is there; 0: no more rows; < 0: an ORM_E... error. */
    int (*cursor_next)(orm_cursor *cur);
    size_t (*cursor_ncols)(orm_cursor *cur);
    const char *(*cursor_name)(orm_cursor *cur, size_t col);
    /* The column's value in the current row, in the type the backend holds it
     * (text and blob borrowed until the next cursor call). */
    orm_value (*cursor_value)(orm_cursor *cur, size_t col);
    void (*cursor_close)(orm_cursor *cur);
    /* Optional (NULL: the library maps cursor_value by column): map the current row into obj,
     * zeroed by the caller; column k goes to field fields[k], (size_t)-1 skips it. Anything
     * unusual (NULL, a conversion) goes through orm_model_set's rules. obj need not be
     * cleared on error (the caller clears it). */
    int (*map_row)(orm_cursor *cur, const orm_model *m, const size_t *fields, size_t ncols,
                   void *obj);

    /* Transactions: begin with options (NULL: defaults), commit, rollback. */
    int (*begin)(orm_conn *c, orm_ctx *ctx, const orm_tx_options *opts);
    int (*commit)(orm_conn *c, orm_ctx *ctx);
    int (*rollback)(orm_conn *c, orm_ctx *ctx);
    /* The BEGIN statement begin runs for opts (not NULL), into buf (n bytes) or as a static
     * string: what middlewares and traces see. */
    const char *(*begin_sql)(const orm_tx_options *opts, char *buf, size_t n);

    const orm_dialect *dialect;

    /* The pool: defaults for a DSN (accepted by this driver); alive (optional): 1 when an idle
     * connection can still be used (checked before it is handed out), else 0; reset: put a
     * connection back to a clean state between users (no transaction, no session state),
     * ORM_OK or an error that closes it. */
    void (*pool_defaults)(const char *dsn, orm_driver_pool *out);
    int (*alive)(orm_conn *c);
    int (*reset)(orm_conn *c);

    const orm_driver_columns *columns;
    const orm_driver_migrate *migrate;

    /* Optional: the change feed for the row cache's coherence (orm_driver_feed above; NULL:
     * the backend reports no changes, and orm_row_cache_listen says so). */
    const orm_driver_feed *feed;
} orm_driver;

/* ---- registration and lookup ---- */

/* Add drv to the drivers orm_db_open asks, after the built-in ones (SQLite, PostgreSQL), in
 * the order registered. drv must stay valid while any db uses it. ORM_EINVAL for a NULL or
 * incomplete driver (a required member NULL, or a feed without start or stop, or with install
 * but no remove or the reverse: the message names the driver and the member), an unknown
 * version, or a name already registered; ORM_ENOMEM. Thread-safe. */
ORM_API int orm_driver_register(const orm_driver *drv);

/* The driver named name (built-in or registered), or NULL. A driver may delegate to another
 * through it. */
ORM_API const orm_driver *orm_driver_find(const char *name);

/* The driver a db runs on. */
ORM_API const orm_driver *orm_db_driver(const orm_db *db);

/* Set the per-thread last error (orm_error_last) and return code: for drivers. sqlstate and
 * native_code as the backend reported them (NULL, 0 when none); module must outlive the
 * thread's next error (a string literal). */
ORM_API int orm_driver_error_set(int code, const char *module, const char *sqlstate,
                                 int native_code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
