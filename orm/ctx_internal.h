/* liborm internal — what the session, the drivers and tx/ need from an orm_ctx. */
#ifndef ORM_CTX_INTERNAL_H
#define ORM_CTX_INTERNAL_H

#include <stdint.h>

#include "orm/ctx.h"

/* ORM_OK, or ORM_ECANCELED / ORM_ETIMEOUT with the last error set (module names the caller).
 * NULL ctx: ORM_OK. */
int orm__ctx_check(const orm_ctx *ctx, const char *module);

/* Non-zero when ctx is cancelled or past its deadline: cheap (an atomic load, a clock read
 * when there is a deadline), for SQLite's progress handler. */
int orm__ctx_expired(const orm_ctx *ctx);

/* After a call with ctx failed with rc: a driver that was interrupted or cancelled reports
 * ORM_ECANCELED or ORM_ETIMEOUT without knowing why; this makes the code (and the last
 * error) say which: ORM_ECANCELED after orm_ctx_cancel, else ORM_ETIMEOUT past the deadline.
 * ORM_EBUSY becomes the ctx's reason too when the ctx is done (a busy wait it cut short).
 * Other codes pass through. */
int orm__ctx_fix(const orm_ctx *ctx, int rc);

/* The parent of ctx, or NULL. */
orm_ctx *orm__ctx_parent(const orm_ctx *ctx);

/* The transaction recorded on this very ctx (not its ancestors), and setting it (tx/). */
orm_tx *orm__ctx_own_tx(const orm_ctx *ctx);
void orm__ctx_set_tx(orm_ctx *ctx, orm_tx *tx);

#endif
