/* Migrations: the runner — up, down, goto, force, baseline, version — one locked step at a
 * time.
 *
 * What it keeps true:
 *   - a step (apply or revert one migration, or force / baseline / a read) is one
 *     transaction that first takes the migration lock, as the driver says
 *     (orm_driver_migrate: a lock call on LOCK_KEY — PostgreSQL's pg_advisory_xact_lock under a
 *     lock_timeout — or a BEGIN mode — SQLite's IMMEDIATE) and then reads the state
 *     table again, so what it decides to do is decided under the lock: two processes
 *     migrating at once apply each migration exactly once;
 *   - a transactional migration's statements and its record commit together or not at all:
 *     a failure leaves the schema and the recorded version as before the step;
 *   - a no-transaction migration is recorded dirty (committed) before it runs and marked
 *     clean after; while a dirty row exists, up / down / goto refuse to run;
 *   - errors from a statement keep the database's code, SQLSTATE and message, prefixed with
 *     the file, the statement's number and its line.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "migrations/migrate_internal.h"
#include "migrations/migrate_state.h"
#include "orm/alloc.h"
#include "orm/ctx.h"
#include "orm/raw.h"
#include "orm/sys/driver.h"
#include "orm/tx.h"
#include "orm/txn.h"

/* "orm_migr": the advisory lock every liborm migrator takes on PostgreSQL. */
#define LOCK_KEY INT64_C(0x6f726d5f6d696772)
/* "orm_migs": held (in a transaction of its own, on another connection) by the process
 * running a no-transaction migration for as long as it runs, taken before its dirty row
 * commits and released after the row is marked clean. A dirty row while this lock is held
 * is a migration in progress (wait for it); while it is free, one that failed or whose
 * process died (the connection's end released the lock): refuse until `force`. */
#define RUN_KEY INT64_C(0x6f726d5f6d696773)

struct orm_migrator {
    orm_db *db;
    const orm_driver_migrate *mg; /* the driver's lock and state-table SQL */
    const char *(*begin_sql)(const orm_tx_options *, char *, size_t); /* for messages */
    orm_sql_lexer lexer;          /* how the server reads the files' text (splitting) */
    orm__mig *list;
    size_t n;
    int lock_timeout_ms;
    int allow_out_of_order;
};

/* ---- open / free ---- */

/* The bytes of an options struct of this version: a version 1 caller's struct ends
 * before allow_out_of_order. */
static size_t options_size(unsigned version)
{
    return version == 1 ? offsetof(orm_migrate_options, allow_out_of_order) : sizeof(orm_migrate_options);
}

int orm_migrate_options_init(orm_migrate_options *opts, unsigned version)
{
    if (!opts)
        return orm__error_set(ORM_EINVAL, "migrate", "orm_migrate_options_init: opts is NULL");
    if (version != 1 && version != ORM_MIGRATE_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "migrate",
                              "unknown orm_migrate_options version %u (this liborm knows %u)",
                              version, ORM_MIGRATE_OPTIONS_VERSION);
    orm_migrate_options d = ORM_MIGRATE_OPTIONS_INIT;
    d.version = version;
    memcpy(opts, &d, options_size(version));
    return ORM_OK;
}

