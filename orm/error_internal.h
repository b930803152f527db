/* liborm internal — setting the per-thread last error. */
#ifndef ORM_ERROR_INTERNAL_H
#define ORM_ERROR_INTERNAL_H

#include <stddef.h>

#include "orm/error.h"

#if defined(__GNUC__)
#define ORM__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ORM__PRINTF(a, b)
#endif

/* Set the last error and return code, so callers can write `return orm__error_set(...)`.
 * module is a static string. Never allocates: the message is formatted into a per-thread
 * buffer (truncated at 1 KiB). */
int orm__error_set(int code, const char *module, const char *fmt, ...) ORM__PRINTF(3, 4);

/* As orm__error_set with a message already made (n bytes, no NUL needed): no formatting, for
 * errors a hot path reports often (a cache miss). */
int orm__error_set_text(int code, const char *module, const char *text, size_t n);

/* As orm__error_set, also recording the backend's SQLSTATE (may be NULL) and native code. */
int orm__error_set_db(int code, const char *module, const char *sqlstate, int native_code,
                      const char *fmt, ...) ORM__PRINTF(5, 6);

/* Record where in its statement the database located the last error (orm_error.position). */
void orm__error_set_position(int position);

/* ORM_ENOMEM with a fixed message; allocates nothing. */
int orm__error_nomem(const char *module);

#endif
