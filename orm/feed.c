/* liborm — the db's side of the change feed (orm/feed.h): dispatch to the driver's feed
 * (orm_driver_feed, orm/sys/driver.h), on a connection of the pool when one is needed, so
 * code above orm/ never names a backend; and the cell's one reader for drivers.
 *
 * Keeps true: the sink is published to the db's cell before the listener starts and cleared
 * before it stops, so a connection hook never calls a sink that is being freed (hooks run on
 * threads that hold a connection; the owner stops the feed only when the db is closing and no
 * statement runs).
 */
#include <string.h>

#include "orm/error_internal.h"
#include "orm/feed.h"
#include "orm/session_internal.h"

const orm_driver_feed_sink *orm_driver_feed_cell_sink(const orm_driver_feed_cell *cell)
{
    return cell ? atomic_load_explicit(&cell->sink, memory_order_acquire) : NULL;
}

int orm__feed_keys_exact(const orm_model *m)
{
    for (size_t k = 0; k < m->npk; k++) {
        orm_field_type t = m->fields[m->pk[k]].type;
        if (t == ORM_FIELD_DOUBLE || t == ORM_FIELD_TIMESTAMP)
            return 0;
    }
    return 1;
}

static const orm_driver_feed *ops_of(orm_db *db)
{
    const orm_driver *d = orm__db_driver(db);
    return d ? d->feed : NULL;
}

int orm__db_feed_ok(orm_db *db)
{
    if (ops_of(db))
        return 1;
    orm__error_set(ORM_EINVAL, "feed", "the %s backend reports no changes", orm_db_backend(db));
    return 0;
}

int orm__db_feed_install(orm_db *db, orm_ctx *ctx, const orm_model *m, const char *prefix, size_t row_limit)
{
    if (!orm__db_feed_ok(db))
        return ORM_EINVAL;
    const orm_driver_feed *f = ops_of(db);
    if (!f->install)
        return ORM_OK; /* the backend reports changes without triggers */
    orm_conn *c;
    int rc = orm__db_acquire(db, ctx, &c);
    if (rc != ORM_OK)
        return rc;
    rc = f->install(c, m, prefix, row_limit);
    orm__db_release(db, c);
    return rc;
}

int orm__db_feed_remove(orm_db *db, orm_ctx *ctx, const orm_model *m)
{
    if (!orm__db_feed_ok(db))
        return ORM_EINVAL;
    const orm_driver_feed *f = ops_of(db);
    if (!f->remove)
        return ORM_OK;
    orm_conn *c;
    int rc = orm__db_acquire(db, ctx, &c);
    if (rc != ORM_OK)
        return rc;
    rc = f->remove(c, m);
    orm__db_release(db, c);
    return rc;
}

int orm__db_feed_start(orm_db *db, orm_driver_listener **out, const orm_driver_feed_sink *sink,
                       const orm_driver_feed_options *o)
{
    *out = NULL;
    if (!orm__db_feed_ok(db))
        return ORM_EINVAL;
    const orm_driver_feed *f = ops_of(db);
    atomic_store_explicit(&orm__db_feed_cell(db)->sink, sink, memory_order_release);
    int rc = f->start ? f->start(out, orm__db_dsn(db), sink, o) : ORM_OK;
    if (rc != ORM_OK)
        atomic_store_explicit(&orm__db_feed_cell(db)->sink, NULL, memory_order_release);
    return rc;
}

void orm__db_feed_stop(orm_db *db, orm_driver_listener *feed)
{
    const orm_driver_feed *f = ops_of(db);
    if (!f)
        return;
    atomic_store_explicit(&orm__db_feed_cell(db)->sink, NULL, memory_order_release);
    if (feed && f->stop)
        f->stop(feed);
}

void orm__db_feed_check(orm_db *db, orm_driver_listener *feed)
{
    const orm_driver_feed *f = ops_of(db);
    if (f && feed && f->check)
        f->check(feed);
}

int orm__db_feed_rowid_is(orm_db *db, const char *table, const char *column)
{
    const orm_driver_feed *f = ops_of(db);
    if (!f || !f->rowid_is)
        return 0;
    orm_conn *c;
    int rc = orm__db_acquire(db, NULL, &c);
    if (rc != ORM_OK)
        return rc;
    rc = f->rowid_is(c, table, column);
    orm__db_release(db, c);
    return rc;
}
