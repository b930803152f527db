/* liborm codegen — type mapping, C names, flags and fingerprints (the table is in resolve.h).
 * Keeps true: the result depends only on the schema model (never on addresses, time or the
 * environment), so the same input always yields the same names in the same order. */
#include <stdio.h>
#include <string.h>

#include "codegen/buf.h"
#include "codegen/resolve.h"
#include "orm/alloc.h"
#include "orm/sqltype.h"

/* The type table itself is orm/sqltype.c, shared with orm_db_verify. */
static const char *const serial_types[] = { "SMALLSERIAL", "SERIAL2", "SERIAL", "SERIAL4",
                                            "BIGSERIAL", "SERIAL8" };

uint64_t orm__cg_fnv1a(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static orm_field_type map_depth(const orm__cg_schema *s, const char *sqltype, bool *known, int depth)
{
    char base[256];
    bool array;
    orm__sqltype_base(sqltype, base, sizeof base, &array);
    *known = true;
    if (array)
        return ORM_FIELD_TEXT;
    /* pg_catalog.int4, public.citext: the schema does not change the type */
    const char *dot = strrchr(base, '.');
    const char *name = dot ? dot + 1 : base;
    int mapped = orm__sqltype_lookup(name);
    if (mapped)
        return (orm_field_type)mapped;
    /* enum and domain types */
    const orm__cg_named *named = orm__cg_type_find(s, name);
    if (named && !named->value)
        return ORM_FIELD_TEXT;
    if (named && depth < 8)
        return map_depth(s, named->value, known, depth + 1);
    *known = false;
    return orm__sqltype_affinity(base);
}

orm_field_type orm__cg_map_type(const orm__cg_schema *s, const char *sqltype, bool *known)
{
    return map_depth(s, sqltype ? sqltype : "", known, 0);
}

static const char *type_word(orm_field_type t)
{
    static const char *const names[] = { "?", "INT16", "INT32", "INT64", "DOUBLE", "BOOL",
                                         "TEXT", "BLOB", "TIMESTAMP", "FIXED_TEXT" };
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static bool is_c_keyword(const char *s)
{
    static const char *const kw[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
        "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
        "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch",
        "typedef", "union", "unsigned", "void", "volatile", "while", "bool", "true", "false",
        "errno", "assert", "offsetof", "NULL" };
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (strcmp(s, kw[i]) == 0)
            return true;
    return false;
}

/* A C identifier from any name: [A-Za-z0-9_] kept, the rest '_', no leading digit, no
 * reserved _X / __ prefix, no keyword. */
static char *c_name(const char *prefix, const char *name)
{
    orm__sbuf b = ORM__CG_SBUF_INIT;
    orm__sbuf_puts(&b, prefix ? prefix : "");
    for (const char *c = name; *c; c++) {
        char ch = *c;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        orm__sbuf_add(&b, ok ? &ch : "_", 1);
    }
    char *s = orm__sbuf_take(&b);
    if (!s)
        return NULL;
    if (!*s || (s[0] >= '0' && s[0] <= '9') ||
        (s[0] == '_' && (s[1] == '_' || (s[1] >= 'A' && s[1] <= 'Z')) ) || is_c_keyword(s)) {
        bool prefix_it = !*s || (s[0] >= '0' && s[0] <= '9') || s[0] == '_';
        orm__sbuf_puts(&b, prefix_it ? "f" : "");
        orm__sbuf_puts(&b, s);
        orm__sbuf_puts(&b, prefix_it ? "" : "_");
        orm__free(s);
        s = orm__sbuf_take(&b);
    }
    return s;
}

/* Makes *name unique among the names taken (without case) by suffixing _2, _3 ..., and
 * takes it. */
static int uniquify(char **name, orm__cg_nameset *taken)
{
    for (unsigned k = 1;; k++) {
        char cand[600];
        if (k == 1)
            snprintf(cand, sizeof cand, "%s", *name);
        else
            snprintf(cand, sizeof cand, "%.500s_%u", *name, k);
        int added = orm__cg_nameset_add(taken, cand, NULL, NULL);
        if (added < 0)
            return orm__error_nomem("codegen");
        if (added) {
            if (k == 1)
                return ORM_OK;
            char *d = orm__strdup(cand);
            if (!d)
                return orm__error_nomem("codegen");
            orm__free(*name);
            *name = d;
            return ORM_OK;
        }
    }
}

static int fail_loc(orm__cg_loc l, const char *fmt, const char *a, const char *b)
{
    bool has_a = a && *a, has_b = b && *b;
    return orm__error_set(ORM_EPARSE, "codegen", "%s:%d:%d: %s%s%s%s%s", l.file ? l.file : "?", l.line,
                          l.col, fmt, has_a ? " " : "", has_a ? a : "", has_b ? " " : "", has_b ? b : "");
}

static bool is_serial(const char *sqltype)
{
    char base[64];
    bool array;
    orm__sqltype_base(sqltype, base, sizeof base, &array);
    for (size_t i = 0; i < sizeof serial_types / sizeof serial_types[0]; i++)
        if (strcmp(base, serial_types[i]) == 0)
            return !array;
    return false;
}

/* Types only PostgreSQL has: a schema using one is PostgreSQL's (dialect AUTO). */
static bool postgres_only(const char *sqltype)
{
    static const char *const pg[] = { "SMALLSERIAL", "SERIAL", "SERIAL2", "SERIAL4", "SERIAL8",
                                      "BIGSERIAL", "BYTEA", "JSONB", "TIMESTAMPTZ", "TIMETZ",
                                      "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITHOUT TIME ZONE",
                                      "TIME WITH TIME ZONE", "TIME WITHOUT TIME ZONE", "UUID",
                                      "CITEXT", "INET", "CIDR", "MACADDR", "MACADDR8", "INTERVAL",
                                      "TSVECTOR", "TSQUERY", "INT4", "VARBIT", "BIT VARYING",
                                      "CHARACTER VARYING", "OID" };
    char base[64];
    bool array;
    orm__sqltype_base(sqltype, base, sizeof base, &array);
    if (array || strchr(base, '.'))
        return true; /* int[], pg_catalog.int4 */
    for (size_t i = 0; i < sizeof pg / sizeof pg[0]; i++)
        if (strcmp(base, pg[i]) == 0)
            return true;
    return false;
}

/* The schema's dialect: as given, else guessed (schema.h). */
static int schema_dialect(const orm__cg_schema *s)
{
    if (s->dialect != ORM_CG_DIALECT_AUTO)
        return s->dialect;
    if (s->ntypes)
        return ORM_CG_DIALECT_POSTGRES;
    for (size_t ti = 0; ti < s->ntables; ti++)
        for (size_t i = 0; i < s->tables[ti].ncols; i++)
            if (postgres_only(s->tables[ti].cols[i].sqltype))
                return ORM_CG_DIALECT_POSTGRES;
    return ORM_CG_DIALECT_SQLITE;
}

static int resolve_column(orm__cg_schema *s, orm__cg_table *t, orm__cg_column *c, size_t npk)
{
    bool known = true;
    c->type = c->type_override ? (orm_field_type)c->type_override : orm__cg_map_type(s, c->sqltype, &known);
    /* SQLite's integers are 64-bit: a key and the foreign keys to it get one C type. */
    if (!c->type_override && c->type == ORM_FIELD_INT32 && s->dialect == ORM_CG_DIALECT_SQLITE)
        c->type = ORM_FIELD_INT64;
    if (!known) {
        if (s->strict)
            return fail_loc(c->loc, "type not in the mapping table (use @orm:type=... or drop --strict):",
                            *c->sqltype ? c->sqltype : "(none)", c->name);
        int rc = orm__cg_warn(s, c->loc, "column %s.%s: type '%s' is not in the mapping table; SQLite's "
                              "affinity rules make it %s", t->name, c->name, c->sqltype, type_word(c->type));
        if (rc != ORM_OK)
            return rc;
    }
    char base[32];
    bool array;
    orm__sqltype_base(c->sqltype, base, sizeof base, &array);
    bool rowid = npk == 1 && c->pk_pos && strcmp(base, "INTEGER") == 0 && !array && !c->type_override;
    if (rowid)
        c->type = ORM_FIELD_INT64;
    bool integer = c->type == ORM_FIELD_INT16 || c->type == ORM_FIELD_INT32 || c->type == ORM_FIELD_INT64;
    bool auto_ = c->autoincrement || is_serial(c->sqltype) || rowid;
    c->flags = 0;
    if (c->pk_pos)
        c->flags |= ORM_FIELD_PK;
    if (c->not_null || c->pk_pos || is_serial(c->sqltype))
        c->flags |= ORM_FIELD_NOT_NULL;
    if (c->unique)
        c->flags |= ORM_FIELD_UNIQUE;
    if (c->default_sql || auto_ || c->generated)
        c->flags |= ORM_FIELD_HAS_DEFAULT;
    if (auto_ && npk == 1 && c->pk_pos && integer)
        c->flags |= ORM_FIELD_AUTOINCREMENT;
    c->nullable_scalar = !(c->flags & ORM_FIELD_NOT_NULL) && c->type != ORM_FIELD_TEXT &&
                         c->type != ORM_FIELD_BLOB;
    return ORM_OK;
}

static void ddl_name(orm__sbuf *b, const char *n)
{
    orm__sbuf_puts(b, "\"");
    for (; *n; n++) {
        orm__sbuf_add(b, n, 1);
        if (*n == '"') /* doubled, as SQL quotes it */
            orm__sbuf_add(b, n, 1);
    }
    orm__sbuf_puts(b, "\"");
}

/* CREATE TABLE text rebuilt from the model: every column (skipped ones too, since the table
 * has them), then the key and the table constraints. */
static int build_ddl(orm__cg_table *t)
{
    orm__sbuf b = ORM__CG_SBUF_INIT;
    orm__sbuf_puts(&b, "CREATE TABLE ");
    ddl_name(&b, t->name);
    orm__sbuf_puts(&b, " (");
    size_t npk = 0;
    for (size_t i = 0; i < t->ncols; i++) {
        const orm__cg_column *c = &t->cols[i];
        npk += c->pk_pos != 0;
        orm__sbuf_puts(&b, i ? ", " : "");
        ddl_name(&b, c->name);
        if (*c->sqltype)
            orm__sbuf_printf(&b, " %s", c->sqltype);
        if (c->not_null)
            orm__sbuf_puts(&b, " NOT NULL");
        if (c->unique)
            orm__sbuf_puts(&b, " UNIQUE");
        if (c->autoincrement)
            orm__sbuf_puts(&b, " AUTOINCREMENT");
        if (c->default_sql)
            orm__sbuf_printf(&b, c->generated ? " GENERATED ALWAYS AS %s" : " DEFAULT %s", c->default_sql);
        if (c->check_sql)
            orm__sbuf_printf(&b, " CHECK %s", c->check_sql);
        if (c->references)
            orm__sbuf_printf(&b, " REFERENCES %s", c->references);
    }
    if (npk) {
        orm__sbuf_puts(&b, ", PRIMARY KEY (");
        for (size_t k = 1; k <= npk; k++)
            for (size_t i = 0; i < t->ncols; i++)
                if ((size_t)t->cols[i].pk_pos == k) {
                    orm__sbuf_puts(&b, k > 1 ? ", " : "");
                    ddl_name(&b, t->cols[i].name);
                }
        orm__sbuf_puts(&b, ")");
    }
    for (size_t i = 0; i < t->nchecks; i++)
        orm__sbuf_printf(&b, ", %s", t->checks[i]);
    orm__sbuf_puts(&b, ")");
    int failed = b.failed;
    t->ddl = orm__sbuf_take(&b);
    if (!t->ddl)
        return failed == ORM_EINVAL ? orm__error_set(ORM_EINVAL, "codegen", "table %s: DDL too long", t->name)
                                    : orm__error_nomem("codegen");
    t->fingerprint = orm__cg_fnv1a(t->ddl);
    return ORM_OK;
}

static int resolve_members(orm__cg_table *t)
{
    /* taken: every member and has_ name so far, in column order (deterministic). */
    orm__cg_nameset taken = { 0 };
    int rc = ORM_OK;
    for (size_t i = 0; rc == ORM_OK && i < t->ncols; i++) {
        orm__cg_column *c = &t->cols[i];
        if (c->skip)
            continue;
        orm__free(c->member);
        c->member = c_name(NULL, c->field ? c->field : c->name);
        if (!c->member) {
            rc = orm__error_nomem("codegen");
            break;
        }
        if (c->field) {
            int added = orm__cg_nameset_add(&taken, c->member, NULL, NULL);
            if (added < 0)
                rc = orm__error_nomem("codegen");
            else if (added == 0)
                rc = fail_loc(c->loc, "@orm:field name clashes with another member:", c->member, "");
        } else {
            rc = uniquify(&c->member, &taken);
        }
    }
    for (size_t i = 0; rc == ORM_OK && i < t->ncols; i++) {
        orm__cg_column *c = &t->cols[i];
        if (c->skip || !c->nullable_scalar)
            continue;
        char buf[600];
        snprintf(buf, sizeof buf, "has_%.500s", c->member);
        orm__free(c->has_member);
        if (!(c->has_member = orm__strdup(buf)))
            rc = orm__error_nomem("codegen");
        else
            rc = uniquify(&c->has_member, &taken);
    }
    orm__cg_nameset_free(&taken);
    return rc;
}

int orm__cg_resolve(orm__cg_schema *s, const char *prefix)
{
    int rc = ORM_OK;
    s->dialect = schema_dialect(s);
    for (size_t ti = 0; rc == ORM_OK && ti < s->ntables; ti++) {
        orm__cg_table *t = &s->tables[ti];
        size_t npk = 0;
        t->nfields = 0;
        for (size_t i = 0; i < t->ncols; i++) {
            npk += t->cols[i].pk_pos != 0;
            t->nfields += !t->cols[i].skip;
        }
        if (t->nfields == 0)
            return fail_loc(t->loc, "table has no columns left to model (all are @orm:skip):", t->name, "");
        for (size_t i = 0; rc == ORM_OK && i < t->ncols; i++) {
            orm__cg_column *c = &t->cols[i];
            if ((rc = resolve_column(s, t, c, npk)) != ORM_OK)
                break;
            if (c->skip && c->pk_pos)
                rc = fail_loc(c->loc, "a primary key column cannot be @orm:skip:", c->name, "");
            else if (c->skip && (c->flags & ORM_FIELD_NOT_NULL) && !(c->flags & ORM_FIELD_HAS_DEFAULT))
                rc = orm__cg_warn(s, c->loc, "column %s.%s is skipped but NOT NULL without a default: "
                                  "inserts through the model will fail", t->name, c->name);
        }
        if (rc == ORM_OK && npk == 0)
            rc = orm__cg_warn(s, t->loc, "table %s has no primary key: the model can insert and "
                              "query but not get, update or delete by key", t->name);
        if (rc == ORM_OK) {
            orm__free(t->cname);
            t->cname = t->struct_name ? orm__strdup(t->struct_name) : c_name(prefix, t->name);
            if (!t->cname)
                rc = orm__error_nomem("codegen");
        }
        if (rc == ORM_OK)
            rc = resolve_members(t);
        if (rc == ORM_OK)
            rc = build_ddl(t);
    }
    /* Two structs with one name (without case: the field enums are upper case) can't both be
     * generated: name them in the error. (orm__cg_check_names checks every other name.) */
    orm__cg_nameset structs = { 0 };
    for (size_t i = 0; rc == ORM_OK && i < s->ntables; i++) {
        const void *prev = NULL;
        int added = orm__cg_nameset_add(&structs, s->tables[i].cname, &s->tables[i], &prev);
        if (added < 0)
            rc = orm__error_nomem("codegen");
        else if (added == 0)
            rc = fail_loc(s->tables[i].loc, "two tables map to one struct name (use @orm:struct=Name):",
                          ((const orm__cg_table *)prev)->name, s->tables[i].name);
    }
    orm__cg_nameset_free(&structs);
    return rc;
}

/* Names the C headers the generated code includes (stddef, stdint, stdbool) define: a
 * struct so named would not compile. */
static bool std_name(const char *s)
{
    static const char *const names[] = {
        "NULL", "offsetof", "size_t", "ptrdiff_t", "wchar_t", "max_align_t", "bool", "true",
        "false", "errno", "assert", "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t",
        "uint16_t", "uint32_t", "uint64_t", "intptr_t", "uintptr_t", "intmax_t", "uintmax_t" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return strncmp(s, "int_", 4) == 0 || strncmp(s, "uint_", 5) == 0;
}

static void upper_into(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++)
        dst[i] = (char)(src[i] >= 'a' && src[i] <= 'z' ? src[i] - 'a' + 'A' : src[i]);
    dst[i] = '\0';
}

/* Records one generated file-scope name; a clash names both tables (or the output). */
static int claim(orm__cg_nameset *set, const orm__cg_table *t, const char *name)
{
    const void *prev = NULL;
    int added = orm__cg_nameset_add(set, name, t, &prev);
    if (added < 0)
        return orm__error_nomem("codegen");
    if (added)
        return ORM_OK;
    const orm__cg_table *o = prev;
    const char *file = t->loc.file ? t->loc.file : "?";
    if (!o)
        return orm__error_set(ORM_EPARSE, "codegen",
                              "%s:%d:%d: table %s: its C name '%s' is one the output file's "
                              "declarations use (use @orm:struct=Name or another output name)",
                              file, t->loc.line, t->loc.col, t->name, name);
    if (o == t)
        return orm__error_set(ORM_EPARSE, "codegen",
                              "%s:%d:%d: table %s: two of its generated names are '%s' (use "
                              "@orm:field=name on a column, or @orm:struct=Name)",
                              file, t->loc.line, t->loc.col, t->name, name);
    if (orm__cg_strcasecmp(o->cname, t->cname) == 0)
        return orm__error_set(ORM_EPARSE, "codegen", "%s:%d:%d: two tables map to one struct name "
                              "(use @orm:struct=Name): %s %s", file, t->loc.line, t->loc.col, o->name,
                              t->name);
    return orm__error_set(ORM_EPARSE, "codegen",
                          "%s:%d:%d: tables %s and %s generate the same C name '%s' (compared "
                          "without case; use @orm:struct=Name on one)",
                          file, t->loc.line, t->loc.col, o->name, t->name, name);
}

int orm__cg_check_names(const orm__cg_schema *s, const char *id)
{
    orm__cg_nameset set = { 0 };
    int rc = ORM_OK;
    char buf[1200], up[600];
    /* the output's own declarations first */
    snprintf(buf, sizeof buf, "%.500s_all", id);
    if (orm__cg_nameset_add(&set, buf, NULL, NULL) < 0)
        rc = orm__error_nomem("codegen");
    snprintf(buf, sizeof buf, "%.500s_register_all", id);
    if (rc == ORM_OK && orm__cg_nameset_add(&set, buf, NULL, NULL) < 0)
        rc = orm__error_nomem("codegen");
    upper_into(up, sizeof up, id);
    snprintf(buf, sizeof buf, "%.500s_NMODELS", up);
    if (rc == ORM_OK && orm__cg_nameset_add(&set, buf, NULL, NULL) < 0)
        rc = orm__error_nomem("codegen");
    snprintf(buf, sizeof buf, "ORM_GENERATED_%.500s_H", up);
    if (rc == ORM_OK && orm__cg_nameset_add(&set, buf, NULL, NULL) < 0)
        rc = orm__error_nomem("codegen");
    static const char *const suffixes[] = { "", "_field", "_fields", "_pk", "_model", "_clear", "_copy" };
    for (size_t ti = 0; rc == ORM_OK && ti < s->ntables; ti++) {
        const orm__cg_table *t = &s->tables[ti];
        if (orm__cg_strcasecmp(t->cname, "orm") == 0 ||
            (strncmp(t->cname, "orm_", 4) == 0 || strncmp(t->cname, "ORM_", 4) == 0) ||
            std_name(t->cname)) {
            rc = orm__error_set(ORM_EPARSE, "codegen",
                                "%s:%d:%d: table %s: the struct name '%s' is reserved (%s; use "
                                "@orm:struct=Name)", t->loc.file ? t->loc.file : "?", t->loc.line,
                                t->loc.col, t->name, t->cname,
                                std_name(t->cname) ? "the C headers define it" : "liborm's orm_ prefix");
            break;
        }
        for (size_t k = 0; rc == ORM_OK && k < sizeof suffixes / sizeof suffixes[0]; k++) {
            snprintf(buf, sizeof buf, "%.500s%s", t->cname, suffixes[k]);
            rc = claim(&set, t, buf);
        }
        upper_into(up, sizeof up, t->cname);
        snprintf(buf, sizeof buf, "%.500s_NFIELDS", up);
        if (rc == ORM_OK)
            rc = claim(&set, t, buf);
        snprintf(buf, sizeof buf, "%.500s_FINGERPRINT", up);
        if (rc == ORM_OK)
            rc = claim(&set, t, buf);
        for (size_t i = 0; rc == ORM_OK && i < t->ncols; i++) {
            if (t->cols[i].skip)
                continue;
            char mu[600];
            upper_into(mu, sizeof mu, t->cols[i].member);
            snprintf(buf, sizeof buf, "%.500s_FIELD_%.500s", up, mu);
            rc = claim(&set, t, buf);
        }
    }
    orm__cg_nameset_free(&set);
    return rc;
}
