/* liborm — checking a PostgreSQL DSN before connecting: libpq's own parser
 * (PQconninfoParse: URIs and keyword strings, % escapes, quotes) plus the port list, which
 * libpq only checks when it connects (and then reports as a connection failure).
 *
 * Keeps true: a malformed DSN is ORM_EINVAL, never ORM_ECONN; the message never repeats a
 * quoted part of the DSN (it may be a password), only libpq's description with those parts
 * elided. No network, no files: fuzzed on its own (tests/fuzz).
 */
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "orm/error_internal.h"
#include "orm/pg_internal.h"

/* libpq's message with "quoted" parts replaced by "...", on one line. */
static void elide(char *dst, size_t n, const char *msg)
{
    size_t k = 0;
    int quoted = 0;
    for (const char *p = msg ? msg : ""; *p && k + 4 < n; p++) {
        if (*p == '"') {
            if (!quoted) {
                memcpy(dst + k, "...", 3);
                k += 3;
            }
            quoted = !quoted;
        } else if (!quoted && *p != '\n' && *p != '\r') {
            dst[k++] = *p;
        }
    }
    while (k && dst[k - 1] == ' ')
        k--;
    dst[k] = '\0';
}

/* A comma-separated list of port numbers 1..65535 (an item may be empty: the default). */
static int ports_ok(const char *v)
{
    for (const char *p = v;; p++) {
        long port = 0;
        int digits = 0;
        for (; *p >= '0' && *p <= '9'; p++, digits++)
            port = port < 100000 ? port * 10 + (*p - '0') : port;
        if (*p != ',' && *p != '\0')
            return 0;
        if (digits && (port < 1 || port > 65535))
            return 0;
        if (*p == '\0')
            return 1;
    }
}

int orm__pg_dsn_check(const char *dsn)
{
    if (!dsn)
        return orm__error_set(ORM_EINVAL, "postgres", "malformed DSN: NULL");
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &err);
    if (!opts) {
        char msg[256];
        if (err)
            elide(msg, sizeof msg, err);
        else
            snprintf(msg, sizeof msg, "out of memory");
        PQfreemem(err);
        return err ? orm__error_set(ORM_EINVAL, "postgres", "malformed DSN: %s", msg)
                   : orm__error_nomem("postgres");
    }
    int rc = ORM_OK;
    for (PQconninfoOption *o = opts; o->keyword && rc == ORM_OK; o++)
        if (o->val && strcmp(o->keyword, "port") == 0 && !ports_ok(o->val))
            rc = orm__error_set(ORM_EINVAL, "postgres",
                                "malformed DSN: the port must be a number from 1 to 65535 (or a "
                                "comma-separated list of them)");
    PQconninfoFree(opts);
    return rc;
}
