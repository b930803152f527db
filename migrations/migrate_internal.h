/* liborm migrations internal — the statement splitter, checksums, and the migration list the
 * runner works on. Shared by the files of migrations/ and the unit tests. */
#ifndef ORM_MIGRATE_INTERNAL_H
#define ORM_MIGRATE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "orm/error_internal.h"
#include "orm/migrate.h"
#include "orm/sbuf.h"
#include "orm/sys/driver.h"

/* One statement of a script: text[off, off + len) without the terminating ';' and without
 * leading whitespace or comments; line is 1-based, the line its first token is on. */
typedef struct orm__mig_stmt {
    size_t off;
    size_t len;
    int line;
} orm__mig_stmt;

/* The lexers of the built-in dialects, by their old names (the tests and the fuzz target). */
enum { ORM__SPLIT_SQLITE = ORM_SQL_LEXER_SQLITE, ORM__SPLIT_POSTGRES = ORM_SQL_LEXER_POSTGRES };

/* Split a script into statements, read as the server of the db's driver reads it (its
 * dialect's lexer, through orm/sql_scan.h). Semicolons inside '...' strings (E'...' on
 * PostgreSQL), "..." identifiers (`...` and [...] on SQLite), -- and block comments (nested
 * on PostgreSQL), dollar-quoted bodies ($$ / $tag$, PostgreSQL) and BEGIN ... END bodies of
 * CREATE statements (triggers) do not end a statement. Empty statements are dropped. *out (orm__free) gets *count
 * entries (NULL when none). ORM_EPARSE naming `file` and the line where an unterminated
 * string, identifier, comment or dollar quote starts. */
int orm__mig_split(const char *text, orm_sql_lexer lexer, const char *file, orm__mig_stmt **out,
                   size_t *count);

/* FNV-1a 64 of the normalized text (see migrate.h) as 16 lowercase hex digits + NUL. */
void orm__mig_checksum(const char *text, char out[17]);

/* Whether the first line of text is `-- orm:no-transaction` (spaces around tolerated). */
int orm__mig_no_tx(const char *text);

/* A migration the migrator knows: everything owned. */
typedef struct orm__mig {
    int64_t version;
    char *name;
    char *up;
    char *down;       /* NULL: irreversible */
    char *up_file;    /* "0001_x.up.sql", or "<compiled 1_x.up>" */
    char *down_file;
    char checksum[17];
} orm__mig;

/* Read and validate the migrations of dir, sorted by version. *out (orm__mig_list_free). */
int orm__mig_read_dir(const char *dir, orm__mig **out, size_t *count);
/* Copy and validate an array, sorted by version. */
int orm__mig_from_list(const orm_migration *list, size_t n, orm__mig **out, size_t *count);
void orm__mig_list_free(orm__mig *list, size_t count);

/* The text of b (never NULL, "" when empty) to the caller, or, after a failure of the
 * buffer, the error (ORM_ENOMEM, or ORM_ERROR "formatting failed") with the last error set. */
int orm__mig_buf_take(orm__sbuf *b, char **out);

#endif
