/* liborm builder — typed results (iter.h): a cursor whose rows are mapped into a model's
 * structs by column name, over a select or a raw query, and select-into-any-model.
 *
 * Keeps true: the column-to-field map is built once, when the cursor opens, before any row
 * is read (an unmapped column or two columns for one field fail there, naming them); obj
 * never keeps what an earlier row put in it; the "into" model is validated, never required to
 * be registered or to have a table.
 */
#include <stdint.h>
#include <string.h>

#include "builder/builder_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/iter.h"
#include "orm/mapper.h"

struct orm_iter {
    orm_rows *r;
    const orm_model *m;
    size_t ncols;
    size_t map[]; /* result column -> field index, (size_t)-1: skipped */
};

const char *orm_model_field_name(const orm_model *model, size_t i)
{
    return model && i < model->nfields ? model->fields[i].name : NULL;
}

/* Take r (freed on error) and map its columns into m. */
static int iter_open(orm_iter **out, orm_rows *r, const orm_model *m, bool ignore_unknown)
{
    size_t n = orm_rows_ncols(r);
    orm_iter *it = n <= (SIZE_MAX - sizeof *it) / sizeof(size_t) ? orm__malloc(sizeof *it + n * sizeof(size_t))
                                                                 : NULL;
    if (!it) {
        orm_rows_free(r);
        return orm__error_nomem("iter");
    }
    it->r = r;
    it->m = m;
    it->ncols = n;
    for (size_t k = 0; k < n; k++) {
        const char *name = orm_rows_name(r, k);
        int f = name ? orm_model_field_index(m, name) : -1;
        if (f < 0 && !ignore_unknown) {
            int rc = orm__error_set(ORM_EUNKNOWN_FIELD, "iter",
                                    "result column \"%s\" (column %zu) has no field in %s; name it "
                                    "with an alias or skip unknown columns", name ? name : "?", k + 1,
                                    m->name);
            orm_iter_free(it);
            return rc;
        }
        it->map[k] = f < 0 ? (size_t)-1 : (size_t)f;
        for (size_t j = 0; f >= 0 && j < k; j++)
            if (it->map[j] == (size_t)f) {
                int rc = orm__error_set(ORM_EINVAL, "iter",
                                        "result columns %zu and %zu (\"%s\") both map to field %s of %s: "
                                        "alias one of them", j + 1, k + 1, name, m->fields[f].name, m->name);
                orm_iter_free(it);
                return rc;
            }
    }
    *out = it;
    return ORM_OK;
}

int orm_select_iter(orm_iter **out, orm_select *q, orm_ctx *ctx, const orm_model *into,
                    bool ignore_unknown)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "iter", "orm_select_iter: out is NULL");
    *out = NULL;
    if (!q)
        return orm__error_set(ORM_EINVAL, "iter", "orm_select_iter: select is NULL");
    const orm_model *m = into ? into : ((orm_builder_base *)q)->model;
    int rc = orm_model_validate(m);
    if (rc != ORM_OK)
        return rc;
    orm_rows *r;
    if ((rc = orm_select_rows(q, ctx, &r)) != ORM_OK)
        return rc;
    return iter_open(out, r, m, ignore_unknown);
}

int orm_raw_iter(orm_iter **out, orm_session *s, orm_ctx *ctx, const orm_model *into,
                 const char *sql, const orm_value *args, size_t nargs, bool ignore_unknown)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "iter", "orm_raw_iter: out is NULL");
    *out = NULL;
    if (!into)
        return orm__error_set(ORM_EINVAL, "iter", "orm_raw_iter: model is NULL");
    int rc = orm_model_validate(into);
    if (rc != ORM_OK)
        return rc;
    orm_rows *r;
    if ((rc = orm_raw_rows(s, ctx, sql, args, nargs, &r)) != ORM_OK)
        return rc;
    return iter_open(out, r, into, ignore_unknown);
}

int orm_iter_next(orm_iter *it, void *obj)
{
    if (!it || !obj)
        return orm__error_set(ORM_EINVAL, "iter", "orm_iter_next: NULL %s", it ? "object" : "iterator");
    orm_model_clear(it->m, obj);
    int rc = orm_rows_next(it->r);
    if (rc != 1)
        return rc;
    rc = orm__map_row(it->m, it->r, it->map, it->ncols, obj); /* clears obj on error */
    return rc == ORM_OK ? 1 : rc;
}

orm_rows *orm_iter_rows(orm_iter *it) { return it ? it->r : NULL; }

void orm_iter_free(orm_iter *it)
{
    if (!it)
        return;
    orm_rows_free(it->r);
    orm__free(it);
}

int orm_select_all_into(orm_select *q, orm_ctx *ctx, const orm_model *into, orm_list *list)
{
    if (!list)
        return orm__error_set(ORM_EINVAL, "iter", "orm_select_all_into: list is NULL");
    const orm_model *m = into ? into : q ? ((orm_builder_base *)q)->model : NULL;
    if (m && list->model && list->model != m)
        return orm__error_set(ORM_EINVAL, "iter", "orm_select_all_into: the list holds \"%s\", not \"%s\"",
                              list->model->name, m->name);
    orm_iter *it;
    int rc = orm_select_iter(&it, q, ctx, into, false);
    if (rc != ORM_OK)
        return rc;
    const size_t sz = m->struct_size, start = list->count;
    for (;;) {
        if (list->count == list->capacity) {
            size_t cap = list->capacity ? list->capacity * 2 : 16;
            void *items = cap <= SIZE_MAX / sz ? orm__realloc(list->items, cap * sz) : NULL;
            if (!items) {
                rc = orm__error_nomem("iter");
                break;
            }
            list->items = items;
            list->capacity = cap;
        }
        void *obj = (char *)list->items + list->count * sz;
        memset(obj, 0, sz);
        if ((rc = orm_iter_next(it, obj)) != 1)
            break;
        list->count++;
    }
    orm_iter_free(it);
    if (rc < 0) {
        for (size_t i = start; i < list->count; i++)
            orm_model_clear(m, (char *)list->items + i * sz);
        list->count = start;
        return rc;
    }
    list->model = m;
    return ORM_OK;
}
