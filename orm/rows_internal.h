/* liborm internal — making a public cursor over a driver cursor (session.c does). */
#ifndef ORM_ROWS_INTERNAL_H
#define ORM_ROWS_INTERNAL_H

#include "orm/session_internal.h"

/* Wrap cur, open on conn (from orm__session_acquire: tx as it said), in a public cursor run
 * with ctx (kept for its deadline/cancel codes). On ORM_ENOMEM nothing is taken over: the
 * caller still closes cur and releases conn. */
int orm__rows_new(orm_rows **out, orm_session *s, orm_conn *conn, orm_cursor *cur,
                  struct orm_tx *tx, orm_ctx *ctx);

/* The db's one spare orm_rows allocation (orm/db.c): take returns it (or NULL, then the
 * caller allocates); park keeps r for the next cursor and returns 1, or 0 when the slot is
 * full (the caller frees r). The db frees a parked one at close. */
void *orm__db_rows_take(orm_db *db);
int orm__db_rows_park(orm_db *db, void *r);

#endif
