/* liborm — the SQLite driver (orm__driver_sqlite).
 *
 * One orm_conn is one sqlite3 handle opened NOMUTEX (the db hands a connection to one thread
 * at a time, so SQLite's own mutex would be pure cost) with a bounded LRU cache of
 * persistent prepared statements keyed by SQL text. Keeps true:
 *  - a cached statement is always reset when no call is using it, and every parameter is
 *    rebound before each use. exec binds text and blobs SQLITE_STATIC (it steps to the end
 *    inside the call, while the arguments are alive); query binds them SQLITE_TRANSIENT,
 *    because SQLite reads bound values at every step and callers may free their arguments
 *    once the cursor is open (orm_raw_rows borrows them "for the call" only);
 *  - at most one cursor is open per connection; any other call while it is open is
 *    ORM_EBUSY (running a statement could evict the cursor's own statement);
 *  - every SQLite error goes through map_code, the one table from SQLite codes to ORM_E...,
 *    with the extended code kept as native_code;
 *  - a call made with a ctx runs under a progress handler that interrupts the statement once
 *    the ctx is cancelled or past its deadline (SQLITE_INTERRUPT: ORM_ECANCELED here, which
 *    the session turns into the ctx's reason); it stays on while that call's cursor is open
 *    and is switched off by the next call without a ctx.
 */
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "orm/alloc.h"
#include "orm/ctx_internal.h"
#include "orm/driver.h"
#include "orm/query.h"
#include "orm/driver/sqlite/sqlite.h"
#include "orm/error_internal.h"
#include "orm/mapper.h"
#include "orm/rows_internal.h"
#include "orm/stmt_cache.h"
#include "orm/value_internal.h"

struct orm_cursor {
    struct orm_conn *conn;
    sqlite3_stmt *stmt;
    int cached; /* 1: stmt belongs to the cache (reset on close); 0: finalize on close */
    int done;   /* stepped to the end or failed: further next calls return 0 / the error */
    int ncols;
};

struct orm_conn {
    sqlite3 *db;
    orm_stmt_cache *cache;
    struct orm_cursor cur;
    int cursor_open;
    int query_only; /* PRAGMA query_only was turned on by begin */
    orm_ctx *ctx;   /* the ctx the progress handler watches, or NULL (handler off) */
    int busy_ms;    /* how long busy_cb waits on a locked database */
    orm__sqlite_watch *watch; /* the change feed's hooks (feed.c), or NULL */
};

/* After a statement that may have ended a transaction: the change feed reports its rows. */
static inline void feed_after(orm_conn *c)
{
    if (c->watch)
        orm__sqlite_feed_after(c->watch);
}

/* ---- deadlines and cancellation ---- */

/* SQLite calls this every PROGRESS_OPS virtual machine instructions (a few microseconds). */
#define PROGRESS_OPS 1000

static int progress_cb(void *arg)
{
    const orm_conn *c = arg;
    return c->ctx && orm__ctx_expired(c->ctx);
}

/* The busy timeout as SQLite's own (sleeps of 1, 2, 5 ... 100 ms up to busy_ms), but it
 * stops waiting once the call's ctx is cancelled or past its deadline. */
static int busy_cb(void *arg, int count)
{
    static const int delays[] = { 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 };
    const int n = (int)(sizeof delays / sizeof delays[0]);
    const orm_conn *c = arg;
    if (c->ctx && orm__ctx_expired(c->ctx))
        return 0;
    int slept = 0;
    for (int i = 0; i < count; i++)
        slept += delays[i < n ? i : n - 1];
    int delay = delays[count < n ? count : n - 1];
    if (slept >= c->busy_ms)
        return 0;
    if (slept + delay > c->busy_ms)
        delay = c->busy_ms - slept;
    int64_t deadline = orm_ctx_deadline(c->ctx);
    if (deadline) {
        int64_t left_ms = (deadline - orm_ctx_now_us()) / 1000 + 1;
        if (left_ms < delay)
            delay = (int)left_ms;
    }
    sqlite3_sleep(delay);
    return 1;
}

static void use_ctx(orm_conn *c, orm_ctx *ctx)
{
    if (c->ctx != ctx) {
        c->ctx = ctx;
        sqlite3_progress_handler(c->db, ctx ? PROGRESS_OPS : 0, ctx ? progress_cb : NULL, c);
    }
}