static int open_common(orm_migrator **out, orm_db *db, const orm_migrate_options *opts,
                       orm__mig *list, size_t n)
{
    int rc = ORM_OK;
    orm_migrate_options o = ORM_MIGRATE_OPTIONS_INIT;
    if (opts && opts->version != 1 && opts->version != ORM_MIGRATE_OPTIONS_VERSION)
        rc = orm__error_set(ORM_EINVAL, "migrate",
                            "unknown orm_migrate_options version %u (this liborm knows %u)",
                            opts->version, ORM_MIGRATE_OPTIONS_VERSION);
    else if (opts) /* only the fields the caller's version has; the rest keep the defaults */
        memcpy(&o, opts, options_size(opts->version));
    const orm_driver *drv = orm_db_driver(db);
    if (rc == ORM_OK && drv && !drv->migrate)
        rc = orm__error_set(ORM_EUNSUPPORTED, "migrate", "the %s driver has no migration support", drv->name);
    orm_migrator *m = rc == ORM_OK ? orm__calloc(1, sizeof *m) : NULL;
    if (rc == ORM_OK && !m)
        rc = orm__error_nomem("migrate");
    if (rc != ORM_OK) {
        orm__mig_list_free(list, n);
        return rc;
    }
    m->db = db;
    m->mg = drv->migrate;
    m->begin_sql = drv->begin_sql;
    m->lexer = drv->dialect->lexer;
    m->list = list;
    m->n = n;
    m->lock_timeout_ms = o.lock_timeout_ms > 0 ? o.lock_timeout_ms : 60000;
    m->allow_out_of_order = o.allow_out_of_order != 0;
    *out = m;
    return ORM_OK;
}

int orm_migrator_open_dir(orm_migrator **out, orm_db *db, const char *dir,
                          const orm_migrate_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "migrate", "orm_migrator_open_dir: out is NULL");
    *out = NULL;
    if (!db)
        return orm__error_set(ORM_EINVAL, "migrate", "orm_migrator_open_dir: db is NULL");
    orm__mig *list;
    size_t n;
    int rc = orm__mig_read_dir(dir, &list, &n);
    return rc == ORM_OK ? open_common(out, db, opts, list, n) : rc;
}

int orm_migrator_open_list(orm_migrator **out, orm_db *db, const orm_migration *array, size_t count,
                           const orm_migrate_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "migrate", "orm_migrator_open_list: out is NULL");
    *out = NULL;
    if (!db)
        return orm__error_set(ORM_EINVAL, "migrate", "orm_migrator_open_list: db is NULL");
    orm__mig *list;
    size_t n;
    int rc = orm__mig_from_list(array, count, &list, &n);
    return rc == ORM_OK ? open_common(out, db, opts, list, n) : rc;
}

void orm_migrator_free(orm_migrator *m)
{
    if (!m)
        return;
    orm__mig_list_free(m->list, m->n);
    orm__free(m);
}

static const orm__mig *find(const orm_migrator *m, int64_t version)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->list[i].version == version)
            return &m->list[i];
    return NULL;
}

/* ---- errors ---- */

/* Re-set the last error as "prefix: message", keeping its code, SQLSTATE and native code. */
static int wrap_error(int rc, const char *prefix)
{
    const orm_error *e = orm_error_last();
    char msg[768], state[6];
    int native = e->native_code;
    snprintf(msg, sizeof msg, "%s", e->message);
    memcpy(state, e->sqlstate, sizeof state);
    return orm__error_set_db(rc, "migrate", state[0] ? state : NULL, native, "%s: %s", prefix, msg);
}

/* ---- the step: a locked transaction with the state read under the lock ---- */

typedef struct step {
    orm_tx *tx;
    orm_session *s;
    orm__mig_row *rows;
    size_t nrows;
} step;

static void step_end(step *st)
{
    orm_tx_free(st->tx); /* rolls back when not committed */
    orm__mig_rows_free(st->rows, st->nrows);
    memset(st, 0, sizeof *st);
}

/* How long a wait may last: lock_timeout_ms, or what is left of the ctx's deadline when
 * sooner (at least 1 ms, so an expired deadline still gives a definite timeout). */
static int64_t wait_budget_ms(const orm_migrator *m, orm_ctx *ctx)
{
    int64_t wait_ms = m->lock_timeout_ms, deadline = orm_ctx_deadline(ctx);
    if (deadline) {
        int64_t left = (deadline - orm_ctx_now_us()) / 1000;
        wait_ms = left < 1 ? 1 : left < wait_ms ? left : wait_ms;
    }
    return wait_ms;
}

