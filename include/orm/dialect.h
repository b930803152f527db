/* liborm — SQL dialects, and the rendered form of a query.
 *
 * Every builder can render its SQL for any dialect (orm_select_to_sql and friends), which is
 * how you inspect what liborm sends, and how the tests check SQL text without a server.
 *
 * Thread safety: dialects are immutable singletons. An orm_sql belongs to its caller.
 */
#ifndef ORM_DIALECT_H
#define ORM_DIALECT_H

#include <stddef.h>

#include "orm/db.h"
#include "orm/export.h"
#include "orm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orm_dialect orm_dialect;

/* SQLite: "quoted" identifiers, ? placeholders, 1/0 booleans, ISO-8601 text timestamps. */
ORM_API const orm_dialect *orm_dialect_sqlite(void);
/* PostgreSQL: "quoted" identifiers, $n placeholders, TRUE/FALSE, timestamp values. */
ORM_API const orm_dialect *orm_dialect_postgres(void);
/* "sqlite" or "postgres" (a plug-in driver's dialect: its own name). */
ORM_API const char *orm_dialect_name(const orm_dialect *d);
/* The dialect db's driver renders by; NULL for a NULL db. Which SQL a db speaks, also when
 * its driver is a plug-in over another (orm_db_backend names the driver). */
ORM_API const orm_dialect *orm_db_dialect(const orm_db *db);

/* A rendered statement. Ownership: the caller's; release with orm_sql_clear. The args'
 * text and blob bytes are owned by the orm_sql. */
typedef struct orm_sql {
    char *text;
    size_t len;
    orm_value *args;
    size_t nargs;
} orm_sql;

#define ORM_SQL_INIT { NULL, 0, NULL, 0 }

/* Free what sql owns and zero it. NULL is a no-op. */
ORM_API void orm_sql_clear(orm_sql *sql);

#ifdef __cplusplus
}
#endif
#endif