/* ---- errors ---- */

static int map_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return ORM_ECONSTRAINT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return ORM_EBUSY;
    case SQLITE_INTERRUPT: return ORM_ECANCELED;
    case SQLITE_NOMEM: return ORM_ENOMEM;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL: return ORM_EIO;
    default: return ORM_EDB;
    }
}

static int sqlite_error_msg(int rc, int ext, const char *msg, const char *sql, size_t len)
{
    /* A long statement is cut at 160 bytes and says how much is left out, so the closing
     * parenthesis is never mistaken for the statement's own. */
    if (sql && len > 160)
        return orm__error_set_db(map_code(rc), "sqlite", NULL, ext, "%s (in: %.160s... [%zu more bytes])",
                                 msg, sql, len - 160);
    if (sql)
        return orm__error_set_db(map_code(rc), "sqlite", NULL, ext, "%s (in: %.*s)", msg, (int)len, sql);
    return orm__error_set_db(map_code(rc), "sqlite", NULL, ext, "%s", msg);
}

static int sqlite_error(sqlite3 *db, int rc, const char *sql, size_t len)
{
    const int ext = db ? sqlite3_extended_errcode(db) : rc;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int r = sqlite_error_msg(rc, ext, msg, sql, len);
#if SQLITE_VERSION_NUMBER >= 3038000
    if (db && sql && sqlite3_error_offset(db) >= 0)
        orm__error_set_position(sqlite3_error_offset(db) + 1);
#endif
    return r;
}

static int cursor_busy(void)
{
    return orm__error_set(ORM_EBUSY, "sqlite",
                          "a cursor is still open on this connection: free the orm_rows first");
}

/* ---- open / close ---- */

static int sqlite_accepts(const char *dsn)
{
    return strncmp(dsn, "sqlite:", 7) == 0 || strncmp(dsn, "file:", 5) == 0;
}

static void finalize_cb(void *stmt, void *userdata)
{
    (void)userdata;
    sqlite3_finalize(stmt);
}

static int run_pragma(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        rc = sqlite_error(db, rc, sql, strlen(sql));
    sqlite3_finalize(st);
    return rc;
}

static void sqlite_close(orm_conn *c)
{
    if (!c)
        return;
    if (c->cursor_open) {
        sqlite3_reset(c->cur.stmt);
        if (!c->cur.cached)
            sqlite3_finalize(c->cur.stmt);
    }
    orm__stmt_cache_free(c->cache);
    orm__sqlite_feed_unwatch(c->watch);
    sqlite3_close_v2(c->db);
    orm__free(c);
}

/* The options of a "sqlite:PATH?k=v&k=v" DSN (a "file:" URI is SQLite's own and passed as is). */
typedef struct dsn_opts {
    int mode;             /* 0 rwc (create when missing), 1 rw (must exist), 2 ro */
    const char *journal;  /* journal_mode to set; NULL: WAL for a new file, else the file's own */
    int foreign_keys;     /* 1 (default) or 0 */
    const char *sync;     /* synchronous to set; NULL: NORMAL when in WAL, else SQLite's */
} dsn_opts;

static int pick(const char *dsn, const char *key, const char *v, size_t vlen,
                const char *const *allowed, size_t n, const char **out)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(allowed[i]) == vlen && sqlite3_strnicmp(v, allowed[i], (int)vlen) == 0) {
            *out = allowed[i];
            return ORM_OK;
        }
    return orm__error_set(ORM_EINVAL, "sqlite", "DSN \"%s\": %s=%.*s is not one of the values it takes",
                          dsn, key, (int)vlen, v);
}

