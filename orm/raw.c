/* Raw SQL on a session: exec, get / get-many into a model's structs by column name, and a
 * cursor. Every statement goes through orm__session_exec / orm__session_query (so through the
 * middleware chain) as kind RAW.
 *
 * What it keeps true:
 *   - the column-to-field map is resolved once per statement, before the first row is mapped:
 *     an unknown column fails the call (naming the column) with no row mapped, and so do
 *     two columns mapping to the same field;
 *   - orm_raw_get leaves out zeroed and owning nothing on error; orm_raw_all leaves the list
 *     as it was;
 *   - allow_unsafe is a permission for this one statement: it is withdrawn when the call ends;
 *   - placeholders may be written "?" or "$n" on either backend: they are rewritten for the
 *     session's backend outside literals, identifiers, comments and dollar quotes before the
 *     statement enters the middleware chain (orm/sql_scan.h).
 */
#include <stdint.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/mapper.h"
#include "orm/middleware_internal.h"
#include "orm/raw.h"
#include "orm/session_internal.h"
#include "orm/sql_scan.h"

#define STACK_COLS 64

static int check_opts(const orm_raw_options **opts, const orm_raw_options *defaults)
{
    if (!*opts)
        *opts = defaults;
    if ((*opts)->version != ORM_RAW_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "raw", "orm_raw_options: unknown version %u",
                              (*opts)->version);
    return ORM_OK;
}

static int make_query(orm_query *q, const char *sql, const orm_value *args, size_t nargs)
{
    if (!sql)
        return orm__error_set(ORM_EINVAL, "raw", "raw SQL is NULL");
    if (nargs && !args)
        return orm__error_set(ORM_EINVAL, "raw", "%zu arguments but args is NULL", nargs);
    memset(q, 0, sizeof *q);
    q->kind = ORM_QUERY_RAW;
    q->model = NULL;
    q->sql = sql;
    q->sql_len = strlen(sql);
    q->args = args;
    q->nargs = nargs;
    return ORM_OK;
}

/* Rewrite q's placeholders for s's backend (sql_scan.h): *owned is the new text to free
 * after the statement, or NULL when q is unchanged. */
static int portable_params(orm_session *s, orm_query *q, char **owned)
{
    *owned = NULL;
    const orm_dialect *d = orm__db_driver(s->db)->dialect;
    size_t len;
    int rc = orm__sql_params_rewrite(q->sql, q->sql_len, d->lexer == ORM_SQL_LEXER_POSTGRES, owned, &len);
    if (rc == ORM_OK && *owned) {
        q->sql = *owned;
        q->sql_len = len;
    }
    return rc;
}

int orm_raw_exec_opts(orm_session *s, orm_ctx *ctx, const char *sql, const orm_value *args,
                      size_t nargs, int64_t *affected, const orm_raw_options *opts)
{
    orm_raw_options defaults = ORM_RAW_OPTIONS_INIT;
    orm_query q;
    int rc = check_opts(&opts, &defaults);
    if (rc == ORM_OK)
        rc = make_query(&q, sql, args, nargs);
    if (rc != ORM_OK)
        return rc;
    if (!s)
        return orm__error_set(ORM_EINVAL, "raw", "orm_raw_exec: session is NULL");
    char *owned;
    if ((rc = portable_params(s, &q, &owned)) != ORM_OK)
        return rc;
    orm_exec_result res = { 0, 0 };
    if (opts->allow_unsafe)
        orm__guard_permit(1);
    rc = orm__session_exec(s, ctx, &q, &res);
    if (opts->allow_unsafe)
        orm__guard_permit(0);
    orm__free(owned);
    if (rc == ORM_OK && affected)
        *affected = res.affected;
    return rc;
}

int orm_raw_exec(orm_session *s, orm_ctx *ctx, const char *sql, const orm_value *args,
                 size_t nargs, int64_t *affected)
{
    return orm_raw_exec_opts(s, ctx, sql, args, nargs, affected, NULL);
}

int orm_raw_rows(orm_session *s, orm_ctx *ctx, const char *sql, const orm_value *args,
                 size_t nargs, orm_rows **out)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "raw", "orm_raw_rows: out is NULL");
    *out = NULL;
    orm_query q;
    int rc = make_query(&q, sql, args, nargs);
    if (rc != ORM_OK)
        return rc;
    if (!s)
        return orm__error_set(ORM_EINVAL, "raw", "orm_raw_rows: session is NULL");
    char *owned;
    if ((rc = portable_params(s, &q, &owned)) != ORM_OK)
        return rc;
    rc = orm__session_query(s, ctx, &q, out);
    orm__free(owned); /* the driver and the statement cache keep copies */
    return rc;
}

