/* liborm codegen — the statement loop: which statements build the model, which are skipped,
 * and where `-- @orm:` annotations go.
 *
 * Keeps true: after each statement the current token is the one after its ';' (or the end),
 * so a statement we do not understand never leaks tokens into the next one; COPY ... FROM
 * stdin data is skipped as raw lines, never tokenized.
 *
 * Annotations: a comment on a line of its own annotates the table or column that follows;
 * a comment after code annotates the table or column that code belongs to. `struct=` goes to
 * a table, `skip`, `type=` and `field=` to a column; one that reaches neither is an error.
 */
#include <stdio.h>
#include <string.h>

#include "codegen/parse.h"
#include "codegen/parse_internal.h"
#include "orm/alloc.h"

orm__cg_loc orm__cg_p_loc(orm__cg_parser *p, const orm__sql_token *t)
{
    orm__cg_loc l = { p->file, t->line, t->col };
    return l;
}

int orm__cg_p_next(orm__cg_parser *p) { return orm__sql_next(&p->lx, &p->cur); }

int orm__cg_p_error_at(orm__cg_parser *p, const orm__sql_token *t, const char *what)
{
    if (t->kind == ORM_SQL_EOF)
        return orm__error_set(ORM_EPARSE, "codegen", "%s:%d:%d: %s, got the end of the input",
                              p->file, t->line, t->col, what);
    int n = t->len > 40 ? 40 : (int)t->len;
    return orm__error_set(ORM_EPARSE, "codegen", "%s:%d:%d: %s, got '%.*s%s'", p->file, t->line,
                          t->col, what, n, t->start, t->len > 40 ? "..." : "");
}

int orm__cg_p_error(orm__cg_parser *p, const char *what) { return orm__cg_p_error_at(p, &p->cur, what); }

bool orm__cg_p_is(orm__cg_parser *p, const char *kw) { return orm__sql_is(&p->cur, kw); }
bool orm__cg_p_op(orm__cg_parser *p, const char *op) { return orm__sql_is_op(&p->cur, op); }

int orm__cg_p_accept(orm__cg_parser *p, const char *kw, bool *yes)
{
    *yes = orm__sql_is(&p->cur, kw) || orm__sql_is_op(&p->cur, kw);
    return *yes ? orm__cg_p_next(p) : ORM_OK;
}

int orm__cg_p_expect(orm__cg_parser *p, const char *kw)
{
    if (!orm__sql_is(&p->cur, kw)) {
        char what[64];
        snprintf(what, sizeof what, "expected %s", kw);
        return orm__cg_p_error(p, what);
    }
    return orm__cg_p_next(p);
}

int orm__cg_p_expect_op(orm__cg_parser *p, const char *op)
{
    if (!orm__sql_is_op(&p->cur, op)) {
        char what[64];
        snprintf(what, sizeof what, "expected '%s'", op);
        return orm__cg_p_error(p, what);
    }
    return orm__cg_p_next(p);
}

int orm__cg_p_name(orm__cg_parser *p, char **out)
{
    orm__sql_token t = p->cur;
    *out = NULL;
    if (t.kind == ORM_SQL_STRING && t.start[0] == '\'') {
        /* SQLite accepts a plain 'string' where it expects a name. */
        t.kind = ORM_SQL_QIDENT;
    } else if (t.kind != ORM_SQL_WORD && t.kind != ORM_SQL_QIDENT && t.kind != ORM_SQL_BRACKET) {
        return orm__cg_p_error(p, "expected a name");
    }
    int rc = orm__sql_ident(&p->lx, &t, out);
    if (rc == ORM_OK && (rc = orm__cg_p_next(p)) != ORM_OK) {
        orm__free(*out);
        *out = NULL;
    }
    return rc;
}

