/* The metrics middleware: per kind x table counters (statements, errors, rows) and a latency
 * histogram, a consistent snapshot, and the Prometheus text rendering.
 *
 * What it keeps true:
 *   - every statement that reaches this layer is counted exactly once: exec statements when
 *     next returns, cursor statements when the cursor is freed (rows = rows read); a cursor
 *     statement that failed to open counts at once, as an error;
 *   - a histogram's bucket counts add up to its count, which equals the statements counted;
 *   - one mutex guards the series: a statement takes it once; a new series (the first
 *     statement of a kind on a table) allocates under it, nothing else does.
 * The series are a uthash table (orm/hash.h) keyed by kind and table name: the table name is
 * the key uthash compares, the kind is mixed into the hash and checked by HASH_KEYCMP, so a
 * statement's lookup costs one hash of its table name, however many series there are.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"

/* A candidate with the probe's hash and name length is the probe's series when its kind and
 * name match; `probe_kind` is a variable of the function that finds (the macro expands there). */
#define HASH_KEYCMP(stored, probe, n) series_cmp((const char *)(stored), (probe), (n), probe_kind)
#include "orm/hash.h"

typedef struct series {
    UT_hash_handle hh;  /* key: table[0..strlen) with kind mixed into the hash */
    orm_stmt_kind kind;
    uint64_t statements, errors, rows, sum_ns, max_ns, cached;
    uint64_t buckets[ORM_METRICS_BUCKETS];
    char table[];       /* owned copy: the metrics may outlive the descriptors */
} series;

#define MAX_COLLECTORS 8

struct orm_metrics {
    pthread_mutex_t lock;
    series *s;          /* uthash head; NULL when there are none */
    struct {
        orm_metrics_collector_fn fn;
        void *userdata;
    } col[MAX_COLLECTORS];
};

static const uint64_t bounds[ORM_METRICS_BUCKETS] = {
    1000u, 2000u, 5000u, 10000u, 20000u, 50000u, 100000u, 200000u, 500000u,
    1000000u, 2000000u, 5000000u, 10000000u, 20000000u, 50000000u, 100000000u,
    200000000u, 500000000u, 1000000000u, UINT64_MAX
};

const uint64_t *orm_metrics_bucket_bounds(void)
{
    return bounds;
}

int orm_metrics_new(orm_metrics **out)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "metrics", "orm_metrics_new: out is NULL");
    *out = NULL;
    orm_metrics *m = orm__calloc(1, sizeof *m);
    if (!m)
        return orm__error_nomem("metrics");
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        orm__free(m);
        return orm__error_set(ORM_ERROR, "metrics", "pthread_mutex_init failed");
    }
    *out = m;
    return ORM_OK;
}

static void free_series(orm_metrics *m)
{
    series *s, *tmp;
    HASH_ITER(hh, m->s, s, tmp) {
        HASH_DELETE(hh, m->s, s);
        orm__free(s);
    }
}

void orm_metrics_free(orm_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free_series(m);
    orm__free(m);
}

void orm_metrics_reset(orm_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    free_series(m);
    pthread_mutex_unlock(&m->lock);
}

static size_t bucket_of(uint64_t ns)
{
    size_t i = 0;
    while (ns > bounds[i])
        i++;
    return i;
}

static int series_cmp(const char *stored, const void *probe, size_t n, orm_stmt_kind probe_kind)
{
    const series *s = (const series *)(const void *)(stored - offsetof(series, table));
    return s->kind != probe_kind || memcmp(stored, probe, n) != 0;
}