static int step_begin(orm_migrator *m, orm_ctx *ctx, step *st)
{
    memset(st, 0, sizeof *st);
    int rc = orm_ctx_err(ctx);
    if (rc != ORM_OK)
        return orm__error_set(rc, "migrate", "migration stopped: the ctx was %s",
                              rc == ORM_ETIMEOUT ? "past its deadline" : "cancelled");
    if (orm__ctx_tx_for(ctx, m->db))
        return orm__error_set(ORM_EINVAL, "migrate",
                              "the ctx carries an open transaction on this db: migrations run "
                              "each step in a transaction of their own (a savepoint of the "
                              "caller's would not hold the lock); pass a ctx without it");
    orm_tx_options to = ORM_TX_OPTIONS_INIT;
    to.begin_mode = m->mg->begin_mode; /* SQLite: the write lock, taken now, held to the end */
    rc = orm_tx_begin(&st->tx, m->db, ctx, &to);
    if (rc != ORM_OK) { /* "migration lock (BEGIN IMMEDIATE)", "migration step (BEGIN)" */
        char buf[96], what[128];
        const char *begin = m->begin_sql(&to, buf, sizeof buf);
        snprintf(what, sizeof what, "migration %s (%s)", m->mg->lock ? "step" : "lock", begin ? begin : "BEGIN");
        return wrap_error(rc, what);
    }
    st->s = orm_tx_session(st->tx);
    if (m->mg->lock)
        rc = m->mg->lock(st->s, ctx, LOCK_KEY, wait_budget_ms(m, ctx), "migration lock");
    if (rc == ORM_OK)
        rc = orm__mig_state_create(st->s, ctx, m->mg);
    if (rc == ORM_OK)
        rc = orm__mig_state_read(st->s, ctx, m->mg, &st->rows, &st->nrows);
    if (rc != ORM_OK)
        step_end(st);
    return rc;
}

static int step_commit(step *st)
{
    int rc = orm_tx_commit(st->tx);
    step_end(st);
    return rc;
}

static const orm__mig_row *row_of(const step *st, int64_t version)
{
    for (size_t i = 0; i < st->nrows; i++)
        if (st->rows[i].version == version)
            return &st->rows[i];
    return NULL;
}

static int check_dirty(const orm_migrator *m, const step *st)
{
    for (size_t i = 0; i < st->nrows; i++) {
        if (!st->rows[i].dirty)
            continue;
        const orm__mig *g = find(m, st->rows[i].version);
        return orm__error_set(ORM_EINVAL, "migrate",
                              "database is dirty at version %lld (%s): a no-transaction migration "
                              "failed or is still running; repair the schema by hand, then "
                              "`force` the version it is at",
                              (long long)st->rows[i].version, g ? g->up_file : st->rows[i].name);
    }
    return ORM_OK;
}

static int check_drift(const orm_migrator *m, const step *st)
{
    for (size_t i = 0; i < st->nrows; i++) {
        const orm__mig *g = find(m, st->rows[i].version);
        if (g && strcmp(g->checksum, st->rows[i].checksum) != 0)
            return orm__error_set(ORM_EINVAL, "migrate",
                                  "%s changed after it was applied (checksum %s, recorded %s): "
                                  "restore the file, or `force %lld` to accept it as applied",
                                  g->up_file, g->checksum, st->rows[i].checksum,
                                  (long long)g->version);
    }
    return ORM_OK;
}

/* g is pending: refuse it when a higher version is already applied (rows are in version
 * order), unless the migrator allows out-of-order migrations. */
static int check_order(const orm_migrator *m, const step *st, const orm__mig *g)
{
    if (m->allow_out_of_order || !st->nrows || st->rows[st->nrows - 1].version < g->version)
        return ORM_OK;
    return orm__error_set(ORM_EINVAL, "migrate",
                          "%s is pending but version %lld is already applied: an out-of-order "
                          "migration; renumber it above %lld, or allow it (allow_out_of_order, "
                          "ormctl migrate --allow-out-of-order)",
                          g->up_file, (long long)st->rows[st->nrows - 1].version,
                          (long long)st->rows[st->nrows - 1].version);
}

