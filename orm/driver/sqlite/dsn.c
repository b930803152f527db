/* liborm — what a SQLite DSN names, read without opening anything: whether it is a private
 * database (":memory:", a file: URI with mode=memory or the path ":memory:", or the empty
 * name SQLite gives a private temporary file), which the db must serve from one connection.
 *
 * Keeps true: only those exact forms count; ":memory:" inside a longer file path (a file
 * named a:memory:b.db) is a file like any other. No allocation, no I/O: fuzzed on its own.
 */
#include <string.h>

#include "orm/driver/sqlite/sqlite.h"

/* Does the URI query q (after '?', up to '#' or the end) hold mode=memory? */
static int query_has_memory_mode(const char *q)
{
    while (*q && *q != '#') {
        size_t n = strcspn(q, "&#");
        if (n == 11 && strncmp(q, "mode=memory", 11) == 0)
            return 1;
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

int orm__sqlite_dsn_private(const char *dsn)
{
    if (!dsn)
        return 0;
    const char *path = strncmp(dsn, "sqlite:", 7) == 0 ? dsn + 7 : dsn;
    if (strncmp(path, "file:", 5) != 0) /* a plain file name, as SQLite reads it */
        return strcmp(path, ":memory:") == 0 || *path == '\0';
    const char *p = path + 5;
    if (strncmp(p, "//", 2) == 0) { /* file://authority/path: the path starts at the next '/' */
        p += 2;
        p += strcspn(p, "/?#");
    }
    size_t plen = strcspn(p, "?#");
    if ((plen == 8 && strncmp(p, ":memory:", 8) == 0) || plen == 0)
        return 1;
    return p[plen] == '?' && query_has_memory_mode(p + plen + 1);
}
