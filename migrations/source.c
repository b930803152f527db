/* Migrations: where they come from — a folder of NNNN_name.{up,down}.sql files or an array
 * compiled into the program — plus `new` (the next numbered pair) and `embed` (C source for
 * the array from a folder).
 *
 * What it keeps true: a list handed to the runner is sorted by version, has no duplicate
 * version, every entry has an up text and a checksum of it; every problem found in a folder
 * names the file(s) at fault (both files for a duplicate), and nothing is returned half-built.
 */
#define _POSIX_C_SOURCE 200809L /* opendir, strnlen */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrations/migrate_internal.h"
#include "orm/alloc.h"

/* ---- text buffer ---- */

int orm__mig_buf_take(orm__sbuf *b, char **out)
{
    char *text = orm__sbuf_take(b);
    if (!text) {
        int failed = b->failed;
        b->failed = 0;
        return failed == ORM_ENOMEM ? orm__error_nomem("migrate")
                                    : orm__error_set(ORM_ERROR, "migrate", "formatting failed");
    }
    *out = text;
    return ORM_OK;
}

/* ---- lists ---- */

void orm__mig_list_free(orm__mig *list, size_t count)
{
    if (!list)
        return;
    for (size_t i = 0; i < count; i++) {
        orm__free(list[i].name);
        orm__free(list[i].up);
        orm__free(list[i].down);
        orm__free(list[i].up_file);
        orm__free(list[i].down_file);
    }
    orm__free(list);
}

static int cmp_mig(const void *a, const void *b)
{
    const orm__mig *x = a, *y = b;
    return x->version < y->version ? -1 : x->version > y->version;
}

static char *dup_printf(const char *fmt, const char *a, long long v, const char *b)
{
    int n = snprintf(NULL, 0, fmt, a, v, b);
    char *s = n >= 0 ? orm__malloc((size_t)n + 1) : NULL;
    if (s)
        snprintf(s, (size_t)n + 1, fmt, a, v, b);
    return s;
}

int orm__mig_from_list(const orm_migration *list, size_t n, orm__mig **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (n && !list)
        return orm__error_set(ORM_EINVAL, "migrate", "%zu migrations but the array is NULL", n);
    orm__mig *m = n ? orm__calloc(n, sizeof *m) : NULL;
    if (n && !m)
        return orm__error_nomem("migrate");
    int rc = ORM_OK;
    size_t i;
    for (i = 0; i < n && rc == ORM_OK; i++) {
        const orm_migration *s = &list[i];
        if (s->version <= 0 || !s->name || !*s->name || !s->up) {
            rc = orm__error_set(ORM_EINVAL, "migrate",
                                "compiled-in migration #%zu (version %lld): needs a version > 0, "
                                "a name and an up text", i, (long long)s->version);
            break;
        }
        m[i].version = s->version;
        m[i].name = orm__strdup(s->name);
        m[i].up = orm__strdup(s->up);
        m[i].down = s->down ? orm__strdup(s->down) : NULL;
        m[i].up_file = dup_printf("%s%lld_%s.up (compiled in)", "", (long long)s->version, s->name);
        m[i].down_file = dup_printf("%s%lld_%s.down (compiled in)", "", (long long)s->version, s->name);
        if (!m[i].name || !m[i].up || (s->down && !m[i].down) || !m[i].up_file || !m[i].down_file)
            rc = orm__error_nomem("migrate");
        else
            orm__mig_checksum(m[i].up, m[i].checksum);
    }
    if (rc == ORM_OK) {
        qsort(m, n, sizeof *m, cmp_mig);
        for (i = 1; i < n; i++)
            if (m[i].version == m[i - 1].version) {
                rc = orm__error_set(ORM_EPARSE, "migrate", "duplicate migration version %lld: %s and %s",
                                    (long long)m[i].version, m[i - 1].up_file, m[i].up_file);
                break;
            }
    }
    if (rc != ORM_OK) {
        orm__mig_list_free(m, n);
        return rc;
    }
    *out = m;
    *count = n;
    return ORM_OK;
}

