#define _POSIX_C_SOURCE 200809L
/* test_readme: README.md's C examples, as the README prints them (tests/readme/readme.cmake
 * extracts block_N.c in order), compiled together and run against one backend:
 *   test_readme sqlite     a temporary SQLite file
 *   test_readme postgres   the server in $ORM_TEST_PG_DSN (scripts/with-postgres.sh)
 * Each example runs, and what it did is checked with liborm afterwards. Exit status 0 only
 * when every check held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "orm/orm.h"
#include "models.h" /* generated from the README's migrations */

/* The README's "app_migrations": its SQLite or PostgreSQL folder, embedded. */
extern const orm_migration sqlite_migrations[], postgres_migrations[];
extern const size_t sqlite_migrations_count, postgres_migrations_count;
static const orm_migration *app_migrations;
static size_t app_migrations_count;

/* 1: "A short tour", a whole program (its main renamed). */
#define main readme_tour_main
int readme_tour_main(int argc, char **argv);
#include "block_1.c"
#undef main
/* 2: transactions (transfer, pay); 3: middleware (observe); 4: raw SQL (raw). */
#include "block_2.c"
#include "block_3.c"
#include "block_4.c"

/* 5: schema -> generate -> use (a fragment: a function body given dsn). */
static int books_example(const char *dsn)
{
#include "block_5.c"
    return rc;
}

/* 6: a service migrating itself (a fragment given db). */
static void migrate_example(orm_db *db)
{
#include "block_6.c"
}

/* 7: the cache (a fragment given a loader and a user u). */
static int loads;
static int load_user(const char *key, orm_cache_ref **out, int64_t *ttl_ms, void *userdata)
{
    (void)ttl_ms;
    (void)userdata;
    loads++;
    user v = { .id = 42, .age = 36, .has_age = true };
    if (strcmp(key, "users:42") != 0)
        return ORM_ENOTFOUND;
    return orm_cache_ref_new_bytes(out, &v, sizeof v);
}

static user cache_example(void)
{
    user u = { 0 };
#include "block_7.c"
    return u;
}

#ifdef ORM_WITH_REDIS
#include "orm/cache_redis.h"
/* 8: sharing a cache between processes (a fragment given a Redis URL, a db and the loader). */
static user shared_cache_example(const char *url, orm_db *db)
{
#include "block_8.c"
    return u;
}

/* 9: sharing a row cache between processes (a fragment given a Redis URL, a key prefix and a
 * db that has run no statement yet). */
static orm_row_cache *shared_row_cache_example(const char *url, const char *prefix, orm_db *db)
{
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    mo.ttl_ms = 60000;
#include "block_9.c"
    return rc;
}
#endif

/* 10: the row cache (a fragment given a db that has run no statement yet, a session, keys and
 * a metrics object). Returns the cache's hits on users after the fragment's two reads. */
static uint64_t row_cache_example(orm_db *db, orm_metrics *metrics)
{
    orm_session *s = orm_db_session(db);
    orm_ctx *ctx = NULL;
    user u = { 0 };
    orm_value key = orm_int(1);
    orm_value keys[3] = { orm_int(1), orm_int(2), orm_int(3) };
    user out[3] = { { 0 } };
    bool found[3];
    size_t n = 3;
#include "block_10.c"
    uint64_t hits = 0;
    orm_row_cache_stats st;
    if (orm_row_cache_stats_get(rc, &user_model, &st) == ORM_OK)
        hits = st.hits;
    if (!(found[0] && found[1] && !found[2] && strcmp(out[1].name, "bob") == 0 && u.id == 1))
        hits = 0;
    orm_model_clear(&user_model, &u);
    for (size_t i = 0; i < n; i++)
        orm_model_clear(&user_model, &out[i]);
    return hits;
}

/* 11: typed results (a view model and report(s), over the generated books model). */
#include "block_11.c"

static int failures;
#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "test_readme: %s:%d: check failed: %s (last error: %s)\n",    \
                    __FILE__, __LINE__, #cond, orm_error_last()->message);                \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static int is_pg;

