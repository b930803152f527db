/* liborm — the per-thread last error.
 *
 * Keeps one orm_error per thread with its message in a fixed thread-local buffer, so setting
 * an error never allocates (out of memory is reported like any other error) and
 * orm_error_last() never returns NULL.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "orm/error_internal.h"
#include "orm/sys/driver.h"

#define MESSAGE_MAX 1024

typedef struct thread_error {
    orm_error err;
    char message[MESSAGE_MAX];
} thread_error;

static _Thread_local thread_error last = {
    { ORM_OK, "orm", "no error", "", 0, 0 }, "no error"
};

const orm_error *orm_error_last(void)
{
    last.err.message = last.message;
    return &last.err;
}

void orm_error_clear(void)
{
    last.err.code = ORM_OK;
    last.err.module = "orm";
    last.err.sqlstate[0] = '\0';
    last.err.native_code = 0;
    last.err.position = 0;
    strcpy(last.message, "no error");
}

/* The message from text (n bytes), cut at MESSAGE_MAX - 1, kept on one line. text may point
 * into the old message. */
static void set_message(const char *text, size_t n)
{
    if (n > MESSAGE_MAX - 1)
        n = MESSAGE_MAX - 1;
    memmove(last.message, text, n);
    last.message[n] = '\0';
    for (char *p = last.message; (p = strpbrk(p, "\r\n")) != NULL;)
        *p++ = ' ';
}

static void set_fields(int code, const char *module, const char *sqlstate, int native)
{
    last.err.code = code;
    last.err.module = module ? module : "orm";
    last.err.native_code = native;
    last.err.position = 0;
    if (sqlstate) {
        strncpy(last.err.sqlstate, sqlstate, sizeof last.err.sqlstate - 1);
        last.err.sqlstate[sizeof last.err.sqlstate - 1] = '\0';
    } else {
        last.err.sqlstate[0] = '\0';
    }
}

static int set_va(int code, const char *module, const char *sqlstate, int native,
                  const char *fmt, va_list ap)
{
    set_fields(code, module, sqlstate, native);
    /* The arguments may point into the old message (re-wrapping an error), so format into a
     * scratch buffer first; then only what was formatted is copied. */
    char scratch[MESSAGE_MAX];
    int n = vsnprintf(scratch, sizeof scratch, fmt, ap);
    set_message(scratch, n < 0 ? 0 : (size_t)n);
    return code;
}

int orm__error_set_text(int code, const char *module, const char *text, size_t n)
{
    set_fields(code, module, NULL, 0);
    set_message(text, n);
    return code;
}

int orm__error_set(int code, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_va(code, module, NULL, 0, fmt, ap);
    va_end(ap);
    return code;
}

int orm__error_set_db(int code, const char *module, const char *sqlstate, int native_code,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_va(code, module, sqlstate, native_code, fmt, ap);
    va_end(ap);
    return code;
}

int orm_driver_error_set(int code, const char *module, const char *sqlstate, int native_code,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_va(code, module, sqlstate, native_code, fmt ? fmt : "", ap);
    va_end(ap);
    return code;
}

void orm__error_set_position(int position)
{
    last.err.position = position > 0 ? position : 0;
}

int orm__error_nomem(const char *module)
{
    return orm__error_set(ORM_ENOMEM, module, "out of memory");
}

const char *orm_strerror(int code)
{
    switch (code) {
    case ORM_OK: return "no error";
    case ORM_ERROR: return "error";
    case ORM_ENOMEM: return "out of memory";
    case ORM_EINVAL: return "invalid argument";
    case ORM_ENOTFOUND: return "not found";
    case ORM_EUNKNOWN_FIELD: return "unknown field";
    case ORM_ETYPE: return "type mismatch";
    case ORM_ENULL: return "unexpected NULL";
    case ORM_ECONSTRAINT: return "constraint violation";
    case ORM_EBUSY: return "database busy";
    case ORM_ETIMEOUT: return "timed out";
    case ORM_ECANCELED: return "canceled";
    case ORM_ECONN: return "connection error";
    case ORM_ETXDONE: return "transaction already finished";
    case ORM_ERETRY: return "serialization failure, retry the transaction";
    case ORM_EUNSAFE: return "refused as unsafe";
    case ORM_EUNSUPPORTED: return "not supported by this backend";
    case ORM_EDB: return "database error";
    case ORM_EIO: return "I/O error";
    case ORM_EPARSE: return "parse error";
    case ORM_ESCHEMA: return "schema drift";
    case ORM_EUNKNOWN: return "commit outcome unknown";
    case ORM_ERANGE: return "value too long for its field";
    default: return "unknown error";
    }
}