/* Split dsn into the path (*path, malloc'ed) and its options. */
static int parse_dsn(const char *dsn, char **path, dsn_opts *o)
{
    static const char *const modes[] = { "rwc", "rw", "ro" };
    static const char *const journals[] = { "wal", "delete", "truncate", "persist", "memory", "off" };
    static const char *const syncs[] = { "off", "normal", "full", "extra" };
    static const char *const bools[] = { "on", "off", "1", "0", "true", "false" };
    o->mode = 0;
    o->journal = NULL;
    o->foreign_keys = 1;
    o->sync = NULL;
    const char *p = strncmp(dsn, "sqlite:", 7) == 0 ? dsn + 7 : dsn;
    const char *q = strncmp(p, "file:", 5) == 0 ? NULL : strchr(p, '?');
    *path = orm__strndup(p, q ? (size_t)(q - p) : strlen(p));
    if (!*path)
        return orm__error_nomem("sqlite");
    while (q && *q) {
        const char *k = q + 1, *amp = strchr(k, '&'), *end = amp ? amp : k + strlen(k);
        const char *eq = memchr(k, '=', (size_t)(end - k));
        if (!eq) {
            orm__free(*path);
            return orm__error_set(ORM_EINVAL, "sqlite", "DSN \"%s\": option \"%.*s\" has no value",
                                  dsn, (int)(end - k), k);
        }
        const size_t klen = (size_t)(eq - k), vlen = (size_t)(end - eq - 1);
        const char *v = eq + 1, *got = NULL;
        int rc;
#define KEY_IS(name) (klen == sizeof(name) - 1 && memcmp(k, name, klen) == 0)
        if (KEY_IS("mode")) {
            rc = pick(dsn, "mode", v, vlen, modes, 3, &got);
            o->mode = got == modes[1] ? 1 : got == modes[2] ? 2 : 0;
        } else if (KEY_IS("journal_mode")) {
            rc = pick(dsn, "journal_mode", v, vlen, journals, 6, &o->journal);
        } else if (KEY_IS("synchronous")) {
            rc = pick(dsn, "synchronous", v, vlen, syncs, 4, &o->sync);
        } else if (KEY_IS("foreign_keys")) {
            rc = pick(dsn, "foreign_keys", v, vlen, bools, 6, &got);
            o->foreign_keys = got && (got[0] == 'o' ? got[1] == 'n' : got[0] == '1' || got[0] == 't');
        } else {
            rc = orm__error_set(ORM_EINVAL, "sqlite", "DSN \"%s\": unknown option \"%.*s\" (mode, "
                                "journal_mode, synchronous, foreign_keys)", dsn, (int)klen, k);
        }
#undef KEY_IS
        if (rc != ORM_OK) {
            orm__free(*path);
            return rc;
        }
        q = amp;
    }
    return ORM_OK;
}

