/* liborm codegen — the table model the parser builds (see schema.h).
 * Keeps true: tables and columns stay in definition order (the output follows it, which is
 * what makes generation deterministic), and every pointer is either NULL or owned here. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codegen/schema.h"
#include "orm/alloc.h"

void orm__cg_schema_init(orm__cg_schema *s) { memset(s, 0, sizeof *s); }

static void free_strlist(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        orm__free(l[i]);
    orm__free(l);
}

void orm__cg_column_dispose(orm__cg_column *c)
{
    orm__free(c->name);
    orm__free(c->sqltype);
    orm__free(c->default_sql);
    orm__free(c->check_sql);
    orm__free(c->references);
    orm__free(c->field);
    orm__free(c->member);
    orm__free(c->has_member);
    memset(c, 0, sizeof *c);
}

static void table_dispose(orm__cg_table *t)
{
    for (size_t i = 0; i < t->ncols; i++)
        orm__cg_column_dispose(&t->cols[i]);
    orm__free(t->cols);
    orm__free(t->name);
    orm__free(t->struct_name);
    orm__free(t->pk_constraint);
    orm__free(t->cname);
    orm__free(t->ddl);
    orm__cg_index_reset(&t->col_index);
    free_strlist(t->checks, t->nchecks);
    memset(t, 0, sizeof *t);
}

void orm__cg_schema_free(orm__cg_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ntables; i++)
        table_dispose(&s->tables[i]);
    orm__free(s->tables);
    free_strlist(s->files, s->nfiles);
    free_strlist(s->skipped, s->nskipped);
    free_strlist(s->warnings, s->nwarnings);
    for (size_t i = 0; i < s->ntypes; i++) {
        orm__free(s->types[i].name);
        orm__free(s->types[i].value);
    }
    orm__free(s->types);
    orm__cg_index_reset(&s->table_index);
    memset(s, 0, sizeof *s);
}

int orm__cg_strcasecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y || !x)
            return x - y;
    }
}

static const char *table_name_at(const void *arr, size_t i)
{
    return ((const orm__cg_table *)arr)[i].name;
}

static const char *column_name_at(const void *arr, size_t i)
{
    return ((const orm__cg_column *)arr)[i].name;
}

orm__cg_table *orm__cg_table_find(orm__cg_schema *s, const char *name)
{
    long i = orm__cg_index_find(&s->table_index, s->tables, s->ntables, table_name_at, name);
    return i < 0 ? NULL : &s->tables[i];
}

long orm__cg_column_find(const orm__cg_table *t, const char *name)
{
    /* the index is a cache: finding through it does not change the table */
    orm__cg_index *ix = (orm__cg_index *)&t->col_index;
    return orm__cg_index_find(ix, t->cols, t->ncols, column_name_at, name);
}

void orm__cg_table_rename(orm__cg_schema *s, orm__cg_table *t, char *name)
{
    orm__free(t->name);
    t->name = name;
    orm__cg_index_reset(&s->table_index);
}

void orm__cg_column_rename(orm__cg_table *t, size_t i, char *name)
{
    orm__free(t->cols[i].name);
    t->cols[i].name = name;
    orm__cg_index_reset(&t->col_index);
}

int orm__cg_table_add(orm__cg_schema *s, char *name, orm__cg_loc loc, orm__cg_table **out)
{
    if (s->ntables == s->captables) {
        size_t cap = s->captables ? s->captables * 2 : 8;
        orm__cg_table *t = orm__realloc(s->tables, cap * sizeof *t);
        if (!t) {
            orm__free(name);
            return orm__error_nomem("codegen");
        }
        s->tables = t;
        s->captables = cap;
    }
    orm__cg_table *t = &s->tables[s->ntables++];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->loc = loc;
    *out = t;
    return ORM_OK;
}

void orm__cg_table_remove(orm__cg_schema *s, orm__cg_table *t)
{
    size_t i = (size_t)(t - s->tables);
    if (i + 1 == s->ntables)
        orm__cg_index_pop(&s->table_index, s->ntables, t->name);
    else
        orm__cg_index_reset(&s->table_index); /* positions after i move */
    table_dispose(t);
    memmove(&s->tables[i], &s->tables[i + 1], (s->ntables - i - 1) * sizeof *t);
    s->ntables--;
}

int orm__cg_column_add(orm__cg_table *t, char *name, orm__cg_column **out)
{
    if (t->ncols == t->capcols) {
        size_t cap = t->capcols ? t->capcols * 2 : 8;
        orm__cg_column *c = orm__realloc(t->cols, cap * sizeof *c);
        if (!c) {
            orm__free(name);
            return orm__error_nomem("codegen");
        }
        t->cols = c;
        t->capcols = cap;
    }
    orm__cg_column *c = &t->cols[t->ncols++];
    memset(c, 0, sizeof *c);
    c->name = name;
    *out = c;
    return ORM_OK;
}

void orm__cg_column_remove(orm__cg_table *t, size_t i)
{
    if (i + 1 == t->ncols)
        orm__cg_index_pop(&t->col_index, t->ncols, t->cols[i].name);
    else
        orm__cg_index_reset(&t->col_index); /* positions after i move */
    orm__cg_column_dispose(&t->cols[i]);
    memmove(&t->cols[i], &t->cols[i + 1], (t->ncols - i - 1) * sizeof t->cols[0]);
    t->ncols--;
}

void orm__cg_table_drop_pk(orm__cg_table *t)
{
    for (size_t i = 0; i < t->ncols; i++)
        t->cols[i].pk_pos = 0;
    orm__free(t->pk_constraint);
    t->pk_constraint = NULL;
}

int orm__cg_strlist_add(char ***list, size_t *n, char *s)
{
    char **l = orm__realloc(*list, (*n + 1) * sizeof *l);
    if (!l) {
        orm__free(s);
        return orm__error_nomem("codegen");
    }
    l[(*n)++] = s;
    *list = l;
    return ORM_OK;
}

int orm__cg_table_add_check(orm__cg_table *t, char *text)
{
    return orm__cg_strlist_add(&t->checks, &t->nchecks, text);
}

int orm__cg_type_add(orm__cg_schema *s, char *name, char *value)
{
    orm__cg_named *n = orm__realloc(s->types, (s->ntypes + 1) * sizeof *n);
    if (!n) {
        orm__free(name);
        orm__free(value);
        return orm__error_nomem("codegen");
    }
    s->types = n;
    n[s->ntypes].name = name;
    n[s->ntypes].value = value;
    s->ntypes++;
    return ORM_OK;
}

const orm__cg_named *orm__cg_type_find(const orm__cg_schema *s, const char *name)
{
    for (size_t i = s->ntypes; i-- > 0;) /* the latest definition wins */
        if (orm__cg_strcasecmp(s->types[i].name, name) == 0)
            return &s->types[i];
    return NULL;
}

int orm__cg_warn(orm__cg_schema *s, orm__cg_loc loc, const char *fmt, ...)
{
    char msg[768], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "%s:%d:%d: warning: %s", loc.file ? loc.file : "?", loc.line,
             loc.col, msg);
    char *d = orm__strdup(line);
    if (!d)
        return orm__error_nomem("codegen");
    return orm__cg_strlist_add(&s->warnings, &s->nwarnings, d);
}