static void drop_tables(const char *dsn)
{
    orm_db *db;
    if (orm_db_open(&db, dsn, NULL) != ORM_OK) {
        fprintf(stderr, "test_readme: cannot open %s: %s\n", dsn, orm_error_last()->message);
        exit(1);
    }
    orm_exec_sql(orm_db_session(db), NULL,
                 is_pg ? "DROP TABLE IF EXISTS users, books, orm_schema_migrations CASCADE"
                       : "DROP TABLE IF EXISTS users; DROP TABLE IF EXISTS books;"
                         "DROP TABLE IF EXISTS orm_schema_migrations");
    orm_db_close(db);
}

static double score_of(orm_session *s, int64_t id)
{
    orm_rows *r;
    orm_value k = orm_int(id);
    double v = -1;
    if (orm_raw_rows(s, NULL, "SELECT score FROM users WHERE id = ?", &k, 1, &r) == ORM_OK) {
        if (orm_rows_next(r) == 1)
            v = orm_rows_double(r, 0);
        orm_rows_free(r);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "sqlite") != 0 && strcmp(argv[1], "postgres") != 0)) {
        fprintf(stderr, "usage: test_readme sqlite|postgres\n");
        return 2;
    }
    char dsn[1024];
    char path[512] = "";
    is_pg = strcmp(argv[1], "postgres") == 0;
    app_migrations = is_pg ? postgres_migrations : sqlite_migrations;
    app_migrations_count = is_pg ? postgres_migrations_count : sqlite_migrations_count;
    if (is_pg) {
        const char *env = getenv("ORM_TEST_PG_DSN");
        if (!env || !*env) {
            fprintf(stderr, "test_readme: ORM_TEST_PG_DSN is unset (run under scripts/with-postgres.sh)\n");
            return 1;
        }
        snprintf(dsn, sizeof dsn, "%s", env);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/orm_readme_%ld.db", tmp && *tmp ? tmp : "/tmp", (long)getpid());
        snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    }

    /* 1: the tour inserts ada, finds her, updates and deletes her in a transaction. */
    drop_tables(dsn);
    char *targv[] = { "tour", dsn, NULL };
    CHECK(readme_tour_main(2, targv) == 0);
    orm_db *db;
    CHECK(orm_db_open(&db, dsn, NULL) == ORM_OK);
    orm_db_register(db, &user_model);
    orm_session *s = orm_db_session(db);
    orm_select *q = orm_select_new(s, &user_model);
    int64_t n = -1;
    CHECK(orm_select_count(q, NULL, &n) == ORM_OK && n == 0); /* deleted by the tour */
    orm_select_free(q);

    /* 2: orm_do_tx moves 10.0 from user 1 to user 2 with the README's raw "?" SQL. */
    CHECK(orm_exec_sql(s, NULL, "DROP TABLE users") == ORM_OK);
    CHECK(orm_exec_sql(s, NULL, is_pg ? "CREATE TABLE users (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,"
                                        " age INTEGER, score DOUBLE PRECISION NOT NULL DEFAULT 0)"
                                      : "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                                        " age INTEGER, score REAL NOT NULL DEFAULT 0)") == ORM_OK);
    CHECK(orm_exec_sql(s, NULL, "INSERT INTO users (id, name, age, score) VALUES "
                                "(1, 'ada', 36, 50), (2, 'bob', 25, 5)") == ORM_OK);
    CHECK(pay(db) == ORM_OK);
    CHECK(score_of(s, 1) == 40.0 && score_of(s, 2) == 15.0);

    /* 4: raw SQL into structs and through a cursor. */
    raw(s);
    orm_db_close(db);

    /* 9: the row cache on a fresh db over the same two users: the get of user 1 loads it, the
     * get_many finds user 1 in the cache (one hit) and user 2 in the database, 3 nowhere. */
    orm_metrics *metrics = NULL;
    CHECK(orm_metrics_new(&metrics) == ORM_OK);
    CHECK(orm_db_open(&db, dsn, NULL) == ORM_OK);
    CHECK(orm_db_register(db, &user_model) == ORM_OK);
    CHECK(row_cache_example(db, metrics) == 1);
    orm_db_close(db);

#ifdef ORM_WITH_REDIS
    /* 9: two dbs ("processes") with row caches over one Redis prefix: a's load of user 1 is
     * b's hit, and a's update is b's next read. */
    {
        const char *url = getenv("ORM_TEST_REDIS_URL");
        char prefix[64];
        snprintf(prefix, sizeof prefix, "readme:%ld:%s:", (long)getpid(), argv[1]);
        orm_db *a = NULL, *b = NULL;
        orm_row_cache *rca = NULL, *rcb = NULL;
        CHECK(url && *url);
        CHECK(orm_db_open(&a, dsn, NULL) == ORM_OK && orm_db_open(&b, dsn, NULL) == ORM_OK);
        if (url && *url && a && b) {
            rca = shared_row_cache_example(url, prefix, a);
            rcb = shared_row_cache_example(url, prefix, b);
            CHECK(rca && rcb && orm_db_register(a, &user_model) == ORM_OK &&
                  orm_db_register(b, &user_model) == ORM_OK);
            user ua = { 0 }, ub = { 0 };
            orm_value k = orm_int(1);
            orm_row_cache_stats st;
            CHECK(orm_get(orm_db_session(a), NULL, &user_model, &ua, &k) == ORM_OK && ua.age == 36);
            CHECK(orm_get(orm_db_session(b), NULL, &user_model, &ub, &k) == ORM_OK && ub.age == 36);
            CHECK(orm_row_cache_stats_get(rcb, &user_model, &st) == ORM_OK && st.loads == 0 && st.hits == 1);
            ua.age = 37;
            CHECK(orm_update_one(orm_db_session(a), NULL, &user_model, &ua) == ORM_OK);
            int seen = 0;
            for (int i = 0; i < 200 && !seen; i++) { /* two levels: once the invalidation came */
                orm_model_clear(&user_model, &ub);
                CHECK(orm_get(orm_db_session(b), NULL, &user_model, &ub, &k) == ORM_OK);
                seen = ub.age == 37;
                struct timespec w = { 0, 5000000 };
                if (!seen)
                    nanosleep(&w, NULL);
            }
            CHECK(seen);
            orm_model_clear(&user_model, &ua);
            orm_model_clear(&user_model, &ub);
        }
        orm_db_close(a);
        orm_db_close(b);
    }
#endif
    orm_metrics_free(metrics);

    /* 3: the middleware example closes its db. */
    CHECK(orm_db_open(&db, dsn, NULL) == ORM_OK);
    CHECK(observe(db) == 0);

    /* 5 and 6: migrate from the embedded README migrations, insert a generated struct. */
    CHECK(books_example(dsn) == ORM_OK);
    CHECK(orm_db_open(&db, dsn, NULL) == ORM_OK);
    migrate_example(db); /* nothing pending: a no-op */
    CHECK(models_register_all(db) == ORM_OK);
    q = orm_select_new(orm_db_session(db), &books_model);
    CHECK(orm_select_count(q, NULL, &n) == ORM_OK && n == 1);
    orm_select_free(q);
    report(orm_db_session(db)); /* prints "Hipp: 1" */
    orm_db_close(db);

    /* 7: the cache loads user 42 once. */
    user u = cache_example();
    CHECK(loads == 1 && u.id == 42 && u.age == 36);

#ifdef ORM_WITH_REDIS
    /* 8: two levels over the throwaway Redis (scripts/with-redis.sh): user 42 from the loader
     * (or from Redis, where the other backend's run left it), then stored as a row. */
    const char *rurl = getenv("ORM_TEST_REDIS_URL");
    CHECK(rurl && *rurl);
    if (rurl && *rurl) {
        u = shared_cache_example(rurl, NULL);
        CHECK(u.id == 42 && u.age == 36);
        orm_model_clear(&user_model, &u);
    }
#endif

    drop_tables(dsn);
    if (path[0]) {
        char side[600];
        remove(path);
        snprintf(side, sizeof side, "%s-wal", path);
        remove(side);
        snprintf(side, sizeof side, "%s-shm", path);
        remove(side);
    }
    if (failures)
        fprintf(stderr, "test_readme (%s): %d checks failed\n", argv[1], failures);
    else
        printf("test_readme (%s): every README example ran\n", argv[1]);
    return failures ? 1 : 0;
}