/* An open cursor and its column-to-field map. */
typedef struct mapped {
    orm_rows *r;
    size_t *map;
    size_t ncols;
    size_t stack[STACK_COLS];
} mapped;

static void mapped_close(mapped *m)
{
    orm_rows_free(m->r);
    if (m->map != m->stack)
        orm__free(m->map);
}

static int open_mapped(mapped *m, orm_session *s, orm_ctx *ctx, const orm_model *model,
                       const char *sql, const orm_value *args, size_t nargs,
                       const orm_raw_options *opts)
{
    orm_raw_options defaults = ORM_RAW_OPTIONS_INIT;
    m->r = NULL;
    m->map = m->stack;
    int rc = check_opts(&opts, &defaults);
    if (rc != ORM_OK)
        return rc;
    if (!model)
        return orm__error_set(ORM_EINVAL, "raw", "model is NULL");
    if ((rc = orm_raw_rows(s, ctx, sql, args, nargs, &m->r)) != ORM_OK)
        return rc;
    m->ncols = orm_rows_ncols(m->r);
    if (m->ncols > STACK_COLS && !(m->map = orm__malloc(m->ncols * sizeof *m->map))) {
        m->map = m->stack;
        mapped_close(m);
        return orm__error_nomem("raw");
    }
    for (size_t k = 0; k < m->ncols; k++) {
        const char *name = orm_rows_name(m->r, k);
        int f = name ? orm_model_field_index(model, name) : -1;
        if (f < 0 && !opts->ignore_unknown) {
            rc = orm__error_set(ORM_EUNKNOWN_FIELD, "raw",
                                "result column \"%s\" (column %zu) has no field in %s (table %s);"
                                " set orm_raw_options.ignore_unknown to skip it",
                                name ? name : "?", k + 1, model->name, model->table);
            mapped_close(m);
            return rc;
        }
        m->map[k] = f < 0 ? (size_t)-1 : (size_t)f;
        /* Two columns for one field (a repeated name, or a field's name and its column
         * name): the later would overwrite, and leak, what the earlier mapped. */
        for (size_t j = 0; f >= 0 && j < k; j++)
            if (m->map[j] == (size_t)f) {
                rc = orm__error_set(ORM_EINVAL, "raw",
                                    "result columns \"%s\" (column %zu) and \"%s\" (column %zu) "
                                    "both map to field %s of %s: alias one of them",
                                    orm_rows_name(m->r, j), j + 1, name, k + 1,
                                    model->fields[f].name, model->name);
                mapped_close(m);
                return rc;
            }
    }
    return ORM_OK;
}

int orm_raw_get(orm_session *s, orm_ctx *ctx, const orm_model *model, void *out,
                const char *sql, const orm_value *args, size_t nargs,
                const orm_raw_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "raw", "orm_raw_get: out is NULL");
    mapped m;
    int rc = open_mapped(&m, s, ctx, model, sql, args, nargs, opts);
    if (rc != ORM_OK)
        return rc;
    rc = orm_rows_next(m.r);
    if (rc == 1) {
        memset(out, 0, model->struct_size);
        rc = orm__map_row(model, m.r, m.map, m.ncols, out);
    } else if (rc == 0) {
        rc = orm__error_set(ORM_ENOTFOUND, "raw", "no row (raw query into %s)", model->name);
    }
    mapped_close(&m);
    return rc;
}

int orm_raw_all(orm_session *s, orm_ctx *ctx, const orm_model *model, orm_list *list,
                const char *sql, const orm_value *args, size_t nargs,
                const orm_raw_options *opts)
{
    if (!list)
        return orm__error_set(ORM_EINVAL, "raw", "orm_raw_all: list is NULL");
    if (model && list->model && list->model != model)
        return orm__error_set(ORM_EINVAL, "raw", "orm_raw_all: the list holds \"%s\", not \"%s\"",
                              list->model->name, model->name);
    mapped m;
    int rc = open_mapped(&m, s, ctx, model, sql, args, nargs, opts);
    if (rc != ORM_OK)
        return rc;
    rc = orm__map_list(list, model, m.r, m.map, m.ncols, "raw");
    mapped_close(&m);
    return rc;
}