/* ---- running a script ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run every statement of text on s, in order, stopping at the first failure. */
static int run_script(orm_migrator *m, orm_session *s, orm_ctx *ctx, const char *text,
                      const char *file)
{
    orm__mig_stmt *stmts;
    size_t n;
    int rc = orm__mig_split(text, m->lexer, file, &stmts, &n);
    for (size_t i = 0; rc == ORM_OK && i < n; i++) {
        char *sql = orm__strndup(text + stmts[i].off, stmts[i].len);
        if (!sql) {
            rc = orm__error_nomem("migrate");
            break;
        }
        rc = orm_exec_sql(s, ctx, sql);
        if (rc != ORM_OK) {
            /* The line of the mistake, when the database says where in the statement it is
             * (a character position on PostgreSQL: count UTF-8 lead bytes). */
            int line = stmts[i].line;
            const int pos = orm_error_last()->position;
            const int chars = m->mg->position_chars;
            for (int k = 0, c = 0; pos > 0 && sql[k]; k++) {
                if (!chars || ((unsigned char)sql[k] & 0xC0) != 0x80)
                    if (++c >= pos)
                        break;
                line += sql[k] == '\n';
            }
            char prefix[512];
            snprintf(prefix, sizeof prefix, "%s: statement %zu (line %d)", file, i + 1, line);
            rc = wrap_error(rc, prefix);
        }
        orm__free(sql);
    }
    orm__free(stmts);
    return rc;
}

/* ---- apply / revert one migration ---- */

/* With a driver lock (PostgreSQL): open the transaction that holds RUN_KEY while a
 * no-transaction migration runs (see RUN_KEY). READ COMMITTED, so idle it holds no snapshot
 * that CREATE INDEX CONCURRENTLY would wait for. It needs a second connection while the
 * step's is open. Without one (SQLite): *hold NULL — no lock can outlive the statements
 * there, so a dirty row always reads as failed. */
static int hold_running(orm_migrator *m, orm_ctx *ctx, orm_tx **hold)
{
    *hold = NULL;
    if (!m->mg->lock)
        return ORM_OK;
    orm_tx_options to = ORM_TX_OPTIONS_INIT;
    to.isolation = ORM_ISOLATION_READ_COMMITTED;
    /* Not on ctx: the step's transaction is recorded there, and a begin with it would make
     * a savepoint of that transaction (ending with its commit) instead of a transaction of
     * its own; and the migration's statements must not run inside this one. The ctx's
     * deadline still bounds the lock wait. */
    int64_t wait_ms = wait_budget_ms(m, ctx);
    int rc = orm_tx_begin(hold, m->db, NULL, &to);
    if (rc != ORM_OK)
        return wrap_error(rc, "no-transaction migration: the connection holding the running "
                              "marker (a second connection; max_open must be >= 2)");
    rc = m->mg->lock(orm_tx_session(*hold), NULL, RUN_KEY, wait_ms, "running-migration marker");
    if (rc == ORM_OK && m->mg->hold_sql)
        rc = orm_exec_sql(orm_tx_session(*hold), NULL, m->mg->hold_sql);
    if (rc != ORM_OK) {
        orm_tx_free(*hold);
        *hold = NULL;
    }
    return rc;
}