/* ---- folders ---- */

typedef struct entry {
    int64_t version;
    int up;         /* 1: .up.sql, 0: .down.sql */
    char *file;     /* the file name */
    size_t name_off, name_len;
} entry;

/* 1 when fname is NNNN_name.up.sql / .down.sql (filled in), 0 when it is another .sql
 * file, -1 when it is not a .sql file. */
static int parse_name(const char *fname, entry *e)
{
    size_t len = strlen(fname);
    if (len < 4 || strcmp(fname + len - 4, ".sql") != 0)
        return -1;
    size_t i = 0;
    int64_t v = 0;
    while (fname[i] >= '0' && fname[i] <= '9') {
        if (i >= 18)
            return 0;
        v = v * 10 + (fname[i] - '0');
        i++;
    }
    if (i == 0 || v == 0 || fname[i] != '_')
        return 0;
    size_t name_off = i + 1;
    size_t stem;
    if (len > 7 && strcmp(fname + len - 7, ".up.sql") == 0) {
        e->up = 1;
        stem = len - 7;
    } else if (len > 9 && strcmp(fname + len - 9, ".down.sql") == 0) {
        e->up = 0;
        stem = len - 9;
    } else {
        return 0;
    }
    if (stem <= name_off || stem - name_off > 200)
        return 0;
    /* the name lands in generated C (embed) and in messages: letters, digits and '_' only,
     * as `new` creates them */
    for (size_t k = name_off; k < stem; k++) {
        char c = fname[k];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    e->version = v;
    e->name_off = name_off;
    e->name_len = stem - name_off;
    return 1;
}

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    if (x->up != y->up)
        return y->up - x->up; /* up first */
    return strcmp(x->file, y->file);
}

static char *join_path(const char *dir, const char *file)
{
    size_t a = strlen(dir), b = strlen(file);
    char *p = orm__malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, file, b + 1);
    return p;
}

/* Only a regular file is read (a FIFO would block the open or the read for ever, a device
 * such as /dev/zero never ends), and at most ORM_MIGRATION_MAX_BYTES of it. */
static int read_text(const char *dir, const char *file, char **out)
{
    *out = NULL;
    char *path = join_path(dir, file);
    if (!path)
        return orm__error_nomem("migrate");
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int rc = orm__error_set(ORM_EIO, "migrate", "%s: cannot open: %s", path, strerror(errno));
        orm__free(path);
        return rc;
    }
    struct stat sb;
    int rc = ORM_OK;
    if (fstat(fd, &sb) != 0)
        rc = orm__error_set(ORM_EIO, "migrate", "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        rc = orm__error_set(ORM_EIO, "migrate", "%s: not a regular file", path);
    else if (sb.st_size > ORM_MIGRATION_MAX_BYTES)
        rc = orm__error_set(ORM_EIO, "migrate", "%s: %lld bytes, more than the %d a migration may have",
                            path, (long long)sb.st_size, ORM_MIGRATION_MAX_BYTES);
    orm__sbuf b = { 0 };
    char chunk[8192];
    while (rc == ORM_OK) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = orm__error_set(ORM_EIO, "migrate", "%s: read error: %s", path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        if (b.len + (size_t)got > ORM_MIGRATION_MAX_BYTES) /* the file grew since fstat */
            rc = orm__error_set(ORM_EIO, "migrate", "%s: more than the %d bytes a migration may have",
                                path, ORM_MIGRATION_MAX_BYTES);
        else
            orm__sbuf_add(&b, chunk, (size_t)got);
        if (b.failed) /* stop at the first error: out of memory does not end a read */
            break;
    }
    close(fd);
    size_t len = b.len;
    if (rc != ORM_OK)
        orm__sbuf_free(&b);
    else
        rc = orm__mig_buf_take(&b, out);
    if (rc == ORM_OK && strlen(*out) != len) {
        /* a NUL byte would cut the migration short without anyone noticing */
        rc = orm__error_set(ORM_EPARSE, "migrate", "%s: contains a NUL byte", path);
        orm__free(*out);
        *out = NULL;
    }
    orm__free(path);
    return rc;
}

