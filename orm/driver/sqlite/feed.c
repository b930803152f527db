/* liborm — SQLite's change feed (orm_driver_feed, orm/sys/driver.h): connection hooks for this process's writes and a
 * PRAGMA data_version poller for other processes' writes to the same file.
 *
 * Every connection the db opens gets an update hook (table + rowid of each row written, raw
 * SQL and triggers included), a commit hook and a rollback hook. Rows are collected per
 * connection while its transaction runs; a rollback discards them; after the statement whose
 * COMMIT (explicit or autocommit) ended the transaction returns, the driver calls
 * orm__sqlite_feed_after, which reports them. Reporting after the commit, not inside the
 * commit hook, matters: a drop made before the commit is visible would let another
 * connection load the old row and install it after the drop.
 *
 * The poller: its own read-only connection to the file; PRAGMA data_version moves when another
 * connection (of any process, this one's included) committed; every poll_ms, and on
 * check (strict mode: before a hit is served), a move reports `lost`.
 *
 * Keeps true: a connection whose db has no sink (the cell is NULL) collects nothing; more than
 * MAX_ROWS rows in one transaction are reported as their tables, whole.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "orm/alloc.h"
#include "orm/driver/sqlite/sqlite.h"
#include "orm/error_internal.h"

#define MAX_ROWS 4096
#define MAX_TABLES 64

struct orm__sqlite_watch {
    sqlite3 *db;
    const orm_driver_feed_cell *cell; /* the db's: its sink, or NULL when nobody listens */
    struct { int t; int64_t rowid; } *rows;
    size_t n, cap;
    char *tables[MAX_TABLES]; /* the names the rows refer to (by index) */
    unsigned char whole[MAX_TABLES]; /* that table had more rows than MAX_ROWS allow */
    int ntables;
    int overflow;   /* more tables than MAX_TABLES: every listened model */
    int committed;  /* the commit hook ran since the last report */
};

static void reset(orm__sqlite_watch *w)
{
    for (int i = 0; i < w->ntables; i++) {
        orm__free(w->tables[i]);
        w->tables[i] = NULL;
        w->whole[i] = 0;
    }
    w->ntables = 0;
    w->n = 0;
    w->overflow = 0;
    w->committed = 0;
}

static int table_index(orm__sqlite_watch *w, const char *name)
{
    for (int i = w->ntables - 1; i >= 0; i--)
        if (strcmp(w->tables[i], name) == 0)
            return i;
    if (w->ntables == MAX_TABLES)
        return -1;
    size_t n = strlen(name) + 1;
    char *p = orm__malloc(n);
    if (!p)
        return -1;
    memcpy(p, name, n);
    w->tables[w->ntables] = p;
    return w->ntables++;
}

static void update_hook(void *arg, int op, const char *dbname, const char *table, sqlite3_int64 rowid)
{
    (void)op;
    orm__sqlite_watch *w = arg;
    if (!orm_driver_feed_cell_sink(w->cell) || w->overflow)
        return;
    if (strcmp(dbname, "main") != 0) /* temp and attached databases are no model's */
        return;
    int t = table_index(w, table);
    if (t < 0) {
        w->overflow = 1; /* too many tables, or no memory: report everything */
        return;
    }
    if (w->whole[t])
        return;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        void *p = cap <= MAX_ROWS ? orm__realloc(w->rows, cap * sizeof *w->rows) : NULL;
        if (!p) {
            w->whole[t] = 1; /* report the table instead of its rows */
            return;
        }
        w->rows = p;
        w->cap = cap;
    }
    w->rows[w->n].t = t;
    w->rows[w->n].rowid = rowid;
    w->n++;
}

static int commit_hook(void *arg)
{
    orm__sqlite_watch *w = arg;
    w->committed = w->n || w->ntables || w->overflow; /* nothing collected: nothing to report */
    return 0;
}

static void rollback_hook(void *arg)
{
    reset(arg);
}

void orm__sqlite_feed_after(orm__sqlite_watch *w)
{
    if (!w->committed)
        return;
    if (!sqlite3_get_autocommit(w->db)) { /* the COMMIT failed (busy): the transaction goes on */
        w->committed = 0;
        return;
    }
    const orm_driver_feed_sink *s = orm_driver_feed_cell_sink(w->cell);
    if (s) {
        if (w->overflow) {
            s->lost(s->ud, 0);
        } else {
            for (int t = 0; t < w->ntables; t++)
                if (w->whole[t])
                    s->rowid(s->ud, w->tables[t], 0, 1);
            for (size_t i = 0; i < w->n; i++)
                if (!w->whole[w->rows[i].t])
                    s->rowid(s->ud, w->tables[w->rows[i].t], w->rows[i].rowid, 0);
        }
    }
    reset(w);
}

int orm__sqlite_feed_watch(orm__sqlite_watch **out, sqlite3 *db, const orm_driver_feed_cell *cell)
{
    orm__sqlite_watch *w = orm__calloc(1, sizeof *w);
    *out = w;
    if (!w)
        return orm__error_nomem("sqlite");
    w->db = db;
    w->cell = cell;
    sqlite3_update_hook(db, update_hook, w);
    sqlite3_commit_hook(db, commit_hook, w);
    sqlite3_rollback_hook(db, rollback_hook, w);
    return ORM_OK;
}

