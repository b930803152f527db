/* ormctl migrate — versioned migrations from the command line: parses the arguments and
 * calls the library (include/orm/migrate.h); no migration logic lives here.
 *
 * Keeps true: exit status 0 on success, 1 when the operation failed (the library's message
 * on stderr), 2 for a usage error; results go to stdout, diagnostics to stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "orm/orm.h"

void ormctl_migrate_usage(void)
{
    printf("usage: ormctl migrate [-d DSN] -m DIR COMMAND [ARG]\n"
           "\n"
           "Applies the NNNN_name.up.sql / NNNN_name.down.sql files of DIR to the database DSN\n"
           "(default $ORM_DSN), recording them in orm_schema_migrations.\n"
           "\n"
           "commands:\n"
           "  up [N]          apply all pending migrations (or the next N)\n"
           "  down [N]        revert the last migration (or the last N)\n"
           "  goto V          apply or revert until exactly the migrations <= V are applied\n"
           "  status          every migration: pending, applied, changed, dirty or missing\n"
           "  version         the highest applied version (and \"dirty\" when it is)\n"
           "  force V         record exactly the migrations <= V as applied, clear dirty\n"
           "  baseline V      adopt an existing database: record the migrations <= V unrun\n"
           "  new NAME        create the next numbered pair NNNN_NAME.{up,down}.sql in DIR\n"
           "  embed SYMBOL    print C source defining `const orm_migration SYMBOL[]` and\n"
           "                  SYMBOL_count from DIR, for orm_migrator_open_list\n"
           "\n"
           "options:\n"
           "  -d, --dsn DSN           sqlite:PATH, postgres://... (default $ORM_DSN)\n"
           "  -m, --dir DIR           the migrations folder (required)\n"
           "  -o, --output FILE       embed: write the C source to FILE instead of stdout\n"
           "  --lock-timeout MS       PostgreSQL: wait at most MS for the migration lock (60000)\n"
           "  --allow-out-of-order    up/goto: apply a pending migration numbered below the\n"
           "                          highest applied one (refused by default)\n"
           "\n"
           "exit status: 0 ok, 1 the operation failed (message on stderr), 2 usage error\n");
}

static int fail(const char *what)
{
    const orm_error *e = orm_error_last();
    fprintf(stderr, "ormctl migrate: %s: %s (%s)\n", what, e->message, orm_strerror(e->code));
    return 1;
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "ormctl migrate: %s%s%s\n(`ormctl help migrate` lists the commands)\n", msg,
            arg ? ": " : "", arg ? arg : "");
    return 2;
}

/* A non-negative integer argument, or -1. */
static long long parse_count(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return (*end || errno || v < 0) ? -1 : v;
}

static int run_db(const char *dsn, const char *dir, const orm_migrate_options *mo,
                  const char *cmd, const char *arg, long long num)
{
    orm_db *db;
    /* Looking never creates: a typo in the DSN must not leave an empty database behind. */
    orm_db_options dbo = ORM_DB_OPTIONS_INIT;
    dbo.create = strcmp(cmd, "status") != 0 && strcmp(cmd, "version") != 0;
    if (orm_db_open(&db, dsn, &dbo) != ORM_OK)
        return fail("cannot open the database");
    orm_migrator *m;
    if (orm_migrator_open_dir(&m, db, dir, mo) != ORM_OK) {
        int st = fail("cannot read the migrations");
        orm_db_close(db);
        return st;
    }
    int rc = ORM_OK;
    size_t done = 0;
    int64_t version = 0;
    int dirty = 0;
    if (strcmp(cmd, "up") == 0) {
        rc = orm_migrate_up(m, NULL, arg ? (size_t)num : 0, &done);
        if (rc == ORM_OK || done)
            printf("applied %zu migration(s)\n", done);
    } else if (strcmp(cmd, "down") == 0) {
        rc = orm_migrate_down(m, NULL, arg ? (size_t)num : 1, &done);
        if (rc == ORM_OK || done)
            printf("reverted %zu migration(s)\n", done);
    } else if (strcmp(cmd, "goto") == 0) {
        rc = orm_migrate_goto(m, NULL, num);
    } else if (strcmp(cmd, "force") == 0) {
        rc = orm_migrate_force(m, NULL, num);
    } else if (strcmp(cmd, "baseline") == 0) {
        rc = orm_migrate_baseline(m, NULL, num);
    } else if (strcmp(cmd, "status") == 0) {
        char *text;
        rc = orm_migrate_status_text(m, NULL, &text);
        if (rc == ORM_OK) {
            fputs(text, stdout);
            orm_free_string(text);
        }
    }
    int st = rc == ORM_OK ? 0 : fail(cmd);
    if (strcmp(cmd, "status") != 0 && orm_migrate_version(m, NULL, &version, &dirty) == ORM_OK)
        printf("version %lld%s\n", (long long)version, dirty ? " (dirty)" : "");
    orm_migrator_free(m);
    orm_db_close(db);
    return st;
}