/* The series for kind x table, made on first use. Called with the lock held. */
static series *find(orm_metrics *m, orm_stmt_kind kind, const char *table)
{
    const orm_stmt_kind probe_kind = kind;
    size_t len = strlen(table);
    unsigned hv;
    HASH_VALUE(table, (unsigned)len, hv);
    hv ^= ((unsigned)kind + 1u) * 0x9e3779b9u;
    series *s = NULL;
    HASH_FIND_BYHASHVALUE(hh, m->s, table, (unsigned)len, hv, s);
    if (s)
        return s;
    s = orm__calloc(1, sizeof *s + len + 1);
    if (!s)
        return NULL;
    s->kind = kind;
    memcpy(s->table, table, len + 1);
    int hash_oom = 0;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, m->s, s->table, (unsigned)len, hv, s);
    if (hash_oom) {
        orm__free(s);
        return NULL;
    }
    return s;
}

static void record(orm_metrics *m, orm_stmt_kind kind, const char *table, int error,
                   int64_t rows, uint64_t ns, int cached)
{
    pthread_mutex_lock(&m->lock);
    series *s = find(m, kind, table);
    if (s) { /* out of memory for a new series: this one observation is lost */
        s->statements++;
        if (cached)
            s->cached++;
        if (error)
            s->errors++;
        if (rows > 0)
            s->rows += (uint64_t)rows;
        s->sum_ns += ns;
        if (ns > s->max_ns)
            s->max_ns = ns;
        s->buckets[bucket_of(ns)]++;
    }
    pthread_mutex_unlock(&m->lock);
}

static int metrics_fn(orm_stmt *st, void *userdata)
{
    uint64_t t0 = orm__mw_now_ns();
    int rc = orm_stmt_next(st);
    if (rc == ORM_OK && (st->flags & ORM_STMT_CURSOR) && orm_stmt_defer(st, NULL) == ORM_OK)
        return rc;
    int64_t rows = (st->flags & (ORM_STMT_CURSOR | ORM_STMT_GET)) ? st->rows : st->affected;
    record(userdata, st->kind, orm__mw_table(st), rc != ORM_OK, rc == ORM_OK ? rows : 0,
           orm__mw_now_ns() - t0, (st->flags & ORM_STMT_CACHED) != 0);
    return rc;
}

static void metrics_close(const orm_stmt_done *d, void *cookie, void *userdata)
{
    (void)cookie;
    const char *table = d->model && d->model->table ? d->model->table : "";
    record(userdata, d->kind, table, d->error != ORM_OK, d->rows, d->elapsed_ns, 0);
}

int orm_metrics_add_collector(orm_metrics *m, orm_metrics_collector_fn fn, void *userdata)
{
    if (!m || !fn)
        return orm__error_set(ORM_EINVAL, "metrics", "orm_metrics_add_collector: NULL argument");
    for (size_t i = 0; i < MAX_COLLECTORS; i++)
        if (!m->col[i].fn) {
            m->col[i].fn = fn;
            m->col[i].userdata = userdata;
            return ORM_OK;
        }
    return orm__error_set(ORM_EINVAL, "metrics", "orm_metrics_add_collector: at most %d collectors",
                          MAX_COLLECTORS);
}

int orm_metrics_remove_collector(orm_metrics *m, orm_metrics_collector_fn fn, void *userdata)
{
    if (!m)
        return orm__error_set(ORM_EINVAL, "metrics", "orm_metrics_remove_collector: NULL metrics");
    for (size_t i = 0; i < MAX_COLLECTORS; i++)
        if (m->col[i].fn == fn && m->col[i].userdata == userdata) {
            for (; i + 1 < MAX_COLLECTORS; i++)
                m->col[i] = m->col[i + 1];
            m->col[MAX_COLLECTORS - 1].fn = NULL;
            m->col[MAX_COLLECTORS - 1].userdata = NULL;
            return ORM_OK;
        }
    return orm__error_set(ORM_ENOTFOUND, "metrics", "orm_metrics_remove_collector: not added");
}

int orm_metrics_middleware(orm_middleware *out, orm_metrics *m)
{
    if (!out || !m)
        return orm__error_set(ORM_EINVAL, "metrics", "orm_metrics_middleware: NULL argument");
    orm_middleware mw = ORM_MIDDLEWARE_INIT;
    mw.name = "metrics";
    mw.fn = metrics_fn;
    mw.close = metrics_close;
    mw.userdata = m;
    *out = mw;
    return ORM_OK;
}

