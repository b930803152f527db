/* ormctl generate — schema in, models.h / models.c out (or, with --check, a verdict on the
 * files already there). Keeps true: files are written only after everything was generated,
 * each through a temporary file renamed into place, so a failed run never leaves half a
 * header behind. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codegen/codegen.h"
#include "orm/alloc.h"
#include "orm/error.h"

void ormctl_generate_usage(void)
{
    printf("usage: ormctl generate [-o BASE] [--check] [--strict] [--prefix P]\n"
           "                      [--dialect sqlite|postgres] INPUT...\n"
           "\n"
           "Reads INPUT (.sql files, or migrations folders whose NNNN_name.up.sql files are\n"
           "replayed in version order) and writes BASE.h and BASE.c (default BASE: models).\n"
           "\n"
           "  -o, --output BASE  output path without extension\n"
           "  --check            write nothing; exit 1 when BASE.h or BASE.c differ from what\n"
           "                     would be generated (stale or missing)\n"
           "  --strict           a column type outside the mapping table is an error, not a\n"
           "                     warning\n"
           "  --prefix P         prepend P to struct names no @orm:struct annotation sets\n"
           "  --dialect D        the database the schema is for: sqlite (INTEGER is int64_t)\n"
           "                     or postgres (integer is int32_t); default: postgres when\n"
           "                     the schema uses a type only PostgreSQL has, else sqlite\n"
           "  -h, --help         this text\n"
           "\n"
           "Annotations, in `--` comments: @orm:struct=Name (table), @orm:skip,\n"
           "@orm:type=int16|int32|int64|double|bool|text|blob|timestamp, @orm:field=name\n"
           "(column). A comment on its own line annotates what follows it; one after code\n"
           "annotates the table or column on that line.\n");
}

/* Whether path holds exactly text. */
static bool same_content(const char *path, const char *text)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t len = strlen(text), off = 0;
    char chunk[65536];
    size_t n;
    bool same = true;
    while (same && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        same = off + n <= len && memcmp(chunk, text + off, n) == 0;
        off += n;
    }
    same = same && !ferror(f) && off == len;
    fclose(f);
    return same;
}

static int write_file(const char *path, const char *text)
{
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (!tmp) {
        fprintf(stderr, "ormctl: out of memory\n");
        return 1;
    }
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(text, 1, strlen(text), f) == strlen(text);
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        perror(path);
        remove(tmp);
    }
    free(tmp);
    return ok ? 0 : 1;
}

static char *join(const char *base, const char *ext)
{
    size_t n = strlen(base) + strlen(ext) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s", base, ext);
    return p;
}

int ormctl_generate(int argc, char **argv)
{
    orm__codegen_options o = { "models", NULL, 0, false, NULL, ORM_CG_DIALECT_AUTO };
    bool check = false;
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs)
        return 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && more) {
            o.base = argv[++i];
        } else if (strcmp(a, "--prefix") == 0 && more) {
            o.prefix = argv[++i];
        } else if (strcmp(a, "--check") == 0) {
            check = true;
        } else if (strcmp(a, "--strict") == 0) {
            o.strict = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            ormctl_generate_usage();
            free(inputs);
            return 0;
        } else if (strcmp(a, "--dialect") == 0 && more) {
            const char *d = argv[++i];
            if (strcmp(d, "sqlite") == 0) {
                o.dialect = ORM_CG_DIALECT_SQLITE;
            } else if (strcmp(d, "postgres") == 0) {
                o.dialect = ORM_CG_DIALECT_POSTGRES;
            } else {
                fprintf(stderr, "ormctl generate: --dialect takes sqlite or postgres, not '%s'\n", d);
                free(inputs);
                return 2;
            }
        } else if (strcmp(a, "--") == 0) {
            while (++i < argc)
                inputs[o.ninputs++] = argv[i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ormctl generate: unknown or incomplete option '%s'\n", a);
            free(inputs);
            return 2;
        } else {
            inputs[o.ninputs++] = a;
        }
    }
    if (o.ninputs == 0) {
        fprintf(stderr, "ormctl generate: name at least one .sql file or migrations folder\n"
                        "(`ormctl help generate` for the options)\n");
        free(inputs);
        return 2;
    }
    o.inputs = inputs;
    orm__cg_schema s;
    orm__cg_schema_init(&s);
    char *h = NULL, *c = NULL;
    int rc = orm__codegen_run(&o, &s, &h, &c);
    for (size_t i = 0; i < s.nwarnings; i++)
        fprintf(stderr, "%s\n", s.warnings[i]);
    int status = 0;
    if (rc != ORM_OK) {
        fprintf(stderr, "ormctl generate: %s\n", orm_error_last()->message);
        status = 1;
    } else {
        char *hp = join(o.base, ".h"), *cp = join(o.base, ".c");
        if (!hp || !cp) {
            status = 1;
        } else if (check) {
            bool hs = same_content(hp, h), cs = same_content(cp, c);
            if (!hs || !cs) {
                fprintf(stderr, "ormctl generate --check: %s%s%s out of date with the schema; "
                                "run ormctl generate\n", hs ? "" : hp, !hs && !cs ? " and " : "",
                        cs ? "" : cp);
                status = 1;
            }
        } else {
            status = write_file(hp, h) || write_file(cp, c);
        }
        free(hp);
        free(cp);
    }
    orm__free(h);
    orm__free(c);
    orm__cg_schema_free(&s);
    free(inputs);
    return status;
}
