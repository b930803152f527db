/* liborm builder — INSERT: one or many borrowed structs, ALL / SET_ONLY column sets,
 * explicit columns, ON CONFLICT, RETURNING, and the assigned keys written back.
 *
 * Keeps true: consecutive rows with the same column set go in one multi-row statement of at
 * most ORM_INSERT_MAX_ROWS rows and the dialect's parameter limit, so identical full chunks
 * have identical SQL text (one prepared statement, rendered once, re-bound per chunk);
 * keys come back from the last insert id (one row; many on SQLite, whose rowids are
 * consecutive within a statement) or RETURNING, written back in order; a skipped row
 * (ON CONFLICT DO NOTHING) keeps its key, which is why such chunks hold one row when
 * something must be written back;
 * an insert of several statements is atomic: they run in one transaction of their own (a
 * savepoint when the session or the ctx is in one), so a failing chunk leaves no row of the
 * call behind, affected is 0, and the keys written back into the rows are unset again;
 * a fixed text member with no NUL in any row is ORM_ERANGE before anything is sent.
 */
#include <stdio.h>
#include <string.h>

#include "builder/builder_internal.h"
#include "builder/dialect_internal.h"
#include "orm/alloc.h"
#include "orm/ctx_internal.h"
#include "orm/error_internal.h"
#include "orm/session_internal.h"
#include "orm/tx.h"
#include "orm/mapper.h"
#include "orm/model_internal.h"
#include "orm/write.h"

struct orm_insert {
    orm_builder_base b;     /* first: the shared helpers take it for the builder */
    orm_insert_mode mode;
    size_t *cols;           /* explicit columns (field indexes) */
    size_t ncols;
    int has_cols;
    void **rows;            /* borrowed */
    size_t nrows, rcap;
    int has_conflict;
    orm_conflict_action action;
    size_t *cf, ncf;        /* conflict target */
    size_t *uf, nuf;        /* DO UPDATE fields */
    int has_uf;
    size_t *ret, nret;      /* RETURNING fields */
    long autoinc;           /* the AUTOINCREMENT key's field, or -1 */
    int has_fixed;          /* the model has a fixed text field: rows are checked */
};

/* One statement's worth of rows, as planned by plan_chunk. */
typedef struct chunk {
    size_t first, n;
    size_t ncols;           /* columns in the set */
    int keyback;            /* the key is left to the database and must come back */
    int use_returning;      /* keys / fields come back through RETURNING */
} chunk;

orm_insert *orm_insert_new(orm_session *s, const orm_model *model)
{
    orm_insert *q = orm__builder_new(s, model, sizeof(orm_insert), "orm_insert_new");
    if (!q)
        return NULL;
    q->autoinc = -1;
    if (q->b.st.err)
        return q;
    for (size_t i = 0; i < model->nfields; i++) {
        if (model->fields[i].flags & ORM_FIELD_AUTOINCREMENT)
            q->autoinc = (long)i;
        q->has_fixed |= model->fields[i].type == ORM_FIELD_FIXED_TEXT;
    }
    return q;
}

void orm_insert_free(orm_insert *q)
{
    if (!q)
        return;
    orm__free(q->cols);
    orm__free(q->rows);
    orm__free(q->cf);
    orm__free(q->uf);
    orm__free(q->ret);
    orm__free(q);
}

int orm_insert_mode_set(orm_insert *q, orm_insert_mode mode)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_insert_mode_set", "insert");
    if (rc)
        return rc;
    if (mode != ORM_INSERT_ALL && mode != ORM_INSERT_SET_ONLY)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_insert_mode_set: unknown mode %d", (int)mode);
    q->mode = mode;
    return ORM_OK;
}

