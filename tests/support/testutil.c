/* Shared helpers for the Check suites. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orm/orm.h"
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

const char *orm_test_backend_dsn(char **path, const char *stem, const char *options)
{
    static char buf[4096];
    const char *dsn = getenv("ORM_TEST_DSN");
    if (!dsn || !*dsn || strcmp(dsn, "sqlite") == 0) {
        if (!*path)
            *path = orm_test_temp_path(stem);
        snprintf(buf, sizeof buf, "sqlite:%s%s%s", *path, options ? "?" : "", options ? options : "");
        return buf;
    }
    if (strncmp(dsn, "env:", 4) == 0)
        return getenv(dsn + 4);
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
