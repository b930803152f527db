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
 * The change log (install, and the listener's change_log option): install creates the table
 * orm_row_cache_log (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT) and three row triggers
 * on the model's table ("orm_rc_ins:<table>", _upd, _del) that insert 'k' + the row cache key
 * of each row written (old and new keys of an UPDATE that changed the key), or 't' + the
 * prefix for key types with no exact SQL form (double, timestamp) or a NULL key column: the
 * PostgreSQL triggers' payloads. Each trigger also prunes: about every 64th id it deletes the
 * rows more than LOG_KEEP ids old, so the log never holds much more than LOG_KEEP rows
 * whoever reads it. With change_log, a move of data_version reads, in one read transaction,
 * the rows past the last id seen and the tables that carry all three triggers: each row is
 * reported (key or table), then `lost_except` those tables, so only models on other tables
 * are dropped whole. `lost` instead when the rows past the last id seen do not start right
 * after it (pruned before this process read them), when there are more than MAX_ROWS of
 * them, when the schema changed (a trigger installed or removed since the last read: writes
 * before it may not be logged) and when a read fails.
 *
 * Keeps true: a connection whose db has no sink (the cell is NULL) collects nothing; more than
 * MAX_ROWS rows in one transaction are reported as their tables, whole. The log's ids grow
 * in commit order (one writer at a time, AUTOINCREMENT never reuses one, a rollback takes
 * back its ids), so ids past the last seen are exactly the writes committed since.
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
#include "orm/feed.h"
#include "orm/sbuf.h"

#define MAX_ROWS 4096
#define MAX_TABLES 64
#define LOG_TABLE "orm_row_cache_log"
#define LOG_KEEP 10000 /* ids the triggers keep in the log */

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
    if (strcmp(table, LOG_TABLE) == 0) /* the change log's own rows (triggers) */
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

/* ---- the change log: triggers ---- */

static const char *const TRIGGER_KINDS[3] = { "ins", "upd", "del" };

/* The trigger's name, "orm_rc_<kind>:<table>", quoted. */
static void trigger_name(orm__sbuf *b, const char *kind, const char *table)
{
    orm__sbuf_printf(b, "\"orm_rc_%s:", kind);
    for (const char *p = table; *p; p++) {
        if (*p == '"')
            orm__sbuf_add(b, "\"", 1);
        orm__sbuf_add(b, p, 1);
    }
    orm__sbuf_add(b, "\"", 1);
}

static void column_ref(orm__sbuf *b, const char *row, const char *column)
{
    orm__sbuf_puts(b, row);
    orm__sbuf_puts(b, ".");
    orm__sbuf_quoted(b, column, '"');
}

/* The log row of row ("NEW" / "OLD"): 'k' + the row cache key (row_cache.h, "Keys": integers
 * in decimal, text "'" + the text with '\' and ':' escaped, blobs "x" + lowercase hex,
 * booleans b0 / b1, components joined by ':'), or 't' + prefix when a key column is NULL or
 * of a type with no exact SQL form (double, timestamp): the PostgreSQL triggers' payloads. */
static void log_value(orm__sbuf *b, const orm_model *m, const char *prefix, const char *row)
{
    if (!orm__feed_keys_exact(m)) {
        orm__sbuf_puts(b, "'t' || ");
        orm__sbuf_quoted(b, prefix, '\'');
        return;
    }
    orm__sbuf_puts(b, "coalesce('k' || ");
    orm__sbuf_quoted(b, prefix, '\'');
    for (size_t k = 0; k < m->npk; k++) {
        const orm_field *f = &m->fields[m->pk[k]];
        orm__sbuf_puts(b, k ? " || ':' || " : " || ");
        switch (f->type) {
        case ORM_FIELD_TEXT:
        case ORM_FIELD_FIXED_TEXT:
            orm__sbuf_puts(b, "'''' || replace(replace(");
            column_ref(b, row, f->column);
            orm__sbuf_puts(b, ", '\\', '\\\\'), ':', '\\:')");
            break;
        case ORM_FIELD_BLOB:
            orm__sbuf_puts(b, "CASE WHEN ");
            column_ref(b, row, f->column);
            orm__sbuf_puts(b, " IS NOT NULL THEN 'x' || lower(hex(");
            column_ref(b, row, f->column);
            orm__sbuf_puts(b, ")) END");
            break;
        case ORM_FIELD_BOOL:
            orm__sbuf_puts(b, "CASE WHEN ");
            column_ref(b, row, f->column);
            orm__sbuf_puts(b, " IS NULL THEN NULL WHEN ");
            column_ref(b, row, f->column);
            orm__sbuf_puts(b, " THEN 'b1' ELSE 'b0' END");
            break;
        default: /* the integers */
            orm__sbuf_puts(b, "CAST(");
            column_ref(b, row, f->column);
            orm__sbuf_puts(b, " AS INTEGER)");
            break;
        }
    }
    orm__sbuf_puts(b, ", 't' || ");
    orm__sbuf_quoted(b, prefix, '\'');
    orm__sbuf_puts(b, ")");
}

static void drop_log_triggers(orm__sbuf *b, const char *table)
{
    for (size_t i = 0; i < 3; i++) {
        orm__sbuf_puts(b, "DROP TRIGGER IF EXISTS ");
        trigger_name(b, TRIGGER_KINDS[i], table);
        orm__sbuf_puts(b, ";\n");
    }
}

/* Run sql in one write transaction (BEGIN IMMEDIATE: the write lock at once, through the
 * connection's busy handler), all or nothing. */
static int run_in_tx(orm_conn *c, const char *sql)
{
    sqlite3 *db = orm__sqlite_handle(c);
    char *err = NULL;
    int src = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err);
    if (src == SQLITE_OK)
        src = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (src == SQLITE_OK)
        src = sqlite3_exec(db, "COMMIT", NULL, NULL, &err);
    if (src == SQLITE_OK)
        return ORM_OK;
    int rc = orm__error_set(src == SQLITE_BUSY || src == SQLITE_LOCKED ? ORM_EBUSY : ORM_EIO, "sqlite",
                            "row cache change log: %s", err ? err : sqlite3_errstr(src));
    sqlite3_free(err);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int sqlite_feed_install(orm_conn *c, const orm_model *m, const char *prefix, size_t row_limit)
{
    (void)row_limit; /* row triggers: one log row per row written */
    static const char *const events[3] = { "INSERT", "UPDATE", "DELETE" };
    orm__sbuf b = { 0 };
    orm__sbuf_puts(&b, "CREATE TABLE IF NOT EXISTS " LOG_TABLE
                       " (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL);\n");
    drop_log_triggers(&b, m->table);
    for (size_t i = 0; i < 3; i++) {
        orm__sbuf_puts(&b, "CREATE TRIGGER ");
        trigger_name(&b, TRIGGER_KINDS[i], m->table);
        orm__sbuf_printf(&b, " AFTER %s ON ", events[i]);
        orm__sbuf_quoted(&b, m->table, '"');
        orm__sbuf_puts(&b, " BEGIN\n  INSERT INTO " LOG_TABLE " (key) VALUES (");
        log_value(&b, m, prefix, i == 0 ? "NEW" : "OLD");
        orm__sbuf_puts(&b, ");\n");
        if (i == 1 && orm__feed_keys_exact(m)) { /* the new key too, when the UPDATE changed it */
            orm__sbuf_puts(&b, "  INSERT INTO " LOG_TABLE " (key) SELECT ");
            log_value(&b, m, prefix, "NEW");
            orm__sbuf_puts(&b, " WHERE ");
            for (size_t k = 0; k < m->npk; k++) {
                const char *col = m->fields[m->pk[k]].column;
                if (k)
                    orm__sbuf_puts(&b, " OR ");
                column_ref(&b, "NEW", col);
                orm__sbuf_puts(&b, " IS NOT ");
                column_ref(&b, "OLD", col);
            }
            orm__sbuf_puts(&b, ";\n");
        }
        /* The prune: about every 64th id (a NULL bound reads no row the other times). */
        orm__sbuf_printf(&b, "  DELETE FROM " LOG_TABLE " WHERE id <= (SELECT last_insert_rowid() - %d"
                             " WHERE last_insert_rowid() %% 64 < 2);\nEND;\n", LOG_KEEP);
    }
    const char *sql = orm__sbuf_str(&b);
    int rc = sql ? run_in_tx(c, sql) : orm__error_nomem("sqlite");
    orm__sbuf_free(&b);
    return rc;
}

static int sqlite_feed_remove(orm_conn *c, const orm_model *m)
{
    orm__sbuf b = { 0 };
    drop_log_triggers(&b, m->table);
    const char *sql = orm__sbuf_str(&b);
    int rc = sql ? run_in_tx(c, sql) : orm__error_nomem("sqlite");
    orm__sbuf_free(&b);
    return rc;
}

/* ---- the poller: other processes ---- */

struct orm_driver_listener {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
    const orm_driver_feed_sink *sink;
    int64_t poll_ms;
    pthread_mutex_t dv_lock;  /* the connection, its statements and what follows: poller and check */
    sqlite3 *db;
    sqlite3_stmt *dv;         /* PRAGMA data_version */
    int64_t last;
    /* the change log (change_log set) */
    int log;
    int64_t seen;             /* the last log id read; < 0: unknown (read it anew: `lost`) */
    int64_t schema;           /* PRAGMA schema_version when covered was read; < 0: unknown */
    char **covered;           /* the tables with all three log triggers, at schema */
    size_t ncovered;
};

/* What one check found, reported once dv_lock is released. */
typedef struct found {
    int lost;          /* report `lost` (and nothing else) */
    orm__sbuf rows;    /* the log rows read, each followed by its NUL */
    size_t n;
    char **tables;     /* a copy of covered */
    size_t ntables;
} found;

static void found_free(found *r)
{
    orm__sbuf_free(&r->rows);
    for (size_t i = 0; i < r->ntables; i++)
        orm__free(r->tables[i]);
    orm__free(r->tables);
}

/* s (n bytes, NUL-terminated) and its NUL onto r's rows: 0, or -1 out of memory. */
static int add_row(found *r, const char *s, size_t n)
{
    orm__sbuf_add(&r->rows, s, n + 1);
    r->n++;
    return r->rows.failed ? -1 : 0;
}

static void free_covered(orm_driver_listener *f)
{
    for (size_t i = 0; i < f->ncovered; i++)
        orm__free(f->covered[i]);
    orm__free(f->covered);
    f->covered = NULL;
    f->ncovered = 0;
}

static int64_t one_int(sqlite3 *db, const char *sql, int64_t dflt, int *err)
{
    sqlite3_stmt *st;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        *err = 1;
        return dflt;
    }
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (src != SQLITE_DONE)
        *err = 1;
    sqlite3_finalize(st);
    return v;
}

