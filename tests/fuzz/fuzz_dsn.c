/* libFuzzer target: the DSN readers, through their test-only entry points (nothing is opened,
 * no file, no network): orm__sqlite_dsn_private (what a SQLite DSN names) and, built with
 * PostgreSQL, orm__pg_dsn_check (libpq's parser and the port list). Checks: no crash, no leak,
 * the answers are 0/1 and ORM_OK/ORM_EINVAL/ORM_ENOMEM, and a refusal's message never repeats
 * a quoted part of the input. Build: see tests/fuzz/CMakeLists.txt. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orm/driver/sqlite/sqlite.h"
#include "orm/error.h"
#ifdef ORM_WITH_POSTGRES
#include "orm/driver/postgres/pg.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *dsn = malloc(size + 1);
    if (!dsn)
        return 0;
    memcpy(dsn, data, size);
    dsn[size] = '\0'; /* a DSN is a C string: what follows an inner NUL is not seen */
    int priv = orm__sqlite_dsn_private(dsn);
    if (priv != 0 && priv != 1)
        abort();
    /* with or without the prefix, the same answer */
    if (strncmp(dsn, "sqlite:", 7) != 0) {
        char *with = malloc(size + 8);
        if (with) {
            memcpy(with, "sqlite:", 7);
            memcpy(with + 7, dsn, size + 1);
            if (orm__sqlite_dsn_private(with) != priv)
                abort();
            free(with);
        }
    }
#ifdef ORM_WITH_POSTGRES
    int rc = orm__pg_dsn_check(dsn);
    if (rc != ORM_OK && rc != ORM_EINVAL && rc != ORM_ENOMEM)
        abort();
    if (rc == ORM_EINVAL) {
        const char *msg = orm_error_last()->message;
        /* a quoted value of 6+ characters (a password, say) never shows in the message */
        const char *q = strchr(dsn, '\'');
        const char *end = q ? strchr(q + 1, '\'') : NULL;
        if (q && end && end - q - 1 >= 6) {
            char secret[64];
            size_t n = (size_t)(end - q - 1) < sizeof secret - 1 ? (size_t)(end - q - 1) : sizeof secret - 1;
            memcpy(secret, q + 1, n);
            secret[n] = '\0';
            if (!strchr(secret, ' ') && strstr(msg, secret))
                abort();
        }
    }
#endif
    free(dsn);
    return 0;
}
