/* The integration fixture: which backend runs (ORM_TEST_DSN), a fresh database per test, the
 * seed data and small helpers every area shares.
 *
 * What it keeps true: each test starts with every table of models.h empty and every model
 * registered, and leaves nothing behind (the temporary SQLite file and its journals are
 * removed in teardown). The configuration is resolved once in main, before Check forks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "it.h"
#include "schema.h"

orm_db *it_db;
orm_session *it_s;
int64_t it_uid[IT_NUSERS];

static bool cfg_temp_sqlite = true; /* a fresh temporary file per test */
static const char *cfg_dsn;         /* the DSN used as is otherwise */
static const char *cfg_scheme;      /* the temporary file's DSN scheme ("sqlite:") */
static char *tmp_path;              /* the current test's SQLite file */

static int open_server(orm_db **out, const char *dsn, const char *what)
{
    int rc = orm_db_open(out, dsn, NULL);
    if (rc != ORM_OK) {
        fprintf(stderr, "integration: cannot open %s: %s (%s)\n", what, orm_strerror(rc),
                orm_error_last()->message);
        return -1;
    }
    return 0;
}

int it_config_init(void)
{
    const char *dsn = getenv("ORM_TEST_DSN");
    const char *kind = "ORM_TEST_DSN";
    cfg_dsn = orm_test_dsn_resolve(&cfg_scheme);
    if (cfg_scheme) {
        printf("integration: backend=%.*s dsn=temporary file per test\n", (int)strlen(cfg_scheme) - 1, cfg_scheme);
        fflush(stdout);
        return 0;
    }
    cfg_temp_sqlite = false;
    if (!cfg_dsn) {
        fprintf(stderr, "integration: ORM_TEST_DSN=%s but the variable it names is unset or empty: "
                        "the run cannot go on without its backend\n", dsn);
        return -1;
    }
    /* Reach the server once here, so an unreachable one fails the run with one clear line
     * instead of every test. */
    orm_db *db;
    if (open_server(&db, cfg_dsn, kind) != 0)
        return -1;
    printf("integration: backend=%s dsn=from $%s\n", orm_db_backend(db), kind);
    fflush(stdout);
    orm_db_close(db);
    return 0;
}

static void remove_db_files(const char *path)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s%s", path, suffixes[i]);
        unlink(buf);
    }
}

static char dsn_buf[4096];
static const char *cur_dsn;

const char *it_dsn(void)
{
    return cur_dsn;
}

static void it_setup(void)
{
    const char *dsn = cfg_dsn;
    if (cfg_temp_sqlite) {
        tmp_path = orm_test_temp_path("integration");
        remove_db_files(tmp_path);
        snprintf(dsn_buf, sizeof dsn_buf, "%s%s", cfg_scheme, tmp_path);
        dsn = dsn_buf;
    }
    it_db = NULL;
    cur_dsn = dsn;
    ck_assert_ok(orm_db_open(&it_db, dsn, NULL));
    it_s = orm_db_session(it_db);
    ck_assert_ptr_nonnull(it_s);
    ck_assert_ok(it_models_register(it_db));
    ck_assert_ok(it_schema_create(it_s));
    orm_error_clear();
}

static void it_teardown(void)
{
    orm_db_close(it_db);
    it_db = NULL;
    it_s = NULL;
    if (tmp_path) {
        remove_db_files(tmp_path);
        free(tmp_path);
        tmp_path = NULL;
    }
}

TCase *it_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, it_setup, it_teardown);
    tcase_set_timeout(tc, 60);
    return tc;
}

const char *it_backend(void)
{
    return orm_dialect_name(orm_db_dialect(it_db)); /* which SQL: the same through a plug-in */
}

bool it_is_postgres(void)
{
    return strcmp(it_backend(), "postgres") == 0;
}

int64_t it_count(const orm_model *model, orm_expr *where)
{
    orm_select *q = orm_select_new(it_s, model);
    ck_assert_ptr_nonnull(q);
    if (where)
        orm_select_where(q, where);
    int64_t n = -1;
    ck_assert_ok(orm_select_count(q, NULL, &n));
    orm_select_free(q);
    return n;
}

bool it_msg_has(const char *needle)
{
    const char *m = orm_error_last()->message;
    return m && strstr(m, needle) != NULL;
}

it_user it_user_make(const char *name, const char *email, int age, bool has_age, double score,
                     bool active)
{
    it_user u;
    memset(&u, 0, sizeof u);
    u.name = (char *)name;
    u.email = (char *)email;
    u.age = age;
    u.has_age = has_age;
    u.score = score;
    u.active = active;
    return u;
}

void it_user_load(int64_t id, it_user *out)
{
    orm_value key = orm_int(id);
    memset(out, 0, sizeof *out);
    ck_assert_ok(orm_get(it_s, NULL, &it_user_model, out, &key));
}

void it_seed(void)
{
    it_user users[IT_NUSERS] = {
        it_user_make("ada", "ada@example.com", 36, true, 90.5, true),
        it_user_make("bob", NULL, 25, true, 70.0, false),
        it_user_make("cy", "cy@example.com", 0, false, 80.0, true),
        it_user_make("dee", "dee@example.com", 41, true, 55.5, true),
        it_user_make("eve", NULL, 25, true, 99.0, false),
    };
    for (size_t i = 0; i < IT_NUSERS; i++) {
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &users[i]));
        ck_assert_int_gt(users[i].id, 0);
        it_uid[i] = users[i].id;
    }
    it_post posts[] = {
        { 0, it_uid[IT_ADA], (char *)"hello", 10 },
        { 0, it_uid[IT_ADA], (char *)"again", 20 },
        { 0, it_uid[IT_BOB], (char *)"bob's", 5 },
        { 0, it_uid[IT_DEE], (char *)"big", 100 },
    };
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++)
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_post_model, &posts[i]));
    it_membership ms[] = {
        { 1, it_uid[IT_ADA], (char *)"owner" },
        { 1, it_uid[IT_BOB], (char *)"member" },
        { 2, it_uid[IT_ADA], (char *)"member" },
    };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_membership_model, &ms[i]));
}
