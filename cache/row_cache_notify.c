/* liborm — the row cache's side of cross-process coherence (row_cache_listen.h): the sink of
 * the db's change feed (the driver's orm_driver_feed, orm/sys/driver.h, reached through
 * orm/feed.h), turning what the database reports into the row cache's drops. No backend is
 * named here: the driver's feed delivers keys, tables, rowids and losses; the triggers and
 * the listener live in the drivers.
 *
 * Keeps true:
 *  - a report only ever drops (orm__rc_drop_key / orm__rc_drop_model bump generations): it
 *    never loads nor installs a row, so a report of this process's own committed write cannot
 *    put back an older row, and a load racing with the report cannot install what it read
 *    before it;
 *  - a report for a model not listened to is ignored; a loss drops every listened model;
 *  - the list of listened models only grows and is read under `lock` (reports come from the
 *    listener's thread and, on SQLite, from committing threads).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include "cache/row_cache_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/feed.h"
#include "orm/row_cache_listen.h"

typedef struct listened {
    rc_model *m;
    int rowid_key; /* SQLite reports name this model's key by rowid */
} listened;

struct rc_notify {
    orm_row_cache *rc;
    pthread_mutex_t lock;
    listened *list;
    size_t n, cap;
    orm_driver_feed_sink sink;
    orm_driver_listener *feed;
    int started;
    void (*on_event)(void *, const char *);
    void *event_ud;
    _Atomic uint64_t notifications, rows, models, losses, connects;
};

static void bump(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

static void on_key(void *ud, const char *key, size_t len)
{
    struct rc_notify *nf = ud;
    bump(&nf->notifications);
    pthread_mutex_lock(&nf->lock);
    for (size_t i = 0; i < nf->n; i++) {
        rc_model *m = nf->list[i].m;
        if (len > m->prefix_len && memcmp(key, m->prefix, m->prefix_len) == 0) {
            orm__rc_drop_key(m, key);
            bump(&nf->rows);
            break;
        }
    }
    pthread_mutex_unlock(&nf->lock);
}

static void on_table(void *ud, const char *prefix, size_t len)
{
    struct rc_notify *nf = ud;
    bump(&nf->notifications);
    pthread_mutex_lock(&nf->lock);
    for (size_t i = 0; i < nf->n; i++) {
        rc_model *m = nf->list[i].m;
        if (len == m->prefix_len && memcmp(prefix, m->prefix, len) == 0) {
            orm__rc_drop_model(m);
            bump(&nf->models);
            break;
        }
    }
    pthread_mutex_unlock(&nf->lock);
}

static void on_rowid(void *ud, const char *table, int64_t rowid, int whole)
{
    struct rc_notify *nf = ud;
    bump(&nf->notifications);
    pthread_mutex_lock(&nf->lock);
    for (size_t i = 0; i < nf->n; i++) {
        rc_model *m = nf->list[i].m;
        if (strcasecmp(m->model->table, table) != 0)
            continue;
        if (nf->list[i].rowid_key && !whole) {
            orm_value k;
            memset(&k, 0, sizeof k);
            k.type = ORM_VALUE_INT;
            k.u.i = rowid;
            char kb[128];
            size_t n = orm__rc_key(kb, sizeof kb, m, &k);
            if (n < sizeof kb) {
                orm__rc_drop_key(m, kb);
                bump(&nf->rows);
                break;
            }
        }
        orm__rc_drop_model(m);
        bump(&nf->models);
        break;
    }
    pthread_mutex_unlock(&nf->lock);
}

static void on_lost(void *ud, int connected)
{
    struct rc_notify *nf = ud;
    bump(connected ? &nf->connects : &nf->losses);
    pthread_mutex_lock(&nf->lock);
    for (size_t i = 0; i < nf->n; i++)
        orm__rc_drop_model(nf->list[i].m);
    pthread_mutex_unlock(&nf->lock);
}

static void on_lost_except(void *ud, const char *const *tables, size_t n)
{
    struct rc_notify *nf = ud;
    if (!n) {
        on_lost(ud, 0);
        return;
    }
    bump(&nf->notifications);
    pthread_mutex_lock(&nf->lock);
    for (size_t i = 0; i < nf->n; i++) {
        rc_model *m = nf->list[i].m;
        size_t t = 0;
        while (t < n && strcasecmp(m->model->table, tables[t]) != 0)
            t++;
        if (t == n) { /* its table's changes were not reported: drop it */
            orm__rc_drop_model(m);
            bump(&nf->models);
        }
    }
    pthread_mutex_unlock(&nf->lock);
}

static void on_event(void *ud, const char *line)
{
    struct rc_notify *nf = ud;
    if (nf->on_event)
        nf->on_event(nf->event_ud, line);
}

void orm__rc_notify_check(orm_row_cache *rc)
{
    struct rc_notify *nf = rc->notify;
    if (nf && nf->started)
        orm__db_feed_check(rc->db, nf->feed);
}

void orm__rc_notify_free(orm_row_cache *rc)
{
    struct rc_notify *nf = rc->notify;
    if (!nf)
        return;
    if (nf->started)
        orm__db_feed_stop(rc->db, nf->feed);
    pthread_mutex_destroy(&nf->lock);
    orm__free(nf->list);
    orm__free(nf);
    rc->notify = NULL;
}

static rc_model *cached_model(orm_row_cache *rc, const orm_model *model, const char *fn)
{
    rc_model *m = rc && model ? orm__rc_find(rc, model) : NULL;
    if (!m || m->o.mode == ORM_ROW_CACHE_OFF)
        orm__error_set(ORM_EINVAL, "row_cache", "%s: %s", fn, !rc || !model ? "NULL argument"
                       : "the row cache does not cache this model (orm_row_cache_model first)");
    return m && m->o.mode != ORM_ROW_CACHE_OFF ? m : NULL;
}

int orm_row_cache_listen(orm_row_cache *rc, const orm_model *model, const orm_row_cache_listen_options *opts)
{
    rc_model *m = cached_model(rc, model, "orm_row_cache_listen");
    if (!m)
        return ORM_EINVAL;
    orm_row_cache_listen_options d = ORM_ROW_CACHE_LISTEN_OPTIONS_INIT;
    if (!opts)
        opts = &d;
    if (opts->version != ORM_ROW_CACHE_LISTEN_OPTIONS_VERSION && opts->version != 1)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_listen_options: unknown version %u",
                              opts->version);
    bool change_log = opts->version >= 2 && opts->change_log; /* version 1 ends before it */
    if (!orm__db_feed_ok(rc->db))
        return ORM_EINVAL;
    struct rc_notify *nf = rc->notify;
    if (!nf) {
        if (!(nf = orm__calloc(1, sizeof *nf)))
            return orm__error_nomem("row_cache");
        pthread_mutex_init(&nf->lock, NULL);
        nf->rc = rc;
        nf->sink = (orm_driver_feed_sink){ on_key, on_table, on_rowid, on_lost, on_event, nf, on_lost_except };
        nf->on_event = opts->on_event;
        nf->event_ud = opts->userdata;
        rc->notify = nf;
    }
    for (size_t i = 0; i < nf->n; i++)
        if (nf->list[i].m == m)
            return ORM_OK;
    int rowid_key = 0;
    if (model->npk == 1) {
        const orm_field *f = &model->fields[model->pk[0]];
        if (f->type == ORM_FIELD_INT16 || f->type == ORM_FIELD_INT32 || f->type == ORM_FIELD_INT64) {
            int r = orm__db_feed_rowid_is(rc->db, model->table, f->column);
            if (r < 0)
                return r;
            rowid_key = r;
        }
    }
    pthread_mutex_lock(&nf->lock);
    if (nf->n == nf->cap) {
        size_t cap = nf->cap ? nf->cap * 2 : 8;
        listened *l = orm__realloc(nf->list, cap * sizeof *l);
        if (!l) {
            pthread_mutex_unlock(&nf->lock);
            return orm__error_nomem("row_cache");
        }
        nf->list = l;
        nf->cap = cap;
    }
    nf->list[nf->n++] = (listened){ m, rowid_key };
    pthread_mutex_unlock(&nf->lock);
    if (!nf->started) {
        orm_driver_feed_options fo = { opts->poll_ms ? opts->poll_ms : 10, opts->backoff_max_ms, change_log };
        int r = orm__db_feed_start(rc->db, &nf->feed, &nf->sink, &fo);
        if (r != ORM_OK) {
            pthread_mutex_lock(&nf->lock);
            nf->n--;
            pthread_mutex_unlock(&nf->lock);
            return r;
        }
        nf->started = 1;
        rc->notify_strict = opts->strict;
    }
    /* Rows cached before the model was listened to may have missed their reports. */
    orm__rc_drop_model(m);
    return ORM_OK;
}

