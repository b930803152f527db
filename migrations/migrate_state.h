/* liborm migrations internal — the state table orm_schema_migrations (state.c). Each
 * function runs its statement on the session it is given; mg is the driver's SQL
 * (orm/sys/driver.h). */
#ifndef ORM_MIGRATE_STATE_H
#define ORM_MIGRATE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "migrations/migrate_internal.h"
#include "orm/db.h"
#include "orm/sys/driver.h"

/* One row of the table, owned. */
typedef struct orm__mig_row {
    int64_t version;
    char *name;
    char checksum[17];
    char *applied_at;
    int64_t duration_ms;
    int dirty;
} orm__mig_row;

int orm__mig_state_create(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg);
/* Every row in version order. */
int orm__mig_state_read(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, orm__mig_row **out, size_t *count);
void orm__mig_rows_free(orm__mig_row *rows, size_t n);
int orm__mig_state_insert(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, const orm__mig *g,
                          int64_t duration_ms, int dirty);
int orm__mig_state_clean(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, int64_t version,
                         int64_t duration_ms);
int orm__mig_state_mark_dirty(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, int64_t version);
int orm__mig_state_delete(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, int64_t version);
int orm__mig_state_delete_above(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, int64_t version);
/* Set name and checksum to g's and clear dirty. */
int orm__mig_state_refresh(orm_session *s, orm_ctx *ctx, const orm_driver_migrate *mg, const orm__mig *g);

#endif
