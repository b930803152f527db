/* liborm — checking a PostgreSQL DSN before connecting: libpq's own parser
 * (PQconninfoParse: URIs and keyword strings, % escapes, quotes) plus the port list, which
 * libpq only checks when it connects (and then reports as a connection failure).
 *
 * Keeps true: a malformed DSN is ORM_EINVAL, never ORM_ECONN; the message never repeats a
 * part of the DSN (it may be a password), only a description of what libpq found wrong.
 * No network, no files: fuzzed on its own (tests/fuzz).
 */
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "orm/error_internal.h"
#include "orm/driver/postgres/pg.h"

/* What libpq found wrong, in words that never quote the DSN: libpq's messages quote the
 * offending part (which may be a password, and may itself hold quotes), so only the words
 * before its first quote are kept, or a description of a known message. */
static void describe(char *dst, size_t n, const char *msg)
{
    static const struct { const char *has, *says; } known[] = {
        { "unterminated quoted string", "an unterminated quoted string" },
        { "percent-encoded", "a bad % escape" },
        { "missing \"=\"", "a keyword without '='" },
        { "invalid connection option", "an unknown keyword" },
        { "URI", "a malformed URI" },
        { "matching \"]\"", "a malformed URI (an unclosed '[')" } };
    msg = msg ? msg : "";
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strstr(msg, known[i].has)) {
            snprintf(dst, n, "%s", known[i].says);
            return;
        }
    size_t k = strcspn(msg, "\"'\n\r");
    while (k && (msg[k - 1] == ' ' || msg[k - 1] == ':'))
        k--;
    snprintf(dst, n, "%.*s", k ? (int)k : 21, k ? msg : "libpq cannot parse it");
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
            describe(msg, sizeof msg, err);
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