/* schema.table (or db.schema.table): the model keeps the last part. */
int orm__cg_p_qualified_name(orm__cg_parser *p, char **out)
{
    int rc = orm__cg_p_name(p, out);
    while (rc == ORM_OK && orm__cg_p_op(p, ".")) {
        orm__free(*out);
        *out = NULL;
        if ((rc = orm__cg_p_next(p)) == ORM_OK)
            rc = orm__cg_p_name(p, out);
    }
    return rc;
}

int orm__cg_p_skip_item(orm__cg_parser *p)
{
    int depth = 0, rc = ORM_OK;
    while (rc == ORM_OK && p->cur.kind != ORM_SQL_EOF && !orm__cg_p_op(p, ";")) {
        if (orm__cg_p_op(p, "("))
            depth++;
        else if (orm__cg_p_op(p, ")") && depth-- == 0)
            return ORM_OK;
        else if (orm__cg_p_op(p, ",") && depth == 0)
            return ORM_OK;
        rc = orm__cg_p_next(p);
    }
    return rc;
}

/* ---- annotations ---- */

static bool is_column_key(const char *k)
{
    return strcmp(k, "skip") == 0 || strcmp(k, "type") == 0 || strcmp(k, "field") == 0;
}

static int ann_error(orm__cg_parser *p, const orm__sql_annotation *a, const char *what)
{
    return orm__error_set(ORM_EPARSE, "codegen", "%s:%d:%d: @orm:%s %s", p->file, a->line, a->col,
                          a->key, what);
}

static bool c_identifier(const char *s)
{
    static const char *const reserved[] = {
        "auto", "bool", "break", "case", "char", "const", "continue", "default", "do", "double",
        "else", "enum", "extern", "false", "float", "for", "goto", "if", "inline", "int", "long",
        "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
        "switch", "true", "typedef", "union", "unsigned", "void", "volatile", "while",
        /* macros of the headers the output includes */
        "NULL", "offsetof", "errno", "assert" };
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return false;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(s, reserved[i]) == 0)
            return false;
    return s[0] != '_' || (s[1] != '_' && !(s[1] >= 'A' && s[1] <= 'Z'));
}

static const struct { const char *name; orm_field_type type; } type_names[] = {
    { "int16", ORM_FIELD_INT16 }, { "int32", ORM_FIELD_INT32 }, { "int64", ORM_FIELD_INT64 },
    { "double", ORM_FIELD_DOUBLE }, { "bool", ORM_FIELD_BOOL }, { "text", ORM_FIELD_TEXT },
    { "blob", ORM_FIELD_BLOB }, { "timestamp", ORM_FIELD_TIMESTAMP } };

static int replace_str(char **dst, const char *v)
{
    char *d = orm__strdup(v);
    if (!d)
        return orm__error_nomem("codegen");
    orm__free(*dst);
    *dst = d;
    return ORM_OK;
}

static int apply_table(orm__cg_parser *p, const orm__sql_annotation *a, long ti)
{
    if (strcmp(a->key, "struct") != 0)
        return ann_error(p, a, "is not a table annotation (struct=Name is)");
    if (!c_identifier(a->value))
        return ann_error(p, a, "needs a C identifier as its value");
    return replace_str(&p->s->tables[ti].struct_name, a->value);
}

/* @orm:type=char[N]: a fixed-capacity text member `char name[N]` (N bytes, the NUL
 * included), N from 2 to ORM_CG_MAX_CHARS written in decimal. */
#define ORM_CG_MAX_CHARS 65536
static int apply_char_array(orm__cg_parser *p, const orm__sql_annotation *a, orm__cg_column *c)
{
    const char *s = a->value + 5;
    size_t n = 0, digits = 0;
    for (; *s >= '0' && *s <= '9' && n <= ORM_CG_MAX_CHARS; s++, digits++)
        n = n * 10 + (size_t)(*s - '0');
    if (digits == 0 || a->value[5] == '0' || s[0] != ']' || s[1] != '\0' || n < 2 || n > ORM_CG_MAX_CHARS)
        return ann_error(p, a, "char[N] needs N from 2 to 65536 (bytes, the NUL included), e.g. char[64]");
    c->type_override = (int)ORM_FIELD_FIXED_TEXT;
    c->capacity = n;
    return ORM_OK;
}

