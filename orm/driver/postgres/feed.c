/* liborm — PostgreSQL's change feed (orm_driver_feed, orm/sys/driver.h): NOTIFY triggers per cached table and one
 * LISTEN connection per db, outside the pool, on its own thread.
 *
 * Triggers. One plpgsql function, orm_row_cache_notify(), shared by every table, and four
 * statement-level triggers per table (orm_rc_ins / _upd / _del with transition tables, and
 * orm_rc_trunc). Their arguments: the table's row cache key prefix, the row limit, and one
 * "<type>:<column>" per key column (i integer, s text, x bytea, b boolean). A statement that
 * touched at most row_limit rows sends one notification per distinct key ('k' + the row cache
 * key, old and new keys of an UPDATE); a larger one, a TRUNCATE, a key that would not fit a
 * payload, or a key type with no exact text form (double, timestamp) sends one naming the
 * table ('t' + prefix). NOTIFY is transactional: sent at COMMIT, never for a rollback.
 *
 * Listener. Connects, LISTENs on orm_row_cache, reports `lost` once listening (so whatever
 * was cached before it listened is dropped), then delivers notifications as they arrive. When
 * its connection fails (terminated backend, restart, network) it reports `lost` and an event
 * and reconnects with backoff (10 ms doubling up to backoff_max_ms); it never touches the pool
 * nor fails a query. stop wakes it through a pipe and joins it.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/feed.h"
#include "orm/driver/postgres/conn.h"
#include "orm/middleware_internal.h" /* orm__sbuf */

#define CHANNEL "orm_row_cache"

/* ---- triggers ---- */

static const char FUNCTION_SQL[] =
    "CREATE OR REPLACE FUNCTION orm_row_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $orm$\n"
    "DECLARE\n"
    "  prefix text := TG_ARGV[0];\n"
    "  lim bigint := TG_ARGV[1]::bigint;\n"
    "  parts text[] := '{}';\n"
    "  expr text; src text; n bigint; k text; t text; c text;\n"
    "BEGIN\n"
    "  IF TG_OP = 'TRUNCATE' THEN\n"
    "    PERFORM pg_notify('" CHANNEL "', 't' || prefix);\n"
    "    RETURN NULL;\n"
    "  END IF;\n"
    "  IF TG_OP = 'DELETE' THEN EXECUTE 'SELECT count(*) FROM orm_old' INTO n;\n"
    "  ELSE EXECUTE 'SELECT count(*) FROM orm_new' INTO n; END IF;\n"
    "  IF n = 0 THEN RETURN NULL; END IF;\n"
    "  IF n > lim OR TG_NARGS < 3 THEN\n"
    "    PERFORM pg_notify('" CHANNEL "', 't' || prefix);\n"
    "    RETURN NULL;\n"
    "  END IF;\n"
    "  FOR i IN 2 .. TG_NARGS - 1 LOOP\n"
    "    t := left(TG_ARGV[i], 1);\n"
    "    c := substr(TG_ARGV[i], 3);\n"
    "    parts := parts || CASE t\n"
    "      WHEN 'i' THEN format('(r.%I)::bigint::text', c)\n"
    "      WHEN 's' THEN format('%L || replace(replace((r.%I)::text, %L, %L), %L, %L)',\n"
    "                           '''', c, '\\', '\\\\', ':', '\\:')\n"
    "      WHEN 'x' THEN format('%L || encode(r.%I, %L)', 'x', c, 'hex')\n"
    "      ELSE format('CASE WHEN r.%I THEN %L ELSE %L END', c, 'b1', 'b0') END;\n"
    "  END LOOP;\n"
    "  expr := array_to_string(parts, ' || '':'' || ');\n"
    "  IF TG_OP = 'INSERT' THEN src := 'SELECT ' || expr || ' FROM orm_new r';\n"
    "  ELSIF TG_OP = 'DELETE' THEN src := 'SELECT ' || expr || ' FROM orm_old r';\n"
    "  ELSE src := 'SELECT ' || expr || ' FROM orm_old r UNION SELECT ' || expr || ' FROM orm_new r';\n"
    "  END IF;\n"
    "  FOR k IN EXECUTE src LOOP\n"
    "    IF octet_length(prefix) + octet_length(k) > 7000 THEN\n"
    "      PERFORM pg_notify('" CHANNEL "', 't' || prefix);\n"
    "      RETURN NULL;\n"
    "    END IF;\n"
    "    PERFORM pg_notify('" CHANNEL "', 'k' || prefix || k);\n"
    "  END LOOP;\n"
    "  RETURN NULL;\n"
    "END $orm$;\n";