static void free_entries(entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        orm__free(e[i].file);
    orm__free(e);
}

/* List the migration files of dir, sorted (version, up before down, name). */
static int scan_dir(const char *dir, entry **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return orm__error_set(ORM_EIO, "migrate", "%s: cannot open the migrations folder: %s", dir,
                              strerror(errno));
    entry *es = NULL;
    size_t n = 0, cap = 0;
    int rc = ORM_OK;
    struct dirent *de;
    while (rc == ORM_OK && (de = readdir(d)) != NULL) {
        entry e = { 0 };
        int kind = parse_name(de->d_name, &e);
        if (kind < 0)
            continue;
        if (kind == 0) {
            rc = orm__error_set(ORM_EPARSE, "migrate",
                                "%s/%s: not a migration name (NNNN_name.up.sql or NNNN_name.down.sql)",
                                dir, de->d_name);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            entry *p = orm__realloc(es, cap * sizeof *p);
            if (!p) {
                rc = orm__error_nomem("migrate");
                break;
            }
            es = p;
        }
        e.file = orm__strdup(de->d_name);
        if (!e.file) {
            rc = orm__error_nomem("migrate");
            break;
        }
        es[n++] = e;
    }
    closedir(d);
    if (rc != ORM_OK) {
        free_entries(es, n);
        return rc;
    }
    if (n)
        qsort(es, n, sizeof *es, cmp_entry);
    *out = es;
    *count = n;
    return ORM_OK;
}

/* Check the sorted entries: one up (and at most one down with the same name) per version. */
static int check_entries(const char *dir, const entry *es, size_t n, size_t *nmig)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const entry *e = &es[i];
        if (i > 0 && es[i - 1].version == e->version) {
            const entry *p = &es[i - 1];
            if (p->up == e->up)
                return orm__error_set(ORM_EPARSE, "migrate",
                                      "%s: duplicate migration version %lld: %s and %s", dir,
                                      (long long)e->version, p->file, e->file);
            /* p is the up, e the down */
            if (p->name_len != e->name_len ||
                memcmp(p->file + p->name_off, e->file + e->name_off, e->name_len) != 0)
                return orm__error_set(ORM_EPARSE, "migrate",
                                      "%s: duplicate migration version %lld: %s and %s name "
                                      "different migrations", dir, (long long)e->version,
                                      p->file, e->file);
            continue;
        }
        if (!e->up)
            return orm__error_set(ORM_EPARSE, "migrate", "%s/%s: a down migration without its up file",
                                  dir, e->file);
        m++;
    }
    *nmig = m;
    return ORM_OK;
}

int orm__mig_read_dir(const char *dir, orm__mig **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (!dir)
        return orm__error_set(ORM_EINVAL, "migrate", "the migrations folder is NULL");
    entry *es;
    size_t n, nmig = 0;
    int rc = scan_dir(dir, &es, &n);
    if (rc != ORM_OK)
        return rc;
    rc = check_entries(dir, es, n, &nmig);
    orm__mig *m = NULL;
    if (rc == ORM_OK && nmig) {
        m = orm__calloc(nmig, sizeof *m);
        if (!m)
            rc = orm__error_nomem("migrate");
    }
    size_t k = 0;
    for (size_t i = 0; i < n && rc == ORM_OK; i++) {
        const entry *e = &es[i];
        if (e->up) {
            orm__mig *g = &m[k++];
            g->version = e->version;
            g->name = orm__strndup(e->file + e->name_off, e->name_len);
            g->up_file = orm__strdup(e->file);
            if (!g->name || !g->up_file)
                rc = orm__error_nomem("migrate");
            if (rc == ORM_OK)
                rc = read_text(dir, e->file, &g->up);
            if (rc == ORM_OK)
                orm__mig_checksum(g->up, g->checksum);
        } else {
            orm__mig *g = &m[k - 1];
            g->down_file = orm__strdup(e->file);
            if (!g->down_file)
                rc = orm__error_nomem("migrate");
            if (rc == ORM_OK)
                rc = read_text(dir, e->file, &g->down);
        }
    }
    free_entries(es, n);
    if (rc != ORM_OK) {
        orm__mig_list_free(m, nmig);
        return rc;
    }
    *out = m;
    *count = nmig;
    return ORM_OK;
}