/* Resolve n names of the model into a new index array (*out; NULL when n is 0). */
static int resolve_fields(orm_insert *q, const char *const *names, size_t n, size_t **out)
{
    *out = NULL;
    if (n && !names)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "NULL field list");
    if (n == 0)
        return ORM_OK;
    size_t *v = orm__malloc(n * sizeof *v);
    if (!v)
        return orm__bstate_fail(&q->b.st, ORM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int rc = orm__builder_field(q->b.model, names[i], &v[i]);
        if (rc) {
            orm__free(v);
            return orm__bstate_keep(&q->b.st, rc);
        }
    }
    *out = v;
    return ORM_OK;
}

int orm_insert_columns(orm_insert *q, const char *const *fields, size_t n)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_insert_columns", "insert");
    if (rc)
        return rc;
    size_t *v;
    rc = resolve_fields(q, fields, n, &v);
    if (rc)
        return rc;
    orm__free(q->cols);
    q->cols = v;
    q->ncols = n;
    q->has_cols = 1;
    return ORM_OK;
}

int orm_insert_add(orm_insert *q, void *obj)
{
    if (!q)
        return orm__builder_null("orm_insert_add", "insert");
    return orm_insert_add_many(q, obj, 1);
}

int orm_insert_add_many(orm_insert *q, void *objs, size_t n)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_insert_add_many", "insert");
    if (rc)
        return rc;
    if (!objs && n)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_insert_add: NULL object");
    if (q->nrows + n > q->rcap) {
        size_t cap = q->rcap ? q->rcap : 16;
        while (cap < q->nrows + n)
            cap *= 2;
        void **rows = orm__realloc(q->rows, cap * sizeof *rows);
        if (!rows)
            return orm__bstate_fail(&q->b.st, ORM_ENOMEM, "out of memory");
        q->rows = rows;
        q->rcap = cap;
    }
    for (size_t i = 0; i < n; i++)
        q->rows[q->nrows++] = (char *)objs + i * q->b.model->struct_size;
    return ORM_OK;
}

int orm_insert_on_conflict(orm_insert *q, const char *const *conflict_fields, size_t n,
                           orm_conflict_action action, const char *const *update_fields, size_t nupdate)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_insert_on_conflict", "insert");
    if (rc)
        return rc;
    if (action != ORM_CONFLICT_NOTHING && action != ORM_CONFLICT_UPDATE)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_insert_on_conflict: unknown action %d", (int)action);
    if (q->b.d->upsert != ORM_UPSERT_ON_CONFLICT) /* the one upsert form render_conflict writes */
        return orm__bstate_fail(&q->b.st, ORM_EUNSUPPORTED, "%s has no ON CONFLICT upsert", q->b.d->name);
    if (action == ORM_CONFLICT_UPDATE && n == 0)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "ON CONFLICT DO UPDATE needs conflict fields");
    size_t *cf, *uf;
    rc = resolve_fields(q, conflict_fields, n, &cf);
    if (rc)
        return rc;
    if ((rc = resolve_fields(q, update_fields, update_fields ? nupdate : 0, &uf)) != ORM_OK) {
        orm__free(cf);
        return rc;
    }
    orm__free(q->cf);
    orm__free(q->uf);
    q->has_conflict = 1;
    q->action = action;
    q->cf = cf;
    q->ncf = n;
    q->uf = uf;
    q->nuf = update_fields ? nupdate : 0;
    q->has_uf = update_fields != NULL;
    return ORM_OK;
}

int orm_insert_returning(orm_insert *q, const char *const *fields, size_t n)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_insert_returning", "insert");
    if (rc)
        return rc;
    if (!q->b.d->has_returning)
        return orm__bstate_fail(&q->b.st, ORM_EUNSUPPORTED, "%s has no RETURNING", q->b.d->name);
    size_t *v;
    rc = resolve_fields(q, fields, n, &v);
    if (rc)
        return rc;
    orm__free(q->ret);
    q->ret = v;
    q->nret = n;
    return ORM_OK;
}

/* ---- planning and rendering ---- */

