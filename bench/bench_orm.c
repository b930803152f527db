/* orm-bench — the liborm side: the workloads through the public API exactly as a user would
 * write them (orm_insert_one, the batch insert, orm_get, a select builder per query,
 * orm_update_one or an update builder per row), on whatever backend the db was opened on. Keeps true: nothing
 * here reaches below include/orm/; every mapped struct is cleared with orm_model_clear.
 */
#include "bench.h"

#include <stdio.h>

int bench_orm_fail(const char *what)
{
    const orm_error *e = orm_error_last();
    fprintf(stderr, "liborm: %s: %s (%s)\n", what, e->message, orm_strerror(e->code));
    return -1;
}

int bench_orm_script(orm_db *db, const char *sql)
{
    if (orm_exec_sql(orm_db_session(db), NULL, sql) != ORM_OK)
        return bench_orm_fail(sql);
    return 0;
}

/* Finish a transaction: commit when rc is ORM_OK, and free it either way. */
static int tx_end(orm_tx *tx, int rc, const char *what)
{
    if (rc == ORM_OK)
        rc = orm_tx_commit(tx);
    if (rc != ORM_OK)
        bench_orm_fail(what);
    orm_tx_free(tx);
    return rc == ORM_OK ? 0 : -1;
}

int bench_orm_w1(orm_db *db, bench_user *rows, size_t n, int keys)
{
    orm_tx *tx;
    int rc = orm_tx_begin(&tx, db, NULL, NULL);
    if (rc != ORM_OK)
        return bench_orm_fail("begin");
    orm_session *s = orm_tx_session(tx);
    for (size_t i = 0; i < n && rc == ORM_OK; i++) {
        if (keys) /* the key the database would assign, set by the caller */
            rows[i].id = (int64_t)i + 1;
        rc = orm_insert_one(s, NULL, &bench_user_model, &rows[i]);
    }
    return tx_end(tx, rc, "W1 insert");
}

int bench_orm_w1b(orm_db *db, bench_user *rows, size_t n)
{
    orm_tx *tx;
    int rc = orm_tx_begin(&tx, db, NULL, NULL);
    if (rc != ORM_OK)
        return bench_orm_fail("begin");
    orm_insert *q = orm_insert_new(orm_tx_session(tx), &bench_user_model);
    int64_t affected = 0;
    rc = orm_insert_add_many(q, rows, n);
    if (rc == ORM_OK)
        rc = orm_insert_exec(q, NULL, &affected);
    orm_insert_free(q);
    if (rc == ORM_OK && affected != (int64_t)n) {
        fprintf(stderr, "liborm: W1b inserted %lld rows, not %zu\n", (long long)affected, n);
        rc = ORM_ERROR;
    }
    return tx_end(tx, rc, "W1b batch insert");
}

int bench_orm_w2(orm_db *db, const int64_t *ids, size_t n, bench_check *out)
{
    orm_session *s = orm_db_session(db);
    for (size_t i = 0; i < n; i++) {
        bench_user u = { 0 };
        orm_value key = orm_int(ids[i]);
        if (orm_get(s, NULL, &bench_user_model, &u, &key) != ORM_OK)
            return bench_orm_fail("W2 get");
        bench_check_add(out, &u);
        orm_model_clear(&bench_user_model, &u);
    }
    return 0;
}

int bench_orm_w2_fixed(orm_db *db, const int64_t *ids, size_t n, bench_check *out)
{
    orm_session *s = orm_db_session(db);
    for (size_t i = 0; i < n; i++) {
        bench_user_fixed u; /* orm_get zeroes it; it owns nothing: no clear */
        orm_value key = orm_int(ids[i]);
        if (orm_get(s, NULL, &bench_user_fixed_model, &u, &key) != ORM_OK)
            return bench_orm_fail("W2 get (fixed text)");
        bench_check_add_fixed(out, &u);
    }
    return 0;
}

int bench_orm_w3(orm_db *db, const int32_t *ages, size_t n, bench_check *out)
{
    orm_session *s = orm_db_session(db);
    for (size_t i = 0; i < n; i++) {
        orm_select *q = orm_select_new(s, &bench_user_model);
        orm_list users = ORM_LIST_INIT;
        orm_select_where(q, orm_between("age", orm_int(ages[i]), orm_int(ages[i] + 1)));
        orm_select_order_by(q, "id", ORM_ASC);
        orm_select_limit(q, BENCH_W3_LIMIT);
        int rc = orm_select_all(q, NULL, &users);
        orm_select_free(q);
        if (rc != ORM_OK)
            return bench_orm_fail("W3 select");
        for (size_t j = 0; j < users.count; j++)
            bench_check_add(out, orm_list_at(&users, j));
        orm_list_clear(&users);
    }
    return 0;
}

/* W4 as a user holding the rows would write it: set the field, save the struct by its key
 * (orm_update_one writes every non-key column, so it does more than the raw side's
 * one-column UPDATE: the comparison is conservative). rows[k] holds key k + 1. */
static int w4_one(orm_session *s, bench_user *rows, const int64_t *ids, const double *scores,
                  size_t n)
{
    int rc = ORM_OK;
    for (size_t i = 0; i < n && rc == ORM_OK; i++) {
        bench_user *u = &rows[ids[i] - 1];
        u->score = scores[i];
        rc = orm_update_one(s, NULL, &bench_user_model, u);
    }
    return rc;
}

/* W4 through orm_update_fields: the raw side's one-column UPDATE, rendered once. */
static int w4_fields(orm_session *s, bench_user *rows, const int64_t *ids, const double *scores,
                     size_t n)
{
    static const size_t score[] = { 4 }; /* bench_user_model's field 4 */
    int rc = ORM_OK;
    for (size_t i = 0; i < n && rc == ORM_OK; i++) {
        bench_user *u = &rows[ids[i] - 1];
        u->score = scores[i];
        rc = orm_update_fields(s, NULL, &bench_user_model, u, score, 1);
    }
    return rc;
}

/* W4 through an update builder per row: the same one-column SQL as the raw side. */
static int w4_builder(orm_session *s, const int64_t *ids, const double *scores, size_t n)
{
    int rc = ORM_OK;
    for (size_t i = 0; i < n && rc == ORM_OK; i++) {
        orm_update *q = orm_update_new(s, &bench_user_model);
        int64_t affected = 0;
        orm_update_set(q, "score", orm_double(scores[i]));
        orm_update_where(q, orm_eq("id", orm_int(ids[i])));
        rc = orm_update_exec(q, NULL, &affected);
        orm_update_free(q);
        if (rc == ORM_OK && affected != 1) {
            fprintf(stderr, "liborm: W4 updated %lld rows for id %lld\n", (long long)affected,
                    (long long)ids[i]);
            rc = ORM_ERROR;
        }
    }
    return rc;
}

int bench_orm_w4(orm_db *db, bench_user *rows, const int64_t *ids, const double *scores,
                 size_t n, int builder)
{
    orm_tx *tx;
    int rc = orm_tx_begin(&tx, db, NULL, NULL);
    if (rc != ORM_OK)
        return bench_orm_fail("begin");
    orm_session *s = orm_tx_session(tx);
    rc = builder == 1   ? w4_builder(s, ids, scores, n)
         : builder == 2 ? w4_fields(s, rows, ids, scores, n)
                        : w4_one(s, rows, ids, scores, n);
    return tx_end(tx, rc, "W4 update");
}