static void drop_triggers(orm__sbuf *b, const char *table)
{
    static const char *const names[] = { "orm_rc_ins", "orm_rc_upd", "orm_rc_del", "orm_rc_trunc" };
    for (size_t i = 0; i < 4; i++) {
        orm__sbuf_puts(b, "DROP TRIGGER IF EXISTS ");
        orm__sbuf_puts(b, names[i]);
        orm__sbuf_puts(b, " ON ");
        orm__sbuf_quoted(b, table, '"');
        orm__sbuf_puts(b, ";\n");
    }
}

static void trigger(orm__sbuf *b, const char *name, const char *event, const char *ref, const orm_model *m,
                    const char *prefix, size_t row_limit, int per_key)
{
    orm__sbuf_puts(b, "CREATE TRIGGER ");
    orm__sbuf_puts(b, name);
    orm__sbuf_puts(b, " AFTER ");
    orm__sbuf_puts(b, event);
    orm__sbuf_puts(b, " ON ");
    orm__sbuf_quoted(b, m->table, '"');
    orm__sbuf_puts(b, ref);
    orm__sbuf_puts(b, " FOR EACH STATEMENT EXECUTE FUNCTION orm_row_cache_notify(");
    orm__sbuf_quoted(b, prefix, '\'');
    orm__sbuf_printf(b, ", '%zu'", row_limit);
    for (size_t k = 0; per_key && k < m->npk; k++) {
        const orm_field *f = &m->fields[m->pk[k]];
        char t = f->type == ORM_FIELD_TEXT || f->type == ORM_FIELD_FIXED_TEXT ? 's'
               : f->type == ORM_FIELD_BLOB ? 'x' : f->type == ORM_FIELD_BOOL ? 'b' : 'i';
        char arg[2] = { t, ':' };
        orm__sbuf_puts(b, ", '");
        orm__sbuf_add(b, arg, 2);
        for (const char *p = f->column; *p; p++) {
            if (*p == '\'')
                orm__sbuf_add(b, "'", 1);
            orm__sbuf_add(b, p, 1);
        }
        orm__sbuf_puts(b, "'");
    }
    orm__sbuf_puts(b, ");\n");
}

static int pg_feed_install(orm_conn *c, const orm_model *m, const char *prefix, size_t row_limit)
{
    int per_key = orm__feed_keys_exact(m); /* else the table is reported whole */
    orm__sbuf b = { 0 };
    orm__sbuf_puts(&b, FUNCTION_SQL);
    drop_triggers(&b, m->table);
    trigger(&b, "orm_rc_ins", "INSERT", " REFERENCING NEW TABLE AS orm_new", m, prefix, row_limit, per_key);
    trigger(&b, "orm_rc_upd", "UPDATE", " REFERENCING OLD TABLE AS orm_old NEW TABLE AS orm_new", m, prefix,
            row_limit, per_key);
    trigger(&b, "orm_rc_del", "DELETE", " REFERENCING OLD TABLE AS orm_old", m, prefix, row_limit, per_key);
    trigger(&b, "orm_rc_trunc", "TRUNCATE", "", m, prefix, row_limit, 0);
    const char *sql = orm__sbuf_str(&b);
    if (!sql) {
        orm__sbuf_free(&b);
        return orm__error_nomem("postgres");
    }
    /* One simple query: the function and the triggers are created in one implicit
     * transaction, all or none. */
    int rc = orm__driver_postgres.exec_script(c, NULL, sql);
    orm__sbuf_free(&b);
    return rc;
}