int orm_row_cache_listen_stats_get(orm_row_cache *rc, orm_row_cache_listen_stats *out)
{
    if (!rc || !out)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_listen_stats_get: NULL argument");
    struct rc_notify *nf = rc->notify;
    if (!nf || !nf->started)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_listen_stats_get: the row cache "
                              "listens to no model");
    out->notifications = atomic_load(&nf->notifications);
    out->rows_dropped = atomic_load(&nf->rows);
    out->models_dropped = atomic_load(&nf->models);
    out->losses = atomic_load(&nf->losses);
    out->connects = atomic_load(&nf->connects);
    return ORM_OK;
}

/* ---- triggers ---- */

int orm_row_cache_triggers_install(orm_db *db, orm_ctx *ctx, const orm_model *model, size_t row_limit)
{
    if (!db || !model)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_triggers_install: NULL %s",
                              !db ? "db" : "model");
    int r = orm_model_validate(model);
    if (r != ORM_OK)
        return r;
    if (model->npk == 0)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_triggers_install: table \"%s\" has "
                              "no primary key", model->table);
    /* The key prefix the triggers send: the same encoding as the row cache's keys. */
    size_t tl = strlen(model->table), pn = 0;
    for (size_t i = 0; i < tl; i++)
        pn += (model->table[i] == ':' || model->table[i] == '\\') ? 2 : 1;
    char *prefix = orm__malloc(pn + 2);
    if (!prefix)
        return orm__error_nomem("row_cache");
    size_t at = 0;
    for (size_t i = 0; i < tl; i++) {
        if (model->table[i] == ':' || model->table[i] == '\\')
            prefix[at++] = '\\';
        prefix[at++] = model->table[i];
    }
    prefix[at++] = ':';
    prefix[at] = '\0';
    r = orm__db_feed_install(db, ctx, model, prefix, row_limit ? row_limit : 100);
    orm__free(prefix);
    return r;
}

int orm_row_cache_triggers_remove(orm_db *db, orm_ctx *ctx, const orm_model *model)
{
    if (!db || !model)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_triggers_remove: NULL %s",
                              !db ? "db" : "model");
    int r = orm_model_validate(model);
    if (r != ORM_OK)
        return r;
    return orm__db_feed_remove(db, ctx, model);
}