static int apply_column(orm__cg_parser *p, const orm__sql_annotation *a, long ti, long ci)
{
    orm__cg_column *c = &p->s->tables[ti].cols[ci];
    if (strcmp(a->key, "skip") == 0) {
        if (a->value)
            return ann_error(p, a, "takes no value");
        c->skip = true;
        return ORM_OK;
    }
    if (strcmp(a->key, "field") == 0) {
        if (!c_identifier(a->value))
            return ann_error(p, a, "needs a C identifier as its value");
        return replace_str(&c->field, a->value);
    }
    for (size_t i = 0; a->value && i < sizeof type_names / sizeof type_names[0]; i++)
        if (orm__cg_strcasecmp(a->value, type_names[i].name) == 0) {
            c->type_override = (int)type_names[i].type;
            c->capacity = 0;
            return ORM_OK;
        }
    if (a->value && strncmp(a->value, "char[", 5) == 0)
        return apply_char_array(p, a, c);
    return ann_error(p, a, "needs one of int16, int32, int64, double, bool, text, blob, timestamp, char[N]");
}

static int check_key(orm__cg_parser *p, const orm__sql_annotation *a)
{
    if (strcmp(a->key, "struct") != 0 && !is_column_key(a->key))
        return ann_error(p, a, "is not an annotation (struct=, skip, type=, field= are)");
    return ORM_OK;
}

int orm__cg_p_attach(orm__cg_parser *p, size_t limit)
{
    for (; p->ann_next < p->lx.nanns && p->lx.anns[p->ann_next].offset < limit; p->ann_next++) {
        const orm__sql_annotation *a = &p->lx.anns[p->ann_next];
        int rc = check_key(p, a);
        if (rc != ORM_OK)
            return rc;
        if (a->own_line) {
            size_t *n = orm__realloc(p->pending, (p->npending + 1) * sizeof *n);
            if (!n)
                return orm__error_nomem("codegen");
            p->pending = n;
            p->pending[p->npending++] = p->ann_next;
        } else if (is_column_key(a->key)) {
            if (p->last_table < 0 || p->last_col < 0)
                return ann_error(p, a, "is not on a column's line");
            if ((rc = apply_column(p, a, p->last_table, p->last_col)) != ORM_OK)
                return rc;
        } else {
            if (p->last_table < 0)
                return ann_error(p, a, "is not on a table's line");
            if ((rc = apply_table(p, a, p->last_table)) != ORM_OK)
                return rc;
        }
    }
    return ORM_OK;
}

static int take_pending(orm__cg_parser *p, bool column, long ti, long ci)
{
    size_t w = 0;
    int rc = ORM_OK;
    for (size_t i = 0; i < p->npending; i++) {
        const orm__sql_annotation *a = &p->lx.anns[p->pending[i]];
        if (rc == ORM_OK && is_column_key(a->key) == column)
            rc = column ? apply_column(p, a, ti, ci) : apply_table(p, a, ti);
        else
            p->pending[w++] = p->pending[i];
    }
    p->npending = w;
    return rc;
}

int orm__cg_p_take_table_annotations(orm__cg_parser *p, long ti) { return take_pending(p, false, ti, -1); }
int orm__cg_p_take_column_annotations(orm__cg_parser *p, long ti, long ci) { return take_pending(p, true, ti, ci); }

static int check_pending(orm__cg_parser *p)
{
    if (p->npending == 0)
        return ORM_OK;
    return ann_error(p, &p->lx.anns[p->pending[0]],
                     "annotates no table or column (put it on the line before one, or after "
                     "the code on its line)");
}

/* ---- statements we skip ---- */

