/* The recording driver (record.h): a plug-in written against orm/sys/driver.h alone — it is
 * compiled with include/ as its only include directory — that wraps another registered
 * driver. Each entry point counts and logs its call, then calls the wrapped driver with the
 * wrapped connection or cursor; results and errors pass through unchanged, so a suite run
 * through it must behave exactly as one run on the wrapped driver.
 *
 * The change feed is wrapped the same way: a call on a connection goes to the wrapped
 * connection, start to the wrapped driver with the wrapped DSN, and the listener it makes is
 * kept in a rec_listener that stop frees. The sink and the db's cell are passed through: the
 * wrapped driver's listener and hooks report straight to the row cache.
 *
 * Keeps true: a recording connection owns exactly one wrapped connection and one cursor
 * wrapper (a connection has at most one open cursor), freed by close; a rec_listener owns
 * exactly one wrapped listener, freed by stop; the driver structs (and their feed) are filled
 * once, under reg_lock, before orm_driver_register publishes them.
 */
#include "record.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "record+"
#define MAX_INNER 4

typedef struct rec_cursor {
    const orm_driver *inner;
    orm_cursor *cur;
} rec_cursor;

typedef struct rec_conn {
    const orm_driver *inner;
    orm_conn *conn;
    rec_cursor cursor;
} rec_conn;

/* A running listener of the wrapped driver's feed. */
struct orm_driver_listener {
    const orm_driver *inner;
    orm_driver_listener *l; /* the wrapped driver's */
};

typedef struct recorder {
    orm_driver drv;   /* first: the orm_driver * liborm hands back is the recorder's */
    orm_driver_feed feed; /* drv.feed when the wrapped driver has one */
    char name[64];    /* "record+sqlite" */
    const orm_driver *inner;
} recorder;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static recorder recorders[MAX_INNER];
static size_t nrecorders;
static _Atomic uint64_t counts[ORM_RECORD_NCALLS];

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;

static void note(orm_record_call call, const char *what, const char *detail, size_t len)
{
    atomic_fetch_add_explicit(&counts[call], 1, memory_order_relaxed);
    pthread_mutex_lock(&log_lock);
    if (log_file) {
        fprintf(log_file, "%s%s%.*s\n", what, detail ? " " : "", detail ? (int)len : 0,
                detail ? detail : "");
        fflush(log_file);
    }
    pthread_mutex_unlock(&log_lock);
}

uint64_t orm_record_count(orm_record_call call)
{
    return (unsigned)call < ORM_RECORD_NCALLS ? atomic_load(&counts[call]) : 0;
}

void orm_record_log_to(FILE *f)
{
    pthread_mutex_lock(&log_lock);
    log_file = f;
    pthread_mutex_unlock(&log_lock);
}

/* The wrapped DSN: "record+sqlite:x.db" -> "sqlite:x.db", "record+host=h" -> "host=h". */
static const char *inner_dsn(const char *dsn) { return dsn + strlen(PREFIX); }

/* The recorder whose wrapped driver takes the DSN after "record+", or NULL. */
static const recorder *recorder_for(const char *dsn)
{
    if (strncmp(dsn, PREFIX, strlen(PREFIX)) != 0)
        return NULL;
    pthread_mutex_lock(&reg_lock);
    const recorder *r = NULL;
    for (size_t i = 0; i < nrecorders && !r; i++)
        if (recorders[i].inner->accepts(inner_dsn(dsn)))
            r = &recorders[i];
    pthread_mutex_unlock(&reg_lock);
    return r;
}

static int rec_accepts(const char *dsn) { return recorder_for(dsn) != NULL; }

static int rec_open(orm_conn **out, const char *dsn, const orm_db_options *opts, int64_t deadline_us)
{
    *out = NULL;
    note(ORM_RECORD_OPEN, "open", dsn, strlen(dsn));
    const recorder *r = recorder_for(dsn);
    if (!r)
        return orm_driver_error_set(ORM_EINVAL, "record", NULL, 0, "not a recording DSN: \"%.80s\"", dsn);
    rec_conn *c = calloc(1, sizeof *c);
    if (!c)
        return orm_driver_error_set(ORM_ENOMEM, "record", NULL, 0, "out of memory");
    c->inner = r->inner;
    c->cursor.inner = r->inner;
    int rc = r->inner->open(&c->conn, inner_dsn(dsn), opts, deadline_us);
    if (rc != ORM_OK) {
        free(c);
        return rc;
    }
    *out = (orm_conn *)c;
    return ORM_OK;
}

static void rec_close(orm_conn *oc)
{
    rec_conn *c = (rec_conn *)oc;
    note(ORM_RECORD_CLOSE, "close", NULL, 0);
    if (!c)
        return;
    c->inner->close(c->conn);
    free(c);
}

static int rec_exec(orm_conn *oc, orm_ctx *ctx, const orm_query *q, orm_exec_result *res)
{
    rec_conn *c = (rec_conn *)oc;
    note(ORM_RECORD_EXEC, "exec", q->sql, q->sql_len);
    return c->inner->exec(c->conn, ctx, q, res);
}

