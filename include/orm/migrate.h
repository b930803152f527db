/* liborm — versioned schema migrations, from a folder or compiled into the program.
 *
 *     orm_migrator *m;
 *     if (orm_migrator_open_dir(&m, db, "migrations", NULL) != ORM_OK ||
 *         orm_migrate_up(m, NULL, 0, NULL) != ORM_OK)
 *         fprintf(stderr, "%s\n", orm_error_last()->message);
 *     orm_migrator_free(m);
 *
 * Files: NNNN_name.up.sql and NNNN_name.down.sql, the name of letters, digits and '_' (at most
 * 200; any other *.sql name is refused). The version is the integer before the
 * first '_' (gaps allowed, > 0); two files claiming the same version and direction (or an up
 * and a down whose names differ) are ORM_EPARSE naming both files. Another *.sql file in the
 * folder is ORM_EPARSE naming it; other files are ignored. A migration without a down file
 * cannot be reverted (down stops there with ORM_EINVAL). A file whose first line is
 * `-- orm:no-transaction` runs outside a transaction (CREATE INDEX CONCURRENTLY).
 * Only regular files are read (a FIFO or device named like a migration is ORM_EIO, never
 * waited on), each at most ORM_MIGRATION_MAX_BYTES; reading stops at the first error.
 *
 * Compiled in: an array of orm_migration (`ormctl migrate -m DIR embed NAME > file.c` writes
 * one from a folder), so a service can migrate itself at start-up.
 *
 * State: the table orm_schema_migrations(version, name, checksum, applied_at, duration_ms,
 * dirty), created on first use. The checksum is FNV-1a 64 over the up text normalized to LF
 * line ends with trailing spaces and tabs trimmed (and trailing blank lines dropped), so a
 * checkout with CRLF line ends is not drift. A changed checksum stops up/goto with ORM_EINVAL
 * naming the file, until `force` records the file as it is now.
 *
 * Each step (applying or reverting one migration) is one transaction holding the migration
 * lock: pg_advisory_xact_lock on a fixed key (waiting at most lock_timeout_ms, or until the
 * ctx deadline when sooner) on
 * PostgreSQL, BEGIN IMMEDIATE on SQLite (waiting the db's busy timeout). Inside it the state
 * is read again, so processes migrating the same database at once apply each migration
 * exactly once. Every statement goes through the session (middleware kind DDL for the
 * migration's statements, RAW for the state table). A failing statement rolls the step
 * back; the error names the file, the statement's number and line, and keeps the database's
 * message, SQLSTATE and code. A no-transaction migration is recorded dirty first and marked
 * clean when it succeeded: if it fails the database stays dirty at that version, and up,
 * down and goto refuse (ORM_EINVAL) until `force`. On PostgreSQL the process running it
 * holds a second advisory lock (in a transaction on a second connection, so max_open must
 * be >= 2) until the row is clean: another migrator that meets the dirty row while that
 * lock is held waits for it as for the migration lock (lock_timeout_ms or the ctx
 * deadline, then ORM_ETIMEOUT); a dirty row without it is a failure. On SQLite nothing
 * outlives a statement to tell the two apart, so a dirty row is always refused at once.
 *
 * Ownership: a migrator borrows db (and, for open_list, the array and its strings) until
 * orm_migrator_free. Strings the functions return are freed with orm_free_string; status
 * arrays with orm_migration_status_free.
 * Thread safety: a migrator belongs to one thread at a time; the db may be shared.
 * A ctx passed to these functions must not carry an open transaction on the db (ORM_EINVAL):
 * each step needs a transaction of its own.
 */
#ifndef ORM_MIGRATE_H
#define ORM_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "orm/db.h"
#include "orm/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest migration file a folder may hold (bytes); a larger one is ORM_EIO. */
#define ORM_MIGRATION_MAX_BYTES (64 * 1024 * 1024)

/* One migration compiled into the program. down may be NULL (irreversible). */
typedef struct orm_migration {
    int64_t version;
    const char *name;
    const char *up;
    const char *down;
} orm_migration;

typedef struct orm_migrator orm_migrator;

/* Version 2 added allow_out_of_order; a version 1 struct (without it) is still accepted. */
#define ORM_MIGRATE_OPTIONS_VERSION 2u

typedef struct orm_migrate_options {
    unsigned version;     /* ORM_MIGRATE_OPTIONS_VERSION */
    int lock_timeout_ms;  /* PostgreSQL: how long a step waits for the lock; 0: 60000 */
    /* Version 2: up and goto refuse (ORM_EINVAL naming the file and the highest applied
     * version) a pending migration whose version is below the highest applied one (a 0002
     * added after 0003 was applied), because it was written against a schema the database
     * has moved past. Non-zero applies it anyway (`ormctl migrate --allow-out-of-order`). */
    int allow_out_of_order;
} orm_migrate_options;