/* ---- new ---- */

static int valid_name(const char *name)
{
    if (!name || !*name)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    return strlen(name) <= 200;
}

static int create_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return orm__error_set(ORM_EIO, "migrate", "%s: cannot create: %s", path, strerror(errno));
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int err = errno;
    close(fd);
    if (w < 0 || (size_t)w != len)
        return orm__error_set(ORM_EIO, "migrate", "%s: write failed: %s", path,
                              w < 0 ? strerror(err) : "short write");
    return ORM_OK;
}

int orm_migrate_new(const char *dir, const char *name, char **up_path)
{
    if (up_path)
        *up_path = NULL;
    if (!dir)
        return orm__error_set(ORM_EINVAL, "migrate", "the migrations folder is NULL");
    if (!valid_name(name))
        return orm__error_set(ORM_EINVAL, "migrate",
                              "migration name '%s': use letters, digits and '_' (at most 200)",
                              name ? name : "(null)");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return orm__error_set(ORM_EIO, "migrate", "%s: cannot create the folder: %s", dir,
                              strerror(errno));
    entry *es;
    size_t n, nmig;
    int rc = scan_dir(dir, &es, &n);
    if (rc != ORM_OK)
        return rc;
    rc = check_entries(dir, es, n, &nmig);
    int64_t next = n ? es[n - 1].version + 1 : 1;
    int width = 4;
    for (size_t i = 0; i < n; i++) {
        int digits = (int)(es[i].name_off - 1);
        if (digits > width)
            width = digits;
    }
    free_entries(es, n);
    if (rc != ORM_OK)
        return rc;
    if (width > 20) /* versions are int64: never more than 19 digits */
        width = 20;
    char up_file[256], down_file[256];
    snprintf(up_file, sizeof up_file, "%0*lld_%s.up.sql", width, (long long)next, name);
    snprintf(down_file, sizeof down_file, "%0*lld_%s.down.sql", width, (long long)next, name);
    char *up = join_path(dir, up_file), *down = join_path(dir, down_file);
    if (!up || !down)
        rc = orm__error_nomem("migrate");
    if (rc == ORM_OK)
        rc = create_file(up, "-- up: the change. Statements end with ';'.\n");
    if (rc == ORM_OK) {
        rc = create_file(down, "-- down: undo the up file.\n");
        if (rc != ORM_OK)
            unlink(up);
    }
    orm__free(down);
    if (rc == ORM_OK && up_path)
        *up_path = up;
    else
        orm__free(up);
    return rc;
}

/* ---- embed ---- */

/* A C string literal for text, one source line per text line; \? so no trigraph forms. */
static void c_literal(orm__sbuf *b, const char *text)
{
    if (!text) {
        orm__sbuf_add(b, "NULL", 4);
        return;
    }
    size_t len = strlen(text);
    orm__sbuf_add(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        switch (c) {
        case '\n':
            orm__sbuf_add(b, i + 1 < len ? "\\n\"\n        \"" : "\\n", i + 1 < len ? 13 : 2);
            break;
        case '"': orm__sbuf_add(b, "\\\"", 2); break;
        case '\\': orm__sbuf_add(b, "\\\\", 2); break;
        case '?': orm__sbuf_add(b, "\\?", 2); break;
        case '\t': orm__sbuf_add(b, "\\t", 2); break;
        default:
            if (c < 0x20 || c >= 0x7f)
                orm__sbuf_printf(b, "\\%03o", c);
            else
                orm__sbuf_add(b, (const char *)&text[i], 1);
        }
    }
    orm__sbuf_add(b, "\"", 1);
}