static int rec_query(orm_conn *oc, orm_ctx *ctx, const orm_query *q, orm_cursor **out)
{
    rec_conn *c = (rec_conn *)oc;
    note(ORM_RECORD_QUERY, "query", q->sql, q->sql_len);
    *out = NULL;
    int rc = c->inner->query(c->conn, ctx, q, &c->cursor.cur);
    if (rc == ORM_OK)
        *out = (orm_cursor *)&c->cursor;
    return rc;
}

static int rec_exec_script(orm_conn *oc, orm_ctx *ctx, const char *sql)
{
    rec_conn *c = (rec_conn *)oc;
    note(ORM_RECORD_SCRIPT, "script", sql, strlen(sql));
    return c->inner->exec_script(c->conn, ctx, sql);
}

static int rec_next(orm_cursor *oc)
{
    rec_cursor *k = (rec_cursor *)oc;
    note(ORM_RECORD_NEXT, "next", NULL, 0);
    return k->inner->cursor_next(k->cur);
}

static size_t rec_ncols(orm_cursor *oc)
{
    rec_cursor *k = (rec_cursor *)oc;
    note(ORM_RECORD_NCOLS, "ncols", NULL, 0);
    return k->inner->cursor_ncols(k->cur);
}

static const char *rec_name(orm_cursor *oc, size_t col)
{
    rec_cursor *k = (rec_cursor *)oc;
    note(ORM_RECORD_NAME, "name", NULL, 0);
    return k->inner->cursor_name(k->cur, col);
}

static orm_value rec_value(orm_cursor *oc, size_t col)
{
    rec_cursor *k = (rec_cursor *)oc;
    note(ORM_RECORD_VALUE, "value", NULL, 0);
    return k->inner->cursor_value(k->cur, col);
}

static void rec_cursor_close(orm_cursor *oc)
{
    rec_cursor *k = (rec_cursor *)oc;
    note(ORM_RECORD_CURSOR_CLOSE, "cursor_close", NULL, 0);
    k->inner->cursor_close(k->cur);
    k->cur = NULL;
}

static int rec_map_row(orm_cursor *oc, const orm_model *m, const size_t *fields, size_t ncols, void *obj)
{
    rec_cursor *k = (rec_cursor *)oc;
    note(ORM_RECORD_MAP_ROW, "map_row", NULL, 0);
    return k->inner->map_row(k->cur, m, fields, ncols, obj);
}

static int rec_begin(orm_conn *oc, orm_ctx *ctx, const orm_tx_options *opts)
{
    rec_conn *c = (rec_conn *)oc;
    char buf[96];
    const char *sql = opts ? c->inner->begin_sql(opts, buf, sizeof buf) : "BEGIN";
    note(ORM_RECORD_BEGIN, "begin", sql ? sql : "?", sql ? strlen(sql) : 1);
    return c->inner->begin(c->conn, ctx, opts);
}

static int rec_commit(orm_conn *oc, orm_ctx *ctx)
{
    rec_conn *c = (rec_conn *)oc;
    note(ORM_RECORD_COMMIT, "commit", NULL, 0);
    return c->inner->commit(c->conn, ctx);
}

static int rec_rollback(orm_conn *oc, orm_ctx *ctx)
{
    rec_conn *c = (rec_conn *)oc;
    note(ORM_RECORD_ROLLBACK, "rollback", NULL, 0);
    return c->inner->rollback(c->conn, ctx);
}

static void rec_pool_defaults(const char *dsn, orm_driver_pool *out)
{
    note(ORM_RECORD_POOL_DEFAULTS, "pool_defaults", dsn, strlen(dsn));
    const recorder *r = recorder_for(dsn);
    r->inner->pool_defaults(inner_dsn(dsn), out); /* dsn was accepted: r is there */
}

static int rec_alive(orm_conn *oc)
{
    rec_conn *c = (rec_conn *)oc;
    note(ORM_RECORD_ALIVE, "alive", NULL, 0);
    return c->inner->alive(c->conn);
}

static int rec_reset(orm_conn *oc)
{
    rec_conn *c = (rec_conn *)oc;
    note(ORM_RECORD_RESET, "reset", NULL, 0);
    return c->inner->reset(c->conn);
}

/* ---- the change feed ---- */

static int rec_feed_install(orm_conn *oc, const orm_model *m, const char *prefix, size_t row_limit)
{
    rec_conn *c = (rec_conn *)oc;
    note(ORM_RECORD_FEED_INSTALL, "feed_install", m->table, strlen(m->table));
    return c->inner->feed->install(c->conn, m, prefix, row_limit);
}

static int rec_feed_remove(orm_conn *oc, const orm_model *m)
{
    rec_conn *c = (rec_conn *)oc;
    note(ORM_RECORD_FEED_REMOVE, "feed_remove", m->table, strlen(m->table));
    return c->inner->feed->remove(c->conn, m);
}

