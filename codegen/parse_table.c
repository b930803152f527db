/* liborm codegen — column definitions, type names, DEFAULT expressions and table
 * constraints: the parts of CREATE TABLE that ALTER TABLE ADD reuses.
 *
 * Keeps true: a clause is either understood or an ORM_EPARSE at its first token; expression
 * text we keep (DEFAULT, CHECK) is re-joined from tokens, so the output does not depend on
 * how the schema was indented.
 */
#include <string.h>

#include "codegen/parse_internal.h"
#include "orm/alloc.h"

/* Words that end a type name: each starts a column constraint. */
static const char *const constraint_words[] = {
    "CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE",
    "REFERENCES", "GENERATED", "AS", "AUTOINCREMENT", "AUTO_INCREMENT", "COMPRESSION",
    "STORAGE", "DEFERRABLE", "INITIALLY", "ON" };

static bool is_constraint_word(const orm__sql_token *t)
{
    for (size_t i = 0; i < sizeof constraint_words / sizeof constraint_words[0]; i++)
        if (orm__sql_is(t, constraint_words[i]))
            return true;
    return false;
}

/* Words that may follow the first word of a type name (DOUBLE PRECISION, CHARACTER VARYING,
 * TIMESTAMP WITH TIME ZONE, UNSIGNED BIG INT, INTERVAL DAY TO SECOND, INT ARRAY ...). Any
 * other word ends the type, so a misspelled constraint (INT PRIMRY KEY) is an error rather
 * than part of a long type name, as SQLite would read it. */
static const char *const type_words[] = {
    "PRECISION", "VARYING", "CHARACTER", "CHAR", "VARCHAR", "WITH", "WITHOUT", "TIME", "ZONE",
    "BIG", "INT", "INTEGER", "TEXT", "UNSIGNED", "SIGNED", "ZEROFILL", "LARGE", "OBJECT", "DAY",
    "HOUR", "MINUTE", "SECOND", "MONTH", "YEAR", "TO", "ARRAY" };

static bool is_type_word(const orm__sql_token *t)
{
    for (size_t i = 0; i < sizeof type_words / sizeof type_words[0]; i++)
        if (orm__sql_is(t, type_words[i]))
            return true;
    return false;
}

static bool wordish(orm__sql_kind k)
{
    return k == ORM_SQL_WORD || k == ORM_SQL_NUMBER || k == ORM_SQL_QIDENT ||
           k == ORM_SQL_STRING || k == ORM_SQL_PARAM || k == ORM_SQL_BRACKET;
}

/* Appends the current token to b, with a space only between two word-like tokens. */
static void join_token(orm__sbuf *b, const orm__sql_token *t, orm__sql_kind *prev, bool upper)
{
    if (*prev != ORM_SQL_EOF && wordish(*prev) && wordish(t->kind))
        orm__sbuf_puts(b, " ");
    if (upper && t->kind == ORM_SQL_WORD) {
        for (size_t i = 0; i < t->len; i++) {
            char c = t->start[i];
            c = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
            orm__sbuf_add(b, &c, 1);
        }
    } else {
        orm__sbuf_add(b, t->start, t->len);
    }
    *prev = t->kind;
}

static int buf_result(orm__sbuf *b, char **out)
{
    int failed = b->failed;
    *out = orm__sbuf_take(b);
    if (!*out)
        return failed == ORM_ENOMEM || failed == 0 ? orm__error_nomem("codegen")
                                                   : orm__error_set(failed, "codegen", "expression too long");
    return ORM_OK;
}

/* Appends a parenthesized run (current token '(') through its ')' inclusive. */
static int join_balanced(orm__cg_parser *p, orm__sbuf *b, orm__sql_kind *prev, bool upper)
{
    orm__sql_token open = p->cur;
    int depth = 0, rc = ORM_OK;
    do {
        if (p->cur.kind == ORM_SQL_EOF || orm__cg_p_op(p, ";"))
            return orm__cg_p_error_at(p, &open, "unbalanced '(': no matching ')'");
        if (orm__cg_p_op(p, "("))
            depth++;
        else if (orm__cg_p_op(p, ")"))
            depth--;
        join_token(b, &p->cur, prev, upper);
        rc = orm__cg_p_next(p);
    } while (rc == ORM_OK && depth > 0);
    *prev = ORM_SQL_BRACKET; /* "f(x) AT ..." keeps its space; "f(x)::t" needs none */
    return rc;
}

