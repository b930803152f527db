/* liborm — the context of a call: a deadline, a cancel flag, the open transaction, tags.
 *
 *     orm_ctx *ctx;
 *     orm_ctx_with_timeout(&ctx, NULL, 200);          // 200 ms from now
 *     rc = orm_select_all(q, ctx, ...);                 // ORM_ETIMEOUT once it passes
 *     orm_ctx_free(ctx);
 *
 * Every call that reaches the database takes an orm_ctx * (NULL: no deadline, no
 * transaction). What the ctx does there:
 *  - Deadline: a statement still running when it passes is stopped (SQLite: a progress
 *    handler; PostgreSQL: a cancel request sent without blocking, again while it runs) and
 *    returns ORM_ETIMEOUT, usually within a few ms and never more than about 250 ms late: a
 *    PostgreSQL server that has not ended it by then (frozen, unreachable) has its connection
 *    given up (never reused; a background thread stops the statement once the server answers).
 *    One that would start after it (BEGIN and COMMIT too) returns ORM_ETIMEOUT without
 *    running; waiting for a pooled connection, a PostgreSQL connect or a SQLite lock gives up
 *    at the deadline (ORM_ETIMEOUT). A COMMIT cut short may return ORM_EUNKNOWN (see tx.h).
 *  - Cancel: orm_ctx_cancel (safe from any thread, never blocks) stops the running statement
 *    the same way within about 20 ms, with ORM_ECANCELED; every later call with the ctx is
 *    ORM_ECANCELED.
 *  - Derived contexts: a child (orm_ctx_new / _with_timeout / _with_deadline with a parent)
 *    has the earlier of its own and its parent's deadline, is cancelled when its parent is,
 *    sees its parent's transaction and tags. Cancelling a child leaves the parent alone.
 *  - The open transaction: orm_tx_begin / orm_do_tx given a ctx record the transaction on
 *    it until the transaction ends. Then
 *      * orm_db_session(db) run with that ctx (or a child of it) runs inside the transaction,
 *        on its connection: a callee that is given the ctx joins its caller's transaction
 *        without being handed the tx or its session;
 *      * orm_tx_begin / orm_do_tx with that ctx on the same db open a SAVEPOINT in it
 *        (a nested transaction: its rollback undoes only its own work).
 *    orm_ctx_tx tells which transaction a ctx carries.
 *  - Tags: key/value strings for middlewares (the tag middleware adds them to the SQL
 *    comment); a child sees its parent's tags, its own shadow them.
 *
 * Deadlines are absolute, on CLOCK_MONOTONIC, in microseconds (orm_ctx_now_us).
 *
 * Ownership: every ctx made here is freed with orm_ctx_free (NULL is a no-op). Free children
 * before their parent; a ctx must outlive the transactions recorded on it and the cursors
 * opened with it.
 * Thread safety: orm_ctx_cancel, orm_ctx_err, orm_ctx_deadline are safe from any thread at
 * any time. A ctx that carries a transaction belongs to that transaction's thread; tags are
 * set by one thread and read by the statements it runs. Deriving children of one parent
 * from several threads at once is safe, and so is running statements with one ctx that
 * carries no transaction on several threads at once (a cancel stops them all).
 */
#ifndef ORM_CTX_H
#define ORM_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "orm/db.h"
#include "orm/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orm_tx orm_tx;

/* Now on the deadline clock: CLOCK_MONOTONIC, microseconds. */
ORM_API int64_t orm_ctx_now_us(void);

/* A ctx with no deadline of its own (parent NULL: a root; else a child of parent). */
ORM_API int orm_ctx_new(orm_ctx **out, orm_ctx *parent);
/* A ctx whose deadline is timeout_ms from now (or the parent's, when earlier).
 * timeout_ms <= 0: already expired. */
ORM_API int orm_ctx_with_timeout(orm_ctx **out, orm_ctx *parent, int64_t timeout_ms);
/* A ctx with an absolute deadline (orm_ctx_now_us scale; 0: none of its own). */
ORM_API int orm_ctx_with_deadline(orm_ctx **out, orm_ctx *parent, int64_t deadline_us);
/* Free a ctx (its children first). NULL is a no-op. */
ORM_API void orm_ctx_free(orm_ctx *ctx);

/* Cancel ctx and its children: a statement running with one of them is stopped
 * (ORM_ECANCELED) and every later call with them is ORM_ECANCELED. Safe from any thread;
 * idempotent. This function can't fail. */
ORM_API void orm_ctx_cancel(orm_ctx *ctx);
/* ORM_OK while usable, ORM_ECANCELED after a cancel (of ctx or an ancestor), ORM_ETIMEOUT
 * once the deadline passed. Does not touch the last error. NULL: ORM_OK. */
ORM_API int orm_ctx_err(const orm_ctx *ctx);
/* The effective deadline (orm_ctx_now_us scale), 0 for none. */
ORM_API int64_t orm_ctx_deadline(const orm_ctx *ctx);

/* The innermost open transaction ctx (or an ancestor) carries, or NULL. */
ORM_API orm_tx *orm_ctx_tx(const orm_ctx *ctx);

/* Set a tag (key and value are copied; an existing key of this ctx is replaced; value NULL
 * removes it from this ctx). ORM_EINVAL for a NULL ctx/key or an empty key, ORM_ENOMEM. */
ORM_API int orm_ctx_set_tag(orm_ctx *ctx, const char *key, const char *value);
/* The value of key on ctx or its nearest ancestor that has it, or NULL. Borrowed: valid until
 * that ctx's tag changes or it is freed. */
ORM_API const char *orm_ctx_tag(const orm_ctx *ctx, const char *key);
/* Call fn for each visible tag (ctx's own first in the order they were set, then each
 * ancestor's that no nearer ctx shadows). fn returning non-zero stops the walk and is
 * returned; else ORM_OK. */
typedef int (*orm_ctx_tag_fn)(const char *key, const char *value, void *userdata);
ORM_API int orm_ctx_tags_foreach(const orm_ctx *ctx, orm_ctx_tag_fn fn, void *userdata);

#ifdef __cplusplus
}
#endif
#endif
