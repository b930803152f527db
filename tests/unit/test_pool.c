/* The connection pool against a fake connection factory: concurrency (8 threads x 2,000
 * acquires on a pool of 4, nothing lost, stats that add up), the lazy check replacing a
 * broken idle connection, deadlines while waiting, idle timeout, lifetime, max_idle, failing
 * opens and allocations. Runs under TSan too (ctest label "tsan").
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/orm.h"
#include "orm/pool.h"
#include "testutil.h"

typedef struct fake_conn {
    int id;
    atomic_int alive;
    atomic_int held; /* 1 while some thread holds it: two holders is a pool bug */
    long uses;       /* plain on purpose: TSan flags it if two threads ever share a conn */
    int reset_fails;
} fake_conn;

typedef struct factory {
    atomic_int opens, closes, fail_open, resets;
    atomic_int next_id;
} factory;

static int fake_open(void **out, void *ud)
{
    factory *f = ud;
    if (atomic_load(&f->fail_open))
        return orm__error_set(ORM_ECONN, "fake", "server unreachable");
    fake_conn *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->id = atomic_fetch_add(&f->next_id, 1);
    atomic_store(&c->alive, 1);
    atomic_fetch_add(&f->opens, 1);
    *out = c;
    return ORM_OK;
}

static void fake_close(void *conn, void *ud)
{
    factory *f = ud;
    atomic_fetch_add(&f->closes, 1);
    free(conn);
}

static int fake_alive(void *conn, void *ud)
{
    (void)ud;
    return atomic_load(&((fake_conn *)conn)->alive);
}

static int fake_reset(void *conn, void *ud)
{
    factory *f = ud;
    atomic_fetch_add(&f->resets, 1);
    return ((fake_conn *)conn)->reset_fails ? ORM_EDB : ORM_OK;
}

static orm_pool *make(factory *f, size_t max_open, size_t max_idle, int64_t idle_to, int64_t life)
{
    orm_pool_callbacks cb = { fake_open, fake_close, fake_alive, fake_reset, f };
    orm_pool_config cfg = { max_open, max_idle, idle_to, life };
    orm_pool *p = NULL;
    ck_assert_ok(orm__pool_new(&p, &cfg, &cb));
    return p;
}

static fake_conn *take(orm_pool *p, int64_t deadline)
{
    void *c = NULL;
    ck_assert_ok(orm__pool_acquire(p, deadline, &c));
    return c;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- concurrency ---- */

typedef struct worker {
    orm_pool *pool;
    long done;
    int errors;
} worker;

#define THREADS 8
#define PER_THREAD 2000

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        void *v = NULL;
        if (orm__pool_acquire(w->pool, 0, &v) != ORM_OK) {
            w->errors++;
            continue;
        }
        fake_conn *c = v;
        if (atomic_exchange(&c->held, 1) != 0)
            w->errors++;
        c->uses++;
        if (i % 97 == 0)
            sched_yield();
        atomic_store(&c->held, 0);
        orm__pool_release(w->pool, c, 0);
        w->done++;
    }
    return NULL;
}

START_TEST(test_threads_share_four)
{
    factory f = { 0 };
    orm_pool *p = make(&f, 4, 4, 0, 0);
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){ p, 0, 0 };
        ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    long total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].errors, 0);
        total += w[i].done;
    }
    ck_assert_int_eq(total, THREADS * PER_THREAD);
    orm_pool_stats st;
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.max_open, 4);
    ck_assert_uint_le(st.open, 4);
    ck_assert_uint_eq(st.in_use, 0);
    ck_assert_uint_eq(st.idle, st.open);
    ck_assert_uint_eq(st.opened, (uint64_t)atomic_load(&f.opens));
    ck_assert_uint_eq(st.opened - st.open,
                      st.closed_broken + st.closed_max_idle + st.closed_idle_timeout + st.closed_lifetime);
    ck_assert_uint_eq(st.closed_broken, 0);
    ck_assert_int_eq(atomic_load(&f.resets), THREADS * PER_THREAD);
    ck_assert_int_ge(st.wait_us, 0);
    ck_assert_uint_eq(st.timeouts, 0);
    /* The uses over the idle connections add up to every acquire. */
    long uses = 0;
    void *held[4];
    size_t n = st.idle;
    for (size_t i = 0; i < n; i++) {
        held[i] = take(p, 0);
        uses += ((fake_conn *)held[i])->uses;
    }
    ck_assert_int_eq(uses, THREADS * PER_THREAD);
    for (size_t i = 0; i < n; i++)
        orm__pool_release(p, held[i], 0);
    orm__pool_free(p);
    ck_assert_int_eq(atomic_load(&f.opens), atomic_load(&f.closes));
}
END_TEST

