/* liborm internal — how the builders (and tx/) run statements on a session.
 *
 * Every statement liborm sends goes through orm__session_exec / orm__session_query /
 * orm__session_exec_script: the one choke point where the middleware chain plugs in.
 */
#ifndef ORM_SESSION_INTERNAL_H
#define ORM_SESSION_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "orm/db.h"
#include "orm/driver.h"
#include "orm/query.h"
#include "orm/rows.h"

struct orm_tx;

struct orm_session {
    orm_db *db;
    struct orm_tx *tx; /* NULL: autocommit on the db */
};

/* Per-db, per-model storage the builders use to keep SQL they build once (the fast paths
 * of orm_get / orm_insert_one / ...). Slots start NULL; a builder fills one with a
 * malloc'ed string by compare-and-swap, and the db frees them at close. */
enum { ORM_MODEL_SLOT_GET, ORM_MODEL_SLOT_INSERT, ORM_MODEL_SLOT_UPDATE, ORM_MODEL_SLOT_DELETE,
       ORM_MODEL_SLOT_INSERT_RETURNING, ORM_MODEL_SLOT_INSERT_ALL, ORM_MODEL_SLOT_COUNT };

/* The UPDATE of one set of fields (orm_update_fields), rendered once per set: a list the
 * builders push onto with a compare-and-swap and never unlink; freed with the db. */
typedef struct orm_fieldset_sql {
    struct orm_fieldset_sql *next;
    char *sql;            /* the slot format: length and hash, then the text (builder/crud.c) */
    size_t nwords;
    uint64_t mask[];      /* the fields, one bit each */
} orm_fieldset_sql;

typedef struct orm_model_entry {
    const orm_model *model;
    _Atomic(char *) sql[ORM_MODEL_SLOT_COUNT];
    _Atomic(orm_fieldset_sql *) fieldsets;
    bool has_fixed; /* the model has a fixed text field: writes check its members */
} orm_model_entry;

/* The registry entry of a model, or NULL when it is not registered with db. */
orm_model_entry *orm__db_model_entry(orm_db *db, const orm_model *model);
/* One hook orm_db_close runs before it takes anything down (the row cache flushes its
 * write-back rows there); set before the db is shared. fn NULL: none. ORM_EINVAL (no error
 * set) when one is set already. */
int orm__db_set_close_hook(orm_db *db, void (*fn)(void *), void *ud);
const orm_driver *orm__db_driver(const orm_db *db);

/* Take a connection for one statement and give it back. The connection is the
 * transaction's when the statement runs in one (the session's own, or the one ctx carries on
 * the session's db: *tx says which, NULL for a pooled connection), else one of the db's.
 * ORM_ETXDONE when that transaction is over; ORM_ETIMEOUT / ORM_ECANCELED when ctx is.
 * broken: the statement failed with ORM_ECONN (the connection is discarded, or the
 * transaction remembers it must be). */
int orm__session_acquire(orm_session *s, orm_ctx *ctx, orm_conn **out, struct orm_tx **tx);
void orm__session_release(orm_session *s, orm_conn *c, struct orm_tx *tx, int broken);

/* Connections for transactions: held until orm__db_release (or orm__db_discard when it is
 * broken: closed instead of reused). */
int orm__db_acquire(orm_db *db, orm_ctx *ctx, orm_conn **out);
void orm__db_release(orm_db *db, orm_conn *c);
void orm__db_discard(orm_db *db, orm_conn *c);

int orm__session_exec(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_exec_result *res);
/* Open a cursor: the connection stays taken until orm_rows_free. */
int orm__session_query(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_rows **out);
/* Open a cursor without the middleware chain (the terminal of a read by key, which the chain
 * already ran around). */
int orm__session_query_direct(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_rows **out);
/* A read by key (q->intent GET / GET_MANY), through the chain when there is one: t opens its
 * cursors with orm__session_query_direct and maps the rows. *found may be NULL. */
int orm__session_get(orm_session *s, orm_ctx *ctx, const orm_query *q, int64_t *found,
                     int (*t)(orm_session *, orm_ctx *, const orm_query *, int64_t *));
int orm__session_exec_script(orm_session *s, orm_ctx *ctx, const char *sql);

/* The driver cursor under a public cursor, for the mapper. */
orm_cursor *orm__rows_cursor(orm_rows *r);
const orm_driver *orm__rows_driver(orm_rows *r);

#endif
