/* liborm codegen — ALTER TABLE: the changes migrations make to a table the model holds.
 *
 * Keeps true: a subcommand that changes columns is applied to the model; one that cannot
 * change the struct (OWNER TO, ENABLE TRIGGER, SET TABLESPACE ...) is skipped; anything else
 * is ORM_EPARSE at its first token, so a typo never silently drops a column.
 */
#include <string.h>

#include "codegen/parse_internal.h"
#include "orm/alloc.h"

/* Subcommands that leave the columns alone; skipped up to the next ',' or ';'. */
static const char *const harmless[] = { "OWNER", "ENABLE", "DISABLE", "CLUSTER", "SET", "RESET",
                                        "REPLICA", "VALIDATE", "ATTACH", "DETACH", "INHERIT",
                                        "NO", "FORCE", "OF", "NOT" };

static int column_of(orm__cg_parser *p, long ti, bool if_exists, long *ci)
{
    orm__sql_token at = p->cur;
    char *name = NULL;
    int rc = orm__cg_p_name(p, &name);
    if (rc != ORM_OK)
        return rc;
    *ci = orm__cg_column_find(&p->s->tables[ti], name);
    orm__free(name);
    if (*ci < 0 && !if_exists)
        return orm__cg_p_error_at(p, &at, "no such column in this table");
    return ORM_OK;
}

static int if_exists(orm__cg_parser *p, bool *yes)
{
    int rc = orm__cg_p_accept(p, "IF", yes);
    return rc == ORM_OK && *yes ? orm__cg_p_expect(p, "EXISTS") : rc;
}

static int add(orm__cg_parser *p, long ti)
{
    bool col = false, ine = false;
    int rc;
    if (orm__cg_p_at_table_constraint(p)) {
        p->last_col = -1;
        return orm__cg_p_table_constraint(p, ti);
    }
    if ((rc = orm__cg_p_accept(p, "COLUMN", &col)) != ORM_OK)
        return rc;
    if ((rc = orm__cg_p_accept(p, "IF", &ine)) == ORM_OK && ine &&
        (rc = orm__cg_p_expect(p, "NOT")) == ORM_OK)
        rc = orm__cg_p_expect(p, "EXISTS");
    if (rc != ORM_OK)
        return rc;
    if (ine && p->cur.kind != ORM_SQL_EOF) {
        char *name = NULL;
        orm__sql_ident(&p->lx, &p->cur, &name);
        long have = name ? orm__cg_column_find(&p->s->tables[ti], name) : -1;
        orm__free(name);
        if (have >= 0) /* ADD COLUMN IF NOT EXISTS of a column we have: nothing happens */
            return orm__cg_p_skip_item(p);
    }
    long ci;
    rc = orm__cg_p_column_def(p, ti, &ci);
    p->last_col = ci;
    return rc;
}

static int drop(orm__cg_parser *p, long ti)
{
    bool yes, ie;
    int rc;
    if (orm__cg_p_is(p, "CONSTRAINT")) {
        char *name = NULL;
        if ((rc = orm__cg_p_next(p)) != ORM_OK || (rc = if_exists(p, &ie)) != ORM_OK ||
            (rc = orm__cg_p_name(p, &name)) != ORM_OK)
            return rc;
        orm__cg_table *t = &p->s->tables[ti];
        if (t->pk_constraint && strcmp(t->pk_constraint, name) == 0)
            orm__cg_table_drop_pk(t);
        orm__free(name);
    } else {
        long ci;
        if ((rc = orm__cg_p_accept(p, "COLUMN", &yes)) != ORM_OK || (rc = if_exists(p, &ie)) != ORM_OK ||
            (rc = column_of(p, ti, ie, &ci)) != ORM_OK)
            return rc;
        if (ci >= 0) {
            orm__cg_table *t = &p->s->tables[ti];
            if (t->ncols == 1)
                return orm__cg_p_error(p, "cannot drop the only column of a table");
            if (t->cols[ci].pk_pos) /* both databases drop (or refuse) the whole key */
                orm__cg_table_drop_pk(t);
            orm__cg_column_remove(t, (size_t)ci);
            p->last_col = -1;
        }
    }
    if (orm__cg_p_is(p, "CASCADE") || orm__cg_p_is(p, "RESTRICT"))
        return orm__cg_p_next(p);
    return ORM_OK;
}