/* ---- snapshot ---- */

/* The smallest bucket bound at or above the q-quantile observation, capped by the max. */
static uint64_t quantile(const orm_metrics_series *s, double q)
{
    if (s->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)s->count + 0.999999);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < ORM_METRICS_BUCKETS; i++) {
        seen += s->buckets[i];
        if (seen >= rank)
            return bounds[i] < s->max_ns ? bounds[i] : s->max_ns;
    }
    return s->max_ns;
}

static int by_table_kind(const void *a, const void *b)
{
    const orm_metrics_series *x = a, *y = b;
    int c = strcmp(x->table, y->table);
    return c ? c : (int)x->kind - (int)y->kind;
}

int orm_metrics_snapshot_take(const orm_metrics *cm, orm_metrics_snapshot *out)
{
    if (!cm || !out)
        return orm__error_set(ORM_EINVAL, "metrics", "orm_metrics_snapshot_take: NULL argument");
    orm_metrics *m = (orm_metrics *)cm; /* the lock is not part of what const promises */
    out->series = NULL;
    out->nseries = 0;
    pthread_mutex_lock(&m->lock);
    size_t n = HASH_COUNT(m->s);
    orm_metrics_series *v = n ? orm__calloc(n, sizeof *v) : NULL;
    size_t done = 0;
    if (v) {
        for (const series *s = m->s; s; s = s->hh.next, done++) {
            orm_metrics_series *o = &v[done];
            char *table = orm__strdup(s->table);
            if (!table)
                break;
            o->kind = s->kind;
            o->table = table;
            o->statements = s->statements;
            o->errors = s->errors;
            o->rows = s->rows;
            o->cached = s->cached;
            o->count = s->statements;
            o->sum_ns = s->sum_ns;
            o->max_ns = s->max_ns;
            memcpy(o->buckets, s->buckets, sizeof o->buckets);
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (n && done < n) {
        orm_metrics_snapshot partial = { v, done };
        orm_metrics_snapshot_free(&partial);
        return orm__error_nomem("metrics");
    }
    for (size_t i = 0; i < n; i++) {
        v[i].p50_ns = quantile(&v[i], 0.50);
        v[i].p90_ns = quantile(&v[i], 0.90);
        v[i].p99_ns = quantile(&v[i], 0.99);
    }
    if (n > 1)
        qsort(v, n, sizeof *v, by_table_kind);
    out->series = v;
    out->nseries = n;
    return ORM_OK;
}

void orm_metrics_snapshot_free(orm_metrics_snapshot *snap)
{
    if (!snap)
        return;
    for (size_t i = 0; i < snap->nseries; i++)
        orm__free((char *)snap->series[i].table);
    orm__free(snap->series);
    snap->series = NULL;
    snap->nseries = 0;
}

/* ---- Prometheus text format ---- */

static void label_value(orm__sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            orm__sbuf_add(b, "\\", 1);
        if (*s == '\n')
            orm__sbuf_add(b, "\\n", 2);
        else
            orm__sbuf_add(b, s, 1);
    }
}

static void labels(orm__sbuf *b, const orm_metrics_series *s)
{
    char kind[16];
    const char *k = orm_stmt_kind_name(s->kind);
    size_t i = 0;
    for (; k[i] && i < sizeof kind - 1; i++)
        kind[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] - 'A' + 'a' : k[i]);
    kind[i] = '\0';
    orm__sbuf_printf(b, "kind=\"%s\",table=\"", kind);
    label_value(b, s->table);
    orm__sbuf_add(b, "\"", 1);
}

