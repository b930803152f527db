/* The log middleware (and the slow-query log built on it): one entry per statement with its
 * duration, rows and error, to a sink callback; plus the value and escaping helpers the
 * built-ins write with (onto the library's string buffer, orm/sbuf.h).
 *
 * What it keeps true:
 *   - an entry is emitted once per statement: exec statements when next returns, cursor
 *     statements when the cursor is freed (their SQL and arguments are copied at the open,
 *     because the builder that owned them may be gone by then);
 *   - a line is one line: control characters (newline, CR, ESC ...), DEL and backslash in
 *     the SQL, text arguments and error message are escaped (\n \r \t \\ \xHH);
 *   - logging never changes what the statement returns, nor the caller's last error (the
 *     message is copied before the sink runs); a failed allocation only loses the line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"

/* ---- text helpers on the shared buffer (orm/sbuf.h) ---- */

void orm__sbuf_add_escaped(orm__sbuf *b, const char *s, size_t n)
{
    size_t run = 0; /* bytes copied as they are, in one add */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != 0x7f && c != '\\')
            continue;
        orm__sbuf_add(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '\n': orm__sbuf_add(b, "\\n", 2); break;
        case '\r': orm__sbuf_add(b, "\\r", 2); break;
        case '\t': orm__sbuf_add(b, "\\t", 2); break;
        case '\\': orm__sbuf_add(b, "\\\\", 2); break;
        default: orm__sbuf_printf(b, "\\x%02x", c); /* ESC, NUL, DEL, ... */
        }
    }
    orm__sbuf_add(b, s + run, n - run);
}

void orm__sbuf_value(orm__sbuf *b, orm_value v, size_t max)
{
    switch (v.type) {
    case ORM_VALUE_NULL:
        orm__sbuf_puts(b, "NULL");
        return;
    case ORM_VALUE_INT:
        orm__sbuf_printf(b, "%lld", (long long)v.u.i);
        return;
    case ORM_VALUE_DOUBLE:
        orm__sbuf_printf(b, "%.17g", v.u.d);
        return;
    case ORM_VALUE_BOOL:
        orm__sbuf_puts(b, v.u.b ? "TRUE" : "FALSE");
        return;
    case ORM_VALUE_TIMESTAMP: {
        char ts[40];
        if (orm_timestamp_format(v.u.i, ts, sizeof ts) < 0)
            orm__sbuf_printf(b, "%lld", (long long)v.u.i);
        else
            orm__sbuf_printf(b, "'%s'", ts);
        return;
    }
    case ORM_VALUE_TEXT: {
        size_t n = v.len < max ? v.len : max;
        orm__sbuf_add(b, "'", 1);
        for (size_t i = 0; i < n; i++) {
            if (v.u.s[i] == '\'')
                orm__sbuf_add(b, "''", 2);
            else
                orm__sbuf_add_escaped(b, v.u.s + i, 1);
        }
        orm__sbuf_add(b, "'", 1);
        if (n < v.len)
            orm__sbuf_puts(b, "...");
        return;
    }
    case ORM_VALUE_BLOB: {
        size_t n = v.len < max / 2 ? v.len : max / 2;
        orm__sbuf_add(b, "x'", 2);
        for (size_t i = 0; i < n; i++)
            orm__sbuf_printf(b, "%02x", ((const unsigned char *)v.u.p)[i]);
        orm__sbuf_add(b, "'", 1);
        if (n < v.len)
            orm__sbuf_puts(b, "...");
        return;
    }
    }
    orm__sbuf_puts(b, "?");
}

/* ---- the log middleware ---- */

typedef struct log_mw {
    orm_log_options opts;
} log_mw;

/* What a cursor statement's entry needs at the free: copied at the open. */
typedef struct pending {
    orm_stmt_kind kind;
    const char *table;  /* from the model descriptor, which outlives the db */
    char *sql;
    char *args;
} pending;

static void default_sink(const orm_log_entry *e, void *userdata)
{
    (void)userdata;
    /* One fprintf per line: stdio locks the stream, so lines from threads do not mix. */
    fprintf(stderr, "orm: %s\n", e->line);
}

static void render_args(orm__sbuf *b, const orm_stmt *st, orm_log_args mode)
{
    if (mode == ORM_LOG_ARGS_HIDE)
        return;
    orm__sbuf_add(b, "[", 1);
    for (size_t i = 0; i < st->nargs; i++) {
        if (i)
            orm__sbuf_add(b, ", ", 2);
        if (mode == ORM_LOG_ARGS_REDACT)
            orm__sbuf_add(b, "?", 1);
        else
            orm__sbuf_value(b, st->args[i], 64);
    }
    orm__sbuf_add(b, "]", 1);
}