static int rename_action(orm__cg_parser *p, long ti)
{
    bool yes;
    char *name = NULL;
    int rc;
    if (orm__cg_p_is(p, "TO")) {
        orm__sql_token at;
        if ((rc = orm__cg_p_next(p)) != ORM_OK)
            return rc;
        at = p->cur;
        if ((rc = orm__cg_p_qualified_name(p, &name)) != ORM_OK)
            return rc;
        orm__cg_table *other = orm__cg_table_find(p->s, name);
        if (other && other != &p->s->tables[ti]) {
            orm__free(name);
            return orm__cg_p_error_at(p, &at, "a table with that name already exists");
        }
        orm__cg_table_rename(p->s, &p->s->tables[ti], name);
        return ORM_OK;
    }
    if (orm__cg_p_is(p, "CONSTRAINT")) {
        char *to = NULL;
        if ((rc = orm__cg_p_next(p)) != ORM_OK || (rc = orm__cg_p_name(p, &name)) != ORM_OK)
            return rc;
        if ((rc = orm__cg_p_expect(p, "TO")) == ORM_OK && (rc = orm__cg_p_name(p, &to)) == ORM_OK) {
            orm__cg_table *t = &p->s->tables[ti];
            if (t->pk_constraint && strcmp(t->pk_constraint, name) == 0) {
                orm__free(t->pk_constraint);
                t->pk_constraint = to;
                to = NULL;
            }
        }
        orm__free(name);
        orm__free(to);
        return rc;
    }
    long ci;
    if ((rc = orm__cg_p_accept(p, "COLUMN", &yes)) != ORM_OK || (rc = column_of(p, ti, false, &ci)) != ORM_OK ||
        (rc = orm__cg_p_expect(p, "TO")) != ORM_OK)
        return rc;
    orm__sql_token at = p->cur;
    if ((rc = orm__cg_p_name(p, &name)) != ORM_OK)
        return rc;
    long clash = orm__cg_column_find(&p->s->tables[ti], name);
    if (clash >= 0 && clash != ci) {
        orm__free(name);
        return orm__cg_p_error_at(p, &at, "a column with that name already exists");
    }
    orm__cg_column_rename(&p->s->tables[ti], (size_t)ci, name);
    p->last_col = ci;
    return ORM_OK;
}

/* ALTER [COLUMN] name action */
static int alter_column(orm__cg_parser *p, long ti)
{
    bool yes;
    long ci;
    int rc;
    if ((rc = orm__cg_p_accept(p, "COLUMN", &yes)) != ORM_OK || (rc = column_of(p, ti, false, &ci)) != ORM_OK)
        return rc;
    p->last_col = ci;
    orm__cg_column *c = &p->s->tables[ti].cols[ci];
    if (orm__cg_p_is(p, "SET") || orm__cg_p_is(p, "DROP")) {
        bool set = orm__cg_p_is(p, "SET");
        if ((rc = orm__cg_p_next(p)) != ORM_OK)
            return rc;
        if (orm__cg_p_is(p, "DEFAULT")) {
            char *text = NULL;
            if ((rc = orm__cg_p_next(p)) != ORM_OK)
                return rc;
            if (set && (rc = orm__cg_p_default_expr(p, &text)) != ORM_OK)
                return rc;
            c = &p->s->tables[ti].cols[ci];
            orm__free(c->default_sql);
            c->default_sql = text;
            c->autoincrement = text && (strncmp(text, "nextval(", 8) == 0 || strncmp(text, "NEXTVAL(", 8) == 0);
            return ORM_OK;
        }
        if (orm__cg_p_is(p, "NOT")) {
            if ((rc = orm__cg_p_next(p)) == ORM_OK && (rc = orm__cg_p_expect(p, "NULL")) == ORM_OK)
                p->s->tables[ti].cols[ci].not_null = set;
            return rc;
        }
        if (set && orm__cg_p_is(p, "DATA")) {
            if ((rc = orm__cg_p_next(p)) != ORM_OK)
                return rc;
            if (!orm__cg_p_is(p, "TYPE"))
                return orm__cg_p_error(p, "expected TYPE");
        } else if (!set && orm__cg_p_is(p, "IDENTITY")) {
            p->s->tables[ti].cols[ci].autoincrement = false;
            return orm__cg_p_skip_item(p);
        } else if (!set && orm__cg_p_is(p, "EXPRESSION")) {
            p->s->tables[ti].cols[ci].generated = false;
            return orm__cg_p_skip_item(p);
        } else if (!orm__cg_p_is(p, "TYPE")) {
            /* SET STATISTICS / STORAGE / COMPRESSION / (options), identity options */
            return set ? orm__cg_p_skip_item(p) : orm__cg_p_error(p, "expected DEFAULT, NOT NULL, IDENTITY or EXPRESSION");
        }
    }
    if (orm__cg_p_is(p, "TYPE")) {
        char *type = NULL;
        if ((rc = orm__cg_p_next(p)) != ORM_OK || (rc = orm__cg_p_type(p, &type)) != ORM_OK)
            return rc;
        if (!*type) {
            orm__free(type);
            return orm__cg_p_error(p, "expected a type");
        }
        c = &p->s->tables[ti].cols[ci];
        orm__free(c->sqltype);
        c->sqltype = type;
        return orm__cg_p_skip_item(p); /* COLLATE x, USING expr */
    }
    if (orm__cg_p_is(p, "ADD")) { /* ADD GENERATED ... AS IDENTITY [(sequence options)] */
        if ((rc = orm__cg_p_next(p)) != ORM_OK)
            return rc;
        if (!orm__cg_p_is(p, "GENERATED"))
            return orm__cg_p_error(p, "expected GENERATED");
        p->s->tables[ti].cols[ci].autoincrement = true;
        return orm__cg_p_skip_item(p);
    }
    if (orm__cg_p_is(p, "RESTART"))
        return orm__cg_p_skip_item(p);
    return orm__cg_p_error(p, "expected SET, DROP, TYPE or ADD after ALTER COLUMN");
}

