/* liborm internal — making a public cursor over a driver cursor (session.c does). */
#ifndef ORM_ROWS_INTERNAL_H
#define ORM_ROWS_INTERNAL_H

#include "orm/session_internal.h"

/* Wrap cur, open on conn (from orm__session_acquire: tx as it said), in a public cursor run
 * with ctx (kept for its deadline/cancel codes). On ORM_ENOMEM nothing is taken over: the
 * caller still closes cur and releases conn. */
int orm__rows_new(orm_rows **out, orm_session *s, orm_conn *conn, orm_cursor *cur,
                  struct orm_tx *tx, orm_ctx *ctx);

#endif
