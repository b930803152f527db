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
