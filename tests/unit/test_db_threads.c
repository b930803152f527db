/* Threads on one db: the connection lease (statements, cursors and transactions from several
 * threads), and registry lookups racing registrations. Meant for TSan (label "tsan"); also
 * runs under ASan. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "orm/orm.h"
#include "orm/session_internal.h"
#include "testutil.h"

#define NTHREADS 4
#define ITERS 150
#define NMODELS 64

static orm_db *db;

typedef struct rec { int64_t id; } rec;
static const orm_field rec_fields[] = { ORM_FIELD(rec, id, ORM_FIELD_INT64, ORM_FIELD_PK) };
static const size_t rec_pk[] = { 0 };
static orm_model models[NMODELS];
static char tables[NMODELS][12];

static void *worker(void *arg)
{
    const int id = (int)(intptr_t)arg;
    orm_session *s = orm_db_session(db);
    for (int i = 0; i < ITERS; i++) {
        orm_value v = orm_int(id * 100000 + i);
        orm_query ins = { ORM_QUERY_INSERT, NULL, "INSERT INTO x(v) VALUES(?)", 26, 0, &v, 1, NULL };
        if (orm__session_exec(s, NULL, &ins, NULL) != ORM_OK)
            return (void *)"insert";
        orm_query sel = { ORM_QUERY_SELECT, NULL, "SELECT count(*) FROM x WHERE v >= ?", 35, 0, &v, 1, NULL };
        orm_rows *r;
        if (orm__session_query(s, NULL, &sel, &r) != ORM_OK)
            return (void *)"query";
        int ok = orm_rows_next(r) == 1 && orm_rows_int(r, 0) >= 1;
        orm_rows_free(r);
        if (!ok)
            return (void *)"rows";
        if (i % 10 == 0) {
            orm_tx *tx;
            if (orm_tx_begin(&tx, db, NULL, NULL) != ORM_OK)
                return (void *)"begin";
            int rc = orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x(v) VALUES(-1)");
            rc = rc ? rc : (i % 20 == 0 ? orm_tx_commit(tx) : orm_tx_rollback(tx));
            orm_tx_free(tx);
            if (rc != ORM_OK)
                return (void *)"tx";
        }
        /* Lookups of models another thread may be registering right now. */
        for (int k = 0; k < NMODELS; k++) {
            orm_model_entry *e = orm__db_model_entry(db, &models[k]);
            if (e && e->model != &models[k])
                return (void *)"registry";
        }
    }
    return NULL;
}

static void *registrar(void *arg)
{
    (void)arg;
    for (int k = 0; k < NMODELS; k++)
        if (orm_db_register(db, &models[k]) != ORM_OK)
            return (void *)"register";
    return NULL;
}

START_TEST(shared_db)
{
    orm_db_options o = ORM_DB_OPTIONS_INIT;
    o.busy_timeout_ms = 30000;
    ck_assert_ok(orm_db_open(&db, "sqlite::memory:", &o));
    ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL, "CREATE TABLE x(v INT)"));
    for (int k = 0; k < NMODELS; k++) {
        const orm_model m = ORM_MODEL(rec, "r", rec_fields, rec_pk);
        models[k] = m;
        snprintf(tables[k], sizeof tables[k], "r%d", k);
        models[k].table = tables[k];
    }
    pthread_t t[NTHREADS + 2];
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i), 0);
    ck_assert_int_eq(pthread_create(&t[NTHREADS], NULL, registrar, NULL), 0);
    ck_assert_int_eq(pthread_create(&t[NTHREADS + 1], NULL, registrar, NULL), 0);
    for (int i = 0; i < NTHREADS + 2; i++) {
        void *res;
        pthread_join(t[i], &res);
        ck_assert_msg(res == NULL, "thread %d failed at %s: %s", i, (const char *)res,
                      orm_error_last()->message);
    }
    for (int k = 0; k < NMODELS; k++)
        ck_assert(orm_db_is_registered(db, &models[k]));
    orm_query q = { ORM_QUERY_SELECT, NULL, "SELECT count(*) FROM x", 22, 0, NULL, 0, NULL };
    orm_rows *r;
    ck_assert_ok(orm__session_query(orm_db_session(db), NULL, &q, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    /* every insert, plus one per committed transaction (i % 20 == 0) */
    ck_assert_int_eq(orm_rows_int(r, 0), NTHREADS * (ITERS + (ITERS + 19) / 20));
    orm_rows_free(r);
    orm_db_close(db);
}
END_TEST

static Suite *db_threads_suite(void)
{
    Suite *s = suite_create("db_threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, shared_db);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(db_threads_suite()); }