/* Skips to the ';' ending the statement. Inside CREATE, BEGIN/CASE ... END blocks (trigger
 * bodies, BEGIN ATOMIC functions) hold ';'s of their own. */
static int skip_statement(orm__cg_parser *p, bool create, bool *copy_stdin)
{
    int depth = 0, blocks = 0, rc = ORM_OK;
    bool after_from = false;
    while (rc == ORM_OK && p->cur.kind != ORM_SQL_EOF) {
        if (orm__cg_p_op(p, ";") && depth == 0 && blocks == 0)
            break;
        if (orm__cg_p_op(p, "("))
            depth++;
        else if (orm__cg_p_op(p, ")") && depth > 0)
            depth--;
        else if (create && (orm__cg_p_is(p, "BEGIN") || orm__cg_p_is(p, "CASE")))
            blocks++;
        else if (create && orm__cg_p_is(p, "END") && blocks > 0)
            blocks--;
        if (copy_stdin && after_from && orm__cg_p_is(p, "STDIN"))
            *copy_stdin = true;
        after_from = orm__cg_p_is(p, "FROM");
        rc = orm__cg_p_next(p);
    }
    return rc;
}

/* What is skipped on purpose (codegen/README.md): statements by their first word, and the
 * objects of CREATE / ALTER / DROP other than tables and types. */
static const char *const skip_verbs[] = {
    "INSERT", "UPDATE", "DELETE", "SELECT", "WITH", "VALUES", "COPY", "SET", "RESET", "BEGIN",
    "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", "PRAGMA", "GRANT",
    "REVOKE", "COMMENT", "ANALYZE", "ANALYSE", "VACUUM", "REINDEX", "EXPLAIN", "ATTACH", "DETACH",
    "DO", "CALL", "LOCK", "TRUNCATE", "REFRESH", "SECURITY", "CLUSTER", "NOTIFY", "LISTEN",
    "UNLISTEN", "DISCARD", "SHOW", "CHECKPOINT", "REASSIGN", "IMPORT", "PREPARE", "EXECUTE",
    "DEALLOCATE", "REPLACE", "DECLARE", "FETCH", "CLOSE", "MOVE", "LOAD" };
static const char *const skip_objects[] = {
    "INDEX", "UNIQUE", "VIEW", "MATERIALIZED", "TRIGGER", "FUNCTION", "PROCEDURE", "ROUTINE",
    "SEQUENCE", "EXTENSION", "SCHEMA", "VIRTUAL", "AGGREGATE", "OPERATOR", "CAST", "COLLATION",
    "POLICY", "PUBLICATION", "SUBSCRIPTION", "RULE", "ROLE", "USER", "GROUP", "DATABASE",
    "TABLESPACE", "SERVER", "FOREIGN", "STATISTICS", "EVENT", "TEXT", "LANGUAGE", "CONVERSION",
    "ACCESS", "TRANSFORM", "TRUSTED", "PROCEDURAL", "RECURSIVE", "DEFAULT", "CONSTRAINT", "TYPE",
    "DOMAIN", "OWNED", "LARGE", "SYSTEM", "IF" };

static bool is_one_of(orm__cg_parser *p, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (orm__cg_p_is(p, words[i]))
            return true;
    return false;
}

/* A statement neither understood nor on the skip list (a typo such as "CREAT TABLE"): an error
 * under --strict, else a warning; either way it names file:line:col. Then skipped. */
static int unknown_statement(orm__cg_parser *p, const orm__sql_token *start, bool create, bool *copy_stdin)
{
    if (p->s->strict)
        return orm__cg_p_error_at(p, start, "not a statement ormctl generate reads or skips "
                                            "(see codegen/README.md; a typo?)");
    orm__cg_loc l = orm__cg_p_loc(p, start);
    int rc = orm__cg_warn(p->s, l, "statement skipped: '%.*s' is not one ormctl generate reads "
                          "or skips (a typo?)", (int)(start->len > 40 ? 40 : start->len),
                          start->start);
    return rc == ORM_OK ? skip_statement(p, create, copy_stdin) : rc;
}

