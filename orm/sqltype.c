/* liborm — the SQL type name table (see sqltype.h).
 * Keeps true: the mapping depends only on the text given (no locale: case folding is ASCII),
 * so codegen output stays byte-for-byte reproducible and orm_db_verify agrees with it. */
#include <string.h>

#include "orm/sqltype.h"

static const struct { const char *sql; orm_field_type type; } type_table[] = {
    { "SMALLINT", ORM_FIELD_INT16 }, { "INT2", ORM_FIELD_INT16 }, { "TINYINT", ORM_FIELD_INT16 },
    { "SMALLSERIAL", ORM_FIELD_INT16 }, { "SERIAL2", ORM_FIELD_INT16 },
    { "INT", ORM_FIELD_INT32 }, { "INTEGER", ORM_FIELD_INT32 }, { "INT4", ORM_FIELD_INT32 },
    { "MEDIUMINT", ORM_FIELD_INT32 }, { "SERIAL", ORM_FIELD_INT32 }, { "SERIAL4", ORM_FIELD_INT32 },
    { "BIGINT", ORM_FIELD_INT64 }, { "INT8", ORM_FIELD_INT64 }, { "BIGSERIAL", ORM_FIELD_INT64 },
    { "SERIAL8", ORM_FIELD_INT64 }, { "UNSIGNED BIG INT", ORM_FIELD_INT64 }, { "OID", ORM_FIELD_INT64 },
    { "REAL", ORM_FIELD_DOUBLE }, { "FLOAT", ORM_FIELD_DOUBLE }, { "FLOAT4", ORM_FIELD_DOUBLE },
    { "FLOAT8", ORM_FIELD_DOUBLE }, { "DOUBLE", ORM_FIELD_DOUBLE }, { "DOUBLE PRECISION", ORM_FIELD_DOUBLE },
    { "NUMERIC", ORM_FIELD_DOUBLE }, { "DECIMAL", ORM_FIELD_DOUBLE }, { "DEC", ORM_FIELD_DOUBLE },
    { "BOOLEAN", ORM_FIELD_BOOL }, { "BOOL", ORM_FIELD_BOOL },
    { "TEXT", ORM_FIELD_TEXT }, { "VARCHAR", ORM_FIELD_TEXT }, { "CHAR", ORM_FIELD_TEXT },
    { "CHARACTER", ORM_FIELD_TEXT }, { "CHARACTER VARYING", ORM_FIELD_TEXT },
    { "VARYING CHARACTER", ORM_FIELD_TEXT }, { "NCHAR", ORM_FIELD_TEXT }, { "NVARCHAR", ORM_FIELD_TEXT },
    { "NATIVE CHARACTER", ORM_FIELD_TEXT }, { "NATIONAL CHARACTER", ORM_FIELD_TEXT },
    { "NATIONAL CHARACTER VARYING", ORM_FIELD_TEXT }, { "CLOB", ORM_FIELD_TEXT },
    { "CITEXT", ORM_FIELD_TEXT }, { "NAME", ORM_FIELD_TEXT }, { "UUID", ORM_FIELD_TEXT },
    { "JSON", ORM_FIELD_TEXT }, { "JSONB", ORM_FIELD_TEXT }, { "XML", ORM_FIELD_TEXT },
    { "INET", ORM_FIELD_TEXT }, { "CIDR", ORM_FIELD_TEXT }, { "MACADDR", ORM_FIELD_TEXT },
    { "MACADDR8", ORM_FIELD_TEXT }, { "MONEY", ORM_FIELD_TEXT }, { "TIME", ORM_FIELD_TEXT },
    { "TIMETZ", ORM_FIELD_TEXT }, { "TIME WITH TIME ZONE", ORM_FIELD_TEXT },
    { "TIME WITHOUT TIME ZONE", ORM_FIELD_TEXT }, { "INTERVAL", ORM_FIELD_TEXT },
    { "BIT", ORM_FIELD_TEXT }, { "BIT VARYING", ORM_FIELD_TEXT }, { "VARBIT", ORM_FIELD_TEXT },
    { "TSVECTOR", ORM_FIELD_TEXT }, { "TSQUERY", ORM_FIELD_TEXT },
    { "BLOB", ORM_FIELD_BLOB }, { "BYTEA", ORM_FIELD_BLOB },
    { "DATE", ORM_FIELD_TIMESTAMP }, { "DATETIME", ORM_FIELD_TIMESTAMP },
    { "TIMESTAMP", ORM_FIELD_TIMESTAMP }, { "TIMESTAMPTZ", ORM_FIELD_TIMESTAMP },
    { "TIMESTAMP WITH TIME ZONE", ORM_FIELD_TIMESTAMP },
    { "TIMESTAMP WITHOUT TIME ZONE", ORM_FIELD_TIMESTAMP } };

void orm__sqltype_base(const char *t, char *out, size_t cap, bool *array)
{
    size_t w = 0;
    int depth = 0;
    *array = false;
    for (; *t && w + 1 < cap; t++) {
        if (*t == '(') {
            depth++;
        } else if (*t == ')') {
            depth--;
        } else if (depth == 0) {
            if (*t == '[') {
                *array = true;
            } else if (*t != ']' && !(*t == ' ' && (w == 0 || out[w - 1] == ' '))) {
                char c = *t;
                out[w++] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
            }
        }
    }
    while (w > 0 && out[w - 1] == ' ')
        w--;
    out[w] = '\0';
}

int orm__sqltype_lookup(const char *base)
{
    for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
        if (strcmp(base, type_table[i].sql) == 0)
            return (int)type_table[i].type;
    /* INTERVAL DAY TO SECOND and the other qualified intervals */
    if (strncmp(base, "INTERVAL ", 9) == 0)
        return ORM_FIELD_TEXT;
    return 0;
}

orm_field_type orm__sqltype_affinity(const char *base)
{
    /* SQLite's rules, in their order. */
    if (strstr(base, "INT"))
        return ORM_FIELD_INT64;
    if (strstr(base, "CHAR") || strstr(base, "CLOB") || strstr(base, "TEXT"))
        return ORM_FIELD_TEXT;
    if (strstr(base, "BLOB") || !*base)
        return ORM_FIELD_BLOB;
    return ORM_FIELD_DOUBLE;
}

orm_field_type orm__sqltype_class(const char *sqltype, bool *known)
{
    char base[256];
    bool array;
    orm__sqltype_base(sqltype ? sqltype : "", base, sizeof base, &array);
    *known = true;
    if (array)
        return ORM_FIELD_TEXT;
    /* pg_catalog.int4: the schema does not change the type */
    const char *dot = strrchr(base, '.');
    int t = orm__sqltype_lookup(dot ? dot + 1 : base);
    if (t)
        return (orm_field_type)t;
    *known = false;
    return orm__sqltype_affinity(base);
}
