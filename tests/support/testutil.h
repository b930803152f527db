/* Shared helpers for the Check suites. */
#ifndef ORM_TESTUTIL_H
#define ORM_TESTUTIL_H

#include <check.h>

/* Run one suite (CK_FORK as the environment says) and return the process exit code. */
int orm_test_run(Suite *suite);

/* A fresh path under the temp folder for a database file (caller frees). */
char *orm_test_temp_path(const char *stem);

/* The DSN of the backend ORM_TEST_DSN names, for suites that open their own dbs: "sqlite" (or
 * unset) is a SQLite file at *path (made with orm_test_temp_path(stem) on first use; options,
 * when not NULL, appended as "?options"), "env:VAR" is $VAR, anything else is used as is.
 * The string is static: valid until the next call. */
const char *orm_test_backend_dsn(char **path, const char *stem, const char *options);

/* ORM_TEST_DSN, read the same way by every suite:
 *   "sqlite" (or unset) / "record+sqlite": a temporary SQLite file per test; returns NULL and
 *     *sqlite_scheme is "sqlite:" / "record+sqlite:" (the DSN is scheme + path);
 *   "env:VAR" / "record+env:VAR": the DSN in $VAR (NULL when unset or empty), after
 *     "record+" for the latter;
 *   anything else: that DSN.
 * A "record+" spec registers the recording driver (driver_record/record.h) first: the suite
 * then runs through it by changing only its DSN. */
const char *orm_test_dsn_resolve(const char **sqlite_scheme);

/* Remove the SQLite file *path and its journals, free *path and set it NULL. NULL-safe. */
void orm_test_remove_db(char **path);

/* Assert that rc is expected, printing orm_error_last() when it is not. */
#define ck_assert_orm(rc, expected)                                                      \
    do {                                                                                 \
        int ck_rc_ = (rc), ck_exp_ = (expected);                                          \
        ck_assert_msg(ck_rc_ == ck_exp_, "%s returned %d (%s), expected %d: %s", #rc,    \
                      ck_rc_, orm_strerror(ck_rc_), ck_exp_, orm_error_last()->message); \
    } while (0)
#define ck_assert_ok(rc) ck_assert_orm((rc), ORM_OK)

#endif
