/* liborm codegen — inputs and the generate pipeline: files and migrations folders in, a
 * resolved schema and the emitted C out (see codegen.h).
 * Keeps true: migration files are applied in numeric version order whatever order the file
 * system lists them in, so the output never depends on the directory's layout. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codegen/buf.h"
#include "codegen/codegen.h"
#include "codegen/emit.h"
#include "codegen/parse.h"
#include "codegen/resolve.h"
#include "orm/alloc.h"

static int read_file(const char *path, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return orm__error_set(ORM_EIO, "codegen", "%s: %s", path, strerror(errno));
    orm__sbuf b = ORM__CG_SBUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && !b.failed)
        orm__sbuf_add(&b, chunk, n);
    int err = ferror(f);
    fclose(f);
    if (err) {
        orm__sbuf_free(&b);
        return orm__error_set(ORM_EIO, "codegen", "%s: read error", path);
    }
    int failed = b.failed;
    *len = b.len;
    *out = orm__sbuf_take(&b);
    if (!*out)
        return failed == ORM_EINVAL ? orm__error_set(ORM_EIO, "codegen", "%s: larger than 256 MiB", path)
                                    : orm__error_nomem("codegen");
    return ORM_OK;
}

static int load_file(orm__cg_schema *s, const char *path)
{
    char *src;
    size_t len;
    int rc = read_file(path, &src, &len);
    if (rc != ORM_OK)
        return rc;
    rc = orm__cg_parse(s, path, src, len);
    orm__free(src);
    return rc;
}

typedef struct migration {
    unsigned long long version;
    char *path;
} migration;

/* NNNN_name.up.sql -> version; 0 (with *ok false) for anything else. */
static unsigned long long migration_version(const char *name, bool *ok)
{
    size_t n = strlen(name), d = 0;
    unsigned long long v = 0;
    *ok = false;
    while (name[d] >= '0' && name[d] <= '9') {
        if (v > (~0ULL - 9) / 10)
            return 0;
        v = v * 10 + (unsigned long long)(name[d] - '0');
        d++;
    }
    if (d == 0 || name[d] != '_' || n < d + 1 + 7 || strcmp(name + n - 7, ".up.sql") != 0)
        return 0;
    *ok = true;
    return v;
}

static int by_version(const void *a, const void *b)
{
    const migration *x = a, *y = b;
    return x->version < y->version ? -1 : x->version > y->version;
}

static int load_folder(orm__cg_schema *s, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return orm__error_set(ORM_EIO, "codegen", "%s: %s", dir, strerror(errno));
    migration *m = NULL;
    size_t n = 0;
    int rc = ORM_OK;
    struct dirent *e;
    while (rc == ORM_OK && (e = readdir(d)) != NULL) {
        bool ok;
        unsigned long long v = migration_version(e->d_name, &ok);
        if (!ok)
            continue;
        orm__sbuf p = ORM__CG_SBUF_INIT;
        size_t dl = strlen(dir);
        orm__sbuf_add(&p, dir, dl);
        if (dl && dir[dl - 1] != '/')
            orm__sbuf_puts(&p, "/");
        orm__sbuf_puts(&p, e->d_name);
        char *path = orm__sbuf_take(&p);
        migration *g = path ? orm__realloc(m, (n + 1) * sizeof *g) : NULL;
        if (!g) {
            orm__free(path);
            rc = orm__error_nomem("codegen");
            break;
        }
        m = g;
        m[n].version = v;
        m[n].path = path;
        n++;
    }
    closedir(d);
    if (rc == ORM_OK && n == 0)
        rc = orm__error_set(ORM_EIO, "codegen", "%s: no NNNN_name.up.sql migrations in this folder", dir);
    if (rc == ORM_OK) {
        qsort(m, n, sizeof *m, by_version);
        for (size_t i = 1; rc == ORM_OK && i < n; i++)
            if (m[i].version == m[i - 1].version)
                rc = orm__error_set(ORM_EPARSE, "codegen", "%s and %s: two migrations with version %llu",
                                    m[i - 1].path, m[i].path, m[i].version);
    }
    for (size_t i = 0; rc == ORM_OK && i < n; i++)
        rc = load_file(s, m[i].path);
    for (size_t i = 0; i < n; i++)
        orm__free(m[i].path);
    orm__free(m);
    return rc;
}

int orm__codegen_load(orm__cg_schema *s, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return orm__error_set(ORM_EIO, "codegen", "%s: %s", path, strerror(errno));
    return S_ISDIR(st.st_mode) ? load_folder(s, path) : load_file(s, path);
}

int orm__codegen_run(const orm__codegen_options *o, orm__cg_schema *s, char **h, char **c)
{
    *h = *c = NULL;
    s->strict = o->strict;
    s->dialect = o->dialect;
    if (o->ninputs == 0)
        return orm__error_set(ORM_EINVAL, "codegen", "no input: name a .sql file or a migrations folder");
    int rc = ORM_OK;
    for (size_t i = 0; rc == ORM_OK && i < o->ninputs; i++)
        rc = orm__codegen_load(s, o->inputs[i]);
    if (rc == ORM_OK && s->ntables == 0)
        rc = orm__error_set(ORM_EPARSE, "codegen", "%s: no CREATE TABLE to generate models from",
                            o->inputs[0]);
    if (rc == ORM_OK)
        rc = orm__cg_resolve(s, o->prefix);
    if (rc == ORM_OK) {
        orm__cg_emit_options eo = { o->base, o->inputs, o->ninputs };
        rc = orm__cg_emit(s, &eo, h, c);
    }
    return rc;
}