void orm__sqlite_feed_unwatch(orm__sqlite_watch *w)
{
    if (!w)
        return;
    sqlite3_update_hook(w->db, NULL, NULL);
    sqlite3_commit_hook(w->db, NULL, NULL);
    sqlite3_rollback_hook(w->db, NULL, NULL);
    reset(w);
    orm__free(w->rows);
    orm__free(w);
}

static int sqlite_rowid_is(orm_conn *c, const char *table, const char *column)
{
    sqlite3 *db = orm__sqlite_handle(c);
    const char *decl = NULL;
    int pk = 0;
    if (sqlite3_table_column_metadata(db, "main", table, column, &decl, NULL, NULL, &pk, NULL) != SQLITE_OK)
        return 0; /* no such table yet: report the model whole, which is always right */
    if (!pk || !decl || strcasecmp(decl, "INTEGER") != 0)
        return 0;
    /* The only key column (a composite key is no rowid alias). */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM pragma_table_info(?1) WHERE pk > 0", -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
    int one = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    sqlite3_finalize(st);
    return one;
}

/* ---- the poller: other processes ---- */

struct orm_driver_listener {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
    const orm_driver_feed_sink *sink;
    int64_t poll_ms;
    pthread_mutex_t dv_lock;  /* the connection, its statement and last: poller and check */
    sqlite3 *db;
    sqlite3_stmt *dv;         /* PRAGMA data_version */
    int64_t last;
};

/* Read data_version; report when it moved since the last read (a failed read reports too:
 * nothing is known). */
static void check_version(orm_driver_listener *f)
{
    pthread_mutex_lock(&f->dv_lock);
    int64_t v = -1;
    if (sqlite3_step(f->dv) == SQLITE_ROW)
        v = sqlite3_column_int64(f->dv, 0);
    sqlite3_reset(f->dv);
    int moved = v != f->last || v < 0;
    f->last = v;
    pthread_mutex_unlock(&f->dv_lock);
    if (moved)
        f->sink->lost(f->sink->ud, 0);
}

static void *poller(void *arg)
{
    orm_driver_listener *f = arg;
    pthread_mutex_lock(&f->lock);
    while (!f->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (f->poll_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(f->poll_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&f->cond, &f->lock, &ts);
        if (f->stop)
            break;
        pthread_mutex_unlock(&f->lock);
        check_version(f);
        pthread_mutex_lock(&f->lock);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

static void sqlite_feed_stop(orm_driver_listener *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    f->stop = 1;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    sqlite3_finalize(f->dv);
    sqlite3_close_v2(f->db);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->dv_lock);
    orm__free(f);
}

static int sqlite_feed_start(orm_driver_listener **out, const char *dsn, const orm_driver_feed_sink *sink,
                             const orm_driver_feed_options *o)
{
    *out = NULL;
    if (o->poll_ms < 0 || orm__sqlite_dsn_private(dsn))
        return ORM_OK; /* no other process can write: the connection hooks are enough */
    char *path = orm__sqlite_dsn_path(dsn); /* the DSN's options are the db's, not the file's */
    if (!path)
        return orm_error_last()->code;
    orm_driver_listener *f = orm__calloc(1, sizeof *f);
    if (!f) {
        orm__free(path);
        return orm__error_nomem("sqlite");
    }
    f->sink = sink;
    f->poll_ms = o->poll_ms;
    int src = sqlite3_open_v2(path, &f->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(f->db, "PRAGMA data_version", -1, &f->dv, NULL);
    if (src != SQLITE_OK) {
        int rc = orm__error_set(ORM_EIO, "sqlite", "row cache poller: cannot open %s: %s", path,
                                f->db ? sqlite3_errmsg(f->db) : sqlite3_errstr(src));
        sqlite3_close_v2(f->db);
        orm__free(f);
        orm__free(path);
        return rc;
    }
    orm__free(path);
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    pthread_mutex_init(&f->dv_lock, NULL);
    f->last = sqlite3_step(f->dv) == SQLITE_ROW ? sqlite3_column_int64(f->dv, 0) : -1; /* the baseline */
    sqlite3_reset(f->dv);
    if (pthread_create(&f->thread, NULL, poller, f) != 0) {
        sqlite3_finalize(f->dv);
        sqlite3_close_v2(f->db);
        pthread_mutex_destroy(&f->lock);
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->dv_lock);
        orm__free(f);
        return orm__error_set(ORM_EIO, "sqlite", "row cache poller: cannot start its thread");
    }
    *out = f;
    return ORM_OK;
}

static int sqlite_watch_conn(orm_conn *c, const orm_driver_feed_cell *cell)
{
    return orm__sqlite_conn_watch(c, cell);
}

const orm_driver_feed orm__sqlite_feed = {
    .install = NULL,
    .remove = NULL,
    .start = sqlite_feed_start,
    .stop = sqlite_feed_stop,
    .check = check_version,
    .watch_conn = sqlite_watch_conn,
    .rowid_is = sqlite_rowid_is,
};
