/* liborm builder — the one-struct fast paths: orm_get, orm_insert_one, orm_update_one,
 * orm_delete_one.
 *
 * orm_update_fields: the same for each set of fields it is given (a list per model entry).
 *
 * Keeps true: each statement's SQL is rendered once per db and model and kept in the
 * model's registry entry (orm_model_entry.sql[slot]), published with a compare-and-swap so
 * racing threads agree on one copy (the loser frees its own); the text's length and its
 * orm__sql_hash are stored right after it in the same allocation (a trailer at the next
 * 8-byte boundary past the NUL), so a call neither re-renders nor re-hashes (only a strlen finds the trailer).
 * Arguments are bound from a stack array (the caller's key array for orm_get); nothing is
 * allocated here besides what mapping text needs (and the heap fallback for models with
 * more than STACK_ARGS fields). A model with a fixed text field (entry->has_fixed) has the
 * members it binds checked (check_args): one with no NUL is ORM_ERANGE before any statement
 * runs; other models bind as they did before fixed text existed, without a check per field.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "builder/builder_internal.h"
#include "builder/dialect_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/mapper.h"
#include "orm/middleware.h"
#include "orm/model_internal.h"
#include "orm/write.h"

#define STACK_ARGS 32

/* Field k of every model maps column k: the identity, for orm__map_row. */
#define I4(n) (n), (n) + 1, (n) + 2, (n) + 3
#define I16(n) I4(n), I4((n) + 4), I4((n) + 8), I4((n) + 12)
#define I64(n) I16(n), I16((n) + 16), I16((n) + 32), I16((n) + 48)
static const size_t identity[256] = { I64(0), I64(64), I64(128), I64(192) };

typedef void (*build_fn)(orm_sql_buf *b, const orm_model *m);

/* The AUTOINCREMENT key the database assigned, stored like orm__map_value would. */
static int store_key(const orm_model *m, void *objp, size_t k, int64_t id)
{
    const orm_field *f = &m->fields[k];
    if (f->type != ORM_FIELD_INT64)
        return orm__map_value(m, objp, k, orm_int(id));
    char *obj = objp;
    *(int64_t *)(obj + f->offset) = id;
    if (f->has_offset != ORM_NO_HAS)
        *(bool *)(obj + f->has_offset) = true;
    return ORM_OK;
}

static int is_key(const orm_model *m, size_t f)
{
    for (size_t i = 0; i < m->npk; i++)
        if (m->pk[i] == f)
            return 1;
    return 0;
}

static long autoinc_of(const orm_model *m)
{
    for (size_t i = 0; i < m->nfields; i++)
        if (m->fields[i].flags & ORM_FIELD_AUTOINCREMENT)
            return (long)i;
    return -1;
}

static void where_key(orm_sql_buf *b, const orm_model *m)
{
    for (size_t k = 0; k < m->npk; k++) {
        orm__sql_buf_put(b, k ? " AND " : " WHERE ");
        orm__sql_buf_ident(b, m->fields[m->pk[k]].column);
        orm__sql_buf_put(b, " = ");
        orm__sql_buf_param(b, orm_null());
    }
}

void orm__builder_select_model(orm_sql_buf *b, const orm_model *m)
{
    orm__sql_buf_put(b, "SELECT ");
    for (size_t i = 0; i < m->nfields; i++) {
        if (i)
            orm__sql_buf_put(b, ", ");
        orm__sql_buf_ident(b, m->fields[i].column);
    }
    orm__sql_buf_put(b, " FROM ");
    orm__sql_buf_ident(b, m->table);
}

static void build_get(orm_sql_buf *b, const orm_model *m)
{
    orm__builder_select_model(b, m);
    where_key(b, m);
}

/* INSERT of every column but skip (-1: none). */
static void build_insert_but(orm_sql_buf *b, const orm_model *m, long ak)
{
    orm__sql_buf_put(b, "INSERT INTO ");
    orm__sql_buf_ident(b, m->table);
    size_t n = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        if ((long)i == ak)
            continue;
        orm__sql_buf_put(b, n++ ? ", " : " (");
        orm__sql_buf_ident(b, m->fields[i].column);
    }
    if (n == 0) {
        orm__sql_buf_put(b, " DEFAULT VALUES");
        return;
    }
    orm__sql_buf_put(b, ") VALUES (");
    for (size_t i = 0; i < n; i++) {
        if (i)
            orm__sql_buf_put(b, ", ");
        orm__sql_buf_param(b, orm_null());
    }
    orm__sql_buf_putc(b, ')');
}