int orm__cg_p_type(orm__cg_parser *p, char **out)
{
    orm__sbuf b = ORM__CG_SBUF_INIT;
    orm__sql_kind prev = ORM_SQL_EOF;
    int rc = ORM_OK;
    bool any = false;
    *out = NULL;
    for (;;) {
        if (p->cur.kind == ORM_SQL_WORD && !is_constraint_word(&p->cur) &&
            (!any || prev == ORM_SQL_OP || is_type_word(&p->cur))) {
            join_token(&b, &p->cur, &prev, true);
            any = true;
        } else if (p->cur.kind == ORM_SQL_QIDENT && (!any || prev == ORM_SQL_OP)) {
            /* a quoted type name: public."Mood" */
            char *id = NULL;
            if ((rc = orm__sql_ident(&p->lx, &p->cur, &id)) != ORM_OK)
                break;
            if (prev != ORM_SQL_EOF && wordish(prev))
                orm__sbuf_puts(&b, " ");
            orm__sbuf_puts(&b, id);
            orm__free(id);
            prev = ORM_SQL_QIDENT;
            any = true;
        } else if (any && (orm__cg_p_op(p, ".") || p->cur.kind == ORM_SQL_BRACKET)) {
            /* schema.type, or an array suffix: int[] / int[3] */
            if (p->cur.kind == ORM_SQL_BRACKET)
                orm__sbuf_puts(&b, "[]");
            else
                orm__sbuf_puts(&b, ".");
            prev = ORM_SQL_OP;
        } else if (any && orm__cg_p_op(p, "(")) {
            rc = join_balanced(p, &b, &prev, true);
            prev = ORM_SQL_BRACKET; /* a word after the arguments gets its space */
            if (rc != ORM_OK)
                break;
            continue;
        } else {
            break;
        }
        if ((rc = orm__cg_p_next(p)) != ORM_OK)
            break;
    }
    if (rc != ORM_OK) {
        orm__sbuf_free(&b);
        return rc;
    }
    return buf_result(&b, out);
}

/* One operand of a DEFAULT expression: a literal, a name or call, or a parenthesized run. */
static int default_term(orm__cg_parser *p, orm__sbuf *b, orm__sql_kind *prev)
{
    int rc = ORM_OK;
    while (orm__cg_p_op(p, "-") || orm__cg_p_op(p, "+") || orm__cg_p_is(p, "NOT")) {
        join_token(b, &p->cur, prev, false);
        if ((rc = orm__cg_p_next(p)) != ORM_OK)
            return rc;
    }
    if (orm__cg_p_op(p, "("))
        return join_balanced(p, b, prev, false);
    if (!wordish(p->cur.kind))
        return orm__cg_p_error(p, "expected a DEFAULT value");
    bool word = p->cur.kind == ORM_SQL_WORD;
    join_token(b, &p->cur, prev, false);
    if ((rc = orm__cg_p_next(p)) != ORM_OK)
        return rc;
    /* a typed literal (TIMESTAMP '...'), a call, an array subscript */
    if (word && p->cur.kind == ORM_SQL_STRING) {
        join_token(b, &p->cur, prev, false);
        rc = orm__cg_p_next(p);
    }
    while (rc == ORM_OK && (orm__cg_p_op(p, "(") || p->cur.kind == ORM_SQL_BRACKET)) {
        if (orm__cg_p_op(p, "(")) {
            rc = join_balanced(p, b, prev, false);
        } else {
            join_token(b, &p->cur, prev, false);
            rc = orm__cg_p_next(p);
        }
    }
    return rc;
}