static int rec_feed_start(orm_driver_listener **out, const char *dsn, const orm_driver_feed_sink *sink,
                          const orm_driver_feed_options *o)
{
    *out = NULL;
    note(ORM_RECORD_FEED_START, "feed_start", dsn, strlen(dsn));
    const recorder *r = recorder_for(dsn);
    if (!r || !r->inner->feed)
        return orm_driver_error_set(ORM_EINVAL, "record", NULL, 0, "no feed to record for \"%.80s\"", dsn);
    orm_driver_listener *rl = calloc(1, sizeof *rl);
    if (!rl)
        return orm_driver_error_set(ORM_ENOMEM, "record", NULL, 0, "out of memory");
    rl->inner = r->inner;
    int rc = r->inner->feed->start(&rl->l, inner_dsn(dsn), sink, o);
    if (rc != ORM_OK || !rl->l) { /* failed, or nothing runs: pass that on */
        free(rl);
        return rc;
    }
    *out = rl;
    return ORM_OK;
}

static void rec_feed_stop(orm_driver_listener *rl)
{
    note(ORM_RECORD_FEED_STOP, "feed_stop", NULL, 0);
    rl->inner->feed->stop(rl->l);
    free(rl);
}

static void rec_feed_check(orm_driver_listener *rl)
{
    note(ORM_RECORD_FEED_CHECK, "feed_check", NULL, 0);
    rl->inner->feed->check(rl->l);
}

static int rec_feed_watch_conn(orm_conn *oc, const orm_driver_feed_cell *cell)
{
    rec_conn *c = (rec_conn *)oc;
    note(ORM_RECORD_FEED_WATCH_CONN, "feed_watch_conn", NULL, 0);
    return c->inner->feed->watch_conn(c->conn, cell);
}

static int rec_feed_rowid_is(orm_conn *oc, const char *table, const char *column)
{
    rec_conn *c = (rec_conn *)oc;
    char what[256];
    snprintf(what, sizeof what, "%s.%s", table, column); /* cut when longer: a log line */
    note(ORM_RECORD_FEED_ROWID_IS, "feed_rowid_is", what, strlen(what));
    return c->inner->feed->rowid_is(c->conn, table, column);
}

int orm_record_register(const char *inner_name)
{
    const orm_driver *inner = orm_driver_find(inner_name);
    if (!inner)
        return orm_driver_error_set(ORM_EINVAL, "record", NULL, 0, "no driver named \"%s\" to record",
                                    inner_name ? inner_name : "(null)");
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nrecorders; i++)
        if (recorders[i].inner == inner) {
            pthread_mutex_unlock(&reg_lock);
            return ORM_OK;
        }
    if (nrecorders == MAX_INNER || strlen(inner->name) + sizeof PREFIX > sizeof recorders[0].name) {
        pthread_mutex_unlock(&reg_lock);
        return orm_driver_error_set(ORM_EINVAL, "record", NULL, 0, "cannot record driver \"%s\"", inner->name);
    }
    recorder *r = &recorders[nrecorders];
    snprintf(r->name, sizeof r->name, PREFIX "%s", inner->name);
    r->inner = inner;
    const orm_driver_feed *feed = inner->feed;
    if (feed) /* the same optional members as the wrapped feed */
        r->feed = (orm_driver_feed){
            .install = feed->install ? rec_feed_install : NULL,
            .remove = feed->remove ? rec_feed_remove : NULL,
            .start = rec_feed_start,
            .stop = rec_feed_stop,
            .check = feed->check ? rec_feed_check : NULL,
            .watch_conn = feed->watch_conn ? rec_feed_watch_conn : NULL,
            .rowid_is = feed->rowid_is ? rec_feed_rowid_is : NULL,
        };
    r->drv = (orm_driver){
        .version = ORM_DRIVER_VERSION,
        .name = r->name,
        .trace_name = inner->trace_name, /* the system that answers */
        .accepts = rec_accepts,
        .open = rec_open,
        .close = rec_close,
        .exec = rec_exec,
        .query = rec_query,
        .exec_script = rec_exec_script,
        .cursor_next = rec_next,
        .cursor_ncols = rec_ncols,
        .cursor_name = rec_name,
        .cursor_value = rec_value,
        .cursor_close = rec_cursor_close,
        .map_row = inner->map_row ? rec_map_row : NULL,
        .begin = rec_begin,
        .commit = rec_commit,
        .rollback = rec_rollback,
        .begin_sql = inner->begin_sql,
        .dialect = inner->dialect,
        .pool_defaults = rec_pool_defaults,
        .alive = inner->alive ? rec_alive : NULL,
        .reset = rec_reset,
        .columns = inner->columns,
        .migrate = inner->migrate,
        .feed = feed ? &r->feed : NULL,
    };
    nrecorders++; /* recorder_for may see it now: it is whole */
    pthread_mutex_unlock(&reg_lock);
    int rc = orm_driver_register(&r->drv);
    if (rc != ORM_OK) {
        pthread_mutex_lock(&reg_lock);
        nrecorders--;
        pthread_mutex_unlock(&reg_lock);
        return rc;
    }
    const char *path = getenv("ORM_RECORD_LOG");
    if (path && *path) {
        FILE *f = fopen(path, "a");
        if (f)
            orm_record_log_to(f); /* kept open for the process's life: every call appends */
    }
    return ORM_OK;
}