/* INSERT of every column but the AUTOINCREMENT key (the database assigns it). */
static void build_insert(orm_sql_buf *b, const orm_model *m) { build_insert_but(b, m, autoinc_of(m)); }

/* INSERT of every column, the AUTOINCREMENT key too (the caller set it). */
static void build_insert_all(orm_sql_buf *b, const orm_model *m) { build_insert_but(b, m, -1); }

static void build_insert_returning(orm_sql_buf *b, const orm_model *m)
{
    build_insert(b, m);
    orm__sql_buf_put(b, " RETURNING ");
    orm__sql_buf_ident(b, m->fields[autoinc_of(m)].column);
}

/* UPDATE ... SET <the fields in mask, or every non-key field when mask is NULL> WHERE key. */
static void build_update_set(orm_sql_buf *b, const orm_model *m, const uint64_t *mask)
{
    orm__sql_buf_put(b, "UPDATE ");
    orm__sql_buf_ident(b, m->table);
    size_t n = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        if (mask ? !(mask[i / 64] >> (i % 64) & 1) : is_key(m, i))
            continue;
        orm__sql_buf_put(b, n++ ? ", " : " SET ");
        orm__sql_buf_ident(b, m->fields[i].column);
        orm__sql_buf_put(b, " = ");
        orm__sql_buf_param(b, orm_null());
    }
    where_key(b, m);
}

static void build_update(orm_sql_buf *b, const orm_model *m) { build_update_set(b, m, NULL); }

static void build_delete(orm_sql_buf *b, const orm_model *m)
{
    orm__sql_buf_put(b, "DELETE FROM ");
    orm__sql_buf_ident(b, m->table);
    where_key(b, m);
}

/* The slot format: the text's length and hash (two uint64_t), then the text and its NUL, in
 * one block that is freed as is. The length comes first so a statement's every use (a cache
 * hit's included) reads it without a strlen. */
#define SLOT_HEAD (2 * sizeof(uint64_t))

/* A rendered statement in the slot format from b, which is freed. */
static int slot_text(orm_sql_buf *b, char **out)
{
    int rc = orm__sql_buf_finish(b);
    char *mine = rc ? NULL : orm__malloc(SLOT_HEAD + b->text.len + 1);
    if (!rc && !mine)
        rc = orm__error_nomem("builder");
    if (rc) {
        orm__sql_buf_free(b);
        return rc;
    }
    uint64_t head[2] = { b->text.len, orm__sql_hash(b->text.p, b->text.len) };
    memcpy(mine, head, sizeof head);
    memcpy(mine + SLOT_HEAD, b->text.p, b->text.len + 1);
    orm__sql_buf_free(b);
    *out = mine;
    return ORM_OK;
}

/* Point q at a slot-format text. */
static void use_text(orm_query *q, const char *p)
{
    uint64_t head[2];
    memcpy(head, p, sizeof head);
    q->sql = p + SLOT_HEAD;
    q->sql_len = (size_t)head[0];
    q->sql_hash = head[1];
}

/* The statement of a slot: rendered and published on first use. Fills q's sql fields. */
static int slot_sql(orm_session *s, orm_model_entry *e, int slot, build_fn fn, orm_query *q)
{
    char *p = atomic_load_explicit(&e->sql[slot], memory_order_acquire);
    if (!p) {
        orm_sql_buf b;
        orm__sql_buf_init(&b, orm__dialect_for_db(s->db));
        fn(&b, q->model);
        char *mine;
        int rc = slot_text(&b, &mine);
        if (rc)
            return rc;
        char *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&e->sql[slot], &expected, mine, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            p = mine;
        } else {
            orm__free(mine); /* another thread published the same text first */
            p = expected;
        }
    }
    use_text(q, p);
    return ORM_OK;
}

/* args[0..n) hold fields[0..n) of a struct about to be written (fields NULL: fields 0..n-1,
 * skip excepted): ORM_ERANGE for a fixed text member with no NUL. Only for has_fixed models. */