static void render_sql(orm__sbuf *b, const log_mw *l, const char *sql, size_t len)
{
    size_t max = l->opts.max_sql_len ? l->opts.max_sql_len : 4096;
    orm__sbuf_add_escaped(b, sql, len < max ? len : max);
    if (len > max)
        orm__sbuf_puts(b, "...");
}

static void emit(const log_mw *l, orm_stmt_kind kind, const char *table, const char *sql,
                 const char *args, uint64_t ns, int64_t rows, int error, const char *errmsg,
                 int cache)
{
    if (ns < l->opts.min_duration_ns)
        return;
    orm__sbuf line = { 0 };
    orm__sbuf_printf(&line, "%s%s%s %.3fms rows=", orm_stmt_kind_name(kind), *table ? " " : "",
                     table, (double)ns / 1e6);
    if (rows < 0)
        orm__sbuf_puts(&line, "?");
    else
        orm__sbuf_printf(&line, "%lld", (long long)rows);
    if (cache)
        orm__sbuf_puts(&line, cache == 1 ? " cache=hit" : " cache=miss");
    if (error) {
        orm__sbuf_printf(&line, " error=%s (", orm_strerror(error));
        orm__sbuf_add_escaped(&line, errmsg, strlen(errmsg)); /* the server's text may span lines */
        orm__sbuf_add(&line, ")", 1);
    }
    orm__sbuf_printf(&line, " sql=%s", sql);
    if (*args)
        orm__sbuf_printf(&line, " args=%s", args);
    const char *text = orm__sbuf_str(&line);
    if (text) {
        orm_log_entry e = { kind, table, sql, args, ns, rows, error, errmsg, text, cache };
        (l->opts.sink ? l->opts.sink : default_sink)(&e, l->opts.sink_userdata);
    }
    orm__sbuf_free(&line);
}

static int log_fn(orm_stmt *st, void *userdata)
{
    const log_mw *l = userdata;
    uint64_t t0 = orm__mw_now_ns();
    int rc = orm_stmt_next(st);
    uint64_t ns = orm__mw_now_ns() - t0;
    orm__sbuf sql = { 0 }, args = { 0 };
    render_sql(&sql, l, st->sql, st->sql_len);
    render_args(&args, st, l->opts.args);
    const char *s = orm__sbuf_str(&sql), *a = orm__sbuf_str(&args);
    if (rc == ORM_OK && (st->flags & ORM_STMT_CURSOR) && s && a) {
        pending *p = orm__malloc(sizeof *p);
        if (p) {
            p->kind = st->kind;
            p->table = orm__mw_table(st);
            p->sql = sql.len ? sql.p : NULL;
            p->args = args.len ? args.p : NULL;
            if (orm_stmt_defer(st, p) == ORM_OK)
                return rc; /* the close callback owns the strings now */
            orm__free(p);
        }
    }
    if (s && a) {
        /* The sink may call into liborm: keep the statement's error message for the caller. */
        orm_error saved = *orm_error_last();
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", rc ? saved.message : "");
        int64_t rows = (st->flags & (ORM_STMT_CURSOR | ORM_STMT_GET)) ? st->rows : st->affected;
        int cache = (st->flags & ORM_STMT_CACHED) ? 1 : (st->flags & ORM_STMT_CACHE_MISS) ? 2 : 0;
        emit(l, st->kind, orm__mw_table(st), s, a, ns, rc == ORM_OK ? rows : -1, rc, msg, cache);
        if (rc)
            orm__error_set_db(rc, saved.module, saved.sqlstate, saved.native_code, "%s", msg);
    }
    orm__sbuf_free(&sql);
    orm__sbuf_free(&args);
    return rc;
}

static void log_close(const orm_stmt_done *d, void *cookie, void *userdata)
{
    pending *p = cookie;
    emit(userdata, p->kind, p->table, p->sql ? p->sql : "", p->args ? p->args : "",
         d->elapsed_ns, d->rows, d->error, d->error ? orm_strerror(d->error) : "", 0);
    orm__free(p->sql);
    orm__free(p->args);
    orm__free(p);
}

static void log_free(void *userdata)
{
    orm__free(userdata);
}

int orm_log_middleware(orm_middleware *out, const orm_log_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_log_middleware: out is NULL");
    orm_log_options defaults = ORM_LOG_OPTIONS_INIT;
    if (!opts)
        opts = &defaults;
    if (opts->version != ORM_LOG_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_log_options: unknown version %u",
                              opts->version);
    if ((unsigned)opts->args > ORM_LOG_ARGS_HIDE)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_log_options.args: unknown mode");
    log_mw *l = orm__malloc(sizeof *l);
    if (!l)
        return orm__error_nomem("middleware");
    l->opts = *opts;
    orm_middleware mw = ORM_MIDDLEWARE_INIT;
    mw.name = "log";
    mw.fn = log_fn;
    mw.close = log_close;
    mw.free = log_free;
    mw.userdata = l;
    *out = mw;
    return ORM_OK;
}