#define ORM_MIGRATE_OPTIONS_INIT { ORM_MIGRATE_OPTIONS_VERSION, 60000, 0 }

/* Fill opts with the defaults of version (1 or 2: a version 1 struct gets only its fields). */
ORM_API int orm_migrate_options_init(orm_migrate_options *opts, unsigned version);

/* Read every migration of a folder (names, texts, checksums) and bind them to db.
 * ORM_EIO when the folder or a file cannot be read, ORM_EPARSE as above. opts NULL: defaults. */
ORM_API int orm_migrator_open_dir(orm_migrator **out, orm_db *db, const char *dir,
                                  const orm_migrate_options *opts);
/* The same from an array (any order; duplicates ORM_EPARSE). */
ORM_API int orm_migrator_open_list(orm_migrator **out, orm_db *db, const orm_migration *list,
                                   size_t n, const orm_migrate_options *opts);
ORM_API void orm_migrator_free(orm_migrator *m);

/* Apply the pending migrations in version order: all when n is 0, else at most n.
 * applied (may be NULL) gets how many this call applied. */
ORM_API int orm_migrate_up(orm_migrator *m, orm_ctx *ctx, size_t n, size_t *applied);
/* Revert the n (0: 1) most recent migrations; reverted (may be NULL) gets how many. */
ORM_API int orm_migrate_down(orm_migrator *m, orm_ctx *ctx, size_t n, size_t *reverted);
/* Apply or revert until exactly the migrations <= version are applied (0: none).
 * A version with no migration is ORM_EINVAL, except 0. */
ORM_API int orm_migrate_goto(orm_migrator *m, orm_ctx *ctx, int64_t version);
/* The operator's fix: record exactly the migrations <= version as applied, with the
 * checksums of the files as they are now, and clear the dirty marker. Runs no migration. */
ORM_API int orm_migrate_force(orm_migrator *m, orm_ctx *ctx, int64_t version);
/* Adopt a database created before migrations: record the migrations <= version as applied
 * without running them. ORM_EINVAL when any migration is already recorded. */
ORM_API int orm_migrate_baseline(orm_migrator *m, orm_ctx *ctx, int64_t version);
/* The highest applied version (0: none) and whether the database is dirty. Either may be NULL. */
ORM_API int orm_migrate_version(orm_migrator *m, orm_ctx *ctx, int64_t *version, int *dirty);

typedef enum orm_migration_state {
    ORM_MIGRATION_PENDING = 0,  /* known, not applied */
    ORM_MIGRATION_APPLIED,      /* applied, checksum matches */
    ORM_MIGRATION_CHANGED,      /* applied, but the file changed since (drift) */
    ORM_MIGRATION_DIRTY,        /* a no-transaction migration that failed or is running */
    ORM_MIGRATION_MISSING       /* recorded as applied, but no such migration is known */
} orm_migration_state;

typedef struct orm_migration_status {
    int64_t version;
    char *name;
    orm_migration_state state;
    char *applied_at;     /* as the database printed it; NULL when pending */
    int64_t duration_ms;  /* 0 when pending */
} orm_migration_status;

/* Every known or recorded migration in version order. Free with orm_migration_status_free. */
ORM_API int orm_migrate_status(orm_migrator *m, orm_ctx *ctx, orm_migration_status **out,
                               size_t *count);
ORM_API void orm_migration_status_free(orm_migration_status *st, size_t count);
/* "pending", "applied", "changed", "dirty", "missing". */
ORM_API const char *orm_migration_state_name(orm_migration_state state);
/* The status as a table, one line per migration plus a header line and a summary line:
 *     VERSION  NAME            STATE    APPLIED AT            MS
 *     0001     create_users    applied  2024-05-01 10:00:00   3
 *     version 1, 1 pending
 * Freed with orm_free_string. */
ORM_API int orm_migrate_status_text(orm_migrator *m, orm_ctx *ctx, char **out);

/* Create the next numbered pair in dir: (highest version + 1)_name.up.sql and .down.sql,
 * the number zero-padded to 4 digits (or the widest existing). name: letters, digits, '_'.
 * up_path (may be NULL) gets the path of the up file (orm_free_string). Nothing is
 * overwritten (ORM_EIO if a file exists). */
ORM_API int orm_migrate_new(const char *dir, const char *name, char **up_path);

/* C source defining `const orm_migration SYMBOL[]` and `const size_t SYMBOL_count` from the
 * migrations of dir (validated as open_dir does). Freed with orm_free_string. */
ORM_API int orm_migrate_embed(const char *dir, const char *symbol, char **out);

#ifdef __cplusplus
}
#endif
#endif