static int check_args(const orm_model *m, const orm_value *args, const size_t *fields, size_t n, long skip)
{
    int rc = ORM_OK;
    for (size_t i = 0, k = 0; k < n && rc == ORM_OK; i++) {
        if (!fields && (long)i == skip)
            continue;
        size_t f = fields ? fields[k] : i;
        rc = orm__model_arg_check(m, f, &args[k++]);
    }
    return rc;
}

/* The registry entry, or ORM_EINVAL naming the model; also checks for a key. */
static int entry_of(orm_session *s, const orm_model *m, const void *obj, const char *fn, orm_model_entry **out)
{
    if (!s || !m || !obj)
        return orm__error_set(ORM_EINVAL, "builder", "%s: NULL %s", fn, !s ? "session" : !m ? "model" : "object");
    *out = orm__db_model_entry(s->db, m);
    if (!*out)
        return orm__builder_check_model(s, m);
    if (m->npk == 0)
        return orm__error_set(ORM_EINVAL, "builder", "%s: table \"%s\" has no primary key", fn, m->table);
    return ORM_OK;
}

int orm__map_row_identity(const orm_model *model, orm_rows *r, void *out)
{
    memset(out, 0, model->struct_size);
    if (model->nfields <= 256)
        return orm__map_row(model, r, identity, model->nfields, out);
    size_t *map = orm__malloc(model->nfields * sizeof *map);
    for (size_t i = 0; map && i < model->nfields; i++)
        map[i] = i;
    int rc = map ? orm__map_row(model, r, map, model->nfields, out) : orm__error_nomem("builder");
    orm__free(map);
    return rc;
}

/* The database end of orm_get (the chain's terminal for a GET): one cursor, one row. */
static int get_db(orm_session *s, orm_ctx *ctx, const orm_query *q, int64_t *found)
{
    orm_rows *r;
    int rc = orm__session_query_direct(s, ctx, q, &r);
    if (rc != ORM_OK)
        return rc;
    rc = orm_rows_next(r);
    if (rc == 1) {
        rc = orm__map_row_identity(q->model, r, q->intent->obj);
        *found = rc == ORM_OK;
    }
    orm_rows_free(r);
    return rc < 0 ? rc : ORM_OK; /* not found is no statement error: *found says */
}

int orm_get(orm_session *s, orm_ctx *ctx, const orm_model *model, void *out, const orm_value *key)
{
    orm_model_entry *e;
    int rc = entry_of(s, model, out, "orm_get", &e);
    if (rc)
        return rc;
    if (!key)
        return orm__error_set(ORM_EINVAL, "builder", "orm_get: NULL key");
    /* = NULL matches no row: a NULL key is the caller's mistake, not a missing row */
    for (size_t i = 0; i < model->npk; i++) {
        if (key[i].type == ORM_VALUE_NULL)
            return orm__error_set(ORM_EINVAL, "builder", "orm_get: key %s.%s is NULL", model->table,
                                  model->fields[model->pk[i]].column);
        if ((rc = orm__value_check(model, model->pk[i], key[i], 0)) != ORM_OK)
            return rc;
    }
    orm_stmt_intent in = { ORM_STMT_OP_GET, key, 1, out, NULL, NULL };
    orm_query q = { ORM_QUERY_SELECT, model, NULL, 0, 0, key, model->npk, &in };
    if ((rc = slot_sql(s, e, ORM_MODEL_SLOT_GET, build_get, &q)) != ORM_OK)
        return rc;
    int64_t found = 0;
    if ((rc = orm__session_get(s, ctx, &q, &found, get_db)) != ORM_OK)
        return rc;
    if (!found)
        return orm__error_set(ORM_ENOTFOUND, "builder", "no row in \"%s\" with that key", model->table);
    return ORM_OK;
}

/* Room for n args: the stack array when it fits. */
static orm_value *args_for(orm_value *stack, size_t n)
{
    return n <= STACK_ARGS ? stack : orm__malloc(n * sizeof *stack);
}

/* obj's primary key into key (STACK_ARGS values), or NULL when the model has none or more
 * key columns than that (the intent then carries no key). */
static const orm_value *key_of_row(const orm_model *model, const void *obj, orm_value *key)
{
    if (model->npk == 0 || model->npk > STACK_ARGS)
        return NULL;
    for (size_t k = 0; k < model->npk; k++)
        key[k] = orm__model_member(model, obj, model->pk[k]);
    return key;
}

