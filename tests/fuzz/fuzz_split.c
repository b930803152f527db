/* libFuzzer target: the migration splitter (migrations/split.c) in both dialects, and the
 * checksum and no-transaction readers. Checks: no crash, no leak, ORM_OK or ORM_EPARSE
 * (ORM_ENOMEM), and on success every statement lies inside the text, in order, without
 * overlap, on a line that exists, starting at no blank. Build: see tests/fuzz/CMakeLists.txt. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migrations/migrate_internal.h"
#include "orm/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text), lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    for (int dialect = ORM__SPLIT_SQLITE; dialect <= ORM__SPLIT_POSTGRES; dialect++) {
        orm__mig_stmt *st = NULL;
        size_t n = 0;
        int rc = orm__mig_split(text, dialect, "fuzz.sql", &st, &n);
        if (rc != ORM_OK && rc != ORM_EPARSE && rc != ORM_ENOMEM)
            abort();
        if (rc == ORM_OK) {
            size_t prev_end = 0;
            for (size_t i = 0; i < n; i++) {
                if (st[i].off < prev_end || st[i].len == 0 || st[i].off + st[i].len > len)
                    abort();
                if (st[i].line < 1 || (size_t)st[i].line > lines)
                    abort();
                if (text[st[i].off] == ' ' || text[st[i].off] == '\n' || text[st[i].off] == '\t')
                    abort();
                prev_end = st[i].off + st[i].len;
            }
        } else if (st || n) {
            abort(); /* nothing half-built on failure */
        }
        orm__free(st);
    }
    char sum[17];
    orm__mig_checksum(text, sum);
    if (strlen(sum) != 16)
        abort();
    (void)orm__mig_no_tx(text);
    free(text);
    return 0;
}
