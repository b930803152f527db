/* liborm — the middleware chain and the built-in middlewares (log, slow query, metrics,
 * guard, tag, trace).
 *
 *     orm_middleware mw;
 *     orm_log_options lo = ORM_LOG_OPTIONS_INIT;       // sink NULL: lines to stderr
 *     lo.args = ORM_LOG_ARGS_REDACT;
 *     if (orm_log_middleware(&mw, &lo) == ORM_OK) orm_db_use(db, &mw);
 *     orm_metrics *m;
 *     orm_metrics_new(&m);
 *     orm_metrics_middleware(&mw, m);
 *     orm_db_use(db, &mw);
 *     ... statements ...
 *     char *text; orm_metrics_prometheus(m, &text, NULL); ... orm_free_string(text);
 *     orm_db_close(db);
 *     orm_metrics_free(m);
 *
 * The chain. Every statement liborm sends — builders, raw SQL, scripts, transaction
 * statements — goes through the db's chain, outermost (first registered) first. A middleware
 * function receives the statement (orm_stmt: kind, model, session, ctx, SQL and arguments,
 * built once and shared) and may:
 *   - call orm_stmt_next(st) at most once to run the inner layers and the database, then
 *     read the result (st->affected, st->rows, st->last_id) and the returned error;
 *   - short-circuit: return without calling next (an error code, or ORM_OK with its own
 *     affected/rows for a statement that opens no cursor);
 *   - rewrite the SQL for the inner layers with orm_stmt_set_sql before calling next (the
 *     outer layers keep seeing the SQL they saw: the chain restores it on the way out).
 * A middleware's return value is what its caller (the next outer layer, or the application)
 * gets; returning next's result unchanged is the pass-through.
 *
 * Cursors. A statement that opens a cursor (a SELECT of orm_select_*, orm_raw_get, orm_raw_all,
 * orm_raw_rows; st->flags has ORM_STMT_CURSOR) returns before its rows are read. orm_get and
 * orm_get_many are not cursor statements: they carry ORM_STMT_GET, their rows are mapped
 * before next returns and st->rows says how many were found. The chain
 * runs around the *open*: after next returns, st->rows is -1 (unknown). A middleware that
 * wants the outcome calls orm_stmt_defer(st, cookie) after a successful next; when the cursor
 * is freed (orm_rows_free, which every builder calls), its `close` callback receives the rows
 * read, the first error met while stepping, and the time from the open to the free, with the
 * cookie. Close callbacks run innermost first, as the wrap-around order would. A cursor
 * statement cannot be short-circuited with ORM_OK (there is no cursor to give back): the
 * chain turns that into ORM_ERROR naming the middleware. The statement's SQL and arguments
 * may be gone by the time the cursor closes: copy what the close callback needs.
 *
 * Registration. orm_db_use registers before the db runs its first statement; after that the
 * chain is fixed and orm_db_use is ORM_EINVAL (the chain is read without locks on every
 * statement). At most ORM_MIDDLEWARE_MAX middlewares per db.
 *
 * Cost. Without middleware a statement takes one predictable branch (no allocation, no
 * indirect call). With middleware the chain allocates nothing per statement (the orm_stmt
 * lives on the stack); the built-ins that must keep a cursor statement's text until the
 * cursor closes (log, slow, trace) copy it.
 *
 * Ownership: orm_db_use takes the middleware's userdata: its `free` runs at orm_db_close, and
 * at once when orm_db_use fails. orm_metrics objects belong to the caller and must outlive
 * every db using them.
 *
 * Thread safety: register middlewares from one thread before sharing the db. Middleware
 * functions are called from every thread that runs statements on the db: the built-ins are
 * thread-safe (metrics with a lock, log through the sink, which must be thread-safe itself
 * when several threads log; the default stderr sink writes one whole line per call).
 */
#ifndef ORM_MIDDLEWARE_H
#define ORM_MIDDLEWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/db.h"
#include "orm/export.h"
#include "orm/model.h"
#include "orm/tx.h"
#include "orm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a statement is. Same values as the library's internal query kinds. */
typedef enum orm_stmt_kind {
    ORM_STMT_SELECT = 0,
    ORM_STMT_INSERT,
    ORM_STMT_UPDATE,
    ORM_STMT_DELETE,
    ORM_STMT_RAW,
    ORM_STMT_DDL,      /* scripts: orm_exec_sql, migrations */
    ORM_STMT_BEGIN,
    ORM_STMT_COMMIT,
    ORM_STMT_ROLLBACK,
    ORM_STMT_SAVEPOINT
} orm_stmt_kind;