int orm__cg_p_default_expr(orm__cg_parser *p, char **out)
{
    static const char *const binops[] = { "+", "-", "*", "/", "%", "||", "&", "|", "<<", ">>" };
    orm__sbuf b = ORM__CG_SBUF_INIT;
    orm__sql_kind prev = ORM_SQL_EOF;
    int rc = default_term(p, &b, &prev);
    *out = NULL;
    while (rc == ORM_OK) {
        bool op = false;
        for (size_t i = 0; i < sizeof binops / sizeof binops[0]; i++)
            op |= orm__cg_p_op(p, binops[i]);
        if (orm__cg_p_op(p, "::")) {
            join_token(&b, &p->cur, &prev, false);
            char *ty = NULL;
            if ((rc = orm__cg_p_next(p)) == ORM_OK && (rc = orm__cg_p_type(p, &ty)) == ORM_OK) {
                if (!*ty)
                    rc = orm__cg_p_error(p, "expected a type after '::'");
                orm__sbuf_puts(&b, ty);
                prev = ORM_SQL_WORD;
            }
            orm__free(ty);
        } else if (op) {
            join_token(&b, &p->cur, &prev, false);
            if ((rc = orm__cg_p_next(p)) == ORM_OK)
                rc = default_term(p, &b, &prev);
        } else if (orm__cg_p_is(p, "AT")) { /* now() AT TIME ZONE 'utc' */
            for (int i = 0; rc == ORM_OK && i < 3; i++) {
                join_token(&b, &p->cur, &prev, false);
                rc = orm__cg_p_next(p);
            }
            if (rc == ORM_OK)
                rc = default_term(p, &b, &prev);
        } else {
            break;
        }
    }
    if (rc != ORM_OK) {
        orm__sbuf_free(&b);
        return rc;
    }
    return buf_result(&b, out);
}

/* The text inside a parenthesized expression (CHECK, GENERATED AS), current token '('. */
static int paren_text(orm__cg_parser *p, char **out)
{
    orm__sbuf b = ORM__CG_SBUF_INIT;
    orm__sql_kind prev = ORM_SQL_EOF;
    *out = NULL;
    if (!orm__cg_p_op(p, "("))
        return orm__cg_p_error(p, "expected '('");
    int rc = join_balanced(p, &b, &prev, false);
    if (rc != ORM_OK) {
        orm__sbuf_free(&b);
        return rc;
    }
    return buf_result(&b, out);
}

static int set_text(char **dst, char *v)
{
    orm__free(*dst);
    *dst = v;
    return ORM_OK;
}

/* SQLite: ON CONFLICT {ROLLBACK|ABORT|FAIL|IGNORE|REPLACE} after PK / NOT NULL / UNIQUE. */
static int conflict_clause(orm__cg_parser *p)
{
    bool on;
    int rc = orm__cg_p_accept(p, "ON", &on);
    if (rc != ORM_OK || !on)
        return rc;
    if ((rc = orm__cg_p_expect(p, "CONFLICT")) != ORM_OK)
        return rc;
    if (p->cur.kind != ORM_SQL_WORD)
        return orm__cg_p_error(p, "expected a conflict resolution");
    return orm__cg_p_next(p);
}