static int subcommand(orm__cg_parser *p, long ti)
{
    int rc;
    if ((rc = orm__cg_p_attach(p, p->cur.offset)) != ORM_OK)
        return rc;
    orm__sql_token at = p->cur;
    if (orm__cg_p_is(p, "ADD"))
        return (rc = orm__cg_p_next(p)) == ORM_OK ? add(p, ti) : rc;
    if (orm__cg_p_is(p, "DROP"))
        return (rc = orm__cg_p_next(p)) == ORM_OK ? drop(p, ti) : rc;
    if (orm__cg_p_is(p, "RENAME"))
        return (rc = orm__cg_p_next(p)) == ORM_OK ? rename_action(p, ti) : rc;
    if (orm__cg_p_is(p, "ALTER"))
        return (rc = orm__cg_p_next(p)) == ORM_OK ? alter_column(p, ti) : rc;
    for (size_t i = 0; i < sizeof harmless / sizeof harmless[0]; i++)
        if (orm__cg_p_is(p, harmless[i]))
            return orm__cg_p_skip_item(p);
    return orm__cg_p_error_at(p, &at, "unknown ALTER TABLE action");
}

static int skip_rest(orm__cg_parser *p)
{
    int rc = ORM_OK;
    while (rc == ORM_OK && p->cur.kind != ORM_SQL_EOF && !orm__cg_p_op(p, ";"))
        rc = orm__cg_p_next(p);
    return rc;
}

int orm__cg_p_alter_table(orm__cg_parser *p)
{
    bool ie = false, yes;
    int rc = orm__cg_p_next(p);
    if (rc == ORM_OK && orm__cg_p_is(p, "ALL")) /* ALTER TABLE ALL IN TABLESPACE */
        return skip_rest(p);
    if (rc == ORM_OK)
        rc = if_exists(p, &ie);
    if (rc == ORM_OK)
        rc = orm__cg_p_accept(p, "ONLY", &yes);
    orm__sql_token at = p->cur;
    char *name = NULL;
    if (rc != ORM_OK || (rc = orm__cg_p_qualified_name(p, &name)) != ORM_OK)
        return rc;
    if (orm__cg_p_op(p, "*") && (rc = orm__cg_p_next(p)) != ORM_OK) {
        orm__free(name);
        return rc;
    }
    orm__cg_table *t = orm__cg_table_find(p->s, name);
    bool skipped = false;
    for (size_t i = 0; i < p->s->nskipped; i++)
        skipped |= strcmp(p->s->skipped[i], name) == 0;
    orm__free(name);
    if (!t) {
        if (ie || skipped)
            return skip_rest(p);
        /* pg_dump says ALTER TABLE seq OWNER TO ... of sequences and views too: only an
         * action that changes columns needs the table to be one we know. */
        for (;;) {
            bool ok = false;
            for (size_t i = 0; i < sizeof harmless / sizeof harmless[0]; i++)
                ok |= orm__cg_p_is(p, harmless[i]);
            if (!ok)
                return orm__cg_p_error_at(p, &at, "ALTER TABLE of a table that does not exist");
            if ((rc = orm__cg_p_skip_item(p)) != ORM_OK || (rc = orm__cg_p_accept(p, ",", &yes)) != ORM_OK)
                return rc;
            if (!yes)
                return skip_rest(p);
        }
    }
    long ti = (long)(t - p->s->tables);
    p->last_table = ti;
    p->last_col = -1;
    if ((rc = orm__cg_p_take_table_annotations(p, ti)) != ORM_OK)
        return rc;
    for (;;) {
        if ((rc = subcommand(p, ti)) != ORM_OK)
            return rc;
        if ((rc = orm__cg_p_accept(p, ",", &yes)) != ORM_OK || !yes)
            break;
    }
    if (rc == ORM_OK && !orm__cg_p_op(p, ";") && p->cur.kind != ORM_SQL_EOF)
        rc = orm__cg_p_error(p, "expected ',' or ';' after an ALTER TABLE action");
    return rc;
}