/* A row whose AUTOINCREMENT key is already set: every column, its own slot. */
static int insert_with_key(orm_session *s, orm_ctx *ctx, orm_model_entry *e, const orm_model *model,
                           void *obj)
{
    orm_value stack[STACK_ARGS];
    orm_value *args = args_for(stack, model->nfields);
    if (!args)
        return orm__error_nomem("builder");
    for (size_t i = 0; i < model->nfields; i++)
        args[i] = orm__model_member(model, obj, i);
    int rc = e->has_fixed ? check_args(model, args, NULL, model->nfields, -1) : ORM_OK;
    orm_value key[STACK_ARGS];
    orm_stmt_intent in = { ORM_STMT_OP_INSERT_ONE, key_of_row(model, obj, key), 1, obj, NULL, NULL };
    orm_query q = { ORM_QUERY_INSERT, model, NULL, 0, 0, args, model->nfields, &in };
    if (rc == ORM_OK)
        rc = slot_sql(s, e, ORM_MODEL_SLOT_INSERT_ALL, build_insert_all, &q);
    if (rc == ORM_OK) {
        orm_exec_result res = { 0, 0 };
        rc = orm__session_exec(s, ctx, &q, &res);
    }
    if (args != stack)
        orm__free(args);
    return rc;
}

int orm_insert_one(orm_session *s, orm_ctx *ctx, const orm_model *model, void *obj)
{
    if (!s || !model || !obj)
        return orm__error_set(ORM_EINVAL, "builder", "orm_insert_one: NULL %s",
                              !s ? "session" : !model ? "model" : "object");
    orm_model_entry *e = orm__db_model_entry(s->db, model);
    if (!e)
        return orm__builder_check_model(s, model);
    long ak = autoinc_of(model);
    if (ak >= 0) {
        orm_value kv = orm__model_member(model, obj, (size_t)ak);
        if (!(kv.type == ORM_VALUE_NULL || (kv.type == ORM_VALUE_INT && kv.u.i == 0)))
            return insert_with_key(s, ctx, e, model, obj);
    }
    /* A published INSERT slot for a model with an AUTOINCREMENT key means an earlier call
     * found the db's dialect has last-insert ids: skip asking again. */
    int returning = ak >= 0 && !atomic_load_explicit(&e->sql[ORM_MODEL_SLOT_INSERT], memory_order_relaxed) &&
                    !orm__dialect_for_db(s->db)->has_last_insert_id;
    orm_value stack[STACK_ARGS];
    size_t n = model->nfields - (ak >= 0);
    orm_value *args = args_for(stack, n);
    if (!args)
        return orm__error_nomem("builder");
    for (size_t i = 0, k = 0; i < model->nfields; i++)
        if ((long)i != ak)
            args[k++] = orm__model_member(model, obj, i);
    int rc = e->has_fixed ? check_args(model, args, NULL, n, ak) : ORM_OK;
    orm_value key[STACK_ARGS]; /* without an AUTOINCREMENT key, the row's key is known now */
    orm_stmt_intent in = { ORM_STMT_OP_INSERT_ONE, ak < 0 ? key_of_row(model, obj, key) : NULL, 1, obj, NULL, NULL };
    orm_query q = { ORM_QUERY_INSERT, model, NULL, 0, 0, args, n, &in };
    if (rc == ORM_OK)
        rc = returning ? slot_sql(s, e, ORM_MODEL_SLOT_INSERT_RETURNING, build_insert_returning, &q)
                       : slot_sql(s, e, ORM_MODEL_SLOT_INSERT, build_insert, &q);
    if (rc == ORM_OK && returning) {
        orm_rows *r;
        if ((rc = orm__session_query(s, ctx, &q, &r)) == ORM_OK) {
            rc = orm_rows_next(r);
            if (rc == 1)
                rc = orm__map_value(model, obj, (size_t)ak, orm_rows_value(r, 0));
            else if (rc == 0)
                rc = orm__error_set(ORM_EDB, "builder", "insert into \"%s\" returned no key", model->table);
            orm_rows_free(r);
        }
    } else if (rc == ORM_OK) {
        orm_exec_result res = { 0, 0 };
        rc = orm__session_exec(s, ctx, &q, &res);
        if (rc == ORM_OK && ak >= 0)
            rc = store_key(model, obj, (size_t)ak, res.last_id);
    }
    if (args != stack)
        orm__free(args);
    return rc;
}

