/* liborm codegen — name indexes and name sets on uthash (see names.h).
 * Keeps true: an index answers exactly what a scan of the array would (exact match first,
 * else a unique match without case); allocation failure degrades to that scan, never to a
 * wrong answer. The allocations are plain malloc, outside orm's failure injection: an index
 * failing changes no result, so the injection tests of the pipeline would see no error. */
#include <stdlib.h>
#include <string.h>

#include "codegen/names.h"
#include "codegen/schema.h"

static _Thread_local int hash_oom;
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(e) (hash_oom = 1)
#define uthash_malloc(sz) malloc(sz)
#define uthash_free(p, sz) free(p)
#include <uthash.h>

struct orm__cg_name_ent {
    char *key;       /* the name in lower case */
    size_t *pos;     /* index: positions holding it, ascending */
    size_t npos, cap;
    const void *owner; /* set: who added it */
    UT_hash_handle hh;
};

static char *lower_dup(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        d[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    return d;
}

static void ent_free(orm__cg_name_ent *e)
{
    free(e->key);
    free(e->pos);
    free(e);
}

static void free_all(orm__cg_name_ent **head)
{
    orm__cg_name_ent *e, *tmp;
    HASH_ITER(hh, *head, e, tmp) {
        HASH_DEL(*head, e);
        ent_free(e);
    }
    *head = NULL;
}

static orm__cg_name_ent *lookup(orm__cg_name_ent *head, const char *name, char **key_out)
{
    char *key = lower_dup(name);
    if (!key)
        return NULL;
    orm__cg_name_ent *e = NULL;
    HASH_FIND_STR(head, key, e);
    if (key_out)
        *key_out = key;
    else
        free(key);
    return e;
}

/* Adds (name, pos); 0 or -1 out of memory. */
static int index_add(orm__cg_index *ix, const char *name, size_t pos)
{
    char *key = NULL;
    orm__cg_name_ent *e = lookup(ix->head, name, &key);
    if (!key)
        return -1;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e) {
            free(key);
            return -1;
        }
        e->key = key;
        key = NULL;
        hash_oom = 0;
        HASH_ADD_KEYPTR(hh, ix->head, e->key, strlen(e->key), e);
        if (hash_oom) {
            ent_free(e);
            return -1;
        }
    }
    free(key);
    if (e->npos == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 1;
        size_t *p = realloc(e->pos, cap * sizeof *p);
        if (!p)
            return -1;
        e->pos = p;
        e->cap = cap;
    }
    e->pos[e->npos++] = pos;
    return 0;
}

void orm__cg_index_reset(orm__cg_index *ix)
{
    free_all(&ix->head);
    ix->indexed = 0;
}

static long scan(const void *arr, size_t n, orm__cg_name_at at, const char *name)
{
    long ci = -1;
    size_t nci = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(at(arr, i), name) == 0)
            return (long)i;
        if (orm__cg_strcasecmp(at(arr, i), name) == 0) {
            ci = (long)i;
            nci++;
        }
    }
    return nci == 1 ? ci : -1;
}

long orm__cg_index_find(orm__cg_index *ix, const void *arr, size_t n, orm__cg_name_at at,
                        const char *name)
{
    if (ix->indexed > n) /* the array shrank without telling: start again */
        orm__cg_index_reset(ix);
    for (; ix->indexed < n; ix->indexed++)
        if (index_add(ix, at(arr, ix->indexed), ix->indexed) != 0) {
            orm__cg_index_reset(ix);
            return scan(arr, n, at, name);
        }
    char *key = NULL;
    orm__cg_name_ent *e = lookup(ix->head, name, &key);
    if (!key)
        return scan(arr, n, at, name);
    free(key);
    if (!e)
        return -1;
    for (size_t k = 0; k < e->npos; k++)
        if (strcmp(at(arr, e->pos[k]), name) == 0)
            return (long)e->pos[k];
    return e->npos == 1 ? (long)e->pos[0] : -1;
}

void orm__cg_index_pop(orm__cg_index *ix, size_t n, const char *name)
{
    if (n == 0 || ix->indexed < n) /* never indexed: nothing to forget */
        return;
    orm__cg_name_ent *e = lookup(ix->head, name, NULL);
    if (!e || !e->npos || e->pos[e->npos - 1] != n - 1) {
        orm__cg_index_reset(ix);
        return;
    }
    if (--e->npos == 0) {
        HASH_DEL(ix->head, e);
        ent_free(e);
    }
    ix->indexed = n - 1;
}

int orm__cg_nameset_add(orm__cg_nameset *set, const char *name, const void *owner, const void **prev)
{
    char *key = NULL;
    orm__cg_name_ent *e = lookup(set->head, name, &key);
    if (!key)
        return -1;
    if (e) {
        free(key);
        if (prev)
            *prev = e->owner;
        return 0;
    }
    e = calloc(1, sizeof *e);
    if (!e) {
        free(key);
        return -1;
    }
    e->key = key;
    e->owner = owner;
    hash_oom = 0;
    HASH_ADD_KEYPTR(hh, set->head, e->key, strlen(e->key), e);
    if (hash_oom) {
        ent_free(e);
        return -1;
    }
    return 1;
}

void orm__cg_nameset_free(orm__cg_nameset *set)
{
    free_all(&set->head);
}
