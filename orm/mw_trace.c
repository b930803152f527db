/* The trace middleware: a start and an end callback per statement, with a span name
 * ("SELECT users": kind and table) and OpenTelemetry-style attributes (db system, statement,
 * rows, error), for bridging to any tracer.
 *
 * What it keeps true:
 *   - every on_start is matched by exactly one on_end with the handle on_start returned:
 *     exec statements when next returns, cursor statements when the cursor is freed (the
 *     span then covers the reading of the rows);
 *   - a cursor span's name and statement are copied at the open (the builder that owned the
 *     SQL may be gone at the free); if that copy fails, the span ends at the open instead.
 */
#include <stdio.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"
#include "orm/session_internal.h"

typedef struct trace_mw {
    orm_trace_options opts;
} trace_mw;

typedef struct open_span {
    orm_span span;
    void *handle;
    char *name;
    char *statement;
} open_span;

static const char *db_system(const orm_stmt *st)
{
    orm_db *db = st->session ? orm_session_db(st->session) : NULL;
    return db ? orm__db_driver(db)->trace_name : "";
}

static int trace_fn(orm_stmt *st, void *userdata)
{
    const trace_mw *t = userdata;
    char name[160];
    const char *table = orm__mw_table(st);
    snprintf(name, sizeof name, "%s%s%s", orm_stmt_kind_name(st->kind), *table ? " " : "", table);
    orm_span span = { name, db_system(st), st->sql, st->kind, table, -1, ORM_OK, "", 0, 0 };
    void *handle = t->opts.on_start ? t->opts.on_start(&span, t->opts.userdata) : NULL;
    uint64_t t0 = orm__mw_now_ns();
    int rc = orm_stmt_next(st);
    if (rc == ORM_OK && (st->flags & ORM_STMT_CURSOR)) {
        open_span *o = orm__calloc(1, sizeof *o);
        if (o) {
            o->name = orm__strdup(name);
            o->statement = orm__strndup(st->sql, st->sql_len);
            o->span = span;
            o->handle = handle;
            if (o->name && o->statement && orm_stmt_defer(st, o) == ORM_OK)
                return rc;
            orm__free(o->name);
            orm__free(o->statement);
            orm__free(o);
        }
    }
    span.duration_ns = orm__mw_now_ns() - t0;
    span.error = rc;
    if (rc == ORM_OK)
        span.rows = (st->flags & (ORM_STMT_CURSOR | ORM_STMT_GET)) ? st->rows : st->affected;
    span.cached = (st->flags & ORM_STMT_CACHED) != 0;
    char msg[1024] = "";
    if (rc != ORM_OK)
        snprintf(msg, sizeof msg, "%s", orm_error_last()->message);
    span.error_message = msg;
    if (t->opts.on_end) {
        orm_error saved = *orm_error_last();
        t->opts.on_end(&span, handle, t->opts.userdata);
        if (rc != ORM_OK) /* the callback may have called into liborm */
            orm__error_set_db(rc, saved.module, saved.sqlstate, saved.native_code, "%s", msg);
    }
    return rc;
}

static void trace_close(const orm_stmt_done *d, void *cookie, void *userdata)
{
    const trace_mw *t = userdata;
    open_span *o = cookie;
    o->span.name = o->name;
    o->span.statement = o->statement;
    o->span.rows = d->rows;
    o->span.error = d->error;
    o->span.error_message = d->error ? orm_strerror(d->error) : "";
    o->span.duration_ns = d->elapsed_ns;
    if (t->opts.on_end)
        t->opts.on_end(&o->span, o->handle, t->opts.userdata);
    orm__free(o->name);
    orm__free(o->statement);
    orm__free(o);
}

static void trace_free(void *userdata)
{
    orm__free(userdata);
}

int orm_trace_middleware(orm_middleware *out, const orm_trace_options *opts)
{
    if (!out || !opts)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_trace_middleware: NULL argument");
    if (opts->version != ORM_TRACE_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_trace_options: unknown version %u",
                              opts->version);
    trace_mw *t = orm__malloc(sizeof *t);
    if (!t)
        return orm__error_nomem("trace");
    t->opts = *opts;
    orm_middleware mw = ORM_MIDDLEWARE_INIT;
    mw.name = "trace";
    mw.fn = trace_fn;
    mw.close = trace_close;
    mw.free = trace_free;
    mw.userdata = t;
    *out = mw;
    return ORM_OK;
}
