/* Shared helpers for the Check suites. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orm/orm.h"
#include "record.h"
#include "testutil.h"

int orm_test_run(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

char *orm_test_temp_path(const char *stem)
{
    static unsigned counter;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    size_t n = strlen(tmp) + strlen(stem) + 64;
    char *p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/orm-test-%s-%ld-%u.db", tmp, stem, (long)getpid(), counter++);
    return p;
}

const char *orm_test_dsn_resolve(const char **sqlite_scheme)
{
    static char buf[4096];
    const char *dsn = getenv("ORM_TEST_DSN");
    *sqlite_scheme = NULL;
    int record = dsn && strncmp(dsn, "record+", 7) == 0;
    if (record) {
        dsn += 7;
        const char *inner = strcmp(dsn, "sqlite") == 0 ? "sqlite" : "postgres";
        if (orm_record_register(inner) != ORM_OK) {
            fprintf(stderr, "testutil: cannot register the recording driver for %s: %s\n", inner,
                    orm_error_last()->message);
            abort();
        }
    }
    if (!dsn || !*dsn || strcmp(dsn, "sqlite") == 0) {
        *sqlite_scheme = record ? "record+sqlite:" : "sqlite:";
        return NULL;
    }
    if (strncmp(dsn, "env:", 4) == 0) {
        dsn = getenv(dsn + 4);
        if (!dsn || !*dsn)
            return NULL;
    }
    if (!record)
        return dsn;
    snprintf(buf, sizeof buf, "record+%s", dsn);
    return buf;
}

const char *orm_test_backend_dsn(char **path, const char *stem, const char *options)
{
    static char buf[4096];
    const char *scheme;
    const char *dsn = orm_test_dsn_resolve(&scheme);
    if (scheme) {
        if (!*path)
            *path = orm_test_temp_path(stem);
        snprintf(buf, sizeof buf, "%s%s%s%s", scheme, *path, options ? "?" : "", options ? options : "");
        return buf;
    }
    return dsn;
}

void orm_test_remove_db(char **path)
{
    if (!*path)
        return;
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", *path, suffixes[i]);
        unlink(p);
    }
    free(*path);
    *path = NULL;
}