/* The connection's journal mode, lower case, into buf. */
static void journal_mode(sqlite3 *db, char *buf, size_t cap)
{
    sqlite3_stmt *st = NULL;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* Is the main database empty (no page yet: a file this open created, or an empty one)? */
static int is_empty(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int empty = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        empty = sqlite3_column_int64(st, 0) == 0;
    sqlite3_finalize(st);
    return empty;
}

/* Connection settings (sqlite.h of the public docs: README "SQLite files"): foreign_keys on
 * unless the DSN says off; WAL for a database this open creates (an existing file keeps its
 * journal mode: changing it is persistent) unless journal_mode= says otherwise; synchronous
 * NORMAL when in WAL (safe there) unless synchronous= says otherwise. */
static int apply_settings(sqlite3 *db, const dsn_opts *o)
{
    char sql[64];
    int rc = run_pragma(db, o->foreign_keys ? "PRAGMA foreign_keys=ON" : "PRAGMA foreign_keys=OFF");
    const char *fname = sqlite3_db_filename(db, "main");
    const int file = fname && *fname && sqlite3_db_readonly(db, "main") == 0;
    if (rc == ORM_OK && file) {
        const char *jm = o->journal ? o->journal : is_empty(db) ? "wal" : NULL;
        if (jm) {
            snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s", jm);
            rc = run_pragma(db, sql);
        }
    }
    if (rc == ORM_OK && (o->sync || file)) {
        char cur[16];
        journal_mode(db, cur, sizeof cur);
        const char *sy = o->sync ? o->sync : strcmp(cur, "wal") == 0 ? "normal" : NULL;
        if (sy) {
            snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", sy);
            rc = run_pragma(db, sql);
        }
    }
    return rc;
}

static int sqlite_open(orm_conn **out, const char *dsn, const orm_db_options *opts, int64_t deadline_us)
{
    (void)deadline_us; /* a file: nothing to wait for but locks, which the busy handler bounds */
    *out = NULL;
    char *path;
    dsn_opts o;
    int rc = parse_dsn(dsn, &path, &o);
    if (rc != ORM_OK)
        return rc;
    if (!*path) {
        orm__free(path);
        return orm__error_set(ORM_EINVAL, "sqlite", "DSN \"%s\" names no database", dsn);
    }

    orm_conn *c = orm__calloc(1, sizeof *c);
    if (!c) {
        orm__free(path);
        return orm__error_nomem("sqlite");
    }
    size_t cap = opts && opts->stmt_cache_size ? opts->stmt_cache_size : 128;
    rc = orm__stmt_cache_new(&c->cache, cap, finalize_cb, NULL);
    if (rc != ORM_OK) {
        orm__free(c);
        orm__free(path);
        return rc;
    }
    int flags = SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
    flags |= o.mode == 2 ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (o.mode == 0 && (!opts || opts->create))
        flags |= SQLITE_OPEN_CREATE;
    int src = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (src != SQLITE_OK) {
        rc = orm__error_set_db(map_code(src), "sqlite", NULL,
                               c->db ? sqlite3_extended_errcode(c->db) : src,
                               "cannot open %s: %s%s", path,
                               c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(src),
                               flags & SQLITE_OPEN_CREATE ? "" : " (it must exist: mode=rw / ro or create=0)");
        orm__free(path);
        sqlite_close(c);
        return rc;
    }
    orm__free(path);
    sqlite3_extended_result_codes(c->db, 1);
    c->busy_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    sqlite3_busy_handler(c->db, busy_cb, c);
    rc = apply_settings(c->db, &o);
    if (rc != ORM_OK) {
        sqlite_close(c);
        return rc;
    }
    *out = c;
    return ORM_OK;
}

/* ---- statements ---- */

static int bind_args(orm_conn *c, sqlite3_stmt *st, const orm_query *q, sqlite3_destructor_type how)
{
    const int n = sqlite3_bind_parameter_count(st);
    if ((size_t)n != q->nargs)
        return orm__error_set(ORM_EINVAL, "sqlite", "statement takes %d parameters, %zu given (in: %.*s)",
                              n, q->nargs, (int)(q->sql_len > 160 ? 160 : q->sql_len), q->sql);
    for (int i = 0; i < n; i++) {
        const orm_value *v = &q->args[i];
        int rc;
        switch (v->type) {
        case ORM_VALUE_NULL: rc = sqlite3_bind_null(st, i + 1); break;
        case ORM_VALUE_INT: rc = sqlite3_bind_int64(st, i + 1, v->u.i); break;
        case ORM_VALUE_DOUBLE:
            /* SQLite would store NULL; PostgreSQL refuses it too, so the backends agree */
            if (isnan(v->u.d))
                return orm__error_set(ORM_EINVAL, "sqlite", "argument %d is NaN: not stored (see orm_double)",
                                      i + 1);
            rc = sqlite3_bind_double(st, i + 1, v->u.d);
            break;
        case ORM_VALUE_BOOL: rc = sqlite3_bind_int(st, i + 1, v->u.b ? 1 : 0); break;
        case ORM_VALUE_TEXT:
            rc = sqlite3_bind_text64(st, i + 1, v->u.s, v->len, how, SQLITE_UTF8);
            break;
        case ORM_VALUE_BLOB:
            rc = sqlite3_bind_blob64(st, i + 1, v->u.p, v->len, how);
            break;
        case ORM_VALUE_TIMESTAMP: {
            char buf[40];
            /* The shortest exact form sorts with what SQLite's date functions write
             * (value.h). */
            int len = orm_timestamp_format_short(v->u.i, buf, sizeof buf);
            if (len < 0)
                return len;
            /* The buffer dies with this frame: let SQLite copy it. */
            rc = sqlite3_bind_text(st, i + 1, buf, len, SQLITE_TRANSIENT);
            break;
        }
        default:
            return orm__error_set(ORM_EINVAL, "sqlite", "argument %d has unknown type %d", i + 1,
                                  (int)v->type);
        }
        if (rc != SQLITE_OK)
            return sqlite_error(c->db, rc, q->sql, q->sql_len);
    }
    return ORM_OK;
}

/* Is there anything but blanks and semicolons in [p, end)? */
static int has_more_sql(const char *p, const char *end)
{
    for (; p < end && *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ';')
            return 1;
    return 0;
}

/* Does [p, end) hold no statement (comments only)? Asks SQLite, which knows its comment
 * syntax; only reached on a cache miss. */
static int only_comments(sqlite3 *db, const char *p, const char *end)
{
    sqlite3_stmt *extra = NULL;
    int rc = sqlite3_prepare_v2(db, p, (int)(end - p), &extra, NULL);
    sqlite3_finalize(extra);
    return rc == SQLITE_OK && extra == NULL;
}

/* The prepared, bound statement for q; *cached says whether the cache owns it. On error
 * nothing is left to release. */
static int get_stmt(orm_conn *c, const orm_query *q, sqlite3_destructor_type how,
                    sqlite3_stmt **out, int *cached)
{
    *out = NULL;
    if (!q || !q->sql)
        return orm__error_set(ORM_EINVAL, "sqlite", "no SQL to run");
    if (q->nargs && !q->args)
        return orm__error_set(ORM_EINVAL, "sqlite", "%zu arguments but no argument array",
                              q->nargs);
    if (q->sql_len > INT_MAX)
        return orm__error_set(ORM_EINVAL, "sqlite", "SQL text of %zu bytes is too long",
                              q->sql_len);
    const uint64_t hash = q->sql_hash ? q->sql_hash : orm__sql_hash(q->sql, q->sql_len);
    sqlite3_stmt *st = orm__stmt_cache_get(c->cache, q->sql, q->sql_len, hash);
    if (!st) {
        const char *tail = NULL;
        int rc = sqlite3_prepare_v3(c->db, q->sql, (int)q->sql_len, SQLITE_PREPARE_PERSISTENT,
                                    &st, &tail);
        if (rc != SQLITE_OK)
            return sqlite_error(c->db, rc, q->sql, q->sql_len);
        if (!st)
            return orm__error_set(ORM_EINVAL, "sqlite", "empty statement: \"%.*s\"",
                                  (int)(q->sql_len > 160 ? 160 : q->sql_len), q->sql);
        if (tail && has_more_sql(tail, q->sql + q->sql_len) &&
            !only_comments(c->db, tail, q->sql + q->sql_len)) {
            sqlite3_finalize(st);
            return orm__error_set(ORM_EINVAL, "sqlite",
                                  "more than one statement (use orm_exec_sql for scripts): %.*s",
                                  (int)(q->sql_len > 160 ? 160 : q->sql_len), q->sql);
        }
        rc = orm__stmt_cache_put(c->cache, q->sql, q->sql_len, hash, st);
        if (rc != ORM_OK) {
            sqlite3_finalize(st);
            return rc;
        }
    }
    *cached = 1;
    int rc = bind_args(c, st, q, how);
    if (rc != ORM_OK) {
        sqlite3_reset(st);
        return rc;
    }
    *out = st;
    return ORM_OK;
}

static void put_stmt(sqlite3_stmt *st, int cached)
{
    if (cached)
        sqlite3_reset(st);
    else
        sqlite3_finalize(st);
}

static int sqlite_exec(orm_conn *c, orm_ctx *ctx, const orm_query *q, orm_exec_result *res)
{
    if (c->cursor_open)
        return cursor_busy();
    use_ctx(c, ctx);
    sqlite3_stmt *st;
    int cached = 0;
    int rc = get_stmt(c, q, SQLITE_STATIC, &st, &cached);
    if (rc != ORM_OK)
        return rc;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        ;
    if (src != SQLITE_DONE) {
        rc = sqlite_error(c->db, src, q->sql, q->sql_len);
    } else if (res) {
        res->affected = sqlite3_changes64(c->db);
        res->last_id = sqlite3_last_insert_rowid(c->db);
    }
    put_stmt(st, cached);
    feed_after(c);
    return rc;
}

static int sqlite_query(orm_conn *c, orm_ctx *ctx, const orm_query *q, orm_cursor **out)
{
    *out = NULL;
    if (c->cursor_open)
        return cursor_busy();
    use_ctx(c, ctx);
    sqlite3_stmt *st;
    int cached = 0;
    int rc = get_stmt(c, q, SQLITE_TRANSIENT, &st, &cached);
    if (rc != ORM_OK)
        return rc;
    c->cur.conn = c;
    c->cur.stmt = st;
    c->cur.cached = cached;
    c->cur.done = 0;
    c->cur.ncols = sqlite3_column_count(st);
    c->cursor_open = 1;
    *out = &c->cur;
    return ORM_OK;
}

static int sqlite_exec_script(orm_conn *c, orm_ctx *ctx, const char *sql)
{
    if (c->cursor_open)
        return cursor_busy();
    use_ctx(c, ctx);
    if (!sql)
        return orm__error_set(ORM_EINVAL, "sqlite", "no SQL to run");
    const char *p = sql;
    while (*p) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int src = sqlite3_prepare_v2(c->db, p, -1, &st, &tail);
        if (src != SQLITE_OK)
            return sqlite_error(c->db, src, p, strlen(p));
        if (!st) /* blanks or a comment */
            break;
        while ((src = sqlite3_step(st)) == SQLITE_ROW)
            ;
        int rc = ORM_OK;
        if (src != SQLITE_DONE)
            rc = sqlite_error(c->db, src, p, (size_t)(tail - p));
        sqlite3_finalize(st);
        feed_after(c);
        if (rc != ORM_OK)
            return rc;
        p = tail;
    }
    return ORM_OK;
}