#define ORM_STMT_KIND_COUNT 10

/* "SELECT", "INSERT", ..., "RAW", "DDL", "BEGIN", ...; "?" for an unknown value. */
ORM_API const char *orm_stmt_kind_name(orm_stmt_kind kind);

enum orm_stmt_flags {
    ORM_STMT_CURSOR = 1u << 0,       /* the statement opens a cursor (see "Cursors") */
    ORM_STMT_SCRIPT = 1u << 1,       /* several statements without arguments (orm_exec_sql) */
    ORM_STMT_ALLOW_UNSAFE = 1u << 2, /* the guard lets this UPDATE/DELETE without WHERE pass */
    /* A read by key (orm_get, orm_get_many: intent op GET / GET_MANY) that opens no cursor
     * for the caller: the rows are mapped into intent->obj / objs before next returns, and
     * st->rows is how many were found. A layer may answer it itself (the row cache). */
    ORM_STMT_GET = 1u << 3,
    /* Set by the layer that answered the statement from a cache: it never reached the
     * database (for GET_MANY: some keys did not, see st->rows and intent->found). */
    ORM_STMT_CACHED = 1u << 4,
    /* Set by a cache layer that looked the statement up and missed: it went to the database. */
    ORM_STMT_CACHE_MISS = 1u << 5
};

/* What a statement is for, besides its SQL: enough for a layer to answer a read by key or to
 * know which rows a write touched. */
typedef enum orm_stmt_op {
    ORM_STMT_OP_NONE = 0,       /* SQL only: raw SQL, scripts, the select builder, BEGIN ... */
    ORM_STMT_OP_GET,            /* orm_get: key (npk values); obj is the struct to fill */
    ORM_STMT_OP_GET_MANY,       /* orm_get_many: keys (nkeys x npk values); struct i of the
                                   array obj is filled and found[i] set for each key found;
                                   keys already found when next is called are not loaded */
    ORM_STMT_OP_INSERT_ONE,     /* orm_insert_one: obj written (its AUTOINCREMENT key is set
                                   once next returned ORM_OK); key: the row's key when it is
                                   known before the insert (no AUTOINCREMENT key, or one the
                                   caller set), else NULL */
    ORM_STMT_OP_UPDATE_ONE,     /* orm_update_one: key, obj written (every non-key column) */
    ORM_STMT_OP_DELETE_ONE,     /* orm_delete_one: key */
    ORM_STMT_OP_INSERT,         /* insert builder, one statement's rows: objs (nkeys of them;
                                   keys the database assigns are set once next returned) */
    ORM_STMT_OP_UPSERT,         /* the same with ON CONFLICT: existing rows may change */
    ORM_STMT_OP_UPDATE_WHERE,   /* update builder (any WHERE, orm_update_from's too) and
                                   orm_update_fields: key NULL, the rows it changes are not
                                   known; key given (npk values), it can change only the row
                                   of that key, which it leaves at that key (its WHERE pins
                                   every key column to a value, orm_delete_by_key and
                                   orm_update_from's WHERE among them; its SET no key column);
                                   obj NULL either way */
    ORM_STMT_OP_DELETE_WHERE,   /* delete builder (any WHERE): key NULL, the rows are not
                                   known; key given, only the row of that key can go */
    ORM_STMT_OP_SAVEPOINT,      /* SAVEPOINT (kind SAVEPOINT) */
    ORM_STMT_OP_RELEASE,        /* RELEASE SAVEPOINT: its work joins the enclosing tx */
    ORM_STMT_OP_ROLLBACK_TO     /* ROLLBACK TO SAVEPOINT: its work is undone */
} orm_stmt_op;

typedef struct orm_stmt_intent {
    orm_stmt_op op;
    const orm_value *key;   /* GET, UPDATE_ONE, DELETE_ONE (INSERT_ONE, UPDATE_WHERE,
                               DELETE_WHERE: when the one row is known): npk values;
                               GET_MANY: nkeys x npk */
    size_t nkeys;           /* GET_MANY: keys; INSERT / UPSERT: objs */
    void *obj;              /* GET: to fill; GET_MANY: nkeys structs to fill; INSERT_ONE,
                               UPDATE_ONE: the row written */
    void *const *objs;      /* INSERT / UPSERT: the rows */
    bool *found;            /* GET_MANY: found[i] is true once key i was filled */
} orm_stmt_intent;

/* One statement on its way through the chain. Lives on the stack of the call that runs it:
 * valid only during the middleware call (copy what you keep). */
