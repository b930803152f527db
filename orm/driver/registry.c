/* liborm — the drivers' table: the built-in drivers, then those registered through
 * orm_driver_register, asked in that order which takes a DSN.
 *
 * Keeps true: registered entries are only ever appended, each published before the count
 * that covers it (release store; readers load the count with acquire), so orm_db_open reads
 * the table without a lock; writers serialize on reg_lock. A name appears at most once.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "orm/driver.h"
#include "orm/error_internal.h"

static const orm_driver *const builtin[] = {
    &orm__driver_sqlite,
#ifdef ORM_WITH_POSTGRES
    &orm__driver_postgres,
#endif
};
#define NBUILTIN (sizeof builtin / sizeof builtin[0])

/* Room for the drivers one process registers: a handful at most (a test recorder, a vendor
 * backend); a fixed array keeps lookups lock-free. */
#define MAX_REGISTERED 16

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const orm_driver *registered[MAX_REGISTERED];
static atomic_size_t nregistered;

const orm_driver *orm_driver_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < NBUILTIN; i++)
        if (strcmp(builtin[i]->name, name) == 0)
            return builtin[i];
    size_t n = atomic_load_explicit(&nregistered, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (strcmp(registered[i]->name, name) == 0)
            return registered[i];
    return NULL;
}

/* A DSN the PostgreSQL driver would take, for a liborm built without it. */
static int looks_postgres(const char *dsn)
{
    return strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0 ||
           strchr(dsn, '=') != NULL;
}

const orm_driver *orm__driver_for_dsn(const char *dsn)
{
    for (size_t i = 0; i < NBUILTIN; i++)
        if (builtin[i]->accepts(dsn))
            return builtin[i];
    size_t n = atomic_load_explicit(&nregistered, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (registered[i]->accepts(dsn))
            return registered[i];
    if (looks_postgres(dsn))
        orm__error_set(ORM_EUNSUPPORTED, "db", "DSN is for PostgreSQL, but this liborm has no PostgreSQL driver");
    else
        orm__error_set(ORM_EINVAL, "db",
                       "unknown DSN \"%.80s\" (expected sqlite:PATH, file:URI or postgres://...)", dsn);
    return NULL;
}

/* The member a feed lacks, or NULL when it is whole (or there is none): start and stop
 * always, install and remove as a pair. */
static const char *feed_missing(const orm_driver_feed *f)
{
    return !f                          ? NULL
         : !f->start                   ? "feed->start"
         : !f->stop                    ? "feed->stop"
         : f->install && !f->remove    ? "feed->remove (it has feed->install)"
         : f->remove && !f->install    ? "feed->install (it has feed->remove)"
                                       : NULL;
}

/* The first required member drv lacks, or NULL when it has them all. */
static const char *missing(const orm_driver *drv)
{
    const orm_dialect *d = drv->dialect;
    return !drv->name || !*drv->name ? "name"
         : !drv->trace_name         ? "trace_name"
         : !drv->accepts            ? "accepts"
         : !drv->open               ? "open"
         : !drv->close              ? "close"
         : !drv->exec               ? "exec"
         : !drv->query              ? "query"
         : !drv->exec_script        ? "exec_script"
         : !drv->cursor_next        ? "cursor_next"
         : !drv->cursor_ncols       ? "cursor_ncols"
         : !drv->cursor_name        ? "cursor_name"
         : !drv->cursor_value       ? "cursor_value"
         : !drv->cursor_close       ? "cursor_close"
         : !drv->begin              ? "begin"
         : !drv->commit             ? "commit"
         : !drv->rollback           ? "rollback"
         : !drv->begin_sql          ? "begin_sql"
         : !drv->pool_defaults      ? "pool_defaults"
         : !drv->reset              ? "reset"
         : !d                       ? "dialect"
         : !d->name || !d->true_lit || !d->false_lit || !d->ident_quote || !d->max_params
                                    ? "dialect (name, ident_quote, literals, max_params)"
                                    : feed_missing(drv->feed);
}

int orm_driver_register(const orm_driver *drv)
{
    if (!drv)
        return orm__error_set(ORM_EINVAL, "driver", "orm_driver_register: driver is NULL");
    if (drv->version < 1 || drv->version > ORM_DRIVER_VERSION)
        return orm__error_set(ORM_EINVAL, "driver",
                              "orm_driver_register: unknown orm_driver version %u (this liborm knows %u)",
                              drv->version, ORM_DRIVER_VERSION);
    const char *what = missing(drv);
    if (what)
        return orm__error_set(ORM_EINVAL, "driver", "orm_driver_register: driver \"%s\" has no %s",
                              drv->name ? drv->name : "(unnamed)", what);
    pthread_mutex_lock(&reg_lock);
    int rc = ORM_OK;
    size_t n = atomic_load_explicit(&nregistered, memory_order_relaxed);
    if (orm_driver_find(drv->name))
        rc = orm__error_set(ORM_EINVAL, "driver", "orm_driver_register: a driver named \"%s\" is already registered",
                            drv->name);
    else if (n == MAX_REGISTERED)
        rc = orm__error_set(ORM_ENOMEM, "driver", "orm_driver_register: the table is full (%d drivers)",
                            MAX_REGISTERED);
    else {
        registered[n] = drv;
        atomic_store_explicit(&nregistered, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}