/* Text inside a block comment: printable ASCII only (others as \ooo, which means nothing
 * there), and no comment end or start. */
static void comment_text(orm__sbuf *b, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 0x20 || *p >= 0x7f || *p == '\\')
            orm__sbuf_printf(b, "\\%03o", *p);
        else if ((*p == '*' && p[1] == '/') || (*p == '/' && p[1] == '*'))
            orm__sbuf_printf(b, "%c ", *p); /* "* /", "/ *" */
        else
            orm__sbuf_add(b, (const char *)p, 1);
    }
}

/* Texts past what every C compiler must accept as one literal (4095) become byte arrays. */
#define LITERAL_MAX 4000

static void byte_array(orm__sbuf *b, const char *symbol, int64_t v, const char *dir,
                       const char *text)
{
    if (!text || strlen(text) <= LITERAL_MAX)
        return;
    orm__sbuf_printf(b, "static const char %s_%lld_%s[] = {", symbol, (long long)v, dir);
    for (size_t i = 0; text[i]; i++)
        orm__sbuf_printf(b, "%s%d,", i % 20 == 0 ? "\n    " : "", (unsigned char)text[i]);
    orm__sbuf_add(b, "\n    0\n};\n", 11);
}

static void text_ref(orm__sbuf *b, const char *symbol, int64_t v, const char *dir,
                     const char *text)
{
    if (text && strlen(text) > LITERAL_MAX)
        orm__sbuf_printf(b, "%s_%lld_%s", symbol, (long long)v, dir);
    else
        c_literal(b, text);
}

static int valid_symbol(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

int orm_migrate_embed(const char *dir, const char *symbol, char **out)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "migrate", "orm_migrate_embed: out is NULL");
    *out = NULL;
    if (!valid_symbol(symbol))
        return orm__error_set(ORM_EINVAL, "migrate", "'%s' is not a C identifier",
                              symbol ? symbol : "(null)");
    orm__mig *m;
    size_t n;
    int rc = orm__mig_read_dir(dir, &m, &n);
    if (rc != ORM_OK)
        return rc;
    orm__sbuf b = { 0 };
    orm__sbuf_add(&b, "/* Generated by `ormctl migrate -m ", 35);
    comment_text(&b, dir);
    orm__sbuf_printf(&b, " embed %s`: do not edit. */\n"
                            "#include <stddef.h>\n#include <orm/migrate.h>\n\n"
                            "extern const orm_migration %s[];\nextern const size_t %s_count;\n\n",
                        symbol, symbol, symbol);
    for (size_t i = 0; i < n; i++) {
        byte_array(&b, symbol, m[i].version, "up", m[i].up);
        byte_array(&b, symbol, m[i].version, "down", m[i].down);
    }
    orm__sbuf_printf(&b, "const orm_migration %s[] = {\n", symbol);
    for (size_t i = 0; i < n; i++) {
        orm__sbuf_printf(&b, "    { %lld, ", (long long)m[i].version);
        c_literal(&b, m[i].name);
        orm__sbuf_add(&b, ",\n      ", 8);
        text_ref(&b, symbol, m[i].version, "up", m[i].up);
        orm__sbuf_add(&b, ",\n      ", 8);
        text_ref(&b, symbol, m[i].version, "down", m[i].down);
        orm__sbuf_add(&b, " },\n", 4);
    }
    if (n == 0)
        orm__sbuf_add(&b, "    { 0, NULL, NULL, NULL }\n", 28);
    orm__sbuf_printf(&b, "};\nconst size_t %s_count = %zu;\n", symbol, n);
    orm__mig_list_free(m, n);
    return orm__mig_buf_take(&b, out);
}
