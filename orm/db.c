/* liborm — the db handle: DSN dispatch to a driver, the model registry, the default session
 * and the connection lease.
 *
 * Keeps true:
 *  - the registry is read without locks on the hot path (every orm_get looks its model up):
 *    an open-addressing table keyed by descriptor pointer, published with release stores and
 *    read with acquire loads. Writers serialize on reg_lock; a table that grows is replaced
 *    whole and the old one kept until close (a reader may still be probing it). Entries are
 *    never moved or freed before close, so builders may keep pointers to them.
 *  - the connection is handed out only by orm__db_acquire / orm__db_release (the one place
 *    that knows there is a single connection today and a pool later). A thread that already
 *    holds it (an open transaction or cursor) and asks again gets ORM_EBUSY at once instead
 *    of deadlocking; other threads wait up to the busy timeout.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_condattr_setclock */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "orm/alloc.h"
#include "orm/driver.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"
#include "orm/session_internal.h"

typedef struct reg_table {
    struct reg_table *older; /* replaced tables, freed at close */
    size_t cap;              /* power of two */
    _Atomic(orm_model_entry *) slots[];
} reg_table;

struct orm_db {
    const orm_driver *drv;
    orm_conn *conn;
    atomic_int conn_busy;       /* 1 while a caller holds conn */
    atomic_int conn_waiters;    /* threads sleeping on conn_free */
    pthread_mutex_t conn_lock;  /* for conn_free only */
    pthread_cond_t conn_free;   /* signalled when conn_busy drops and someone waits */
    _Atomic(const void *) conn_owner; /* &this_thread of the thread holding conn, or NULL */
    int busy_timeout_ms;
    orm_session session;

    pthread_mutex_t reg_lock;
    _Atomic(reg_table *) reg;
    size_t reg_count;

    orm__chain chain;           /* the middlewares, fixed by the first statement */
};

/* A per-thread address: identifies the calling thread without pthread_t comparisons. */
static _Thread_local char this_thread;

/* ---- options and drivers ---- */

int orm_db_options_init(orm_db_options *opts, unsigned version)
{
    if (!opts)
        return orm__error_set(ORM_EINVAL, "db", "orm_db_options_init: opts is NULL");
    if (version != ORM_DB_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "db", "unknown orm_db_options version %u (this liborm knows %u)",
                              version, ORM_DB_OPTIONS_VERSION);
    orm_db_options d = ORM_DB_OPTIONS_INIT;
    *opts = d;
    return ORM_OK;
}

static const orm_driver *const drivers[] = {
    &orm__driver_sqlite,
#ifdef ORM_WITH_POSTGRES
    &orm__driver_postgres,
#endif
};

static int looks_postgres(const char *dsn)
{
    return strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0 ||
           strchr(dsn, '=') != NULL;
}

static reg_table *reg_table_new(size_t cap)
{
    reg_table *t = orm__calloc(1, sizeof *t + cap * sizeof t->slots[0]);
    if (!t)
        return NULL;
    t->cap = cap;
    for (size_t i = 0; i < cap; i++)
        atomic_init(&t->slots[i], NULL);
    return t;
}

int orm_db_open(orm_db **out, const char *dsn, const orm_db_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "db", "orm_db_open: out is NULL");
    *out = NULL;
    if (!dsn)
        return orm__error_set(ORM_EINVAL, "db", "orm_db_open: DSN is NULL");
    if (opts && opts->version != ORM_DB_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "db", "unknown orm_db_options version %u (this liborm knows %u)",
                              opts->version, ORM_DB_OPTIONS_VERSION);
    const orm_driver *drv = NULL;
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
        if (drivers[i]->accepts(dsn)) {
            drv = drivers[i];
            break;
        }
    if (!drv) {
        if (looks_postgres(dsn))
            return orm__error_set(ORM_EUNSUPPORTED, "db",
                                  "DSN is for PostgreSQL, but this liborm has no PostgreSQL driver");
        return orm__error_set(ORM_EINVAL, "db",
                              "unknown DSN \"%.80s\" (expected sqlite:PATH, file:URI or postgres://...)",
                              dsn);
    }

    orm_db *db = orm__calloc(1, sizeof *db);
    if (!db)
        return orm__error_nomem("db");
    reg_table *t = reg_table_new(8);
    if (!t) {
        orm__free(db);
        return orm__error_nomem("db");
    }
    int rc = drv->open(&db->conn, dsn, opts);
    if (rc != ORM_OK) {
        orm__free(t);
        orm__free(db);
        return rc;
    }
    db->drv = drv;
    db->busy_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&db->conn_free, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&db->conn_lock, NULL);
    pthread_mutex_init(&db->reg_lock, NULL);
    atomic_init(&db->conn_owner, NULL);
    atomic_init(&db->conn_busy, 0);
    atomic_init(&db->conn_waiters, 0);
    atomic_init(&db->reg, t);
    db->session.db = db;
    db->session.tx = NULL;
    orm__chain_init(&db->chain);
    *out = db;
    return ORM_OK;
}