/* The step is open and has decided g is next. Ends the step. */
static int apply(orm_migrator *m, orm_ctx *ctx, step *st, const orm__mig *g)
{
    int64_t t0 = now_ms();
    int rc;
    if (!orm__mig_no_tx(g->up)) {
        rc = run_script(m, st->s, ctx, g->up, g->up_file);
        if (rc == ORM_OK)
            rc = orm__mig_state_insert(st->s, ctx, m->mg, g, now_ms() - t0, 0);
        if (rc == ORM_OK)
            return step_commit(st);
        step_end(st);
        return rc;
    }
    /* No transaction: claim the version dirty, run outside the lock's transaction, then
     * mark it clean. A failure leaves the dirty row for the operator. */
    orm_tx *hold;
    rc = hold_running(m, ctx, &hold);
    if (rc == ORM_OK)
        rc = orm__mig_state_insert(st->s, ctx, m->mg, g, 0, 1);
    rc = rc == ORM_OK ? step_commit(st) : (step_end(st), rc);
    if (rc != ORM_OK) {
        orm_tx_free(hold);
        return rc;
    }
    orm_session *s = orm_db_session(m->db);
    rc = run_script(m, s, ctx, g->up, g->up_file);
    if (rc == ORM_OK)
        rc = orm__mig_state_clean(s, ctx, m->mg, g->version, now_ms() - t0);
    orm_tx_free(hold); /* after the row is clean: a waiter then sees it clean, or failed */
    return rc;
}

static int revert(orm_migrator *m, orm_ctx *ctx, step *st, const orm__mig_row *row)
{
    const orm__mig *g = find(m, row->version);
    int rc = ORM_OK;
    if (!g)
        rc = orm__error_set(ORM_EINVAL, "migrate",
                            "version %lld (%s) is applied but no such migration is known: "
                            "cannot revert it", (long long)row->version, row->name);
    else if (!g->down)
        rc = orm__error_set(ORM_EINVAL, "migrate", "%s has no down migration: cannot revert it",
                            g->up_file);
    if (rc != ORM_OK) {
        step_end(st);
        return rc;
    }
    int64_t version = row->version;
    if (!orm__mig_no_tx(g->down)) {
        rc = run_script(m, st->s, ctx, g->down, g->down_file);
        if (rc == ORM_OK)
            rc = orm__mig_state_delete(st->s, ctx, m->mg, version);
        if (rc == ORM_OK)
            return step_commit(st);
        step_end(st);
        return rc;
    }
    /* No transaction: mark the version dirty, revert, then drop its row. */
    orm_tx *hold;
    rc = hold_running(m, ctx, &hold);
    if (rc == ORM_OK)
        rc = orm__mig_state_mark_dirty(st->s, ctx, m->mg, version);
    rc = rc == ORM_OK ? step_commit(st) : (step_end(st), rc);
    if (rc != ORM_OK) {
        orm_tx_free(hold);
        return rc;
    }
    orm_session *s = orm_db_session(m->db);
    rc = run_script(m, s, ctx, g->down, g->down_file);
    if (rc == ORM_OK)
        rc = orm__mig_state_delete(s, ctx, m->mg, version);
    orm_tx_free(hold);
    return rc;
}

static int has_dirty(const step *st)
{
    for (size_t i = 0; i < st->nrows; i++)
        if (st->rows[i].dirty)
            return 1;
    return 0;
}

/* step_begin, but while another process is running a no-transaction migration (a dirty row
 * and RUN_KEY held; PostgreSQL) end the step, pause and begin again, as long as the wait
 * budget allows: waiting for a running migration is waiting for the lock. ORM_ETIMEOUT
 * naming the version when it does not finish in time. A dirty row left by a failure is the
 * caller's to report (check_dirty). */