/* REFERENCES table [(cols)] [ON DELETE|UPDATE action] [MATCH kind]; current token REFERENCES. */
static int references(orm__cg_parser *p, char **out)
{
    char *table = NULL;
    orm__sbuf b = ORM__CG_SBUF_INIT;
    orm__sql_kind prev = ORM_SQL_EOF;
    int rc = orm__cg_p_next(p);
    if (rc == ORM_OK)
        rc = orm__cg_p_qualified_name(p, &table);
    if (rc == ORM_OK) {
        orm__sbuf_puts(&b, table);
        prev = ORM_SQL_WORD;
        if (orm__cg_p_op(p, "("))
            rc = join_balanced(p, &b, &prev, false);
    }
    orm__free(table);
    while (rc == ORM_OK) {
        if (orm__cg_p_is(p, "MATCH")) {
            if ((rc = orm__cg_p_next(p)) == ORM_OK)
                rc = orm__cg_p_next(p);
        } else if (orm__cg_p_is(p, "ON")) {
            if ((rc = orm__cg_p_next(p)) != ORM_OK)
                break;
            if (!orm__cg_p_is(p, "DELETE") && !orm__cg_p_is(p, "UPDATE")) {
                rc = orm__cg_p_error(p, "expected DELETE or UPDATE after ON");
                break;
            }
            if ((rc = orm__cg_p_next(p)) != ORM_OK)
                break;
            if (orm__cg_p_is(p, "SET") || orm__cg_p_is(p, "NO")) { /* SET NULL/DEFAULT, NO ACTION */
                if ((rc = orm__cg_p_next(p)) != ORM_OK)
                    break;
                if (!orm__cg_p_is(p, "NULL") && !orm__cg_p_is(p, "DEFAULT") && !orm__cg_p_is(p, "ACTION")) {
                    rc = orm__cg_p_error(p, "expected NULL, DEFAULT or ACTION");
                    break;
                }
                if ((rc = orm__cg_p_next(p)) == ORM_OK && orm__cg_p_op(p, "(")) {
                    orm__sbuf scratch = ORM__CG_SBUF_INIT;
                    orm__sql_kind k = ORM_SQL_EOF;
                    rc = join_balanced(p, &scratch, &k, false);
                    orm__sbuf_free(&scratch);
                }
            } else if (orm__cg_p_is(p, "CASCADE") || orm__cg_p_is(p, "RESTRICT")) {
                rc = orm__cg_p_next(p);
            } else {
                rc = orm__cg_p_error(p, "expected a referential action");
            }
        } else {
            break;
        }
    }
    if (rc != ORM_OK) {
        orm__sbuf_free(&b);
        return rc;
    }
    return buf_result(&b, out);
}

/* [NOT] DEFERRABLE, INITIALLY DEFERRED|IMMEDIATE; the NOT already consumed when not_seen. */
static int deferrable(orm__cg_parser *p)
{
    int rc = ORM_OK;
    if (orm__cg_p_is(p, "DEFERRABLE"))
        rc = orm__cg_p_next(p);
    if (rc == ORM_OK && orm__cg_p_is(p, "INITIALLY")) {
        if ((rc = orm__cg_p_next(p)) != ORM_OK)
            return rc;
        if (!orm__cg_p_is(p, "DEFERRED") && !orm__cg_p_is(p, "IMMEDIATE"))
            return orm__cg_p_error(p, "expected DEFERRED or IMMEDIATE");
        rc = orm__cg_p_next(p);
    }
    return rc;
}

/* GENERATED {ALWAYS | BY DEFAULT} AS {IDENTITY [(...)] | (expr) [STORED|VIRTUAL]}, or the
 * SQLite short form AS (expr); current token GENERATED or AS. */
static int generated(orm__cg_parser *p, orm__cg_column *c_unused, long ti, long ci)
{
    int rc = ORM_OK;
    if (orm__cg_p_is(p, "GENERATED")) {
        if ((rc = orm__cg_p_next(p)) != ORM_OK)
            return rc;
        if (orm__cg_p_is(p, "ALWAYS")) {
            rc = orm__cg_p_next(p);
        } else if ((rc = orm__cg_p_expect(p, "BY")) == ORM_OK) {
            rc = orm__cg_p_expect(p, "DEFAULT");
        }
        if (rc != ORM_OK)
            return rc;
    }
    if ((rc = orm__cg_p_expect(p, "AS")) != ORM_OK)
        return rc;
    orm__cg_column *c = &p->s->tables[ti].cols[ci];
    if (orm__cg_p_is(p, "IDENTITY")) {
        c->autoincrement = true;
        if ((rc = orm__cg_p_next(p)) == ORM_OK && orm__cg_p_op(p, "(")) {
            char *opts = NULL;
            rc = paren_text(p, &opts);
            orm__free(opts);
        }
        return rc;
    }
    char *expr = NULL;
    if ((rc = paren_text(p, &expr)) != ORM_OK)
        return rc;
    c->generated = true;
    set_text(&c->default_sql, expr);
    if (orm__cg_p_is(p, "STORED") || orm__cg_p_is(p, "VIRTUAL"))
        rc = orm__cg_p_next(p);
    return rc;
}