static int remember_skipped(orm__cg_parser *p, char *name)
{
    return orm__cg_strlist_add(&p->s->skipped, &p->s->nskipped, name);
}

/* ---- CREATE ---- */

static int create_table(orm__cg_parser *p)
{
    bool ine = false, yes;
    int rc = orm__cg_p_next(p); /* TABLE */
    if (rc == ORM_OK && (rc = orm__cg_p_accept(p, "IF", &ine)) == ORM_OK && ine &&
        (rc = orm__cg_p_expect(p, "NOT")) == ORM_OK)
        rc = orm__cg_p_expect(p, "EXISTS");
    if (rc != ORM_OK)
        return rc;
    orm__sql_token name_tok = p->cur;
    char *name = NULL;
    if ((rc = orm__cg_p_qualified_name(p, &name)) != ORM_OK)
        return rc;
    if (!orm__cg_p_op(p, "(")) {
        /* CREATE TABLE AS / PARTITION OF / OF type: the columns are not spelled out here. */
        if (!orm__cg_p_is(p, "AS") && !orm__cg_p_is(p, "PARTITION") && !orm__cg_p_is(p, "OF")) {
            orm__free(name);
            return orm__cg_p_error(p, "expected '(' after the table name");
        }
        if (orm__cg_p_is(p, "AS"))
            rc = orm__cg_warn(p->s, orm__cg_p_loc(p, &name_tok),
                              "table %s is CREATE TABLE AS: not modelled", name);
        if (rc == ORM_OK)
            rc = remember_skipped(p, name);
        else
            orm__free(name);
        return rc == ORM_OK ? skip_statement(p, false, NULL) : rc;
    }
    orm__cg_table *existing = orm__cg_table_find(p->s, name);
    if (existing && !ine) {
        orm__free(name);
        return orm__cg_p_error_at(p, &name_tok, "table already exists");
    }
    long existing_i = existing ? (long)(existing - p->s->tables) : -1;
    orm__cg_table *t;
    if ((rc = orm__cg_table_add(p->s, name, orm__cg_p_loc(p, &name_tok), &t)) != ORM_OK)
        return rc;
    long ti = (long)p->s->ntables - 1;
    p->last_table = ti;
    p->last_col = -1;
    if ((rc = orm__cg_p_take_table_annotations(p, ti)) != ORM_OK)
        return rc;
    if ((rc = orm__cg_p_next(p)) != ORM_OK) /* ( */
        return rc;
    for (;;) {
        if ((rc = orm__cg_p_attach(p, p->cur.offset)) != ORM_OK)
            return rc;
        if (orm__cg_p_is(p, "LIKE"))
            return orm__cg_p_error(p, "CREATE TABLE (LIKE ...) is not supported: spell the columns out");
        if (orm__cg_p_at_table_constraint(p)) {
            rc = orm__cg_p_table_constraint(p, ti);
            p->last_col = -1;
        } else {
            long ci;
            rc = orm__cg_p_column_def(p, ti, &ci);
            p->last_col = ci;
        }
        if (rc != ORM_OK)
            return rc;
        if ((rc = orm__cg_p_accept(p, ",", &yes)) != ORM_OK)
            return rc;
        if (yes)
            continue;
        if (!orm__cg_p_op(p, ")"))
            return orm__cg_p_error(p, "expected ',' or ')' in the column list");
        break;
    }
    if ((rc = orm__cg_p_attach(p, p->cur.offset)) != ORM_OK)
        return rc;
    t = &p->s->tables[ti];
    if (t->ncols == 0)
        return orm__cg_p_error(p, "a table needs at least one column");
    if ((rc = orm__cg_p_next(p)) != ORM_OK)
        return rc;
    /* Table options (WITHOUT ROWID, STRICT, INHERITS, PARTITION BY, WITH, TABLESPACE ...)
     * do not change the columns. */
    if ((rc = skip_statement(p, false, NULL)) != ORM_OK)
        return rc;
    if ((rc = orm__cg_p_take_table_annotations(p, ti)) != ORM_OK)
        return rc;
    if (existing_i >= 0) { /* IF NOT EXISTS on a table we have: the statement does nothing */
        orm__cg_table_remove(p->s, &p->s->tables[ti]);
        p->last_table = existing_i;
        p->last_col = -1;
    }
    return ORM_OK;
}

