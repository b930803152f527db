/* liborm builder internal — what the select/insert/update/delete builders share: the sticky
 * first error, model and field checks, and running a rendered statement on a session. */
#ifndef ORM_BUILDER_INTERNAL_H
#define ORM_BUILDER_INTERNAL_H

#include <stddef.h>

#include "builder/sql_buf.h"
#include "orm/db.h"
#include "orm/model.h"
#include "orm/query.h"
#include "orm/rows.h"
#include "orm/session_internal.h"

/* The first error a builder met: returned again by every later call, message included. */
typedef struct orm_bstate {
    int err;
    char msg[256];
} orm_bstate;

/* Record code (with a message) unless an error is already recorded; returns the first error
 * and leaves it as the thread's last error. */
int orm__bstate_fail(orm_bstate *st, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Record the thread's current last error (after a call that set it) as the builder's. */
int orm__bstate_keep(orm_bstate *st, int code);
/* ORM_OK, or the recorded error set again as the thread's last error. */
int orm__bstate_check(const orm_bstate *st);

/* ORM_OK when model is registered with the session's db, else ORM_EINVAL naming it. */
int orm__builder_check_model(orm_session *s, const orm_model *model);
/* The index of field name (by name, then column) in model, or ORM_EUNKNOWN_FIELD naming
 * the field and the table. */
int orm__builder_field(const orm_model *model, const char *name, size_t *out);
/* An array of n copied strings (each non-NULL), or NULL with ORM_ENOMEM / ORM_EINVAL in *rc. */
char **orm__strv_dup(const char *const *v, size_t n, int *rc);
void orm__strv_free(char **v, size_t n);

/* Run a rendered statement. */
int orm__builder_exec(orm_session *s, orm_ctx *ctx, orm_query_kind kind, const orm_model *m,
                      const orm_sql_buf *b, orm_exec_result *res);
int orm__builder_query(orm_session *s, orm_ctx *ctx, orm_query_kind kind, const orm_model *m,
                       const orm_sql_buf *b, orm_rows **out);

#endif