static int key_unset(const orm_insert *q, const void *obj)
{
    if (q->autoinc < 0)
        return 0;
    orm_value v = orm_model_get(q->b.model, obj, (size_t)q->autoinc);
    return v.type == ORM_VALUE_NULL || (v.type == ORM_VALUE_INT && v.u.i == 0);
}

/* The columns obj puts in the statement (set[i] 1/0); returns how many. */
static size_t row_set(const orm_insert *q, const void *obj, unsigned char *set)
{
    const orm_model *m = q->b.model;
    size_t n = 0;
    if (q->has_cols) {
        memset(set, 0, m->nfields);
        for (size_t i = 0; i < q->ncols; i++)
            set[q->cols[i]] = 1;
        for (size_t i = 0; i < m->nfields; i++)
            n += set[i];
        return n;
    }
    int skip_key = key_unset(q, obj);
    for (size_t i = 0; i < m->nfields; i++) {
        int in = !(skip_key && (long)i == q->autoinc);
        if (in && q->mode == ORM_INSERT_SET_ONLY)
            in = orm_model_get(m, obj, i).type != ORM_VALUE_NULL;
        set[i] = (unsigned char)in;
        n += (size_t)in;
    }
    return n;
}

/* Plan the statement starting at row `first`: its rows share set (filled here). */
static void plan_chunk(const orm_insert *q, size_t first, unsigned char *set, unsigned char *tmp, chunk *c)
{
    size_t nf = q->b.model->nfields;
    c->first = first;
    c->ncols = row_set(q, q->rows[first], set);
    c->keyback = q->autoinc >= 0 && !set[q->autoinc];
    size_t max = ORM_INSERT_MAX_ROWS;
    if (c->ncols == 0)
        max = 1; /* DEFAULT VALUES takes one row */
    else if (q->b.d->max_params / c->ncols < max)
        max = q->b.d->max_params / c->ncols;
    if (q->has_conflict && q->action == ORM_CONFLICT_NOTHING && (c->keyback || q->nret))
        max = 1; /* a skipped row returns nothing, so rows could not be matched */
    if (max == 0)
        max = 1;
    size_t n = 1;
    while (first + n < q->nrows && n < max && row_set(q, q->rows[first + n], tmp) == c->ncols &&
           memcmp(tmp, set, nf) == 0)
        n++;
    c->n = n;
    /* Keys come back from the last insert id for one row, or for many on SQLite when no
     * conflict clause can skip a row (then they are consecutive); else through RETURNING. */
    int by_last_id = q->b.d->has_last_insert_id && (n == 1 || (q->b.d->sequential_rowids && !q->has_conflict));
    c->use_returning = q->nret > 0 || (c->keyback && !by_last_id);
}

static void bind_rows(orm_sql_buf *b, const orm_insert *q, const chunk *c, const unsigned char *set, int text)
{
    const orm_model *m = q->b.model;
    for (size_t r = 0; r < c->n; r++) {
        const void *obj = q->rows[c->first + r];
        if (text)
            orm__sql_buf_put(b, r ? ", (" : " VALUES (");
        size_t k = 0;
        for (size_t i = 0; i < m->nfields; i++) {
            if (!set[i])
                continue;
            orm_value v = orm_model_get(m, obj, i);
            if (text) {
                if (k++)
                    orm__sql_buf_put(b, ", ");
                orm__sql_buf_param(b, v);
            } else {
                orm__sql_buf_arg(b, v);
            }
        }
        if (text)
            orm__sql_buf_putc(b, ')');
    }
}