void orm_db_close(orm_db *db)
{
    if (!db)
        return;
    db->drv->close(db->conn);
    reg_table *t = atomic_load(&db->reg);
    /* The newest table holds every entry; older ones only share them. */
    for (size_t i = 0; i < t->cap; i++) {
        orm_model_entry *e = atomic_load(&t->slots[i]);
        if (!e)
            continue;
        for (int s = 0; s < ORM_MODEL_SLOT_COUNT; s++)
            orm__free(atomic_load(&e->sql[s]));
        orm__free(e);
    }
    while (t) {
        reg_table *older = t->older;
        orm__free(t);
        t = older;
    }
    pthread_cond_destroy(&db->conn_free);
    pthread_mutex_destroy(&db->conn_lock);
    pthread_mutex_destroy(&db->reg_lock);
    orm__chain_free(&db->chain);
    orm__free(db);
}

const char *orm_db_backend(const orm_db *db) { return db ? db->drv->name : NULL; }

const orm_driver *orm__db_driver(const orm_db *db) { return db->drv; }

orm_session *orm_db_session(orm_db *db) { return db ? &db->session : NULL; }

orm__chain *orm__db_chain(orm_db *db) { return &db->chain; }

orm_db *orm_session_db(const orm_session *s) { return s ? s->db : NULL; }

/* ---- registry ---- */

static size_t ptr_hash(const void *p, size_t mask)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & mask;
}

orm_model_entry *orm__db_model_entry(orm_db *db, const orm_model *model)
{
    reg_table *t = atomic_load_explicit(&db->reg, memory_order_acquire);
    const size_t mask = t->cap - 1;
    for (size_t i = ptr_hash(model, mask);; i = (i + 1) & mask) {
        orm_model_entry *e = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (!e || e->model == model)
            return e;
    }
}

static void table_insert(reg_table *t, orm_model_entry *e)
{
    const size_t mask = t->cap - 1;
    size_t i = ptr_hash(e->model, mask);
    while (atomic_load_explicit(&t->slots[i], memory_order_relaxed))
        i = (i + 1) & mask;
    atomic_store_explicit(&t->slots[i], e, memory_order_release);
}