typedef struct orm_stmt {
    orm_stmt_kind kind;
    const orm_model *model; /* the model the statement is about, NULL for raw, DDL, tx */
    orm_session *session;
    orm_ctx *ctx;
    const char *sql;        /* as this layer sees it (read-only: rewrite with orm_stmt_set_sql) */
    size_t sql_len;
    const orm_value *args;
    size_t nargs;
    unsigned flags;         /* enum orm_stmt_flags */
    const orm_stmt_intent *intent; /* what the statement is for; NULL: SQL only */
    /* The result, set when orm_stmt_next returns ORM_OK (or by a short-circuiting layer). */
    int64_t affected;       /* rows changed; -1 when not known (cursors) */
    int64_t rows;           /* rows returned; -1 when not known (cursors, see "Cursors") */
    int64_t last_id;        /* SQLite: last inserted rowid; else 0 */
    /* The chain's own state for this statement (which layer runs, which called next, the
     * terminal): an opaque type, reached only through orm_stmt_next / _set_sql / _defer. */
    struct orm__stmt_run *run_;
} orm_stmt;

/* The transaction the statement runs in — its session's, or the one its ctx carries on the
 * session's db (a callee that joined its caller's transaction) — or NULL (autocommit). */
ORM_API orm_tx *orm_stmt_tx(const orm_stmt *st);

/* Run the inner layers (and, at the end, the database). At most once per layer:
 * a second call is ORM_EINVAL. Returns ORM_OK or the error of the statement. */
ORM_API int orm_stmt_next(orm_stmt *st);

/* Replace the SQL the inner layers (and the database) see. sql must stay valid until this
 * layer's orm_stmt_next returns and end with a NUL at sql[len] (the drivers want C strings). Arguments are unchanged, so the placeholders must be too.
 * ORM_EINVAL when sql is NULL or next was already called. */
ORM_API int orm_stmt_set_sql(orm_stmt *st, const char *sql, size_t len);

/* After a successful orm_stmt_next on a cursor statement: ask for this middleware's close
 * callback when the cursor is freed, with cookie. ORM_EINVAL for a statement that is not a
 * cursor, before next, or for a middleware registered without a close callback. */
ORM_API int orm_stmt_defer(orm_stmt *st, void *cookie);

/* What a close callback learns about a cursor statement. */
typedef struct orm_stmt_done {
    orm_stmt_kind kind;
    const orm_model *model;
    int64_t rows;           /* rows read by the caller */
    int error;              /* first error met while stepping, or ORM_OK */
    uint64_t elapsed_ns;    /* from the open to the free */
} orm_stmt_done;

typedef int (*orm_middleware_fn)(orm_stmt *st, void *userdata);
typedef void (*orm_middleware_close_fn)(const orm_stmt_done *done, void *cookie, void *userdata);

#define ORM_MIDDLEWARE_VERSION 1u
#define ORM_MIDDLEWARE_MAX 16

typedef struct orm_middleware {
    unsigned version;              /* ORM_MIDDLEWARE_VERSION */
    const char *name;              /* static string, for messages ("log", "metrics", ...) */
    orm_middleware_fn fn;          /* required */
    orm_middleware_close_fn close; /* optional: cursor outcomes (orm_stmt_defer) */
    void (*free)(void *userdata);  /* optional: run at orm_db_close */
    void *userdata;
} orm_middleware;

#define ORM_MIDDLEWARE_INIT { ORM_MIDDLEWARE_VERSION, NULL, NULL, NULL, NULL, NULL }

/* Register mw on db, inside every middleware registered before it. The struct is copied.
 * ORM_EINVAL (and mw->free(mw->userdata) is called) when the db already ran a statement,
 * when fn is NULL, the version is unknown, or the chain is full. */
ORM_API int orm_db_use(orm_db *db, const orm_middleware *mw);

/* Free a string the library allocated for the caller (Prometheus text). NULL is a no-op. */
ORM_API void orm_free_string(char *s);

/* ---- log and slow query ---- */

typedef enum orm_log_args {
    ORM_LOG_ARGS_SHOW = 0,   /* args=[1, 'ada'] */
    ORM_LOG_ARGS_REDACT,     /* args=[?, ?]: how many, not what */
    ORM_LOG_ARGS_HIDE        /* no args at all */
} orm_log_args;

