/* liborm internal — the drivers' table. The interface itself is public, for implementers:
 * include/orm/sys/driver.h. This adds the built-in drivers and the lookup orm_db_open uses.
 * Drivers report errors with orm__error_set_db, mapping their codes to ORM_E... in one table
 * each.
 */
#ifndef ORM_DRIVER_H
#define ORM_DRIVER_H

#include "orm/sys/driver.h"

/* The built-in drivers (orm/driver/<name>/), in the table of orm/driver/registry.c. */
extern const orm_driver orm__driver_sqlite;
#ifdef ORM_WITH_POSTGRES
extern const orm_driver orm__driver_postgres;
#endif

/* The built-in dialects, and the facts that need no client library: defined in each driver's
 * facts.c, built even without the driver (SQL renders without a server). */
extern const orm_dialect orm__dialect_sqlite;
extern const orm_dialect orm__dialect_postgres;

/* The first driver (built-in, then registered) that accepts dsn, or NULL with the error set
 * (ORM_EUNSUPPORTED for a DSN of a driver this build lacks, else ORM_EINVAL). */
const orm_driver *orm__driver_for_dsn(const char *dsn);

#endif