/* In the read transaction: the schema's version, the covered tables and the log's last id,
 * read anew. 0, or -1 when a read failed (nothing known: schema and seen stay unknown). */
static int refresh(orm_driver_listener *f)
{
    int err = 0;
    free_covered(f);
    f->schema = -1;
    f->seen = -1;
    int64_t schema = one_int(f->db, "PRAGMA schema_version", -1, &err);
    sqlite3_stmt *st;
    if (err || sqlite3_prepare_v2(f->db,
            "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name IN "
            "('orm_rc_ins:' || tbl_name, 'orm_rc_upd:' || tbl_name, 'orm_rc_del:' || tbl_name) "
            "GROUP BY tbl_name HAVING count(*) = 3", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        char **c = t ? orm__realloc(f->covered, (f->ncovered + 1) * sizeof *c) : NULL;
        char *d = c ? orm__strndup(t, (size_t)sqlite3_column_bytes(st, 0)) : NULL;
        if (c)
            f->covered = c;
        if (!d) {
            src = SQLITE_NOMEM;
            break;
        }
        f->covered[f->ncovered++] = d;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE) {
        free_covered(f);
        return -1;
    }
    int64_t seen = 0;
    if (f->ncovered) { /* triggers need the log: it exists */
        seen = one_int(f->db, "SELECT coalesce(max(id), 0) FROM " LOG_TABLE, 0, &err);
        if (err) {
            free_covered(f);
            return -1;
        }
    }
    f->schema = schema;
    f->seen = seen;
    return 0;
}

/* In the read transaction, data_version having moved: the log's rows past seen, into r
 * (r->lost when they cannot be trusted to be all). */
static void read_log(orm_driver_listener *f, found *r)
{
    int err = 0;
    int64_t schema = one_int(f->db, "PRAGMA schema_version", -1, &err);
    if (err || schema != f->schema || f->seen < 0) {
        /* A trigger installed or removed since the last read (writes before it may not be
         * logged), or nothing known yet: drop everything, and read from here. */
        r->lost = 1;
        refresh(f);
        return;
    }
    if (!f->ncovered) {
        r->lost = 1; /* nothing logged */
        return;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(f->db, "SELECT id, key FROM " LOG_TABLE " WHERE id > ?1 ORDER BY id", -1, &st,
                           NULL) != SQLITE_OK) {
        r->lost = 1;
        refresh(f);
        return;
    }
    sqlite3_bind_int64(st, 1, f->seen);
    int src;
    int64_t id = f->seen;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t next = sqlite3_column_int64(st, 0);
        const char *k = (const char *)sqlite3_column_text(st, 1);
        /* A hole right after seen: pruned before this process read them. Too many: a drop of
         * everything costs less than thousands of keys. */
        if (next != id + 1 || !k || r->n == MAX_ROWS ||
            add_row(r, k, (size_t)sqlite3_column_bytes(st, 1)) != 0) {
            r->lost = 1;
            break;
        }
        id = next;
    }
    sqlite3_finalize(st);
    if (r->lost || src != SQLITE_DONE) {
        r->lost = 1;
        f->seen = one_int(f->db, "SELECT coalesce(max(id), 0) FROM " LOG_TABLE, -1, &err);
        return;
    }
    f->seen = id;
    if (!(r->tables = orm__calloc(f->ncovered, sizeof *r->tables))) {
        r->lost = 1;
        return;
    }
    for (size_t i = 0; i < f->ncovered; i++) {
        if (!(r->tables[i] = orm__strdup(f->covered[i]))) {
            r->lost = 1;
            return;
        }
        r->ntables++;
    }
}

