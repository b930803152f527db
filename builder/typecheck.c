/* liborm builder — a bound value against the type of the model field it is compared with or
 * written to, checked when the statement is built.
 *
 * Keeps true: a value the field cannot hold is ORM_ETYPE naming table.column before any SQL
 * runs, so SQLite (which would store text in an INTEGER column) and PostgreSQL (which would
 * refuse the statement) behave alike. NULL always passes: nullability is the database's.
 * A text written to a fixed text field must fit it (ORM_ERANGE, never truncated); compared
 * with one, any length is fine (see model.h).
 */
#include <stdint.h>

#include "builder/builder_internal.h"
#include "orm/error_internal.h"
#include "orm/mapper.h"

static int accepts(orm_field_type t, orm_value v, int write)
{
    switch (t) {
    case ORM_FIELD_INT16: case ORM_FIELD_INT32: case ORM_FIELD_INT64:
        /* a comparison with a double is exact on both backends; a write would truncate */
        return v.type == ORM_VALUE_INT || (!write && v.type == ORM_VALUE_DOUBLE);
    case ORM_FIELD_DOUBLE:
        return v.type == ORM_VALUE_DOUBLE || v.type == ORM_VALUE_INT;
    case ORM_FIELD_BOOL:
        return v.type == ORM_VALUE_BOOL || (v.type == ORM_VALUE_INT && (v.u.i == 0 || v.u.i == 1));
    case ORM_FIELD_TEXT:
    case ORM_FIELD_FIXED_TEXT:
        return v.type == ORM_VALUE_TEXT;
    case ORM_FIELD_BLOB:
        return v.type == ORM_VALUE_BLOB;
    case ORM_FIELD_TIMESTAMP:
        return v.type == ORM_VALUE_TIMESTAMP;
    }
    return 0;
}

int orm__value_check_full(const orm_model *m, size_t field, orm_value v, int write)
{
    if (v.type == ORM_VALUE_NULL || field >= m->nfields)
        return ORM_OK;
    const orm_field *f = &m->fields[field];
    if (!accepts(f->type, v, write))
        return orm__error_set(ORM_ETYPE, "builder", "%s.%s: a %s value for a field of type %s%s", m->table,
                              f->column, orm_value_type_name(v.type), orm__field_type_name(f->type),
                              f->type == ORM_FIELD_TIMESTAMP && v.type == ORM_VALUE_TEXT
                                  ? " (bind it with orm_timestamp_us)"
                                  : "");
    if (write && v.type == ORM_VALUE_INT &&
        ((f->type == ORM_FIELD_INT16 && (v.u.i < INT16_MIN || v.u.i > INT16_MAX)) ||
         (f->type == ORM_FIELD_INT32 && (v.u.i < INT32_MIN || v.u.i > INT32_MAX))))
        return orm__error_set(ORM_ETYPE, "builder", "%s.%s: %lld is out of range for a %s field",
                              m->table, f->column, (long long)v.u.i, orm__field_type_name(f->type));
    if (write && f->type == ORM_FIELD_FIXED_TEXT)
        return orm__fixed_text_fits(m, f, v.u.s, v.len, "builder");
    return ORM_OK;
}
