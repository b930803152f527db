/* liborm codegen internal — the tables a schema (or a replay of migrations) describes.
 *
 * The parser mutates this model statement by statement (create, alter, rename, drop);
 * resolve.c then decides each column's C member, orm field type and flags; emit.c writes C.
 * Names are stored decoded (quotes removed, unquoted names folded to lower case).
 *
 * Ownership: every string and array is owned by the schema and freed by orm__cg_schema_free.
 */
#ifndef ORM_CODEGEN_SCHEMA_H
#define ORM_CODEGEN_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codegen/names.h"
#include "orm/error_internal.h"
#include "orm/model.h"

typedef struct orm__cg_loc {
    const char *file; /* owned by the schema's file list */
    int line, col;
} orm__cg_loc;

typedef struct orm__cg_column {
    char *name;         /* the SQL column */
    char *sqltype;      /* normalized type ("VARCHAR(20)", "TIMESTAMP WITH TIME ZONE"), "" if none */
    char *default_sql;  /* DEFAULT expression text, or NULL */
    char *check_sql;    /* CHECK expression text (column constraint), or NULL */
    char *references;   /* "table(col)" or "table", or NULL */
    bool not_null;
    bool unique;
    bool autoincrement; /* AUTOINCREMENT / SERIAL / IDENTITY / nextval() default */
    bool generated;     /* GENERATED ALWAYS AS (expr) / AS (expr): computed by the database */
    int pk_pos;         /* 0: not in the key; else 1-based position in the primary key */
    orm__cg_loc loc;    /* where the column was defined (for warnings) */
    /* annotations */
    bool skip;
    char *field;        /* @orm:field=name, or NULL */
    int type_override;  /* @orm:type=..., an orm_field_type, or 0 */
    size_t capacity;    /* @orm:type=char[N]: N (type_override is ORM_FIELD_FIXED_TEXT), else 0 */
    /* filled by resolve */
    char *member;       /* the C member name */
    orm_field_type type;
    unsigned flags;
    bool nullable_scalar; /* gets bool has_<member> */
    char *has_member;     /* "has_<member>" (possibly suffixed against clashes), or NULL */
} orm__cg_column;

typedef struct orm__cg_table {
    char *name;
    char *struct_name;   /* @orm:struct=Name, or NULL */
    char *pk_constraint; /* name given to the primary key constraint, or NULL */
    char **checks;       /* table CHECK constraints and multi-column UNIQUE, as text */
    size_t nchecks;
    orm__cg_column *cols;
    size_t ncols, capcols;
    orm__cg_loc loc;
    orm__cg_index col_index; /* columns by name (orm__cg_column_find) */
    /* filled by resolve */
    char *cname;         /* the C struct name */
    size_t nfields;      /* columns not skipped */
    uint64_t fingerprint;
    char *ddl;           /* normalized DDL */
} orm__cg_table;

typedef struct orm__cg_named {
    char *name;
    char *value; /* the base type of a domain; NULL for an enum type */
} orm__cg_named;

typedef struct orm__cg_schema {
    orm__cg_table *tables; /* in creation order */
    size_t ntables, captables;
    char **files;          /* every input file, in the order read (display names) */
    size_t nfiles;
    char **skipped;        /* tables seen but not modelled (CREATE TABLE AS, PARTITION OF) */
    size_t nskipped;
    orm__cg_named *types;  /* CREATE TYPE ... AS ENUM and CREATE DOMAIN names */
    size_t ntypes;
    char **warnings;       /* "file:line:col: message", in order */
    size_t nwarnings;
    bool strict;           /* a type the mapping table lacks is an error, not a warning */
    int dialect;           /* ORM_CG_DIALECT_*: whose integer widths the types have */
    orm__cg_index table_index; /* tables by name (orm__cg_table_find) */
} orm__cg_schema;

/* The database a schema is for. SQLite stores every INTEGER-affinity column in 64 bits, so
 * there INT/INTEGER/MEDIUMINT are int64_t; PostgreSQL's integer is 32 bits. AUTO: PostgreSQL
 * when the schema uses something only PostgreSQL has (CREATE TYPE/DOMAIN, an array, serial,
 * bytea, jsonb, timestamptz, "with time zone", uuid, ...), else SQLite. */
enum { ORM_CG_DIALECT_AUTO = 0, ORM_CG_DIALECT_SQLITE = 1, ORM_CG_DIALECT_POSTGRES = 2 };

void orm__cg_schema_init(orm__cg_schema *s);
void orm__cg_schema_free(orm__cg_schema *s);

/* Lookups: exact name first, then a unique ASCII case-insensitive match (SQLite compares
 * names without case). NULL / -1 when absent. O(1): through the name indexes. */
orm__cg_table *orm__cg_table_find(orm__cg_schema *s, const char *name);
long orm__cg_column_find(const orm__cg_table *t, const char *name);

/* Appends a table named name (taken: owned by the schema now, also on failure). */
int orm__cg_table_add(orm__cg_schema *s, char *name, orm__cg_loc loc, orm__cg_table **out);
void orm__cg_table_remove(orm__cg_schema *s, orm__cg_table *t);
/* Appends a zeroed column named name (taken). */
int orm__cg_column_add(orm__cg_table *t, char *name, orm__cg_column **out);
void orm__cg_column_remove(orm__cg_table *t, size_t i);
void orm__cg_column_dispose(orm__cg_column *c);
/* Rename (name taken): keeps the name indexes true. */
void orm__cg_table_rename(orm__cg_schema *s, orm__cg_table *t, char *name);
void orm__cg_column_rename(orm__cg_table *t, size_t i, char *name);
/* Clears the primary key (pk_pos of every column, the constraint name). */
void orm__cg_table_drop_pk(orm__cg_table *t);
int orm__cg_table_add_check(orm__cg_table *t, char *text);

/* Appends to a string list (s taken). */
int orm__cg_strlist_add(char ***list, size_t *n, char *s);
int orm__cg_type_add(orm__cg_schema *s, char *name, char *value);
const orm__cg_named *orm__cg_type_find(const orm__cg_schema *s, const char *name);
/* Records "file:line:col: warning: ..." (formatted). */
int orm__cg_warn(orm__cg_schema *s, orm__cg_loc loc, const char *fmt, ...) ORM__PRINTF(3, 4);

/* ASCII case-insensitive compare. */
int orm__cg_strcasecmp(const char *a, const char *b);

#endif
