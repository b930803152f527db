/* Unit tests: the middleware chain freezing (orm/middleware.c) — orm_db_use on one thread
 * racing the db's first statements on others (the ThreadSanitizer build checks the layers
 * are published safely). Each registration either lands before the freeze (and its
 * middleware then sees every statement that started after the use returned) or is refused
 * with ORM_EINVAL (and its userdata freed). */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "orm/orm.h"
#include "testutil.h"

typedef struct counter {
    atomic_int calls;
    atomic_int freed;
} counter;

static int count_fn(orm_stmt *st, void *userdata)
{
    atomic_fetch_add(&((counter *)userdata)->calls, 1);
    return orm_stmt_next(st);
}

static void count_free(void *userdata) { atomic_fetch_add(&((counter *)userdata)->freed, 1); }

typedef struct worker {
    orm_db *db;
    atomic_int *go;
    int failures;
} worker;

static void *run_statements(void *p)
{
    worker *w = p;
    while (!atomic_load(w->go))
        ;
    for (int i = 0; i < 50; i++)
        if (orm_exec_sql(orm_db_session(w->db), NULL, "SELECT 1") != ORM_OK)
            w->failures++;
    return NULL;
}

START_TEST(use_races_first_statement)
{
    for (int round = 0; round < 20; round++) {
        orm_db *db;
        ck_assert_ok(orm_db_open(&db, "sqlite::memory:", NULL));
        atomic_int go = 0;
        worker w[2] = { { db, &go, 0 }, { db, &go, 0 } };
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            ck_assert_int_eq(pthread_create(&th[i], NULL, run_statements, &w[i]), 0);
        counter cs[4];
        int used[4];
        atomic_store(&go, 1);
        for (int i = 0; i < 4; i++) {
            atomic_init(&cs[i].calls, 0);
            atomic_init(&cs[i].freed, 0);
            orm_middleware mw = ORM_MIDDLEWARE_INIT;
            mw.name = "count";
            mw.fn = count_fn;
            mw.free = count_free;
            mw.userdata = &cs[i];
            int rc = orm_db_use(db, &mw);
            ck_assert(rc == ORM_OK || rc == ORM_EINVAL);
            used[i] = rc == ORM_OK;
            if (!used[i])
                ck_assert_int_eq(atomic_load(&cs[i].freed), 1);
        }
        for (int i = 0; i < 2; i++) {
            ck_assert_int_eq(pthread_join(th[i], NULL), 0);
            ck_assert_int_eq(w[i].failures, 0);
        }
        ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL, "SELECT 2"));
        for (int i = 0; i < 4; i++)
            if (used[i]) /* registered before the freeze: it sees at least the last one */
                ck_assert_int_ge(atomic_load(&cs[i].calls), 1);
        orm_db_close(db);
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(atomic_load(&cs[i].freed), 1);
    }
}
END_TEST

int main(void)
{
    Suite *su = suite_create("mw_race");
    TCase *tc = tcase_create("mw_race");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, use_races_first_statement);
    suite_add_tcase(su, tc);
    return orm_test_run(su);
}