/* Run an UPDATE / DELETE slot; ORM_ENOTFOUND when no row matched. */
static int write_by_key(orm_session *s, orm_ctx *ctx, orm_model_entry *e, orm_query *q, int slot, build_fn fn)
{
    int rc = slot_sql(s, e, slot, fn, q);
    if (rc)
        return rc;
    orm_exec_result res = { 0, 0 };
    if ((rc = orm__session_exec(s, ctx, q, &res)) != ORM_OK)
        return rc;
    if (res.affected == 0)
        return orm__error_set(ORM_ENOTFOUND, "builder", "no row in \"%s\" with that key", q->model->table);
    return ORM_OK;
}

int orm_update_one(orm_session *s, orm_ctx *ctx, const orm_model *model, const void *obj)
{
    orm_model_entry *e;
    int rc = entry_of(s, model, obj, "orm_update_one", &e);
    if (rc)
        return rc;
    if (model->nfields == model->npk)
        return orm__error_set(ORM_EINVAL, "builder", "orm_update_one: table \"%s\" has only key columns",
                              model->table);
    orm_value stack[STACK_ARGS];
    orm_value *args = args_for(stack, model->nfields);
    if (!args)
        return orm__error_nomem("builder");
    size_t k = 0;
    for (size_t i = 0; i < model->nfields; i++)
        if (!is_key(model, i))
            args[k++] = orm__model_member(model, obj, i);
    for (size_t i = 0; i < model->npk; i++)
        args[k++] = orm__model_member(model, obj, model->pk[i]);
    if (e->has_fixed) /* every field is bound (the keys last): one check of the whole struct */
        rc = orm__model_check_fixed(model, obj);
    if (rc == ORM_OK) {
        orm_stmt_intent in = { ORM_STMT_OP_UPDATE_ONE, args + k - model->npk, 1, (void *)obj, NULL, NULL };
        orm_query q = { ORM_QUERY_UPDATE, model, NULL, 0, 0, args, k, &in };
        rc = write_by_key(s, ctx, e, &q, ORM_MODEL_SLOT_UPDATE, build_update);
    }
    if (args != stack)
        orm__free(args);
    return rc;
}

int orm_delete_one(orm_session *s, orm_ctx *ctx, const orm_model *model, const void *obj)
{
    orm_model_entry *e;
    int rc = entry_of(s, model, obj, "orm_delete_one", &e);
    if (rc)
        return rc;
    orm_value stack[STACK_ARGS];
    orm_value *args = args_for(stack, model->npk);
    if (!args)
        return orm__error_nomem("builder");
    for (size_t i = 0; i < model->npk; i++)
        args[i] = orm__model_member(model, obj, model->pk[i]);
    if (e->has_fixed)
        rc = check_args(model, args, model->pk, model->npk, -1);
    orm_stmt_intent in = { ORM_STMT_OP_DELETE_ONE, args, 1, NULL, NULL, NULL };
    orm_query q = { ORM_QUERY_DELETE, model, NULL, 0, 0, args, model->npk, &in };
    if (rc == ORM_OK)
        rc = write_by_key(s, ctx, e, &q, ORM_MODEL_SLOT_DELETE, build_delete);
    if (args != stack)
        orm__free(args);
    return rc;
}

/* UPDATE ... SET the fields of mask (in field order) WHERE key. */

/* The UPDATE of this field set: found in the entry's list, else rendered and pushed. */
static int fieldset_sql(orm_session *s, orm_model_entry *e, const uint64_t *mask, size_t nwords,
                        orm_query *q)
{
    orm_fieldset_sql *head = atomic_load_explicit(&e->fieldsets, memory_order_acquire);
    for (orm_fieldset_sql *f = head; f; f = f->next)
        if (memcmp(f->mask, mask, nwords * sizeof *mask) == 0) {
            use_text(q, f->sql);
            return ORM_OK;
        }
    orm_sql_buf b;
    orm__sql_buf_init(&b, orm__dialect_for_db(s->db));
    build_update_set(&b, q->model, mask);
    char *text;
    int rc = slot_text(&b, &text);
    if (rc)
        return rc;
    orm_fieldset_sql *node = orm__malloc(sizeof *node + nwords * sizeof *mask);
    if (!node) {
        orm__free(text);
        return orm__error_nomem("builder");
    }
    node->sql = text;
    node->nwords = nwords;
    memcpy(node->mask, mask, nwords * sizeof *mask);
    /* Push; a racing thread may push the same set too: both copies are valid, one is found
     * first from then on, and both are freed with the db. */
    node->next = head;
    while (!atomic_compare_exchange_weak_explicit(&e->fieldsets, &node->next, node, memory_order_acq_rel,
                                                  memory_order_acquire))
        ;
    use_text(q, text);
    return ORM_OK;
}