/* ---- lazy check, broken connections ---- */

START_TEST(test_broken_idle_is_replaced)
{
    factory f = { 0 };
    orm_pool *p = make(&f, 2, 2, 0, 0);
    fake_conn *a = take(p, 0);
    int id = a->id;
    orm__pool_release(p, a, 0);
    atomic_store(&a->alive, 0); /* the server went away while it sat idle */
    fake_conn *b = take(p, 0);  /* no error: a fresh one */
    ck_assert_int_ne(b->id, id);
    ck_assert_int_eq(atomic_load(&b->alive), 1);
    orm_pool_stats st;
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.closed_broken, 1);
    ck_assert_uint_eq(st.opened, 2);
    ck_assert_uint_eq(st.open, 1);
    /* Released as broken: closed, never handed out again. */
    orm__pool_release(p, b, 1);
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.closed_broken, 2);
    ck_assert_uint_eq(st.open, 0);
    /* A failing reset closes it too. */
    fake_conn *c = take(p, 0);
    c->reset_fails = 1;
    orm__pool_release(p, c, 0);
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.closed_broken, 3);
    ck_assert_uint_eq(st.idle, 0);
    orm__pool_free(p);
    ck_assert_int_eq(atomic_load(&f.opens), atomic_load(&f.closes));
}
END_TEST

START_TEST(test_open_failure_frees_the_slot)
{
    factory f = { 0 };
    orm_pool *p = make(&f, 1, 1, 0, 0);
    atomic_store(&f.fail_open, 1);
    void *c = (void *)1;
    ck_assert_orm(orm__pool_acquire(p, 0, &c), ORM_ECONN);
    ck_assert_ptr_null(c);
    atomic_store(&f.fail_open, 0);
    fake_conn *a = take(p, orm__pool_now_us() + 1000000); /* the slot came back */
    orm__pool_release(p, a, 0);
    orm_pool_stats st;
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.open, 1);
    ck_assert_uint_eq(st.opened, 1);
    orm__pool_free(p);
}
END_TEST

/* ---- waiting ---- */

START_TEST(test_deadline_while_waiting)
{
    factory f = { 0 };
    orm_pool *p = make(&f, 1, 1, 0, 0);
    fake_conn *a = take(p, 0);
    int64_t t0 = orm__pool_now_us();
    void *c = (void *)1;
    ck_assert_orm(orm__pool_acquire(p, t0 + 50000, &c), ORM_ETIMEOUT);
    int64_t waited = orm__pool_now_us() - t0;
    ck_assert_ptr_null(c);
    ck_assert_int_ge(waited, 50000);
    ck_assert_int_lt(waited, 1000000);
    /* A deadline already past fails at once. */
    ck_assert_orm(orm__pool_acquire(p, 1, &c), ORM_ETIMEOUT);
    orm_pool_stats st;
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.waits, 2);
    ck_assert_uint_eq(st.timeouts, 2);
    ck_assert_int_ge(st.wait_us, 50000);
    ck_assert_uint_eq(st.in_use, 1);
    orm__pool_release(p, a, 0);
    orm__pool_free(p);
}
END_TEST

typedef struct later {
    orm_pool *p;
    void *conn;
} later;

static void *release_later(void *arg)
{
    later *l = arg;
    sleep_ms(50);
    orm__pool_release(l->p, l->conn, 0);
    return NULL;
}