/* ---- cursors ---- */

static int sqlite_cursor_next(orm_cursor *cur)
{
    if (cur->done)
        return 0;
    int src = sqlite3_step(cur->stmt);
    if (src == SQLITE_ROW)
        return 1;
    cur->done = 1;
    feed_after(cur->conn);
    if (src == SQLITE_DONE)
        return 0;
    const char *sql = sqlite3_sql(cur->stmt);
    return sqlite_error(cur->conn->db, src, sql, sql ? strlen(sql) : 0);
}

static size_t sqlite_cursor_ncols(orm_cursor *cur) { return (size_t)cur->ncols; }

static const char *sqlite_cursor_name(orm_cursor *cur, size_t col)
{
    return col < (size_t)cur->ncols ? sqlite3_column_name(cur->stmt, (int)col) : NULL;
}

/* Column i of the current row as a value, its storage class t already read. */
static orm_value value_of(sqlite3_stmt *st, int i, int t)
{
    switch (t) {
    case SQLITE_INTEGER: return orm_int(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT: return orm_double(sqlite3_column_double(st, i));
    case SQLITE_TEXT: {
        const char *s = (const char *)sqlite3_column_text(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        return s ? orm_text_n(s, n) : orm_null();
    }
    case SQLITE_BLOB: {
        const void *p = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        return orm_blob_n(p, n);
    }
    default: return orm_null();
    }
}

/* Is a declared column type one codegen reads as a timestamp (DATE, DATETIME, TIMESTAMP...)? */
static int time_decltype(const char *d)
{
    return d && (sqlite3_strnicmp(d, "DATE", 4) == 0 || sqlite3_strnicmp(d, "TIMESTAMP", 9) == 0);
}

/* A column of a table declared as a timestamp reads as ORM_VALUE_TIMESTAMP, as PostgreSQL's
 * does, whichever of value.h's forms it is stored in (a value in none of them as stored). */
static orm_value sqlite_cursor_value(orm_cursor *cur, size_t col)
{
    if (col >= (size_t)cur->ncols)
        return orm_null();
    const int t = sqlite3_column_type(cur->stmt, (int)col);
    orm_value v = value_of(cur->stmt, (int)col, t);
    if (t != SQLITE_NULL && t != SQLITE_BLOB &&
        time_decltype(sqlite3_column_decltype(cur->stmt, (int)col))) {
        orm_timestamp ts;
        if (orm__timestamp_from_value(v, &ts) == 0)
            return orm_timestamp_us(ts);
    }
    return v;
}

/* The common cases (an integer into an int64/int32 field in range, a float into a double, text
 * into text, or into fixed text that fits it) are stored directly from the column; everything
 * else (NULL, conversions, range and type errors) goes through orm__map_value with the same
 * value cursor_value would give, so results and messages are the mapper's. */
int orm__sqlite_map_row(orm_cursor *cur, const orm_model *m, const size_t *fields, size_t ncols,
                        void *objp)
{
    char *obj = objp;
    sqlite3_stmt *st = cur->stmt;
    for (size_t k = 0; k < ncols; k++) {
        const size_t fi = fields[k];
        if (fi == (size_t)-1)
            continue;
        const int i = (int)k;
        orm_value v;
        if (k >= (size_t)cur->ncols || fi >= m->nfields) {
            v = orm_null(); /* what cursor_value gives; the mapper names the bad field */
        } else {
            const orm_field *f = &m->fields[fi];
            void *member = obj + f->offset;
            /* One column_* call per column: the sqlite3_value_* readers skip the per-call
             * statement checks. Its value is "unprotected", which only matters for SQLite's
             * own mutex: this connection is NOMUTEX and used by one thread at a time. */
            sqlite3_value *cv = sqlite3_column_value(st, i);
            const int t = sqlite3_value_type(cv);
            if (t == SQLITE_INTEGER && (f->type == ORM_FIELD_INT64 || f->type == ORM_FIELD_INT32)) {
                const int64_t x = sqlite3_value_int64(cv);
                if (f->type == ORM_FIELD_INT64) {
                    *(int64_t *)member = x;
                    goto stored;
                }
                if (x >= INT32_MIN && x <= INT32_MAX) {
                    *(int32_t *)member = (int32_t)x;
                    goto stored;
                }
                v = orm_int(x); /* out of range: the mapper's message */
            } else if (t == SQLITE_FLOAT && f->type == ORM_FIELD_DOUBLE) {
                *(double *)member = sqlite3_value_double(cv);
                goto stored;
            } else if (t == SQLITE_TEXT && f->type == ORM_FIELD_TEXT) {
                const char *s = (const char *)sqlite3_value_text(cv);
                if (!s) { /* out of memory converting: NULL, as cursor_value reads it */
                    v = orm_null();
                } else {
                    char *copy = orm__strndup(s, (size_t)sqlite3_value_bytes(cv));
                    if (!copy)
                        return orm__error_nomem("mapper");
                    orm__free(*(char **)member);
                    *(char **)member = copy;
                    goto stored;
                }
            } else if (t == SQLITE_TEXT && f->type == ORM_FIELD_FIXED_TEXT) {
                /* whole, with SQLite's NUL, when it fits; else the mapper's refusal */
                const char *s = (const char *)sqlite3_value_text(cv);
                const size_t n = (size_t)sqlite3_value_bytes(cv);
                if (s && n < f->capacity && !memchr(s, 0, n)) {
                    memcpy(member, s, n + 1);
                    goto stored;
                }
                v = s ? orm_text_n(s, n) : orm_null();
            } else {
                v = value_of(st, i, t);
            }
        }
        {
            int rc = orm__map_value(m, obj, fi, v);
            if (rc != ORM_OK)
                return rc;
            continue;
        }
    stored:
        if (m->fields[fi].has_offset != ORM_NO_HAS)
            *(bool *)(obj + m->fields[fi].has_offset) = true;
    }
    return ORM_OK;
}

static void sqlite_cursor_close(orm_cursor *cur)
{
    if (!cur || !cur->conn->cursor_open)
        return;
    put_stmt(cur->stmt, cur->cached);
    cur->stmt = NULL;
    cur->conn->cursor_open = 0;
    feed_after(cur->conn);
}

/* ---- transactions ---- */

static int run_simple(orm_conn *c, orm_ctx *ctx, const char *sql)
{
    orm_query q = { ORM_QUERY_RAW, NULL, sql, strlen(sql), 0, NULL, 0, NULL };
    return sqlite_exec(c, ctx, &q, NULL);
}

/* Begin and commit honour the ctx as every statement does (PostgreSQL's driver agrees): one
 * that would start after the deadline or a cancel does not run (a late COMMIT commits
 * nothing; the caller's rollback follows), and a wait for another writer's lock (BEGIN
 * IMMEDIATE, a COMMIT behind readers) stops at the deadline instead of the busy timeout.
 * ORM_ETIMEOUT / ORM_ECANCELED come back as ORM_EBUSY or ORM_ECANCELED from SQLite; the
 * session's orm__ctx_fix names the ctx's reason. */
static int ctx_gate(orm_ctx *ctx, const char *what)
{
    int rc = orm_ctx_err(ctx);
    if (rc == ORM_OK)
        return ORM_OK;
    return orm__error_set(rc, "sqlite", "%s: %s before it ran", what,
                          rc == ORM_ETIMEOUT ? "the deadline passed" : "the context was cancelled");
}

static int sqlite_begin(orm_conn *c, orm_ctx *ctx, const orm_tx_options *opts)
{
    if (c->cursor_open)
        return cursor_busy();
    int rc = ctx_gate(ctx, "begin");
    if (rc != ORM_OK)
        return rc;
    const char *sql = orm__sqlite_begin_sql(opts, NULL, 0); /* one text for the driver and the chain */
    if (opts && opts->read_only) {
        rc = run_simple(c, NULL, "PRAGMA query_only=ON");
        if (rc != ORM_OK)
            return rc;
        c->query_only = 1;
    }
    rc = run_simple(c, ctx, sql);
    if (rc != ORM_OK && c->query_only) {
        run_simple(c, NULL, "PRAGMA query_only=OFF");
        c->query_only = 0;
    }
    return rc;
}

static void end_read_only(orm_conn *c)
{
    if (c->query_only) {
        run_simple(c, NULL, "PRAGMA query_only=OFF");
        c->query_only = 0;
    }
}

static int sqlite_commit(orm_conn *c, orm_ctx *ctx)
{
    if (c->cursor_open)
        return cursor_busy();
    int rc = ctx_gate(ctx, "commit");
    if (rc != ORM_OK)
        return rc; /* the transaction stays open: the caller rolls back */
    rc = run_simple(c, ctx, "COMMIT");
    /* A failed COMMIT (busy) leaves the transaction open: the caller decides to roll back. */
    if (sqlite3_get_autocommit(c->db))
        end_read_only(c);
    return rc;
}

static int sqlite_rollback(orm_conn *c, orm_ctx *ctx)
{
    (void)ctx;
    if (c->cursor_open)
        return cursor_busy();
    int rc = ORM_OK;
    /* SQLite may already have rolled back on its own (some errors do): nothing to undo. */
    if (!sqlite3_get_autocommit(c->db))
        rc = run_simple(c, NULL, "ROLLBACK");
    end_read_only(c);
    return rc;
}

/* ---- introspection ---- */

void orm__sqlite_stmt_cache_stats(orm_conn *c, orm_stmt_cache_stats *out)
{
    orm__stmt_cache_stats_get(c ? c->cache : NULL, out);
}

void *orm__sqlite_handle(orm_conn *c) { return c ? c->db : NULL; }

char *orm__sqlite_dsn_path(const char *dsn)
{
    char *path = NULL;
    dsn_opts o;
    return parse_dsn(dsn, &path, &o) == ORM_OK ? path : NULL;
}

int orm__sqlite_conn_watch(orm_conn *c, const orm_driver_feed_cell *cell)
{
    return c->watch ? ORM_OK : orm__sqlite_feed_watch(&c->watch, c->db, cell);
}

/* The pool's reset: nothing may stay open between users (a failed COMMIT, a tx never ended). */
static int sqlite_reset(orm_conn *c) { return sqlite_rollback(c, NULL); }

const orm_driver orm__driver_sqlite = {
    .version = ORM_DRIVER_VERSION,
    .name = "sqlite",
    .trace_name = "sqlite",
    .accepts = sqlite_accepts,
    .open = sqlite_open,
    .close = sqlite_close,
    .exec = sqlite_exec,
    .query = sqlite_query,
    .exec_script = sqlite_exec_script,
    .cursor_next = sqlite_cursor_next,
    .cursor_ncols = sqlite_cursor_ncols,
    .cursor_name = sqlite_cursor_name,
    .cursor_value = sqlite_cursor_value,
    .cursor_close = sqlite_cursor_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .begin_sql = orm__sqlite_begin_sql,
    .map_row = orm__sqlite_map_row,
    .dialect = &orm__dialect_sqlite,
    .pool_defaults = orm__sqlite_pool_defaults,
    .alive = NULL,
    .reset = sqlite_reset,
    .columns = &orm__sqlite_columns,
    .migrate = &orm__sqlite_migrate,
    .feed = &orm__sqlite_feed,
};