int orm_update_fields(orm_session *s, orm_ctx *ctx, const orm_model *model, const void *obj,
                      const size_t *fields, size_t n)
{
    orm_model_entry *e;
    int rc = entry_of(s, model, obj, "orm_update_fields", &e);
    if (rc)
        return rc;
    if (n == 0 || !fields)
        return orm__error_set(ORM_EINVAL, "builder", "orm_update_fields: no fields to set in \"%s\"",
                              model->table);
    uint64_t stack_mask[4] = { 0, 0, 0, 0 };
    const size_t nwords = (model->nfields + 63) / 64;
    uint64_t *mask = nwords <= 4 ? stack_mask : orm__calloc(nwords, sizeof *mask);
    if (!mask)
        return orm__error_nomem("builder");
    for (size_t i = 0; i < n && rc == ORM_OK; i++) {
        if (fields[i] >= model->nfields)
            rc = orm__error_set(ORM_EUNKNOWN_FIELD, "builder", "orm_update_fields: field %zu of \"%s\" "
                                "does not exist (it has %zu)", fields[i], model->table, model->nfields);
        else if (is_key(model, fields[i]))
            rc = orm__error_set(ORM_EINVAL, "builder", "orm_update_fields: %s.%s is a key column",
                                model->table, model->fields[fields[i]].column);
        else
            mask[fields[i] / 64] |= UINT64_C(1) << (fields[i] % 64);
    }
    size_t nset = 0;
    for (size_t i = 0; i < model->nfields; i++)
        nset += mask[i / 64] >> (i % 64) & 1;
    orm_value stack[STACK_ARGS];
    orm_value *args = rc == ORM_OK ? args_for(stack, nset + model->npk) : NULL;
    if (rc == ORM_OK && !args)
        rc = orm__error_nomem("builder");
    if (rc == ORM_OK) {
        size_t k = 0;
        for (size_t i = 0; i < model->nfields; i++)
            if (mask[i / 64] >> (i % 64) & 1)
                args[k++] = orm__model_member(model, obj, i);
        for (size_t i = 0; i < model->npk; i++)
            args[k++] = orm__model_member(model, obj, model->pk[i]);
        /* only what is bound: the fields of mask, in field order, then the keys */
        for (size_t i = 0, j = 0; e->has_fixed && rc == ORM_OK && i < model->nfields; i++)
            if (mask[i / 64] >> (i % 64) & 1)
                rc = orm__model_arg_check(model, i, &args[j++]);
        if (e->has_fixed && rc == ORM_OK)
            rc = check_args(model, args + nset, model->pk, model->npk, -1);
        /* Not UPDATE_ONE: a row cache would save obj whole (write-back) though only some of
         * its fields are written; as an UPDATE_WHERE it goes to the database and drops. */
        orm_stmt_intent in = { ORM_STMT_OP_UPDATE_WHERE, args + nset, 1, NULL, NULL, NULL };
        orm_query q = { ORM_QUERY_UPDATE, model, NULL, 0, 0, args, k, &in };
        if (rc == ORM_OK)
            rc = fieldset_sql(s, e, mask, nwords, &q);
        if (rc == ORM_OK) {
            orm_exec_result res = { 0, 0 };
            rc = orm__session_exec(s, ctx, &q, &res);
            if (rc == ORM_OK && res.affected == 0)
                rc = orm__error_set(ORM_ENOTFOUND, "builder", "no row in \"%s\" with that key", model->table);
        }
    }
    if (args && args != stack)
        orm__free(args);
    if (mask != stack_mask)
        orm__free(mask);
    return rc;
}