int orm_db_register(orm_db *db, const orm_model *model)
{
    if (!db || !model)
        return orm__error_set(ORM_EINVAL, "db", "orm_db_register: NULL argument");
    if (orm__db_model_entry(db, model))
        return ORM_OK;
    int rc = orm_model_validate(model);
    if (rc != ORM_OK)
        return rc;
    pthread_mutex_lock(&db->reg_lock);
    reg_table *t = atomic_load_explicit(&db->reg, memory_order_relaxed);
    rc = ORM_OK;
    for (size_t i = 0; i < t->cap && rc == ORM_OK; i++) {
        orm_model_entry *e = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
        if (!e)
            continue;
        if (e->model == model)
            goto unlock; /* registered by another thread meanwhile */
        if (strcmp(e->model->table, model->table) == 0)
            rc = orm__error_set(ORM_EINVAL, "db",
                                "table %s is already registered with model %s; model %s is a "
                                "different descriptor", model->table, e->model->name, model->name);
    }
    if (rc != ORM_OK)
        goto unlock;
    orm_model_entry *e = orm__calloc(1, sizeof *e);
    if (!e) {
        rc = orm__error_nomem("db");
        goto unlock;
    }
    e->model = model;
    for (int s = 0; s < ORM_MODEL_SLOT_COUNT; s++)
        atomic_init(&e->sql[s], NULL);
    /* Keep the load factor at or below 1/2 so probes stay short. */
    if ((db->reg_count + 1) * 2 > t->cap) {
        reg_table *bigger = reg_table_new(t->cap * 2);
        if (!bigger) {
            orm__free(e);
            rc = orm__error_nomem("db");
            goto unlock;
        }
        for (size_t i = 0; i < t->cap; i++) {
            orm_model_entry *old = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
            if (old)
                table_insert(bigger, old);
        }
        bigger->older = t;
        table_insert(bigger, e);
        atomic_store_explicit(&db->reg, bigger, memory_order_release);
    } else {
        table_insert(t, e);
    }
    db->reg_count++;
unlock:
    pthread_mutex_unlock(&db->reg_lock);
    return rc;
}

int orm_db_is_registered(orm_db *db, const orm_model *model)
{
    return db && model && orm__db_model_entry(db, model) != NULL;
}

const orm_model *orm_db_model(orm_db *db, const char *table)
{
    if (!db || !table)
        return NULL;
    reg_table *t = atomic_load_explicit(&db->reg, memory_order_acquire);
    for (size_t i = 0; i < t->cap; i++) {
        orm_model_entry *e = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (e && strcmp(e->model->table, table) == 0)
            return e->model;
    }
    return NULL;
}

/* ---- the connection lease ----
 * A busy flag taken with one compare-and-swap when free (the common case: no lock, no
 * syscall); a thread that finds it taken sleeps on a condition variable. The releaser clears
 * the flag and signals only when someone waits: both sides use sequentially consistent
 * operations, so either the releaser sees the waiter's count, or the waiter's CAS (made after
 * counting itself) sees the cleared flag. A flag rather than a held mutex because a
 * transaction may be handed to another thread between calls, and a mutex must be unlocked by
 * the thread that locked it. */

static int try_take(orm_db *db)
{
    int expected = 0;
    return atomic_compare_exchange_strong(&db->conn_busy, &expected, 1);
}

int orm__db_acquire(orm_db *db, orm_ctx *ctx, orm_conn **out)
{
    (void)ctx;
    *out = NULL;
    if (!try_take(db)) {
        if (atomic_load_explicit(&db->conn_owner, memory_order_relaxed) == &this_thread)
            return orm__error_set(ORM_EBUSY, "db",
                                  "connection held by an open transaction or cursor on this "
                                  "thread: use the transaction's session, or free the cursor");
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += db->busy_timeout_ms / 1000;
        deadline.tv_nsec += (long)(db->busy_timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        int taken = 0;
        pthread_mutex_lock(&db->conn_lock);
        atomic_fetch_add(&db->conn_waiters, 1);
        while (!(taken = try_take(db)))
            if (pthread_cond_timedwait(&db->conn_free, &db->conn_lock, &deadline) == ETIMEDOUT) {
                taken = try_take(db);
                break;
            }
        atomic_fetch_sub(&db->conn_waiters, 1);
        pthread_mutex_unlock(&db->conn_lock);
        if (!taken)
            return orm__error_set(ORM_EBUSY, "db",
                                  "connection held by an open transaction for more than %d ms",
                                  db->busy_timeout_ms);
    }
    atomic_store_explicit(&db->conn_owner, &this_thread, memory_order_relaxed);
    *out = db->conn;
    return ORM_OK;
}

void orm__db_release(orm_db *db, orm_conn *c)
{
    (void)c;
    atomic_store_explicit(&db->conn_owner, NULL, memory_order_relaxed);
    atomic_store(&db->conn_busy, 0);
    if (atomic_load(&db->conn_waiters) > 0) {
        pthread_mutex_lock(&db->conn_lock);
        pthread_cond_signal(&db->conn_free);
        pthread_mutex_unlock(&db->conn_lock);
    }
}
