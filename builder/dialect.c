/* liborm builder — the SQLite and PostgreSQL dialects, and orm_sql_clear.
 *
 * Dialects are immutable static data: what differs between the backends' SQL (placeholders,
 * boolean literals, LIMIT/OFFSET, RETURNING, last insert id, parameter limits) is a field
 * here, so the render code has no backend names in it.
 */
#include <string.h>

#include "builder/dialect_internal.h"
#include "builder/sql_buf.h"
#include "orm/alloc.h"

static const orm_dialect sqlite_dialect = {
    .name = "sqlite",
    .numbered_params = 0,
    .true_lit = "1",
    .false_lit = "0",
    .has_returning = 1,          /* since SQLite 3.35 */
    .has_last_insert_id = 1,
    .needs_limit_for_offset = 1, /* LIMIT -1 OFFSET n */
    .max_params = 32766,         /* SQLITE_MAX_VARIABLE_NUMBER since 3.32 */
    .has_upsert = 1,
    .sequential_rowids = 1,
};

static const orm_dialect postgres_dialect = {
    .name = "postgres",
    .numbered_params = 1,
    .true_lit = "TRUE",
    .false_lit = "FALSE",
    .has_returning = 1,
    .has_last_insert_id = 0,     /* keys come back through RETURNING */
    .needs_limit_for_offset = 0,
    .max_params = 65535,         /* the protocol's 16-bit parameter count */
    .has_upsert = 1,
};

const orm_dialect *orm_dialect_sqlite(void) { return &sqlite_dialect; }

const orm_dialect *orm_dialect_postgres(void) { return &postgres_dialect; }

const char *orm_dialect_name(const orm_dialect *d) { return d ? d->name : "unknown"; }

const orm_dialect *orm__dialect_for_db(orm_db *db)
{
    const char *b = db ? orm_db_backend(db) : NULL;
    if (b && strcmp(b, "postgres") == 0)
        return &postgres_dialect;
    return &sqlite_dialect;
}

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
