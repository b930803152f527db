/* liborm builder internal — what the select/insert/update/delete builders share: the common
 * head of every builder (session, model, dialect, sticky first error), its constructor and
 * argument checks, model and field checks, and rendering / running a statement. */
#ifndef ORM_BUILDER_INTERNAL_H
#define ORM_BUILDER_INTERNAL_H

#include <stddef.h>

#include "builder/sql_buf.h"
#include "orm/db.h"
#include "orm/error.h"
#include "orm/error_internal.h"
#include "orm/expr.h"
#include "orm/model.h"
#include "orm/middleware.h"
#include "orm/query.h"
#include "orm/rows.h"
#include "orm/session_internal.h"

/* The first error a builder met: returned again by every later call, message included. */
typedef struct orm_bstate {
    int err;
    char msg[256];
} orm_bstate;

/* Record code (with a message) unless an error is already recorded; returns the first error
 * and leaves it as the thread's last error. */
int orm__bstate_fail(orm_bstate *st, int code, const char *fmt, ...)
    ORM__PRINTF(3, 4);
/* Record the thread's current last error (after a call that set it) as the builder's. */
int orm__bstate_keep(orm_bstate *st, int code);
/* ORM_OK, or the recorded error set again as the thread's last error. */
int orm__bstate_check(const orm_bstate *st);

/* ORM_OK when model is registered with the session's db, else ORM_EINVAL naming it. */
int orm__builder_check_model(orm_session *s, const orm_model *model);
/* The index of field name (by name, then column) in model, or ORM_EUNKNOWN_FIELD naming
 * the field and the table. */
int orm__builder_field(const orm_model *model, const char *name, size_t *out);
/* An array of n copied strings (each non-NULL), or NULL with ORM_ENOMEM / ORM_EINVAL in *rc. */
char **orm__strv_dup(const char *const *v, size_t n, int *rc);
void orm__strv_free(char **v, size_t n);

/* The head every builder struct embeds as its FIRST member, named b (the generic helpers
 * below take it in place of the builder). */
typedef struct orm_builder_base {
    orm_session *s;
    const orm_model *model;
    const orm_dialect *d; /* the session's db's dialect: what exec renders for */
    orm_bstate st;
} orm_builder_base;

/* The base of builder pointer q, NULL when q is NULL (q is evaluated twice). */
#define ORM__BASE(q) ((q) ? &(q)->b : NULL)

/* A zeroed builder of size bytes (an orm_builder_base first) for model on s; an unregistered
 * model sticks as its error. NULL with ORM_EINVAL (fn: NULL session/model) or ORM_ENOMEM. */
void *orm__builder_new(orm_session *s, const orm_model *model, size_t size, const char *fn);
/* ORM_EINVAL "fn: NULL kind", for a call on a NULL builder (kind: "select", "insert", ...). */
int orm__builder_null(const char *fn, const char *kind);
/* ORM_OK when q may take another call: the NULL-builder error, or q's sticky one. Inline
 * because every setter and exec (orm_insert_one's too) starts with it. */
static inline int orm__builder_ready(const orm_builder_base *q, const char *fn, const char *kind)
{
    if (!q)
        return orm__builder_null(fn, kind);
    return q->st.err ? orm__bstate_check(&q->st) : ORM_OK;
}
/* AND condition e (stolen, freed on every error) into *slot, a condition of q. */
int orm__builder_and(orm_builder_base *q, orm_expr **slot, orm_expr *e, const char *fn, const char *kind);

/* Appends q's statement to b (initialised for the dialect to render for); errors go to b
 * with orm__sql_buf_fail. mode is the builder's own (select: rows or count). */
typedef void (*orm_builder_render_fn)(orm_sql_buf *b, orm_builder_base *q, int mode);
/* Render q for d into b: ORM_OK with b finished (the caller frees it), or the error (q's
 * sticky one first) with b freed. */
int orm__builder_build(orm_builder_base *q, const orm_dialect *d, orm_builder_render_fn render, int mode,
                       orm_sql_buf *b);
/* The orm_<kind>_to_sql body: check q and out (fn names the call), render for d (NULL: q's
 * dialect) and hand the text and copied args to out. */
int orm__builder_to_sql(orm_builder_base *q, const orm_dialect *d, orm_sql *out, orm_builder_render_fn render,
                        int mode, const char *fn, const char *kind);
/* The orm_<kind>_exec body for a one-statement builder: render for q's dialect and execute;
 * *affected (when given) is 0 unless it succeeds. in: as for orm__builder_exec. */
int orm__builder_run(orm_builder_base *q, orm_ctx *ctx, orm_query_kind qkind, orm_builder_render_fn render,
                     int64_t *affected, const char *fn, const char *kind, const orm_stmt_intent *in);

/* Whether where (an UPDATE's or DELETE's) can only match the row of one primary key: where is
 * an equality "key column = value", or an AND whose terms include one such equality for
 * every key column of m, each value of the type the column's values have (orm_model_get's:
 * an int for an integer column, text for a text one ...). Then key[0..npk-1] holds the
 * values (borrowed from where) and it returns 1; else 0. A layer that knows the row (the row
 * cache) then drops that key alone instead of every row of the model. */
int orm__builder_where_key(const orm_model *m, const orm_expr *where, orm_value *key);

/* "SELECT <every column of m> FROM <m's table>": the head of the reads by key. */
void orm__builder_select_model(orm_sql_buf *b, const orm_model *m);

/* Map the row r is on into out (zeroed first), field k from column k (the column order of
 * the fast paths' SELECTs). */
int orm__map_row_identity(const orm_model *model, orm_rows *r, void *out);

/* Can field of m hold v (write: stored by INSERT/UPDATE) or be compared with it (write 0)?
 * ORM_OK, or ORM_ETYPE naming table.column with the last error set (builder/typecheck.c).
 * The usual case, an integer for an integer field that needs no range check, is answered
 * inline: orm_get checks its key on every call, a row cache hit's included. */
int orm__value_check_full(const orm_model *m, size_t field, orm_value v, int write);
static inline int orm__value_check(const orm_model *m, size_t field, orm_value v, int write)
{
    if (v.type == ORM_VALUE_INT && field < m->nfields) {
        orm_field_type t = m->fields[field].type;
        if (t == ORM_FIELD_INT64 || (!write && (t == ORM_FIELD_INT16 || t == ORM_FIELD_INT32)))
            return ORM_OK;
    }
    return orm__value_check_full(m, field, v, write);
}

/* Run a rendered statement. in: what it is for (NULL: UPDATE_WHERE / DELETE_WHERE by kind,
 * else SQL only). */
int orm__builder_exec(orm_session *s, orm_ctx *ctx, orm_query_kind kind, const orm_model *m,
                      const orm_sql_buf *b, orm_exec_result *res, const orm_stmt_intent *in);
int orm__builder_query(orm_session *s, orm_ctx *ctx, orm_query_kind kind, const orm_model *m,
                       const orm_sql_buf *b, orm_rows **out, const orm_stmt_intent *in);

#endif