static int set_pk(orm__cg_parser *p, long ti, long ci, const orm__sql_token *at)
{
    orm__cg_table *t = &p->s->tables[ti];
    for (size_t i = 0; i < t->ncols; i++)
        if (t->cols[i].pk_pos && (long)i != ci)
            return orm__cg_p_error_at(p, at, "the table already has a primary key");
    t->cols[ci].pk_pos = 1;
    t->cols[ci].not_null = true;
    return ORM_OK;
}

/* PostgreSQL names an unnamed key <table>_pkey (and keeps that name when the table is
 * renamed); DROP CONSTRAINT finds it by that name. name is taken. */
static int name_pk(orm__cg_table *t, char *name)
{
    orm__free(t->pk_constraint);
    t->pk_constraint = name;
    if (name)
        return ORM_OK;
    orm__sbuf b = ORM__CG_SBUF_INIT;
    orm__sbuf_printf(&b, "%s_pkey", t->name);
    return buf_result(&b, &t->pk_constraint);
}

/* One column constraint; returns ORM_OK with *done when the current token starts none. */
static int column_constraint(orm__cg_parser *p, long ti, long ci, char **cname, bool *done)
{
    orm__sql_token at = p->cur;
    orm__cg_column *c = &p->s->tables[ti].cols[ci];
    char *text = NULL;
    bool yes;
    int rc;
    *done = false;
    if (orm__cg_p_is(p, "CONSTRAINT")) {
        orm__free(*cname);
        *cname = NULL;
        if ((rc = orm__cg_p_next(p)) == ORM_OK)
            rc = orm__cg_p_name(p, cname);
        return rc;
    }
    if (orm__cg_p_is(p, "PRIMARY")) {
        if ((rc = orm__cg_p_next(p)) != ORM_OK || (rc = orm__cg_p_expect(p, "KEY")) != ORM_OK ||
            (rc = set_pk(p, ti, ci, &at)) != ORM_OK)
            return rc;
        rc = name_pk(&p->s->tables[ti], *cname);
        *cname = NULL;
        if (rc != ORM_OK)
            return rc;
        if (orm__cg_p_is(p, "ASC") || orm__cg_p_is(p, "DESC"))
            if ((rc = orm__cg_p_next(p)) != ORM_OK)
                return rc;
        if ((rc = conflict_clause(p)) != ORM_OK)
            return rc;
        if ((rc = orm__cg_p_accept(p, "AUTOINCREMENT", &yes)) == ORM_OK && yes)
            p->s->tables[ti].cols[ci].autoincrement = true;
        return rc;
    }
    if (orm__cg_p_is(p, "NOT")) {
        if ((rc = orm__cg_p_next(p)) != ORM_OK)
            return rc;
        if (orm__cg_p_is(p, "DEFERRABLE"))
            return deferrable(p);
        if ((rc = orm__cg_p_expect(p, "NULL")) != ORM_OK)
            return rc;
        c->not_null = true;
        return conflict_clause(p);
    }
    if (orm__cg_p_is(p, "NULL")) {
        c->not_null = false;
        return orm__cg_p_next(p);
    }
    if (orm__cg_p_is(p, "UNIQUE")) {
        c->unique = true;
        if ((rc = orm__cg_p_next(p)) != ORM_OK)
            return rc;
        if (orm__cg_p_is(p, "NULLS")) { /* NULLS [NOT] DISTINCT */
            if ((rc = orm__cg_p_next(p)) != ORM_OK || (rc = orm__cg_p_accept(p, "NOT", &yes)) != ORM_OK ||
                (rc = orm__cg_p_expect(p, "DISTINCT")) != ORM_OK)
                return rc;
        }
        return conflict_clause(p);
    }
    if (orm__cg_p_is(p, "CHECK")) {
        if ((rc = orm__cg_p_next(p)) != ORM_OK || (rc = paren_text(p, &text)) != ORM_OK)
            return rc;
        set_text(&p->s->tables[ti].cols[ci].check_sql, text);
        if (orm__cg_p_is(p, "NO")) /* NO INHERIT */
            if ((rc = orm__cg_p_next(p)) != ORM_OK || (rc = orm__cg_p_expect(p, "INHERIT")) != ORM_OK)
                return rc;
        return ORM_OK;
    }
    if (orm__cg_p_is(p, "DEFAULT")) {
        if ((rc = orm__cg_p_next(p)) != ORM_OK || (rc = orm__cg_p_default_expr(p, &text)) != ORM_OK)
            return rc;
        c = &p->s->tables[ti].cols[ci];
        set_text(&c->default_sql, text);
        if (strncmp(text, "nextval(", 8) == 0 || strncmp(text, "NEXTVAL(", 8) == 0)
            c->autoincrement = true; /* pg_dump spells SERIAL this way */
        return ORM_OK;
    }
    if (orm__cg_p_is(p, "COLLATE") || orm__cg_p_is(p, "COMPRESSION") || orm__cg_p_is(p, "STORAGE")) {
        if ((rc = orm__cg_p_next(p)) != ORM_OK || (rc = orm__cg_p_qualified_name(p, &text)) != ORM_OK)
            return rc;
        orm__free(text);
        return ORM_OK;
    }
    if (orm__cg_p_is(p, "REFERENCES")) {
        if ((rc = references(p, &text)) != ORM_OK)
            return rc;
        set_text(&p->s->tables[ti].cols[ci].references, text);
        return ORM_OK;
    }
    if (orm__cg_p_is(p, "GENERATED") || orm__cg_p_is(p, "AS"))
        return generated(p, c, ti, ci);
    if (orm__cg_p_is(p, "AUTOINCREMENT") || orm__cg_p_is(p, "AUTO_INCREMENT")) {
        c->autoincrement = true;
        return orm__cg_p_next(p);
    }
    if (orm__cg_p_is(p, "DEFERRABLE") || orm__cg_p_is(p, "INITIALLY"))
        return deferrable(p);
    *done = true;
    return ORM_OK;
}

