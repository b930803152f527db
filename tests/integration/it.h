/* The integration suite's fixture and shared helpers.
 *
 * Every test runs against the backend named by the environment variable ORM_TEST_DSN:
 *   "sqlite" (or unset)  each test opens a fresh temporary SQLite file, removed in teardown;
 *   "env:VAR"            the DSN is read from $VAR; unset or unreachable fails the whole run;
 *   anything else        a DSN used as is.
 * For a DSN used as is, each test's setup drops and recreates every table (schema.c), so tests
 * are independent there too. */
#ifndef ORM_IT_H
#define ORM_IT_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include "models.h"
#include "orm/orm.h"
#include "testutil.h"

/* The open db and its autocommit session, valid between setup and teardown. */
extern orm_db *it_db;
extern orm_session *it_s;

/* Resolve ORM_TEST_DSN, check a server is reachable, print the backend.
 * 0, or -1 after printing why the run cannot go on. */
int it_config_init(void);

/* A test case with the fixture (fresh db, models registered, tables created) attached. */
TCase *it_tcase(const char *name);

/* The DSN the current test's db was opened with (to open a second db on the same data). */
const char *it_dsn(void);

/* "sqlite" or "postgres": the backend of the open db. */
const char *it_backend(void);
bool it_is_postgres(void);

/* Rows in the model's table, optionally matching where (stolen; NULL: all). Asserts ORM_OK. */
int64_t it_count(const orm_model *model, orm_expr *where);

/* Whether the last error's message contains needle. */
bool it_msg_has(const char *needle);

/* The seed data of the select, join and aggregate tests:
 *   users        ada (ada@example.com, 36, 90.5, active), bob (NULL, 25, 70.0, inactive),
 *                cy (cy@example.com, NULL, 80.0, active), dee (dee@example.com, 41, 55.5,
 *                active), eve (NULL, 25, 99.0, inactive); created_at and avatar NULL.
 *   posts        ada "hello" 10, ada "again" 20, bob "bob's" 5, dee "big" 100.
 *   memberships  (1, ada, owner), (1, bob, member), (2, ada, member).
 * it_uid[0..4] hold the ids of ada..eve. */
enum { IT_ADA, IT_BOB, IT_CY, IT_DEE, IT_EVE, IT_NUSERS };
extern int64_t it_uid[IT_NUSERS];
void it_seed(void);

/* A user struct borrowing name/email (never orm_model_clear it). */
it_user it_user_make(const char *name, const char *email, int age, bool has_age, double score,
                     bool active);

/* Load the user with this id (asserts ORM_OK). The caller orm_model_clear's it. */
void it_user_load(int64_t id, it_user *out);

/* The suites, one per area. */
Suite *it_crud_suite(void);
Suite *it_select_suite(void);
Suite *it_join_suite(void);
Suite *it_null_suite(void);
Suite *it_keys_suite(void);
Suite *it_injection_suite(void);
Suite *it_tx_suite(void);
Suite *it_tx_ctx_suite(void);
Suite *it_schema_suite(void);
Suite *it_atomic_suite(void);
Suite *it_portable_suite(void);

#endif
