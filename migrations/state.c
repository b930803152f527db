/* Migrations: the state table orm_schema_migrations — its DDL per backend, reading it, and
 * the writes a step makes (record, mark clean, delete). Values are always bound; the only
 * SQL text here is fixed per backend.
 *
 * What it keeps true: every statement runs on the session it is given (the step's
 * transaction, or the db's for a no-transaction migration), through orm_exec_sql or the raw
 * API, so the middleware chain sees it (DDL for the table, RAW for the rows).
 */
#include <string.h>

#include "migrations/migrate_state.h"
#include "orm/alloc.h"
#include "orm/raw.h"
#include "orm/sys/driver.h"

int orm__mig_state_create(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg)
{
    return orm_exec_sql(s, ctx, mg->create_sql);
}

void orm__mig_rows_free(orm__mig_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++) {
        orm__free(rows[i].name);
        orm__free(rows[i].applied_at);
    }
    orm__free(rows);
}

static char *dup_col(orm_rows *r, size_t col)
{
    const char *t = orm_rows_text(r, col, NULL);
    return orm__strdup(t ? t : "");
}

int orm__mig_state_read(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, orm__mig_row **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    orm_rows *r;
    int rc = orm_raw_rows(s, ctx, mg->select_sql, NULL, 0, &r);
    if (rc != ORM_OK)
        return rc;
    orm__mig_row *rows = NULL;
    size_t n = 0, cap = 0;
    while ((rc = orm_rows_next(r)) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            orm__mig_row *p = orm__realloc(rows, cap * sizeof *p);
            if (!p) {
                rc = orm__error_nomem("migrate");
                break;
            }
            rows = p;
        }
        orm__mig_row *w = &rows[n++];
        memset(w, 0, sizeof *w);
        w->version = orm_rows_int(r, 0);
        w->name = dup_col(r, 1);
        const char *sum = orm_rows_text(r, 2, NULL);
        strncpy(w->checksum, sum ? sum : "", sizeof w->checksum - 1);
        w->applied_at = dup_col(r, 3);
        w->duration_ms = orm_rows_int(r, 4);
        w->dirty = orm_rows_int(r, 5) != 0;
        if (!w->name || !w->applied_at) {
            rc = orm__error_nomem("migrate");
            break;
        }
    }
    orm_rows_free(r);
    if (rc < 0) {
        orm__mig_rows_free(rows, n);
        return rc;
    }
    *out = rows;
    *count = n;
    return ORM_OK;
}

int orm__mig_state_insert(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, const orm__mig *g,
                          int64_t duration_ms, int dirty)
{
    orm_value args[] = { orm_int(g->version), orm_text(g->name), orm_text(g->checksum),
                         orm_int(duration_ms), orm_int(dirty) };
    return orm_raw_exec(s, ctx, mg->insert_sql, args, 5, NULL);
}

int orm__mig_state_clean(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, int64_t version,
                         int64_t duration_ms)
{
    orm_value args[] = { orm_int(duration_ms), orm_int(version) };
    return orm_raw_exec(s, ctx, mg->clean_sql, args, 2, NULL);
}

int orm__mig_state_mark_dirty(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, int64_t version)
{
    orm_value args[] = { orm_int(version) };
    return orm_raw_exec(s, ctx, mg->dirty_sql, args, 1, NULL);
}

int orm__mig_state_delete(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, int64_t version)
{
    orm_value args[] = { orm_int(version) };
    return orm_raw_exec(s, ctx, mg->delete_sql, args, 1, NULL);
}

int orm__mig_state_delete_above(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, int64_t version)
{
    orm_value args[] = { orm_int(version) };
    return orm_raw_exec(s, ctx, mg->delete_above_sql, args, 1, NULL);
}

int orm__mig_state_refresh(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, const orm__mig *g)
{
    orm_value args[] = { orm_text(g->name), orm_text(g->checksum), orm_int(g->version) };
    return orm_raw_exec(s, ctx, mg->refresh_sql, args, 3, NULL);
}