static int pg_feed_remove(orm_conn *c, const orm_model *m)
{
    orm__sbuf b = { 0 };
    drop_triggers(&b, m->table);
    const char *sql = orm__sbuf_str(&b);
    if (!sql) {
        orm__sbuf_free(&b);
        return orm__error_nomem("postgres");
    }
    int rc = orm__driver_postgres.exec_script(c, NULL, sql);
    orm__sbuf_free(&b);
    return rc;
}

/* ---- the listener ---- */

struct orm_driver_listener {
    pthread_t thread;
    int wake[2];              /* stop writes a byte to wake[1] */
    char *dsn;
    const orm_driver_feed_sink *sink;
    int64_t backoff_max_ms;
    atomic_int stop;
    /* the first attempt's outcome, for start: 0 pending, 1 listening, < 0 an ORM_E... */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int first;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void event(orm_driver_listener *f, const char *fmt, const char *detail)
{
    if (!f->sink->event)
        return;
    char line[1024]; /* the longest format and a 512-byte detail fit */
    snprintf(line, sizeof line, fmt, detail ? detail : "");
    /* libpq's messages end in a newline: the log wants one line */
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = '\0';
    f->sink->event(f->sink->ud, line);
}

/* Wait until fd is ready for ev or ms pass (-1: no limit); 1 ready, 0 timeout, -1 stop. */
static int wait_fd(orm_driver_listener *f, int fd, short ev, int ms)
{
    struct pollfd p[2] = { { f->wake[0], POLLIN, 0 }, { fd, ev, 0 } };
    for (;;) {
        int n = poll(p, fd >= 0 ? 2 : 1, ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (atomic_load(&f->stop) || (n > 0 && p[0].revents))
            return -1;
        return n > 0 ? 1 : 0;
    }
}

static void quiet(void *arg, const PGresult *res);

/* Connect and LISTEN; NULL on failure (its message in err). Gives up when stop is asked. */
static PGconn *listen_conn(orm_driver_listener *f, char *err, size_t errcap)
{
    /* TCP keepalives: an idle listener must notice a dead peer (a vanished host sends no
     * RST) in about 10 s, not the kernel's two hours. Before dbname: the DSN may override. */
    const char *keys[] = { "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                           "keepalives_count", "dbname", "client_encoding", NULL };
    const char *vals[] = { "10", "1", "5", "2", "3", f->dsn, "UTF8", NULL };
    PGconn *pg = PQconnectStartParams(keys, vals, 1);
    if (!pg) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    int64_t until = mono_ms() + 10000;
    while (PQstatus(pg) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int64_t left = until - mono_ms();
        int w = left > 0 ? wait_fd(f, PQsocket(pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                                   (int)left) : 0;
        if (w < 0) {
            snprintf(err, errcap, "stopped");
            PQfinish(pg);
            return NULL;
        }
        if (w == 0) {
            snprintf(err, errcap, "no answer from the server within 10 s");
            PQfinish(pg);
            return NULL;
        }
        st = PQconnectPoll(pg);
    }
    if (st != PGRES_POLLING_OK) {
        snprintf(err, errcap, "%s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeReceiver(pg, quiet, NULL);
    PGresult *r = PQexec(pg, "LISTEN " CHANNEL);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        snprintf(err, errcap, "LISTEN: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

/* libpq prints notices and a terminated backend's FATAL to stderr by default; the library
 * never prints (the loss reaches on_event instead). */
static void quiet(void *arg, const PGresult *res)
{
    (void)arg;
    (void)res;
}

static void deliver(orm_driver_listener *f, const PGnotify *n)
{
    const char *p = n->extra;
    size_t len = strlen(p);
    if (len < 2)
        return;
    if (p[0] == 'k')
        f->sink->key(f->sink->ud, p + 1, len - 1);
    else if (p[0] == 't')
        f->sink->table(f->sink->ud, p + 1, len - 1);
}

static void set_first(orm_driver_listener *f, int v)
{
    pthread_mutex_lock(&f->lock);
    if (f->first == 0) {
        f->first = v;
        pthread_cond_broadcast(&f->cond);
    }
    pthread_mutex_unlock(&f->lock);
}

static void *listener(void *arg)
{
    orm_driver_listener *f = arg;
    int64_t backoff = 0;
    char err[512];
    while (!atomic_load(&f->stop)) {
        PGconn *pg = listen_conn(f, err, sizeof err);
        if (!pg) {
            if (atomic_load(&f->stop))
                break;
            event(f, "row cache listener: cannot listen: %s", err);
            set_first(f, ORM_ECONN);
            backoff = backoff ? backoff * 2 : 10;
            if (backoff > f->backoff_max_ms)
                backoff = f->backoff_max_ms;
            if (wait_fd(f, -1, 0, (int)backoff) < 0)
                break;
            continue;
        }
        backoff = 0;
        /* Listening from here: anything cached before may have missed its notification. */
        f->sink->lost(f->sink->ud, 1);
        set_first(f, 1);
        event(f, "row cache listener: listening%s", "");
        for (;;) {
            int w = wait_fd(f, PQsocket(pg), POLLIN, -1);
            if (w < 0)
                break;
            if (!PQconsumeInput(pg) || PQstatus(pg) == CONNECTION_BAD) {
                snprintf(err, sizeof err, "%s", PQerrorMessage(pg));
                f->sink->lost(f->sink->ud, 0);
                event(f, "row cache listener: connection lost, cached rows dropped: %s", err);
                break;
            }
            PGnotify *n;
            while ((n = PQnotifies(pg))) {
                deliver(f, n);
                PQfreemem(n);
            }
        }
        PQfinish(pg);
    }
    return NULL;
}

static void feed_free(orm_driver_listener *f)
{
    if (f->wake[0] >= 0)
        close(f->wake[0]);
    if (f->wake[1] >= 0)
        close(f->wake[1]);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);
    orm__free(f->dsn);
    orm__free(f);
}

static void pg_feed_stop(orm_driver_listener *f)
{
    if (!f)
        return;
    atomic_store(&f->stop, 1);
    ssize_t w;
    do
        w = write(f->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(f->thread, NULL);
    feed_free(f);
}

static int pg_feed_start(orm_driver_listener **out, const char *dsn, const orm_driver_feed_sink *sink,
                         const orm_driver_feed_options *o)
{
    *out = NULL;
    orm_driver_listener *f = orm__calloc(1, sizeof *f);
    if (!f)
        return orm__error_nomem("postgres");
    f->wake[0] = f->wake[1] = -1;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    f->sink = sink;
    f->backoff_max_ms = o && o->backoff_max_ms > 0 ? o->backoff_max_ms : 1000;
    size_t n = strlen(dsn) + 1;
    if (!(f->dsn = orm__malloc(n))) {
        feed_free(f);
        return orm__error_nomem("postgres");
    }
    memcpy(f->dsn, dsn, n);
    if (pipe(f->wake) != 0) {
        int e = errno;
        feed_free(f);
        return orm__error_set(ORM_EIO, "postgres", "row cache listener: pipe: %s", strerror(e));
    }
    fcntl(f->wake[0], F_SETFD, FD_CLOEXEC);
    fcntl(f->wake[1], F_SETFD, FD_CLOEXEC);
    if (pthread_create(&f->thread, NULL, listener, f) != 0) {
        feed_free(f);
        return orm__error_set(ORM_EIO, "postgres", "row cache listener: cannot start its thread");
    }
    /* Wait for the first attempt: a DSN the listener cannot use is the caller's error now;
     * later losses are the listener's to handle. */
    pthread_mutex_lock(&f->lock);
    while (f->first == 0)
        pthread_cond_wait(&f->cond, &f->lock);
    int first = f->first;
    pthread_mutex_unlock(&f->lock);
    if (first < 0) {
        pg_feed_stop(f);
        return orm__error_set(ORM_ECONN, "postgres", "row cache listener: cannot connect and LISTEN");
    }
    *out = f;
    return ORM_OK;
}

const orm_driver_feed orm__pg_feed = {
    .install = pg_feed_install,
    .remove = pg_feed_remove,
    .start = pg_feed_start,
    .stop = pg_feed_stop,
    .check = NULL,
    .watch_conn = NULL,
    .rowid_is = NULL,
};