START_TEST(test_waiter_gets_released_conn)
{
    factory f = { 0 };
    orm_pool *p = make(&f, 1, 0, 0, 0); /* max_idle 0: a waiter still gets the release */
    later l = { p, take(p, 0) };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, release_later, &l), 0);
    fake_conn *b = take(p, orm__pool_now_us() + 5000000);
    pthread_join(t, NULL);
    ck_assert_ptr_eq(b, l.conn);
    orm_pool_stats st;
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.waits, 1);
    ck_assert_int_ge(st.wait_us, 10000);
    ck_assert_uint_eq(st.opened, 1);
    orm__pool_release(p, b, 0); /* no waiter now, max_idle 0: closed */
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.closed_max_idle, 1);
    ck_assert_uint_eq(st.open, 0);
    orm__pool_free(p);
}
END_TEST

/* ---- limits and timeouts ---- */

START_TEST(test_idle_timeout_closes)
{
    factory f = { 0 };
    orm_pool *p = make(&f, 0, 4, 30000, 0);
    void *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = take(p, 0);
    for (int i = 0; i < 3; i++)
        orm__pool_release(p, c[i], 0);
    orm_pool_stats st;
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.idle, 3);
    sleep_ms(60);
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.idle, 0);
    ck_assert_uint_eq(st.open, 0);
    ck_assert_uint_eq(st.closed_idle_timeout, 3);
    ck_assert_int_eq(atomic_load(&f.closes), 3);
    orm__pool_free(p);
}
END_TEST

START_TEST(test_max_lifetime_and_max_idle)
{
    factory f = { 0 };
    orm_pool *p = make(&f, 0, 1, 0, 30000);
    void *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = take(p, 0);
    for (int i = 0; i < 3; i++)
        orm__pool_release(p, c[i], 0);
    orm_pool_stats st;
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.idle, 1);
    ck_assert_uint_eq(st.closed_max_idle, 2);
    fake_conn *a = take(p, 0);
    sleep_ms(40);
    orm__pool_release(p, a, 0); /* too old to keep */
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.closed_lifetime, 1);
    ck_assert_uint_eq(st.open, 0);
    orm__pool_free(p);
    ck_assert_int_eq(atomic_load(&f.opens), atomic_load(&f.closes));
}
END_TEST

START_TEST(test_free_closes_everything)
{
    factory f = { 0 };
    orm_pool *p = make(&f, 3, 3, 0, 0);
    void *a = take(p, 0), *b = take(p, 0);
    orm__pool_release(p, a, 0);
    (void)b; /* still held at free: closed too */
    orm__pool_free(p);
    orm__pool_free(NULL);
    ck_assert_int_eq(atomic_load(&f.closes), 2);
    orm_pool *q = NULL;
    orm_pool_callbacks none = { 0 };
    ck_assert_orm(orm__pool_new(&q, NULL, &none), ORM_EINVAL);
    ck_assert_ptr_null(q);
}
END_TEST

START_TEST(test_alloc_failures)
{
    factory f = { 0 };
    orm_pool_callbacks cb = { fake_open, fake_close, fake_alive, fake_reset, &f };
    for (long n = 0; n < 20; n++) {
        orm_pool *p = NULL;
        orm__alloc_fail_after(n);
        int rc = orm__pool_new(&p, NULL, &cb);
        void *c = NULL;
        if (rc == ORM_OK)
            rc = orm__pool_acquire(p, 0, &c);
        orm__alloc_fail_after(-1);
        ck_assert_msg(rc == ORM_OK || rc == ORM_ENOMEM, "n=%ld rc=%d", n, rc);
        if (c)
            orm__pool_release(p, c, 0);
        orm__pool_free(p);
    }
    ck_assert_int_eq(atomic_load(&f.opens), atomic_load(&f.closes));
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_threads_share_four);
    tcase_add_test(tc, test_broken_idle_is_replaced);
    tcase_add_test(tc, test_open_failure_frees_the_slot);
    tcase_add_test(tc, test_deadline_while_waiting);
    tcase_add_test(tc, test_waiter_gets_released_conn);
    tcase_add_test(tc, test_idle_timeout_closes);
    tcase_add_test(tc, test_max_lifetime_and_max_idle);
    tcase_add_test(tc, test_free_closes_everything);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(pool_suite()); }
