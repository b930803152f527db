/* liborm — orm_db_verify: does the live table still look like the model?
 *
 * Reads the table's columns through the raw API (so through the session choke point and the
 * middleware chain, as one RAW statement with the table name bound, never pasted):
 *   SQLite      SELECT name, type FROM pragma_table_info(?)
 *   PostgreSQL  information_schema.columns of current_schema()
 * and compares them with the model's fields: a field whose column is missing, or whose column's
 * type does not map to the field's type by the table `ormctl generate` uses (orm/sqltype.c),
 * is drift. Columns the model does not map are not: a model may cover part of a table.
 *
 * What it keeps true: the message names every drifted column as table.column (up to the 1 KiB
 * the last error holds), the cursor is freed before returning, and nothing is left allocated.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/db.h"
#include "orm/error_internal.h"
#include "orm/raw.h"
#include "orm/sqltype.h"
#include "orm/sys/driver.h"

typedef struct live_col {
    char *name;
    char *type;
} live_col;

typedef struct live_table {
    live_col *cols;
    size_t n, cap;
} live_table;

static void live_free(live_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        orm__free(t->cols[i].name);
        orm__free(t->cols[i].type);
    }
    orm__free(t->cols);
}

static int live_add(live_table *t, const char *name, const char *type)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        live_col *grown = orm__realloc(t->cols, cap * sizeof *grown);
        if (!grown)
            return orm__error_nomem("schema");
        t->cols = grown;
        t->cap = cap;
    }
    live_col c = { orm__strdup(name ? name : ""), orm__strdup(type ? type : "") };
    if (!c.name || !c.type) {
        orm__free(c.name);
        orm__free(c.type);
        return orm__error_nomem("schema");
    }
    t->cols[t->n++] = c;
    return ORM_OK;
}

static int live_load(orm_db *db, orm_ctx *ctx, const orm_driver_columns *cols, const char *table,
                     live_table *out)
{
    orm_value arg = orm_text(table);
    orm_rows *r;
    int rc = orm_raw_rows(orm_db_session(db), ctx, cols->sql, &arg, 1, &r);
    if (rc != ORM_OK)
        return rc;
    while ((rc = orm_rows_next(r)) == 1) {
        const char *type = orm_rows_text(r, 1, NULL);
        /* types the driver says hold what text does (PostgreSQL's arrays and enums) */
        for (const char *const *t = cols->text_types; type && t && *t; t++)
            if (strcmp(type, *t) == 0) {
                type = "text";
                break;
            }
        if ((rc = live_add(out, orm_rows_text(r, 0, NULL), type)) != ORM_OK)
            break;
    }
    orm_rows_free(r);
    return rc < 0 ? rc : ORM_OK;
}

static bool is_int(orm_field_type t)
{
    return t == ORM_FIELD_INT16 || t == ORM_FIELD_INT32 || t == ORM_FIELD_INT64;
}

static int int_width(orm_field_type t)
{
    return t == ORM_FIELD_INT16 ? 2 : t == ORM_FIELD_INT32 ? 4 : 8;
}

/* Whether a field of type f holds what a column of class c holds. SQLite stores every integer
 * in 64 bits and has no boolean or timestamp storage (booleans are integers, timestamps
 * ISO-8601 text: see value.h), so it is lenient where PostgreSQL is exact; on PostgreSQL an
 * integer field must be at least as wide as its column. */
static bool holds(orm_field_type f, orm_field_type c, bool loose)
{
    if (f == c)
        return true;
    switch (f) {
    case ORM_FIELD_INT16:
    case ORM_FIELD_INT32:
    case ORM_FIELD_INT64:
        return (is_int(c) && (loose || int_width(c) <= int_width(f))) || (loose && c == ORM_FIELD_BOOL);
    case ORM_FIELD_DOUBLE: return is_int(c);
    case ORM_FIELD_BOOL: return loose && is_int(c);
    case ORM_FIELD_TIMESTAMP: return loose && c == ORM_FIELD_TEXT;
    case ORM_FIELD_FIXED_TEXT: return c == ORM_FIELD_TEXT; /* its length is checked per value */
    case ORM_FIELD_TEXT:
    case ORM_FIELD_BLOB: return false;
    }
    return false;
}