int orm__cg_p_column_def(orm__cg_parser *p, long ti, long *ci)
{
    orm__sql_token at = p->cur;
    char *name = NULL, *type = NULL, *cname = NULL;
    orm__cg_column *c;
    *ci = -1;
    int rc = orm__cg_p_name(p, &name);
    if (rc != ORM_OK)
        return rc;
    long dup = orm__cg_column_find(&p->s->tables[ti], name);
    if (dup >= 0 && strcmp(p->s->tables[ti].cols[dup].name, name) == 0) {
        orm__free(name);
        return orm__cg_p_error_at(p, &at, "duplicate column name");
    }
    if ((rc = orm__cg_column_add(&p->s->tables[ti], name, &c)) != ORM_OK)
        return rc;
    *ci = (long)p->s->tables[ti].ncols - 1;
    c->loc = orm__cg_p_loc(p, &at);
    if ((rc = orm__cg_p_take_column_annotations(p, ti, *ci)) != ORM_OK)
        return rc;
    if ((rc = orm__cg_p_type(p, &type)) != ORM_OK)
        return rc;
    p->s->tables[ti].cols[*ci].sqltype = type;
    for (;;) {
        bool done;
        if ((rc = column_constraint(p, ti, *ci, &cname, &done)) != ORM_OK || done)
            break;
    }
    orm__free(cname);
    if (rc == ORM_OK && !orm__cg_p_op(p, ",") && !orm__cg_p_op(p, ")") && !orm__cg_p_op(p, ";") &&
        p->cur.kind != ORM_SQL_EOF)
        rc = orm__cg_p_error(p, "unexpected token in the definition of a column");
    return rc;
}

bool orm__cg_p_at_table_constraint(orm__cg_parser *p)
{
    return orm__cg_p_is(p, "CONSTRAINT") || orm__cg_p_is(p, "PRIMARY") || orm__cg_p_is(p, "UNIQUE") ||
           orm__cg_p_is(p, "CHECK") || orm__cg_p_is(p, "FOREIGN") || orm__cg_p_is(p, "EXCLUDE");
}