static void counter(orm__sbuf *b, const orm_metrics_snapshot *snap, const char *name,
                    const char *help, size_t field)
{
    orm__sbuf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; i < snap->nseries; i++) {
        const orm_metrics_series *s = &snap->series[i];
        uint64_t v = field == 0 ? s->statements : field == 1 ? s->errors : field == 2 ? s->rows
                                                                                : s->cached;
        orm__sbuf_printf(b, "%s{", name);
        labels(b, s);
        orm__sbuf_printf(b, "} %llu\n", (unsigned long long)v);
    }
}

static void histogram(orm__sbuf *b, const orm_metrics_snapshot *snap)
{
    const char *h = "orm_statement_duration_seconds";
    orm__sbuf_printf(b, "# HELP %s Statement latency (cursors: open to free).\n"
                        "# TYPE %s histogram\n", h, h);
    for (size_t i = 0; i < snap->nseries; i++) {
        const orm_metrics_series *s = &snap->series[i];
        uint64_t cum = 0;
        for (size_t k = 0; k < ORM_METRICS_BUCKETS; k++) {
            cum += s->buckets[k];
            orm__sbuf_printf(b, "%s_bucket{", h);
            labels(b, s);
            if (bounds[k] == UINT64_MAX)
                orm__sbuf_puts(b, ",le=\"+Inf\"");
            else
                orm__sbuf_printf(b, ",le=\"%g\"", (double)bounds[k] / 1e9);
            orm__sbuf_printf(b, "} %llu\n", (unsigned long long)cum);
        }
        orm__sbuf_printf(b, "%s_sum{", h);
        labels(b, s);
        orm__sbuf_printf(b, "} %.9f\n%s_count{", (double)s->sum_ns / 1e9, h);
        labels(b, s);
        orm__sbuf_printf(b, "} %llu\n", (unsigned long long)s->count);
    }
    const char *g = "orm_statement_duration_max_seconds";
    orm__sbuf_printf(b, "# HELP %s Slowest statement seen.\n# TYPE %s gauge\n", g, g);
    for (size_t i = 0; i < snap->nseries; i++) {
        orm__sbuf_printf(b, "%s{", g);
        labels(b, &snap->series[i]);
        orm__sbuf_printf(b, "} %.9f\n", (double)snap->series[i].max_ns / 1e9);
    }
}

int orm_metrics_prometheus(const orm_metrics *m, char **out, size_t *len)
{
    if (!m || !out)
        return orm__error_set(ORM_EINVAL, "metrics", "orm_metrics_prometheus: NULL argument");
    *out = NULL;
    orm_metrics_snapshot snap;
    int rc = orm_metrics_snapshot_take(m, &snap);
    if (rc != ORM_OK)
        return rc;
    orm__sbuf b = { 0 };
    counter(&b, &snap, "orm_statements_total", "Statements run, by kind and table.", 0);
    counter(&b, &snap, "orm_errors_total", "Statements that failed, by kind and table.", 1);
    counter(&b, &snap, "orm_rows_total", "Rows returned (queries) or changed (writes).", 2);
    counter(&b, &snap, "orm_statements_cached_total",
            "Statements answered by a cache layer (they never reached the database).", 3);
    histogram(&b, &snap);
    orm_metrics_snapshot_free(&snap);
    /* The collectors' text (the row cache's series), in registration order. Read without the
     * lock: collectors are added before the metrics are shared, as middlewares are. */
    for (size_t i = 0; i < MAX_COLLECTORS && m->col[i].fn && !b.failed; i++) {
        char *t = NULL;
        rc = m->col[i].fn(&t, m->col[i].userdata);
        if (rc != ORM_OK) {
            orm__sbuf_free(&b);
            return rc;
        }
        if (t)
            orm__sbuf_puts(&b, t);
        orm_free_string(t);
    }
    if (b.failed) {
        orm__sbuf_free(&b);
        return orm__error_nomem("metrics");
    }
    if (len)
        *len = b.len;
    *out = b.p;
    return ORM_OK;
}