static int in_list(const size_t *v, size_t n, size_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

static void render_conflict(orm_sql_buf *b, const orm_insert *q, const unsigned char *set)
{
    const orm_field *f = q->b.model->fields;
    orm__sql_buf_put(b, " ON CONFLICT");
    for (size_t i = 0; i < q->ncf; i++) {
        orm__sql_buf_put(b, i ? ", " : " (");
        orm__sql_buf_ident(b, f[q->cf[i]].column);
    }
    if (q->ncf)
        orm__sql_buf_putc(b, ')');
    size_t n = 0;
    if (q->action == ORM_CONFLICT_UPDATE) {
        size_t count = q->has_uf ? q->nuf : q->b.model->nfields;
        for (size_t k = 0; k < count; k++) {
            size_t i = q->has_uf ? q->uf[k] : k;
            if (!q->has_uf && (!set[i] || in_list(q->cf, q->ncf, i)))
                continue;
            orm__sql_buf_put(b, n++ ? ", " : " DO UPDATE SET ");
            orm__sql_buf_ident(b, f[i].column);
            orm__sql_buf_put(b, " = excluded.");
            orm__sql_buf_ident(b, f[i].column);
        }
    }
    if (n == 0)
        orm__sql_buf_put(b, " DO NOTHING");
}

/* The statement for chunk c: text and args (text 0: args only, the text being the same). */
static void render_chunk(orm_sql_buf *b, const orm_insert *q, const chunk *c, const unsigned char *set, int text)
{
    const orm_field *f = q->b.model->fields;
    if (!text) {
        bind_rows(b, q, c, set, 0);
        return;
    }
    orm__sql_buf_put(b, "INSERT INTO ");
    orm__sql_buf_ident(b, q->b.model->table);
    if (c->ncols == 0) {
        orm__sql_buf_put(b, " DEFAULT VALUES");
    } else {
        size_t k = 0;
        for (size_t i = 0; i < q->b.model->nfields; i++) {
            if (!set[i])
                continue;
            orm__sql_buf_put(b, k++ ? ", " : " (");
            orm__sql_buf_ident(b, f[i].column);
        }
        orm__sql_buf_putc(b, ')');
        bind_rows(b, q, c, set, 1);
    }
    if (q->has_conflict)
        render_conflict(b, q, set);
    if (c->use_returning) {
        size_t k = 0;
        if (c->keyback) {
            orm__sql_buf_put(b, " RETURNING ");
            orm__sql_buf_ident(b, f[q->autoinc].column);
            k++;
        }
        for (size_t i = 0; i < q->nret; i++) {
            orm__sql_buf_put(b, k++ ? ", " : " RETURNING ");
            orm__sql_buf_ident(b, f[q->ret[i]].column);
        }
    }
}

/* The first statement exec would run. */
static void render_first(orm_sql_buf *b, orm_builder_base *base, int mode)
{
    (void)mode;
    orm_insert *q = (orm_insert *)base; /* base is its first member */
    if (q->nrows == 0) {
        orm__sql_buf_fail(b, ORM_EINVAL, "insert into \"%s\": no rows added", base->model->table);
        return;
    }
    const orm_dialect *saved = base->d;
    base->d = b->d; /* planning depends on the dialect (parameter limit, last insert id) */
    unsigned char *set = orm__malloc(base->model->nfields * 2 + 2);
    if (!set) {
        base->d = saved;
        orm__sql_buf_fail(b, ORM_ENOMEM, "out of memory");
        return;
    }
    chunk c;
    plan_chunk(q, 0, set, set + base->model->nfields + 1, &c);
    render_chunk(b, q, &c, set, 1);
    orm__free(set);
    base->d = saved;
}

/* Rows are borrowed and may change until the statement is built: checked then (the explicit
 * columns only, when there are some: the others are not written). */
static int check_rows(const orm_insert *q)
{
    int rc = ORM_OK;
    for (size_t r = 0; q->has_fixed && r < q->nrows && rc == ORM_OK; r++) {
        if (!q->has_cols) {
            rc = orm__model_check_fixed(q->b.model, q->rows[r]);
            continue;
        }
        for (size_t i = 0; i < q->ncols && rc == ORM_OK; i++) {
            orm_value v;
            rc = orm__model_member_w(q->b.model, q->rows[r], q->cols[i], &v);
        }
    }
    return rc;
}

int orm_insert_to_sql(orm_insert *q, const orm_dialect *d, orm_sql *out)
{
    if (q && out && !q->b.st.err) {
        int rc = check_rows(q);
        if (rc != ORM_OK) {
            memset(out, 0, sizeof *out);
            return rc;
        }
    }
    return orm__builder_to_sql(ORM__BASE(q), d, out, render_first, 0, "orm_insert_to_sql", "insert");
}

/* Write the returned row into obj: column 0 is the key when c->keyback, then q->ret. */
static int write_back(const orm_insert *q, const chunk *c, orm_rows *r, void *obj)
{
    size_t col = 0;
    int rc = ORM_OK;
    if (c->keyback)
        rc = orm__map_value(q->b.model, obj, (size_t)q->autoinc, orm_rows_value(r, col++));
    for (size_t i = 0; rc == ORM_OK && i < q->nret; i++)
        rc = orm__map_value(q->b.model, obj, q->ret[i], orm_rows_value(r, col++));
    return rc;
}

static int run_chunk(orm_insert *q, orm_ctx *ctx, const chunk *c, orm_sql_buf *b, int64_t *total)
{
    orm_stmt_intent in = { q->has_conflict ? ORM_STMT_OP_UPSERT : ORM_STMT_OP_INSERT, NULL, c->n,
                           NULL, (void *const *)&q->rows[c->first], NULL };
    if (!c->use_returning) {
        orm_exec_result res = { 0, 0 };
        int rc = orm__builder_exec(q->b.s, ctx, ORM_QUERY_INSERT, q->b.model, b, &res, &in);
        if (rc)
            return rc;
        *total += res.affected;
        if (!c->keyback || res.affected != (int64_t)c->n)
            return ORM_OK; /* (one row skipped by DO NOTHING keeps its key) */
        for (size_t r = 0; r < c->n && rc == ORM_OK; r++)
            rc = orm__map_value(q->b.model, q->rows[c->first + r], (size_t)q->autoinc,
                                orm_int(res.last_id - (int64_t)(c->n - 1 - r)));
        return rc;
    }
    orm_rows *r;
    int rc = orm__builder_query(q->b.s, ctx, ORM_QUERY_INSERT, q->b.model, b, &r, &in);
    if (rc)
        return rc;
    size_t k = 0;
    while ((rc = orm_rows_next(r)) == 1) {
        if (k < c->n && (rc = write_back(q, c, r, q->rows[c->first + k])) != ORM_OK)
            break;
        k++;
    }
    orm_rows_free(r);
    *total += (int64_t)k;
    return rc < 0 ? rc : ORM_OK;
}

/* The transaction that makes a multi-statement insert atomic: a SAVEPOINT in the session's
 * transaction (or the one ctx carries on the session's db), else one of its own. *sub gets
 * a ctx carrying the session's transaction when ctx does not, so the begin nests in it. */
typedef struct atomic_run {
    orm_tx *tx;
    orm_ctx *sub;
    orm_session *outer; /* the builder's own session, put back at the end */
} atomic_run;

static int atomic_begin(orm_insert *q, orm_ctx *ctx, atomic_run *a)
{
    orm_session *s = q->b.s;
    a->tx = NULL;
    a->sub = NULL;
    a->outer = s;
    orm_ctx *use = ctx;
    if (s->tx) {
        if (!orm_tx_is_open(s->tx))
            return orm__error_set(ORM_ETXDONE, "tx", "transaction already committed or rolled back");
        int rc = orm_ctx_new(&a->sub, ctx);
        if (rc != ORM_OK)
            return rc;
        orm__ctx_set_tx(a->sub, s->tx);
        use = a->sub;
    }
    int rc = orm_tx_begin(&a->tx, s->db, use, NULL);
    if (rc != ORM_OK) {
        orm__ctx_set_tx(a->sub, NULL);
        orm_ctx_free(a->sub);
        a->sub = NULL;
        return rc;
    }
    q->b.s = orm_tx_session(a->tx);
    return ORM_OK;
}

/* Commit (rc ORM_OK) or roll back the atomic run; returns the final code. */
static int atomic_end(orm_insert *q, atomic_run *a, int rc)
{
    q->b.s = a->outer;
    if (rc == ORM_OK) {
        rc = orm_tx_commit(a->tx); /* a failed commit has rolled back (or ORM_EUNKNOWN) */
    } else {
        orm_error e = *orm_error_last(); /* keep the chunk's error over the rollback's */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", e.message);
        char state[6];
        memcpy(state, e.sqlstate, sizeof state);
        orm_tx_rollback(a->tx);
        orm__error_set_db(e.code, e.module, state[0] ? state : NULL, e.native_code, "%s", msg);
    }
    orm_tx_free(a->tx);
    orm__ctx_set_tx(a->sub, NULL);
    orm_ctx_free(a->sub);
    return rc;
}

int orm_insert_exec(orm_insert *q, orm_ctx *ctx, int64_t *affected)
{
    if (affected)
        *affected = 0;
    int rc = orm__builder_ready(ORM__BASE(q), "orm_insert_exec", "insert");
    if (rc)
        return rc;
    if (q->nrows == 0)
        return ORM_OK;
    if ((rc = check_rows(q)) != ORM_OK)
        return rc;
    size_t nf = q->b.model->nfields;
    unsigned char *set = orm__malloc(nf * 3 + 3);
    if (!set)
        return orm__error_nomem("builder");
    unsigned char *tmp = set + nf + 1, *prev = tmp + nf + 1;
    chunk c, last = { 0, 0, 0, 0, 0 };
    int have_last = 0;
    int64_t total = 0;
    orm_sql_buf b;
    orm__sql_buf_init(&b, q->b.d);
    atomic_run at;
    int atomic = 0;
    unsigned char *was = NULL; /* per row: 0 its key was set, 1 unset as 0, 2 unset as NULL */
    for (size_t i = 0; i < q->nrows && rc == ORM_OK; i += c.n) {
        plan_chunk(q, i, set, tmp, &c);
        if (i == 0 && c.n < q->nrows) { /* more than one statement: all or nothing */
            if (q->autoinc >= 0 && !(was = orm__calloc(q->nrows, 1))) {
                rc = orm__error_nomem("builder");
                break;
            }
            for (size_t r = 0; was && r < q->nrows; r++)
                was[r] = !key_unset(q, q->rows[r]) ? 0
                       : orm_model_get(q->b.model, q->rows[r], (size_t)q->autoinc).type ==
                                 ORM_VALUE_NULL ? 2 : 1;
            if ((rc = atomic_begin(q, ctx, &at)) != ORM_OK)
                break;
            atomic = 1;
        }
        /* Same shape as the previous statement: same text, so only re-bind. */
        int same = have_last && c.n == last.n && c.use_returning == last.use_returning &&
                   c.keyback == last.keyback && memcmp(set, prev, nf) == 0;
        if (same) {
            b.nargs = 0;
        } else {
            orm__sql_buf_reset(&b);
            memcpy(prev, set, nf);
        }
        render_chunk(&b, q, &c, set, !same);
        if ((rc = orm__sql_buf_finish(&b)) != ORM_OK)
            break;
        last = c;
        have_last = 1;
        rc = run_chunk(q, atomic && at.sub ? at.sub : ctx, &c, &b, &total);
    }
    if (atomic && (rc = atomic_end(q, &at, rc)) != ORM_OK) {
        total = 0; /* nothing of it stayed */
        for (size_t r = 0; was && r < q->nrows; r++)
            if (was[r] && !key_unset(q, q->rows[r]))
                orm__map_value(q->b.model, q->rows[r], (size_t)q->autoinc,
                               was[r] == 2 ? orm_null() : orm_int(0)); /* (it held a key) */
    }
    orm__sql_buf_free(&b);
    orm__free(set);
    orm__free(was);
    if (affected)
        *affected = total;
    return rc;
}