int ormctl_migrate(int argc, char **argv)
{
    const char *dsn = getenv("ORM_DSN"), *dir = NULL, *cmd = NULL, *arg = NULL, *output = NULL;
    orm_migrate_options mo = ORM_MIGRATE_OPTIONS_INIT;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if ((strcmp(a, "-d") == 0 || strcmp(a, "--dsn") == 0) && has_next) {
            dsn = argv[++i];
        } else if ((strcmp(a, "-m") == 0 || strcmp(a, "--dir") == 0) && has_next) {
            dir = argv[++i];
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && has_next) {
            output = argv[++i];
        } else if (strcmp(a, "--lock-timeout") == 0 && has_next) {
            long long v = parse_count(argv[++i]);
            if (v <= 0 || v > 24LL * 3600 * 1000)
                return usage_error("--lock-timeout wants milliseconds", argv[i]);
            mo.lock_timeout_ms = (int)v;
        } else if (strcmp(a, "--allow-out-of-order") == 0) {
            mo.allow_out_of_order = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            ormctl_migrate_usage();
            return 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option or missing value", a);
        } else if (!cmd) {
            cmd = a;
        } else if (!arg) {
            arg = a;
        } else {
            return usage_error("too many arguments", a);
        }
    }
    if (!cmd)
        return usage_error("name a command", NULL);
    if (!dir)
        return usage_error("-m DIR (the migrations folder) is required", NULL);
    static const char *const takes_num[] = { "up", "down", "goto", "force", "baseline" };
    static const char *const needs_num[] = { "goto", "force", "baseline" };
    int known = strcmp(cmd, "status") == 0 || strcmp(cmd, "version") == 0 ||
                strcmp(cmd, "new") == 0 || strcmp(cmd, "embed") == 0;
    long long num = 0;
    for (size_t i = 0; i < sizeof takes_num / sizeof takes_num[0]; i++)
        if (strcmp(cmd, takes_num[i]) == 0) {
            known = 1;
            if (arg && (num = parse_count(arg)) < 0)
                return usage_error("expected a non-negative number", arg);
        }
    if (!known)
        return usage_error("unknown command", cmd);
    for (size_t i = 0; i < sizeof needs_num / sizeof needs_num[0]; i++)
        if (strcmp(cmd, needs_num[i]) == 0 && !arg)
            return usage_error("this command needs a version", cmd);
    if ((strcmp(cmd, "new") == 0 || strcmp(cmd, "embed") == 0) && !arg)
        return usage_error(strcmp(cmd, "new") == 0 ? "new needs a NAME" : "embed needs a SYMBOL",
                           NULL);
    if ((strcmp(cmd, "status") == 0 || strcmp(cmd, "version") == 0) && arg)
        return usage_error("too many arguments", arg);

    if (strcmp(cmd, "new") == 0) {
        char *up;
        if (orm_migrate_new(dir, arg, &up) != ORM_OK)
            return fail("new");
        printf("created %s and its .down.sql\n", up);
        orm_free_string(up);
        return 0;
    }
    if (strcmp(cmd, "embed") == 0) {
        char *c;
        if (orm_migrate_embed(dir, arg, &c) != ORM_OK)
            return fail("embed");
        FILE *f = output ? fopen(output, "w") : stdout;
        int bad = !f || fputs(c, f) == EOF;
        if (f && f != stdout)
            bad |= fclose(f) != 0;
        orm_free_string(c);
        if (bad) {
            fprintf(stderr, "ormctl migrate: embed: cannot write %s: %s\n", output ? output : "stdout",
                    strerror(errno));
            return 1;
        }
        return 0;
    }
    if (!dsn || !*dsn)
        return usage_error("-d DSN is required (or set $ORM_DSN)", NULL);
    return run_db(dsn, dir, &mo, cmd, arg, num);
}