/* One logged statement. Strings are borrowed for the duration of the sink call. */
typedef struct orm_log_entry {
    orm_stmt_kind kind;
    const char *table;       /* the model's table or "" */
    const char *sql;         /* control characters, DEL and '\\' escaped (\n \r \t \\ \xHH) */
    const char *args;        /* rendered per orm_log_args ("" when hidden), escaped the same */
    uint64_t duration_ns;    /* exec: the call; cursor: open to free */
    int64_t rows;            /* rows returned (queries) or changed (writes); -1 unknown */
    int error;               /* ORM_OK or the statement's error */
    const char *error_message; /* "" when error is ORM_OK */
    const char *line;        /* all of the above as one line, without a newline (escaped) */
    int cache;               /* a read by key: 1 answered by a cache layer ("cache=hit" in the
                                line), 2 a cache layer missed ("cache=miss"); else 0 */
} orm_log_entry;

typedef void (*orm_log_sink_fn)(const orm_log_entry *entry, void *userdata);

#define ORM_LOG_OPTIONS_VERSION 1u

typedef struct orm_log_options {
    unsigned version;          /* ORM_LOG_OPTIONS_VERSION */
    orm_log_sink_fn sink;      /* NULL: "orm: <line>\n" to stderr */
    void *sink_userdata;
    orm_log_args args;
    uint64_t min_duration_ns;  /* log only statements at least this slow (0: all) */
    size_t max_sql_len;        /* longer SQL is cut with "..." (0: 4096) */
} orm_log_options;

#define ORM_LOG_OPTIONS_INIT { ORM_LOG_OPTIONS_VERSION, NULL, NULL, ORM_LOG_ARGS_SHOW, 0, 0 }

/* Fill out with a log middleware (options copied). ORM_EINVAL on a bad version. */
ORM_API int orm_log_middleware(orm_middleware *out, const orm_log_options *opts);

#define ORM_SLOW_OPTIONS_VERSION 1u

typedef struct orm_slow_options {
    unsigned version;          /* ORM_SLOW_OPTIONS_VERSION */
    uint64_t threshold_ns;     /* statements at least this slow are logged; 0: 100 ms */
    orm_log_sink_fn sink;      /* NULL: stderr */
    void *sink_userdata;
} orm_slow_options;

#define ORM_SLOW_OPTIONS_INIT { ORM_SLOW_OPTIONS_VERSION, 0, NULL, NULL }

/* Fill out with a slow-query middleware: a log of the statements over the threshold, with
 * their arguments shown. */
ORM_API int orm_slow_middleware(orm_middleware *out, const orm_slow_options *opts);

/* ---- metrics ---- */

typedef struct orm_metrics orm_metrics;

/* Latency buckets (upper bounds, in nanoseconds) of every histogram; the last is +Inf. */
#define ORM_METRICS_BUCKETS 20

/* One kind x table series. */
typedef struct orm_metrics_series {
    orm_stmt_kind kind;
    const char *table;         /* "" for statements without a model */
    uint64_t statements;
    uint64_t errors;
    uint64_t rows;             /* rows returned (cursors) or changed (writes) */
    uint64_t cached;           /* of the statements, answered by a cache (no database) */
    uint64_t count;            /* latency observations (== statements) */
    uint64_t sum_ns;
    uint64_t max_ns;
    uint64_t p50_ns, p90_ns, p99_ns; /* estimated from the buckets (upper bound) */
    uint64_t buckets[ORM_METRICS_BUCKETS]; /* per bucket, not cumulative */
} orm_metrics_series;

typedef struct orm_metrics_snapshot {
    orm_metrics_series *series;  /* sorted by table, then kind */
    size_t nseries;
} orm_metrics_snapshot;

ORM_API int orm_metrics_new(orm_metrics **out);
/* NULL is a no-op. Only once no db uses it. */
ORM_API void orm_metrics_free(orm_metrics *m);
/* Zero every series. */
ORM_API void orm_metrics_reset(orm_metrics *m);
/* The bucket upper bounds in ns (ORM_METRICS_BUCKETS entries; the last is UINT64_MAX). */
ORM_API const uint64_t *orm_metrics_bucket_bounds(void);
/* Copy the metrics out (consistent: taken under the lock). Free with orm_metrics_snapshot_free. */
ORM_API int orm_metrics_snapshot_take(const orm_metrics *m, orm_metrics_snapshot *out);
ORM_API void orm_metrics_snapshot_free(orm_metrics_snapshot *snap);
/* Render in the Prometheus text exposition format: orm_statements_total, orm_errors_total,
 * orm_rows_total, orm_statements_cached_total (labels kind, table) and the histogram
 * orm_statement_duration_seconds, then the collectors' text.
 * *out is freed with orm_free_string; len may be NULL. */