/* CREATE TYPE name AS ENUM (...) and CREATE DOMAIN name [AS] type: remembered so columns of
 * these types map to text / the base type instead of falling back. */
static int create_type(orm__cg_parser *p, bool domain)
{
    char *name = NULL, *base = NULL;
    bool as;
    int rc = orm__cg_p_next(p);
    if (rc == ORM_OK)
        rc = orm__cg_p_qualified_name(p, &name);
    if (rc == ORM_OK)
        rc = orm__cg_p_accept(p, "AS", &as);
    if (rc == ORM_OK) {
        if (domain) {
            rc = orm__cg_p_type(p, &base);
            if (rc == ORM_OK)
                return orm__cg_type_add(p->s, name, base) == ORM_OK ? skip_statement(p, false, NULL)
                                                                   : ORM_ENOMEM;
        } else if (as && orm__cg_p_is(p, "ENUM")) {
            return orm__cg_type_add(p->s, name, NULL) == ORM_OK ? skip_statement(p, false, NULL)
                                                               : ORM_ENOMEM;
        } else {
            orm__free(name);
            return skip_statement(p, false, NULL);
        }
    }
    orm__free(name);
    return rc;
}

static int parse_create(orm__cg_parser *p)
{
    static const char *const modifiers[] = { "OR", "REPLACE", "GLOBAL", "LOCAL", "TEMP",
                                             "TEMPORARY", "UNLOGGED" };
    int rc = orm__cg_p_next(p);
    for (size_t i = 0; rc == ORM_OK && i < sizeof modifiers / sizeof modifiers[0]; i++)
        if (orm__cg_p_is(p, modifiers[i])) {
            rc = orm__cg_p_next(p);
            i = (size_t)-1;
        }
    if (rc != ORM_OK)
        return rc;
    if (orm__cg_p_is(p, "TABLE"))
        return create_table(p);
    if (orm__cg_p_is(p, "TYPE") || orm__cg_p_is(p, "DOMAIN"))
        return create_type(p, orm__cg_p_is(p, "DOMAIN"));
    if (!is_one_of(p, skip_objects, sizeof skip_objects / sizeof skip_objects[0])) {
        orm__sql_token start = p->cur;
        return unknown_statement(p, &start, true, NULL);
    }
    return skip_statement(p, true, NULL);
}

/* ---- DROP ---- */

static int drop_table(orm__cg_parser *p)
{
    bool ie = false, yes;
    int rc = orm__cg_p_next(p);
    if (rc == ORM_OK && (rc = orm__cg_p_accept(p, "IF", &ie)) == ORM_OK && ie)
        rc = orm__cg_p_expect(p, "EXISTS");
    while (rc == ORM_OK) {
        orm__sql_token tok = p->cur;
        char *name = NULL;
        if ((rc = orm__cg_p_qualified_name(p, &name)) != ORM_OK)
            return rc;
        orm__cg_table *t = orm__cg_table_find(p->s, name);
        bool skipped = false;
        for (size_t i = 0; i < p->s->nskipped; i++)
            skipped |= strcmp(p->s->skipped[i], name) == 0;
        orm__free(name);
        if (t) {
            orm__cg_table_remove(p->s, t);
            p->last_table = p->last_col = -1;
        } else if (!ie && !skipped) {
            return orm__cg_p_error_at(p, &tok, "DROP TABLE of a table that does not exist");
        }
        if ((rc = orm__cg_p_accept(p, ",", &yes)) != ORM_OK || !yes)
            break;
    }
    if (rc == ORM_OK && (orm__cg_p_is(p, "CASCADE") || orm__cg_p_is(p, "RESTRICT")))
        rc = orm__cg_p_next(p);
    if (rc == ORM_OK && !orm__cg_p_op(p, ";") && p->cur.kind != ORM_SQL_EOF)
        rc = orm__cg_p_error(p, "expected ';' after DROP TABLE");
    return rc;
}