static int64_t read_version(orm_driver_listener *f)
{
    int64_t v = -1;
    if (sqlite3_step(f->dv) == SQLITE_ROW)
        v = sqlite3_column_int64(f->dv, 0);
    sqlite3_reset(f->dv);
    return v;
}

/* Read data_version; report when it moved since the last read (a failed read reports too:
 * nothing is known). With the change log: the rows logged since, in the same read
 * transaction as the data_version they answer for. */
static void check_version(orm_driver_listener *f)
{
    found r;
    memset(&r, 0, sizeof r);
    pthread_mutex_lock(&f->dv_lock);
    int64_t v = read_version(f);
    int moved = v != f->last || v < 0;
    if (moved && f->log) {
        if (sqlite3_exec(f->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK) {
            v = read_version(f); /* the snapshot's: what the log is read at */
            if (v < 0)
                r.lost = 1;
            else
                read_log(f, &r);
            sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL);
        } else {
            r.lost = 1;
        }
    } else if (moved) {
        r.lost = 1;
    }
    f->last = v;
    pthread_mutex_unlock(&f->dv_lock);
    if (!moved)
        return;
    const orm_driver_feed_sink *s = f->sink;
    if (r.lost || !r.ntables || !s->lost_except) {
        s->lost(s->ud, 0);
    } else {
        /* The uncovered models first: once a read sees a key's new row, they are dropped. */
        s->lost_except(s->ud, (const char *const *)r.tables, r.ntables);
        for (size_t i = 0, at = 0; i < r.n; i++) {
            const char *p = r.rows.p + at;
            size_t n = strlen(p);
            at += n + 1;
            if (n >= 2 && p[0] == 'k')
                s->key(s->ud, p + 1, n - 1);
            else if (n >= 2 && p[0] == 't')
                s->table(s->ud, p + 1, n - 1);
        }
    }
    found_free(&r);
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
    free_covered(f);
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
    /* A reader waits for a writer's commit (rollback journal) rather than report a loss. */
    sqlite3_busy_timeout(f->db, 100);
    f->log = o->change_log != 0;
    f->seen = f->schema = -1;
    if (f->log && sqlite3_exec(f->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK) {
        /* The baseline: data_version, the covered tables and the log's last id, one snapshot. */
        f->last = read_version(f);
        refresh(f);
        sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL);
    } else {
        f->last = read_version(f); /* the baseline */
    }
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
    .install = sqlite_feed_install,
    .remove = sqlite_feed_remove,
    .start = sqlite_feed_start,
    .stop = sqlite_feed_stop,
    .check = check_version,
    .watch_conn = sqlite_watch_conn,
    .rowid_is = sqlite_rowid_is,
};