static int step_begin_settled(orm_migrator *m, orm_ctx *ctx, step *st)
{
    int64_t budget_ms = wait_budget_ms(m, ctx), t0 = now_ms(), pause_ms = 10;
    for (;;) {
        int rc = step_begin(m, ctx, st), running = 0;
        if (rc != ORM_OK || !m->mg->lock || !has_dirty(st))
            return rc;
        /* Under the migration lock, with a dirty row present: another process is running
         * that no-transaction migration now when it holds RUN_KEY. */
        int taken = 0;
        rc = m->mg->try_lock(st->s, ctx, RUN_KEY, &taken);
        running = rc == ORM_OK && !taken;
        if (rc != ORM_OK || !running) {
            if (rc != ORM_OK)
                step_end(st);
            return rc;
        }
        int64_t version = 0;
        for (size_t i = 0; i < st->nrows; i++)
            if (st->rows[i].dirty)
                version = st->rows[i].version;
        step_end(st);
        int64_t waited = now_ms() - t0;
        if (waited >= budget_ms) {
            const orm__mig *g = find(m, version);
            return orm__error_set(ORM_ETIMEOUT, "migrate",
                                  "migration lock not taken within %lld ms: the no-transaction "
                                  "migration %s (version %lld) is still running in another process",
                                  (long long)budget_ms, g ? g->up_file : "?", (long long)version);
        }
        if (pause_ms > budget_ms - waited)
            pause_ms = budget_ms - waited;
        struct timespec ts = { (time_t)(pause_ms / 1000), (long)(pause_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        pause_ms = pause_ms * 2 > 250 ? 250 : pause_ms * 2;
    }
}

/* One step towards target: dir > 0 applies the lowest pending version <= target, dir < 0
 * reverts the highest applied version > target. *did: whether it did something. */
static int step_towards(orm_migrator *m, orm_ctx *ctx, int dir, int64_t target, int *did)
{
    *did = 0;
    step st;
    int rc = step_begin_settled(m, ctx, &st);
    if (rc != ORM_OK)
        return rc;
    rc = check_dirty(m, &st);
    if (rc == ORM_OK && dir > 0)
        rc = check_drift(m, &st);
    if (rc != ORM_OK) {
        step_end(&st);
        return rc;
    }
    if (dir > 0) {
        for (size_t i = 0; i < m->n && m->list[i].version <= target; i++)
            if (!row_of(&st, m->list[i].version)) {
                rc = check_order(m, &st, &m->list[i]);
                if (rc != ORM_OK) {
                    step_end(&st);
                    return rc;
                }
                *did = 1;
                return apply(m, ctx, &st, &m->list[i]);
            }
    } else if (st.nrows && st.rows[st.nrows - 1].version > target) {
        *did = 1;
        orm__mig_row row = st.rows[st.nrows - 1];
        return revert(m, ctx, &st, &row);
    }
    step_end(&st);
    return ORM_OK;
}

/* ---- the operations ---- */

static int check_m(const orm_migrator *m, const char *fn)
{
    return m ? ORM_OK : orm__error_set(ORM_EINVAL, "migrate", "%s: migrator is NULL", fn);
}

int orm_migrate_up(orm_migrator *m, orm_ctx *ctx, size_t n, size_t *applied)
{
    if (applied)
        *applied = 0;
    int rc = check_m(m, "orm_migrate_up"), did = 1;
    for (size_t k = 0; rc == ORM_OK && did && (n == 0 || k < n); k++) {
        rc = step_towards(m, ctx, 1, INT64_MAX, &did);
        if (rc == ORM_OK && did && applied)
            (*applied)++;
    }
    return rc;
}

int orm_migrate_down(orm_migrator *m, orm_ctx *ctx, size_t n, size_t *reverted)
{
    if (reverted)
        *reverted = 0;
    int rc = check_m(m, "orm_migrate_down"), did = 1;
    for (size_t k = 0; rc == ORM_OK && did && k < (n ? n : 1); k++) {
        rc = step_towards(m, ctx, -1, 0, &did);
        if (rc == ORM_OK && did && reverted)
            (*reverted)++;
    }
    return rc;
}

static int check_target(const orm_migrator *m, int64_t version)
{
    if (version == 0 || find(m, version))
        return ORM_OK;
    return orm__error_set(ORM_EINVAL, "migrate", "no migration has version %lld", (long long)version);
}

int orm_migrate_goto(orm_migrator *m, orm_ctx *ctx, int64_t version)
{
    int rc = check_m(m, "orm_migrate_goto"), did = 1;
    if (rc == ORM_OK)
        rc = check_target(m, version);
    while (rc == ORM_OK && did)
        rc = step_towards(m, ctx, -1, version, &did);
    did = 1;
    while (rc == ORM_OK && did)
        rc = step_towards(m, ctx, 1, version, &did);
    return rc;
}

int orm_migrate_force(orm_migrator *m, orm_ctx *ctx, int64_t version)
{
    int rc = check_m(m, "orm_migrate_force");
    if (rc == ORM_OK)
        rc = check_target(m, version);
    step st;
    if (rc != ORM_OK || (rc = step_begin(m, ctx, &st)) != ORM_OK)
        return rc;
    rc = orm__mig_state_delete_above(st.s, ctx, m->mg, version);
    for (size_t i = 0; rc == ORM_OK && i < m->n && m->list[i].version <= version; i++)
        rc = row_of(&st, m->list[i].version)
                 ? orm__mig_state_refresh(st.s, ctx, m->mg, &m->list[i])
                 : orm__mig_state_insert(st.s, ctx, m->mg, &m->list[i], 0, 0);
    for (size_t i = 0; rc == ORM_OK && i < st.nrows; i++)
        if (st.rows[i].dirty && st.rows[i].version <= version)
            rc = orm__mig_state_clean(st.s, ctx, m->mg, st.rows[i].version, st.rows[i].duration_ms);
    if (rc == ORM_OK)
        return step_commit(&st);
    step_end(&st);
    return rc;
}

int orm_migrate_baseline(orm_migrator *m, orm_ctx *ctx, int64_t version)
{
    int rc = check_m(m, "orm_migrate_baseline");
    if (rc == ORM_OK && version != 0 && !find(m, version))
        rc = orm__error_set(ORM_EINVAL, "migrate", "no migration has version %lld", (long long)version);
    step st;
    if (rc != ORM_OK || (rc = step_begin(m, ctx, &st)) != ORM_OK)
        return rc;
    if (st.nrows)
        rc = orm__error_set(ORM_EINVAL, "migrate",
                            "baseline: the database already records %zu migration(s) (up to "
                            "version %lld); baseline only adopts an unmigrated database",
                            st.nrows, (long long)st.rows[st.nrows - 1].version);
    for (size_t i = 0; rc == ORM_OK && i < m->n && m->list[i].version <= version; i++)
        rc = orm__mig_state_insert(st.s, ctx, m->mg, &m->list[i], 0, 0);
    if (rc == ORM_OK)
        return step_commit(&st);
    step_end(&st);
    return rc;
}

int orm_migrate_version(orm_migrator *m, orm_ctx *ctx, int64_t *version, int *dirty)
{
    if (version)
        *version = 0;
    if (dirty)
        *dirty = 0;
    int rc = check_m(m, "orm_migrate_version");
    step st;
    if (rc != ORM_OK || (rc = step_begin(m, ctx, &st)) != ORM_OK)
        return rc;
    for (size_t i = 0; i < st.nrows; i++) {
        if (version && st.rows[i].version > *version)
            *version = st.rows[i].version;
        if (dirty && st.rows[i].dirty)
            *dirty = 1;
    }
    return step_commit(&st);
}

/* ---- status ---- */

static const char *const state_names[] = { "pending", "applied", "changed", "dirty", "missing" };

const char *orm_migration_state_name(orm_migration_state state)
{
    return (unsigned)state < sizeof state_names / sizeof state_names[0] ? state_names[state] : "?";
}

void orm_migration_status_free(orm_migration_status *st, size_t count)
{
    if (!st)
        return;
    for (size_t i = 0; i < count; i++) {
        orm__free(st[i].name);
        orm__free(st[i].applied_at);
    }
    orm__free(st);
}

int orm_migrate_status(orm_migrator *m, orm_ctx *ctx, orm_migration_status **out, size_t *count)
{
    if (!out || !count)
        return orm__error_set(ORM_EINVAL, "migrate", "orm_migrate_status: out or count is NULL");
    *out = NULL;
    *count = 0;
    int rc = check_m(m, "orm_migrate_status");
    step st;
    if (rc != ORM_OK || (rc = step_begin(m, ctx, &st)) != ORM_OK)
        return rc;
    size_t cap = m->n + st.nrows, n = 0;
    orm_migration_status *res = cap ? orm__calloc(cap, sizeof *res) : NULL;
    if (cap && !res)
        rc = orm__error_nomem("migrate");
    /* merge the known list and the rows, both sorted by version */
    size_t i = 0, j = 0;
    while (rc == ORM_OK && (i < m->n || j < st.nrows)) {
        const orm__mig *g = i < m->n ? &m->list[i] : NULL;
        const orm__mig_row *r = j < st.nrows ? &st.rows[j] : NULL;
        if (g && r && g->version != r->version) {
            if (g->version < r->version)
                r = NULL;
            else
                g = NULL;
        }
        orm_migration_status *e = &res[n++];
        e->version = g ? g->version : r->version;
        e->name = orm__strdup(g ? g->name : r->name);
        if (r) {
            e->applied_at = orm__strdup(r->applied_at);
            e->duration_ms = r->duration_ms;
            e->state = r->dirty ? ORM_MIGRATION_DIRTY
                       : !g     ? ORM_MIGRATION_MISSING
                       : strcmp(g->checksum, r->checksum) != 0 ? ORM_MIGRATION_CHANGED
                                                               : ORM_MIGRATION_APPLIED;
        }
        if (!e->name || (r && !e->applied_at))
            rc = orm__error_nomem("migrate");
        i += g != NULL;
        j += r != NULL;
    }
    if (rc == ORM_OK)
        rc = step_commit(&st);
    else
        step_end(&st);
    if (rc != ORM_OK) {
        orm_migration_status_free(res, n);
        return rc;
    }
    *out = res;
    *count = n;
    return ORM_OK;
}

int orm_migrate_status_text(orm_migrator *m, orm_ctx *ctx, char **out)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "migrate", "orm_migrate_status_text: out is NULL");
    *out = NULL;
    orm_migration_status *st;
    size_t n;
    int rc = orm_migrate_status(m, ctx, &st, &n);
    if (rc != ORM_OK)
        return rc;
    int namew = 4;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(st[i].name) > namew)
            namew = (int)strlen(st[i].name);
    orm__sbuf b = { 0 };
    orm__sbuf_printf(&b, "%-8s  %-*s  %-8s  %-19s  %s\n", "VERSION", namew, "NAME", "STATE",
                        "APPLIED AT", "MS");
    int64_t version = 0;
    size_t pending = 0, problems = 0;
    for (size_t i = 0; i < n; i++) {
        const orm_migration_status *e = &st[i];
        if (e->state == ORM_MIGRATION_PENDING)
            pending++;
        else if (e->version > version)
            version = e->version;
        if (e->state >= ORM_MIGRATION_CHANGED)
            problems++;
        char v[24];
        snprintf(v, sizeof v, "%04lld", (long long)e->version);
        orm__sbuf_printf(&b, "%-8s  %-*s  %-8s  %-19s  ", v, namew, e->name, orm_migration_state_name(e->state),
                            e->applied_at ? e->applied_at : "-");
        if (e->applied_at)
            orm__sbuf_printf(&b, "%lld\n", (long long)e->duration_ms);
        else
            orm__sbuf_printf(&b, "-\n");
    }
    orm__sbuf_printf(&b, "version %lld, %zu pending", (long long)version, pending);
    if (problems)
        orm__sbuf_printf(&b, ", %zu needing attention (changed, dirty or missing)", problems);
    orm__sbuf_printf(&b, "\n");
    orm_migration_status_free(st, n);
    return orm__mig_buf_take(&b, out);
}