static int parse_statement(orm__cg_parser *p, bool *copy_stdin)
{
    if (orm__cg_p_is(p, "CREATE"))
        return parse_create(p);
    if (orm__cg_p_is(p, "ALTER")) {
        int rc = orm__cg_p_next(p);
        if (rc != ORM_OK)
            return rc;
        if (orm__cg_p_is(p, "TABLE"))
            return orm__cg_p_alter_table(p);
        orm__sql_token start = p->cur;
        return is_one_of(p, skip_objects, sizeof skip_objects / sizeof skip_objects[0])
                   ? skip_statement(p, false, NULL)
                   : unknown_statement(p, &start, false, NULL);
    }
    if (orm__cg_p_is(p, "DROP")) {
        int rc = orm__cg_p_next(p);
        if (rc != ORM_OK)
            return rc;
        if (orm__cg_p_is(p, "TABLE"))
            return drop_table(p);
        orm__sql_token start = p->cur;
        return is_one_of(p, skip_objects, sizeof skip_objects / sizeof skip_objects[0])
                   ? skip_statement(p, false, NULL)
                   : unknown_statement(p, &start, false, NULL);
    }
    bool *cs = orm__cg_p_is(p, "COPY") ? copy_stdin : NULL;
    if (!is_one_of(p, skip_verbs, sizeof skip_verbs / sizeof skip_verbs[0])) {
        orm__sql_token start = p->cur;
        return unknown_statement(p, &start, false, cs);
    }
    return skip_statement(p, false, cs);
}

int orm__cg_parse(orm__cg_schema *s, const char *file, const char *src, size_t len)
{
    char *f = orm__strdup(file);
    if (!f)
        return orm__error_nomem("codegen");
    int rc = orm__cg_strlist_add(&s->files, &s->nfiles, f);
    if (rc != ORM_OK)
        return rc;
    orm__cg_parser p;
    memset(&p, 0, sizeof p);
    p.s = s;
    p.file = f;
    p.last_table = p.last_col = -1;
    orm__sql_lexer_init(&p.lx, f, src, len);
    rc = orm__cg_p_next(&p);
    while (rc == ORM_OK && p.cur.kind != ORM_SQL_EOF) {
        if ((rc = orm__cg_p_attach(&p, p.cur.offset)) != ORM_OK)
            break;
        if (orm__cg_p_op(&p, ";")) {
            rc = orm__cg_p_next(&p);
            continue;
        }
        bool copy_stdin = false;
        p.last_table = p.last_col = -1;
        if ((rc = parse_statement(&p, &copy_stdin)) != ORM_OK)
            break;
        if (p.npending && p.last_table >= 0)
            rc = orm__cg_p_take_table_annotations(&p, p.last_table);
        if (rc == ORM_OK)
            rc = check_pending(&p);
        if (rc == ORM_OK && copy_stdin && orm__cg_p_op(&p, ";"))
            orm__sql_skip_copy_data(&p.lx);
        if (rc == ORM_OK && orm__cg_p_op(&p, ";"))
            rc = orm__cg_p_next(&p);
    }
    if (rc == ORM_OK)
        rc = orm__cg_p_attach(&p, (size_t)-1);
    if (rc == ORM_OK)
        rc = check_pending(&p);
    orm__free(p.pending);
    orm__sql_lexer_dispose(&p.lx);
    return rc;
}
