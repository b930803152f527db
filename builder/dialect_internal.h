/* liborm builder internal — the dialect the builders render by. A dialect (struct orm_dialect,
 * orm/sys/driver.h) is its driver's: immutable, one per backend. */
#ifndef ORM_BUILDER_DIALECT_INTERNAL_H
#define ORM_BUILDER_DIALECT_INTERNAL_H

#include <stddef.h>

#include "orm/db.h"
#include "orm/dialect.h"
#include "orm/sys/driver.h"

/* The dialect of db's driver. */
const orm_dialect *orm__dialect_for_db(orm_db *db);

/* Rows per multi-row INSERT at most, so statement caches keep a few shapes, not thousands. */
#define ORM_INSERT_MAX_ROWS 500

#endif