static const char *type_word(orm_field_type t)
{
    static const char *const names[] = { "?", "INT16", "INT32", "INT64", "DOUBLE", "BOOL",
                                         "TEXT", "BLOB", "TIMESTAMP", "FIXED_TEXT" };
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* The drift message under construction: what fits in the last error's 1 KiB. */
typedef struct report {
    char text[1024];
    size_t len;
    size_t count;
} report;

static void ORM__PRINTF(2, 3) report_add(report *rp, const char *fmt, ...)
{
    if (rp->len + 1 >= sizeof rp->text)
        return;
    if (rp->count++)
        rp->len += (size_t)snprintf(rp->text + rp->len, sizeof rp->text - rp->len, "; ");
    if (rp->len + 1 >= sizeof rp->text)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rp->text + rp->len, sizeof rp->text - rp->len, fmt, ap);
    va_end(ap);
    rp->len = n < 0 ? rp->len : rp->len + (size_t)n;
    if (rp->len >= sizeof rp->text)
        rp->len = sizeof rp->text - 1;
}

/* SQLite column names are case-insensitive; PostgreSQL's are exact (liborm quotes them). */
static bool same_name(const char *a, const char *b, bool nocase)
{
    if (!nocase)
        return strcmp(a, b) == 0;
    for (; *a && *b; a++, b++) {
        char x = (char)(*a >= 'A' && *a <= 'Z' ? *a - 'A' + 'a' : *a);
        char y = (char)(*b >= 'A' && *b <= 'Z' ? *b - 'A' + 'a' : *b);
        if (x != y)
            return false;
    }
    return *a == *b;
}

int orm_db_verify(orm_db *db, orm_ctx *ctx, const orm_model *model)
{
    if (!db || !model)
        return orm__error_set(ORM_EINVAL, "schema", "orm_db_verify: NULL argument");
    int rc = orm_model_validate(model);
    if (rc != ORM_OK)
        return rc;
    const orm_driver_columns *cols = orm_db_driver(db)->columns;
    if (!cols)
        return orm__error_set(ORM_EUNSUPPORTED, "schema", "the %s driver has no column introspection: "
                              "cannot check model %s", orm_db_backend(db), model->name);
    live_table live = { NULL, 0, 0 };
    if ((rc = live_load(db, ctx, cols, model->table, &live)) != ORM_OK) {
        live_free(&live);
        return rc;
    }
    if (live.n == 0) {
        live_free(&live);
        return orm__error_set(ORM_ESCHEMA, "schema", "schema drift: table %s of model %s is missing",
                              model->table, model->name);
    }
    report rp = { .len = 0, .count = 0 };
    rp.text[0] = '\0';
    for (size_t i = 0; i < model->nfields; i++) {
        const orm_field *f = &model->fields[i];
        const live_col *c = NULL;
        for (size_t k = 0; k < live.n && !c; k++)
            if (same_name(live.cols[k].name, f->column, cols->names_nocase))
                c = &live.cols[k];
        if (!c) {
            report_add(&rp, "%s.%s is missing", model->table, f->column);
            continue;
        }
        bool known;
        orm_field_type cls = orm__sqltype_class(c->type, &known);
        if (!holds(f->type, cls, cols->loose_types))
            report_add(&rp, "%s.%s is %s (%s), the model says %s", model->table, f->column,
                       *c->type ? c->type : "untyped", type_word(cls), type_word(f->type));
    }
    live_free(&live);
    if (rp.count == 0)
        return ORM_OK;
    return orm__error_set(ORM_ESCHEMA, "schema", "schema drift in model %s%s%s%s: %s", model->name,
                          model->fingerprint ? " (generated from DDL " : "",
                          model->fingerprint ? model->fingerprint : "", model->fingerprint ? ")" : "",
                          rp.text);
}