/* (col [COLLATE x] [ASC|DESC] [NULLS FIRST|LAST], ...) into column indexes. */
static int column_list(orm__cg_parser *p, long ti, long *idx, size_t max, size_t *n)
{
    int rc = orm__cg_p_expect_op(p, "(");
    bool yes = true;
    *n = 0;
    while (rc == ORM_OK && yes) {
        orm__sql_token at = p->cur;
        char *name = NULL;
        if ((rc = orm__cg_p_name(p, &name)) != ORM_OK)
            return rc;
        long i = orm__cg_column_find(&p->s->tables[ti], name);
        orm__free(name);
        if (i < 0)
            return orm__cg_p_error_at(p, &at, "no such column in this table");
        for (size_t k = 0; k < *n; k++)
            if (idx[k] == i)
                return orm__cg_p_error_at(p, &at, "column listed twice");
        if (*n == max)
            return orm__cg_p_error_at(p, &at, "too many columns in a key");
        idx[(*n)++] = i;
        if (orm__cg_p_is(p, "COLLATE")) {
            if ((rc = orm__cg_p_next(p)) != ORM_OK || (rc = orm__cg_p_qualified_name(p, &name)) != ORM_OK)
                return rc;
            orm__free(name);
        }
        if (orm__cg_p_is(p, "ASC") || orm__cg_p_is(p, "DESC"))
            rc = orm__cg_p_next(p);
        if (rc == ORM_OK && orm__cg_p_is(p, "NULLS")) {
            if ((rc = orm__cg_p_next(p)) == ORM_OK && !orm__cg_p_is(p, "FIRST") && !orm__cg_p_is(p, "LAST"))
                rc = orm__cg_p_error(p, "expected FIRST or LAST");
            if (rc == ORM_OK)
                rc = orm__cg_p_next(p);
        }
        if (rc == ORM_OK)
            rc = orm__cg_p_accept(p, ",", &yes);
    }
    return rc == ORM_OK ? orm__cg_p_expect_op(p, ")") : rc;
}

/* Attributes a table constraint may carry after its body. */
static int constraint_tail(orm__cg_parser *p)
{
    int rc = ORM_OK;
    for (;;) {
        if (orm__cg_p_is(p, "ON")) {
            rc = conflict_clause(p);
        } else if (orm__cg_p_is(p, "DEFERRABLE") || orm__cg_p_is(p, "INITIALLY")) {
            rc = deferrable(p);
        } else if (orm__cg_p_is(p, "NOT")) {
            if ((rc = orm__cg_p_next(p)) != ORM_OK)
                return rc;
            if (orm__cg_p_is(p, "DEFERRABLE"))
                rc = deferrable(p);
            else
                rc = orm__cg_p_expect(p, "VALID");
        } else if (orm__cg_p_is(p, "NO")) {
            if ((rc = orm__cg_p_next(p)) == ORM_OK)
                rc = orm__cg_p_expect(p, "INHERIT");
        } else if (orm__cg_p_is(p, "INCLUDE") || orm__cg_p_is(p, "WITH")) {
            char *t = NULL;
            if ((rc = orm__cg_p_next(p)) == ORM_OK)
                rc = paren_text(p, &t);
            orm__free(t);
        } else if (orm__cg_p_is(p, "USING")) { /* USING INDEX TABLESPACE name */
            char *t = NULL;
            if ((rc = orm__cg_p_next(p)) == ORM_OK && (rc = orm__cg_p_expect(p, "INDEX")) == ORM_OK &&
                (rc = orm__cg_p_expect(p, "TABLESPACE")) == ORM_OK)
                rc = orm__cg_p_name(p, &t);
            orm__free(t);
        } else {
            return ORM_OK;
        }
        if (rc != ORM_OK)
            return rc;
    }
}

static int add_check_text(orm__cg_parser *p, long ti, const char *prefix, const char *body)
{
    orm__sbuf b = ORM__CG_SBUF_INIT;
    orm__sbuf_puts(&b, prefix);
    orm__sbuf_puts(&b, body);
    char *t;
    int rc = buf_result(&b, &t);
    return rc == ORM_OK ? orm__cg_table_add_check(&p->s->tables[ti], t) : rc;
}

#define MAX_KEY_COLUMNS 64

