/* liborm internal — the middleware chain as the session, the db and the cursors see it.
 *
 * Each orm_db embeds one orm__chain (orm__chain_init at open, orm__chain_free at close) and
 * exposes it with orm__db_chain. The session's choke points run a statement as
 *
 *     orm__chain *ch = orm__db_chain(s->db);
 *     if (orm__chain_bypass(ch))                 // one predictable branch, no call
 *         return session_exec_db(s, ctx, q, res);
 *     return orm__chain_exec(ch, s, ctx, q, res, session_exec_db);
 *
 * orm__chain_bypass is true once the db ran its first statement with no middleware; the first
 * statement always goes through orm__chain_*, which freezes the chain (orm_db_use is
 * ORM_EINVAL from then on).
 *
 * Cursors: every orm_rows embeds an orm__cursor_mw (its `chain` NULL at open); orm_rows_next
 * reports each step with orm__cursor_mw_step, orm_rows_free calls orm__cursor_mw_close before
 * it releases the cursor, which runs the close callbacks middlewares deferred.
 */
#ifndef ORM_MIDDLEWARE_INTERNAL_H
#define ORM_MIDDLEWARE_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/db.h"
#include "orm/error_internal.h"
#include "orm/middleware.h"
#include "orm/query.h"
#include "orm/rows.h"
#include "orm/sbuf.h"

typedef struct orm__chain {
    atomic_int slow;     /* 0 only when frozen with no middleware: the bypass test */
    atomic_int frozen;   /* set by the first statement; orm_db_use refuses after it */
    atomic_flag lock;    /* guards registration and freezing (rare: a spin is enough) */
    size_t n;
    int has_close;       /* some layer has a close callback: time cursor statements */
    orm_middleware layers[ORM_MIDDLEWARE_MAX];
} orm__chain;

/* What a cursor carries for the middlewares that asked to see its end. */
typedef struct orm__cursor_mw {
    const orm__chain *chain; /* NULL: nobody asked (the rows code sets it NULL at open) */
    uint32_t deferred;       /* bit i: layer i's close callback runs at the free */
    orm_stmt_kind kind;
    const orm_model *model;
    int64_t rows;
    int error;
    uint64_t t0_ns;
    void *cookie[ORM_MIDDLEWARE_MAX];
} orm__cursor_mw;

/* The db's chain (orm/db.c) and a cursor's hooks (orm/rows.c). */
orm__chain *orm__db_chain(orm_db *db);
orm__cursor_mw *orm__rows_mw(orm_rows *r);

void orm__chain_init(orm__chain *c);
/* Run every middleware's free. The chain is empty and unfrozen afterwards. */
void orm__chain_free(orm__chain *c);
/* Register (orm_db_use's body). Takes mw->userdata: freed on failure. */
int orm__chain_use(orm__chain *c, const orm_middleware *mw);

static inline int orm__chain_bypass(orm__chain *c)
{
    return !atomic_load_explicit(&c->slow, memory_order_relaxed);
}

/* The database end of the chain: what the session did before there was a chain. */
typedef int (*orm__exec_terminal_fn)(orm_session *s, orm_ctx *ctx, const orm_query *q,
                                     orm_exec_result *res);
/* Opens the cursor and, when mw is not NULL, points *mw at its orm__cursor_mw. */
typedef int (*orm__query_terminal_fn)(orm_session *s, orm_ctx *ctx, const orm_query *q,
                                      orm_rows **out, orm__cursor_mw **mw);
typedef int (*orm__script_terminal_fn)(orm_session *s, orm_ctx *ctx, const char *sql);
/* A read by key (ORM_STMT_GET): maps what it finds into q->intent's objects; ORM_OK (not
 * found is no error: *found counts the rows found) or the error. */
typedef int (*orm__get_terminal_fn)(orm_session *s, orm_ctx *ctx, const orm_query *q,
                                    int64_t *found);
/* For statements a driver runs itself (begin, commit, rollback): arg is the caller's. */
typedef int (*orm__call_terminal_fn)(void *arg, orm_ctx *ctx);

/* Run q through the chain, ending in t. res may be NULL. */
int orm__chain_exec(orm__chain *c, orm_session *s, orm_ctx *ctx, const orm_query *q,
                    orm_exec_result *res, orm__exec_terminal_fn t);
int orm__chain_query(orm__chain *c, orm_session *s, orm_ctx *ctx, const orm_query *q,
                     orm_rows **out, orm__query_terminal_fn t);
/* A read by key through the chain (q->intent GET or GET_MANY); st->rows is what was found. */
int orm__chain_get(orm__chain *c, orm_session *s, orm_ctx *ctx, const orm_query *q,
                   int64_t *found, orm__get_terminal_fn t);
/* A script is a DDL statement without arguments; a rewrite reaches t as the new text. */
int orm__chain_script(orm__chain *c, orm_session *s, orm_ctx *ctx, const char *sql,
                      orm__script_terminal_fn t);
/* A statement the driver runs itself (kind BEGIN/COMMIT/ROLLBACK/SAVEPOINT, sql for the
 * middlewares to see, e.g. "BEGIN"): rewrites do not reach the driver. */
int orm__chain_call(orm__chain *c, orm_session *s, orm_ctx *ctx, orm_query_kind kind,
                    const char *sql, orm__call_terminal_fn t, void *arg);

static inline void orm__cursor_mw_step(orm__cursor_mw *m, int rc)
{
    if (m->chain) {
        if (rc == 1)
            m->rows++;
        else if (rc < 0 && m->error == 0)
            m->error = rc;
    }
}

/* Run the deferred close callbacks (innermost first) and forget them. */
void orm__cursor_mw_close(orm__cursor_mw *m);

/* Monotonic nanoseconds, for durations. */
uint64_t orm__mw_now_ns(void);

/* The table a statement is about, "" without a model. */
static inline const char *orm__mw_table(const orm_stmt *st)
{
    return st->model && st->model->table ? st->model->table : "";
}

/* The built-ins' text helpers, onto the library's string buffer (orm/sbuf.h). */
/* A value as SQL-ish text: 42, 1.5, 'it''s', x'00ff', TRUE, '2026-01-02 03:04:05.000000', NULL.
 * Text and blobs longer than max bytes are cut with "...". */
void orm__sbuf_value(orm__sbuf *b, orm_value v, size_t max);
/* s[0..n) with control characters, DEL and backslash escaped (\n \r \t \\ \xHH): one line. */
void orm__sbuf_add_escaped(orm__sbuf *b, const char *s, size_t n);

/* The guard's and the raw module's one-shot permission for an unsafe statement. */
void orm__guard_permit(int on);

#endif
