/* libFuzzer target for the ormctl generate pipeline: any bytes as a schema file through
 * the lexer, parser, resolver and emitter. The property is "no crash, no leak, no undefined
 * behaviour": every input either generates or fails with an orm error code.
 * Build: clang -fsanitize=fuzzer,address,undefined (tests/codegen/CMakeLists.txt does it);
 * run longer by hand: ./codegen_fuzz -max_total_time=3600 new_corpus/ tests/codegen/corpus/ */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "codegen/emit.h"
#include "codegen/parse.h"
#include "codegen/resolve.h"
#include "orm/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const inputs[] = { "fuzz.sql" };
    orm__cg_emit_options eo = { "models", inputs, 1 };
    orm__cg_schema s;
    orm__cg_schema_init(&s);
    s.strict = size > 0 && (data[0] & 1);
    char *h = NULL, *c = NULL;
    int rc = orm__cg_parse(&s, "fuzz.sql", (const char *)data, size);
    if (rc == 0 && s.ntables > 0)
        rc = orm__cg_resolve(&s, (size & 2) ? "p_" : NULL);
    if (rc == 0 && s.ntables > 0)
        rc = orm__cg_emit(&s, &eo, &h, &c);
    if (rc > 0)
        abort(); /* only ORM_OK or a negative code exist */
    orm__free(h);
    orm__free(c);
    orm__cg_schema_free(&s);
    return 0;
}
