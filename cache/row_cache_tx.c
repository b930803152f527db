/* liborm — the row cache's transaction staging: the drops a transaction's writes call for,
 * kept on the transaction (a hook of orm/txn.h) until it ends.
 *
 * Keeps true:
 *  - nothing is dropped before the transaction ends: a drop before COMMIT would let a load
 *    put the old committed row back before the new one is visible;
 *  - COMMITTED, COMMIT_FAILED (the outcome may be unknown) and ABANDONED apply every staged
 *    drop; ROLLED_BACK and ROLLED_BACK_TO discard them (the database undid those writes); a
 *    RELEASED savepoint hands its drops to its parent;
 *  - staging never fails once the state exists: when a key cannot be recorded the state
 *    falls back to "drop every model" (correct, only slower).
 */
#include <string.h>

#include "cache/row_cache_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/txn.h"

typedef struct tx_key {
    uint64_t h;        /* 0: empty slot */
    char *key;
    rc_model *m;
} tx_key;

typedef struct rc_tx {
    orm_row_cache *rc;
    tx_key *keys;      /* open addressing, cap a power of two (0: none yet) */
    size_t nkeys, cap;
    rc_model **models; /* whole-model drops */
    size_t nmodels, mcap;
    rc_model **ins;    /* models inserted into */
    size_t nins, icap;
    int every;         /* drop every model (raw SQL naming no table, or an allocation failed) */
} rc_tx;

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

static void state_free(rc_tx *t)
{
    for (size_t i = 0; i < t->cap; i++)
        orm__free(t->keys[i].key);
    orm__free(t->keys);
    orm__free(t->models);
    orm__free(t->ins);
    orm__free(t);
}

static void apply(rc_tx *t)
{
    if (t->every) {
        orm__rc_drop_every(t->rc);
        return;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->keys[i].h)
            orm__rc_drop_key(t->keys[i].m, t->keys[i].key);
    for (size_t i = 0; i < t->nmodels; i++)
        orm__rc_drop_model(t->models[i]);
    for (size_t i = 0; i < t->nins; i++)
        orm__rc_drop_inserts(t->ins[i]);
}

static int has_model(rc_model *const *v, size_t n, const rc_model *m)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == m)
            return 1;
    return 0;
}

static void add_model(rc_tx *t, rc_model ***v, size_t *n, size_t *cap, rc_model *m)
{
    if (t->every || has_model(*v, *n, m))
        return;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        rc_model **p = orm__realloc(*v, c * sizeof *p);
        if (!p) {
            t->every = 1;
            return;
        }
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = m;
}

static tx_key *slot_for(tx_key *keys, size_t cap, uint64_t h, const char *key)
{
    size_t mask = cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask)
        if (!keys[i].h || (keys[i].h == h && strcmp(keys[i].key, key) == 0))
            return &keys[i];
}

/* Add key (owned: taken) to t; on failure t drops everything instead and key is freed. */
static void add_key_owned(rc_tx *t, rc_model *m, char *key, uint64_t h)
{
    if (t->every) {
        orm__free(key);
        return;
    }
    if ((t->nkeys + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        tx_key *keys = orm__calloc(cap, sizeof *keys);
        if (!keys) {
            t->every = 1;
            orm__free(key);
            return;
        }
        for (size_t i = 0; i < t->cap; i++)
            if (t->keys[i].h)
                *slot_for(keys, cap, t->keys[i].h, t->keys[i].key) = t->keys[i];
        orm__free(t->keys);
        t->keys = keys;
        t->cap = cap;
    }
    tx_key *s = slot_for(t->keys, t->cap, h, key);
    if (s->h) {
        orm__free(key); /* staged already */
        return;
    }
    s->h = h;
    s->key = key;
    s->m = m;
    t->nkeys++;
}

void orm__rc_tx_key(rc_tx *t, rc_model *m, const char *key)
{
    if (t->every)
        return;
    char *k = orm__strdup(key);
    if (!k) {
        t->every = 1;
        return;
    }
    add_key_owned(t, m, k, hash_key(key));
}

void orm__rc_tx_model(rc_tx *t, rc_model *m) { add_model(t, &t->models, &t->nmodels, &t->mcap, m); }
void orm__rc_tx_inserts(rc_tx *t, rc_model *m) { add_model(t, &t->ins, &t->nins, &t->icap, m); }
void orm__rc_tx_every(rc_tx *t) { t->every = 1; }

/* Move everything of src into dst (src is freed). */
static void merge(rc_tx *dst, rc_tx *src)
{
    if (src->every)
        dst->every = 1;
    for (size_t i = 0; i < src->cap; i++)
        if (src->keys[i].h) {
            add_key_owned(dst, src->keys[i].m, src->keys[i].key, src->keys[i].h);
            src->keys[i].key = NULL;
        }
    for (size_t i = 0; i < src->nmodels; i++)
        orm__rc_tx_model(dst, src->models[i]);
    for (size_t i = 0; i < src->nins; i++)
        orm__rc_tx_inserts(dst, src->ins[i]);
    state_free(src);
}

static int on_end(orm_tx *tx, orm__txn_event ev, void *state)
{
    rc_tx *t = state;
    switch (ev) {
    case ORM__TXN_RELEASED: {
        rc_tx *p = tx->parent ? orm__txn_hook_find(tx->parent, t->rc) : NULL;
        if (!p)
            return 1; /* the parent takes this state as it is */
        merge(p, t);
        return 0;
    }
    case ORM__TXN_ROLLED_BACK:
    case ORM__TXN_ROLLED_BACK_TO:
        state_free(t);
        return 0;
    default: /* COMMITTED, COMMIT_FAILED, ABANDONED */
        apply(t);
        state_free(t);
        return 0;
    }
}

rc_tx *orm__rc_tx_state(orm_row_cache *rc, orm_tx *tx)
{
    rc_tx *t = orm__txn_hook_find(tx, rc);
    if (t)
        return t;
    t = orm__calloc(1, sizeof *t);
    if (!t) {
        orm__error_nomem("row_cache");
        return NULL;
    }
    t->rc = rc;
    if (orm__txn_hook_add(tx, rc, on_end, t) != ORM_OK) {
        orm__free(t);
        return NULL;
    }
    return t;
}

int orm__rc_tx_wrote(orm_row_cache *rc, orm_tx *tx, rc_model *m, const char *key)
{
    uint64_t h = key ? hash_key(key) : 0;
    for (; tx; tx = tx->parent) {
        rc_tx *t = orm__txn_hook_find(tx, rc);
        if (!t)
            continue;
        if (t->every || has_model(t->models, t->nmodels, m) || has_model(t->ins, t->nins, m))
            return 1;
        if (!key || !t->cap)
            continue;
        tx_key *s = slot_for(t->keys, t->cap, h, key);
        if (s->h)
            return 1;
    }
    return 0;
}
