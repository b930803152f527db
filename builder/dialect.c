/* liborm builder — the dialects by name, a db's dialect, and orm_sql_clear.
 *
 * A dialect is its driver's (orm/sys/driver.h): what differs between backends' SQL
 * (quoting, placeholders, boolean literals, LIMIT/OFFSET, RETURNING, upsert, last insert id,
 * parameter limits) is a field there, so the render code has no backend names in it, and a
 * db's dialect is whatever its driver says: there is no default.
 */
#include <string.h>

#include "builder/dialect_internal.h"
#include "builder/sql_buf.h"
#include "orm/alloc.h"
#include "orm/driver.h"

/* Both built-in dialects exist even when the PostgreSQL driver is not built: rendering SQL
 * needs no server. */
const orm_dialect *orm_dialect_sqlite(void) { return &orm__dialect_sqlite; }

const orm_dialect *orm_dialect_postgres(void) { return &orm__dialect_postgres; }

const char *orm_dialect_name(const orm_dialect *d) { return d ? d->name : "unknown"; }

const orm_dialect *orm__dialect_for_db(orm_db *db) { return orm_db_driver(db)->dialect; }

const orm_dialect *orm_db_dialect(const orm_db *db) { return db ? orm_db_driver(db)->dialect : NULL; }

void orm_sql_clear(orm_sql *sql)
{
    if (!sql)
        return;
    for (size_t i = 0; i < sql->nargs; i++)
        orm__value_release(&sql->args[i]);
    orm__free(sql->args);
    orm__free(sql->text);
    memset(sql, 0, sizeof *sql);
}