ORM_API int orm_metrics_prometheus(const orm_metrics *m, char **out, size_t *len);
/* More text for orm_metrics_prometheus, appended after the statement series (the row cache's
 * per-model series, see row_cache.h): ORM_OK with *out a NUL-terminated string from malloc,
 * which the metrics free (NULL: nothing), or an error that orm_metrics_prometheus returns. */
typedef int (*orm_metrics_collector_fn)(char **out, void *userdata);
/* Add / remove a collector (at most 8). Not thread-safe with orm_metrics_prometheus: add before
 * sharing m, remove once nothing renders it. */
ORM_API int orm_metrics_add_collector(orm_metrics *m, orm_metrics_collector_fn fn, void *userdata);
ORM_API int orm_metrics_remove_collector(orm_metrics *m, orm_metrics_collector_fn fn, void *userdata);
/* Fill out with a middleware counting into m (borrowed: m must outlive the db). */
ORM_API int orm_metrics_middleware(orm_middleware *out, orm_metrics *m);

/* ---- guard ---- */

/* Fill out with a middleware that refuses UPDATE and DELETE statements (built or raw)
 * without a top-level WHERE: ORM_EUNSAFE, and nothing reaches the database. Scripts sent
 * with orm_exec_sql (kind DDL: schema changes, migrations) are not checked. */
ORM_API int orm_guard_middleware(orm_middleware *out);

/* The per-query opt-out: the next UPDATE or DELETE the guard sees on this thread passes
 * (and consumes the permission). Raw statements also take orm_raw_options.allow_unsafe.
 * The permission belongs to the thread, not to an orm_ctx. */
ORM_API void orm_guard_allow_next(void);

/* ---- tag (sqlcommenter) ---- */

typedef struct orm_tag {
    const char *key;
    const char *value;
} orm_tag;

#define ORM_TAG_OPTIONS_VERSION 1u
#define ORM_TAG_MAX 16

typedef struct orm_tag_options {
    unsigned version;       /* ORM_TAG_OPTIONS_VERSION */
    const orm_tag *tags;    /* tags on every statement (copied), e.g. { "app", "billing" } */
    size_t ntags;
} orm_tag_options;

#define ORM_TAG_OPTIONS_INIT { ORM_TAG_OPTIONS_VERSION, NULL, 0 }

/* Fill out with a middleware that appends a sqlcommenter comment to every statement,
 * `SELECT ...` becoming `SELECT ... /` `* app='billing',route='checkout' *` `/` (one comment;
 * written apart here only because C comments do not nest): keys sorted, keys and values
 * URL-encoded, then ' escaped as \'. The db-wide tags of opts are merged with the tags on
 * the statement's ctx (orm_ctx_set_tag, a child ctx's value shadowing its parent's), which
 * win on equal keys. At most ORM_TAG_MAX of each. */
ORM_API int orm_tag_middleware(orm_middleware *out, const orm_tag_options *opts);

/* The comment for tags, as the tag middleware writes it (with a leading space and nothing
 * after the closing star-slash) into buf; returns the length it needs (excluding the NUL), as
 * snprintf does. */
ORM_API size_t orm_tags_render(const orm_tag *tags, size_t n, char *buf, size_t buflen);

/* ---- trace ---- */

typedef struct orm_span {
    const char *name;        /* "SELECT users", "RAW", "BEGIN" */
    const char *db_system;   /* "sqlite" or "postgresql" (OpenTelemetry db.system) */
    const char *statement;   /* the SQL text */
    orm_stmt_kind kind;
    const char *table;       /* "" without a model */
    /* set for on_end only: */
    int64_t rows;            /* -1 unknown */
    int error;               /* ORM_OK or the error */
    const char *error_message;
    uint64_t duration_ns;
    int cached;              /* on_end: answered by a cache layer, never reached the database */
} orm_span;

#define ORM_TRACE_OPTIONS_VERSION 1u

typedef struct orm_trace_options {
    unsigned version;        /* ORM_TRACE_OPTIONS_VERSION */
    /* Start a span; the return value is handed to on_end (e.g. the tracer's span). */
    void *(*on_start)(const orm_span *span, void *userdata);
    void (*on_end)(const orm_span *span, void *span_handle, void *userdata);
    void *userdata;
} orm_trace_options;

#define ORM_TRACE_OPTIONS_INIT { ORM_TRACE_OPTIONS_VERSION, NULL, NULL, NULL }

/* Fill out with a tracing middleware. on_start and on_end may each be NULL. */
ORM_API int orm_trace_middleware(orm_middleware *out, const orm_trace_options *opts);

#ifdef __cplusplus
}
#endif
#endif