int orm__cg_p_table_constraint(orm__cg_parser *p, long ti)
{
    char *cname = NULL, *text = NULL;
    long idx[MAX_KEY_COLUMNS];
    size_t n = 0;
    int rc = ORM_OK;
    if (orm__cg_p_is(p, "CONSTRAINT")) {
        if ((rc = orm__cg_p_next(p)) != ORM_OK || (rc = orm__cg_p_name(p, &cname)) != ORM_OK)
            return rc;
    }
    orm__sql_token at = p->cur;
    orm__cg_table *t = &p->s->tables[ti];
    if (orm__cg_p_is(p, "PRIMARY")) {
        if ((rc = orm__cg_p_next(p)) == ORM_OK && (rc = orm__cg_p_expect(p, "KEY")) == ORM_OK &&
            (rc = column_list(p, ti, idx, MAX_KEY_COLUMNS, &n)) == ORM_OK) {
            for (size_t i = 0; i < t->ncols && rc == ORM_OK; i++)
                if (t->cols[i].pk_pos)
                    rc = orm__cg_p_error_at(p, &at, "the table already has a primary key");
            for (size_t k = 0; k < n && rc == ORM_OK; k++) {
                t->cols[idx[k]].pk_pos = (int)k + 1;
                t->cols[idx[k]].not_null = true;
            }
            if (rc == ORM_OK) {
                rc = name_pk(t, cname);
                cname = NULL;
            }
        }
    } else if (orm__cg_p_is(p, "UNIQUE")) {
        bool yes;
        if ((rc = orm__cg_p_next(p)) == ORM_OK && orm__cg_p_is(p, "NULLS")) {
            if ((rc = orm__cg_p_next(p)) == ORM_OK && (rc = orm__cg_p_accept(p, "NOT", &yes)) == ORM_OK)
                rc = orm__cg_p_expect(p, "DISTINCT");
        }
        orm__sql_token open = p->cur;
        if (rc == ORM_OK && (rc = column_list(p, ti, idx, MAX_KEY_COLUMNS, &n)) == ORM_OK) {
            if (n == 1) {
                t->cols[idx[0]].unique = true;
            } else {
                orm__sbuf b = ORM__CG_SBUF_INIT;
                orm__sbuf_puts(&b, "UNIQUE(");
                for (size_t k = 0; k < n; k++)
                    orm__sbuf_printf(&b, "%s%s", k ? "," : "", t->cols[idx[k]].name);
                orm__sbuf_puts(&b, ")");
                if ((rc = buf_result(&b, &text)) == ORM_OK)
                    rc = orm__cg_table_add_check(t, text);
            }
        }
        (void)open;
    } else if (orm__cg_p_is(p, "CHECK")) {
        if ((rc = orm__cg_p_next(p)) == ORM_OK && (rc = paren_text(p, &text)) == ORM_OK) {
            rc = add_check_text(p, ti, "CHECK", text);
            orm__free(text);
        }
    } else if (orm__cg_p_is(p, "FOREIGN")) {
        if ((rc = orm__cg_p_next(p)) == ORM_OK && (rc = orm__cg_p_expect(p, "KEY")) == ORM_OK &&
            (rc = column_list(p, ti, idx, MAX_KEY_COLUMNS, &n)) == ORM_OK) {
            if (!orm__cg_p_is(p, "REFERENCES"))
                rc = orm__cg_p_error(p, "expected REFERENCES");
            else if ((rc = references(p, &text)) == ORM_OK) {
                if (n == 1) {
                    set_text(&t->cols[idx[0]].references, text);
                } else {
                    rc = add_check_text(p, ti, "FOREIGN KEY REFERENCES ", text);
                    orm__free(text);
                }
            }
        }
    } else if (orm__cg_p_is(p, "EXCLUDE")) {
        rc = orm__cg_p_skip_item(p); /* an exclusion constraint does not shape the struct */
    } else {
        rc = orm__cg_p_error(p, "expected PRIMARY KEY, UNIQUE, CHECK, FOREIGN KEY or EXCLUDE");
    }
    orm__free(cname);
    if (rc == ORM_OK)
        rc = constraint_tail(p);
    return rc;
}
