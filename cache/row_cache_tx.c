/* liborm — the row cache's transaction staging: the drops a transaction's writes call for,
 * kept until the transaction ends.
 *
 * One state per top-level transaction (a hook on it, orm/txn.h), holding every drop staged
 * by it and its savepoints, each tagged with the savepoint depth it was staged at. A
 * savepoint that staged something gets a hook of its own (and so do its enclosing
 * savepoints): RELEASED moves its drops one level up, ROLLED_BACK_TO forgets the drops at its
 * depth and deeper. Keeping everything on the top-level state lets a read anywhere in the
 * transaction (its own session while a savepoint is open, too) see every key written.
 *
 * Keeps true:
 *  - nothing is dropped before the transaction ends: a drop before COMMIT would let a load
 *    put the old committed row back before the new one is visible;
 *  - COMMITTED, COMMIT_FAILED (the outcome may be unknown) apply every staged drop;
 *    ROLLED_BACK discards them (the database undid those writes);
 *  - staging never fails once the state exists: when a key cannot be recorded the state
 *    falls back to "drop every model" (correct, only slower); past MAX_KEYS keys it drops
 *    their models instead (O(1) at commit).
 */
#include <string.h>

#include "cache/row_cache_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/txn.h"

/* Past this many staged keys a transaction drops whole models instead: a bulk update would
 * otherwise pay a copy of each key now and a cache delete of each at commit (W4 measures it),
 * where one model drop is O(1). */
#define MAX_KEYS 256

typedef struct tx_key {
    uint64_t h;
    char *key;
    rc_model *m;
    unsigned depth;
} tx_key;

typedef struct tx_model {
    rc_model *m;
    unsigned depth;
    int inserts;       /* 1: only its not-found answers (an insert); 0: the whole model */
} tx_model;

typedef struct rc_tx {
    orm_row_cache *rc;
    tx_key *keys;      /* in staging order */
    size_t nkeys, kcap;
    uint32_t *index;   /* open addressing over keys (position + 1; 0 empty); cap a power of 2 */
    size_t icap;
    tx_model *models;
    size_t nmodels, mcap;
    unsigned every;    /* drop every model: 0 no, else 1 + the depth it was staged at */
    orm_tx *root;      /* the top-level transaction */
    /* Write-back: the transaction wrote dirty rows (row_cache_wb.c claims them), and per
     * model the saves count as of its last such write. */
    int flushed;
    struct { rc_model *m; uint64_t saves; } *epochs;
    size_t nepochs, ecap;
    /* Write-back: registered as a reader from its first statement (row_cache_wb.c keeps the
     * rows other writers clean meanwhile, for its gets). */
    rc_reader reader;
    int reading;
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
    for (size_t i = 0; i < t->nkeys; i++)
        orm__free(t->keys[i].key);
    orm__free(t->keys);
    orm__free(t->index);
    orm__free(t->models);
    orm__free(t->epochs);
    orm__free(t);
}

static void apply(rc_tx *t)
{
    if (t->every) {
        orm__rc_drop_every(t->rc);
        return;
    }
    for (size_t i = 0; i < t->nkeys; i++)
        orm__rc_drop_key(t->keys[i].m, t->keys[i].key);
    for (size_t i = 0; i < t->nmodels; i++) {
        if (t->models[i].inserts)
            orm__rc_drop_inserts(t->models[i].m);
        else
            orm__rc_drop_model(t->models[i].m);
    }
}

static void set_every(rc_tx *t, unsigned depth)
{
    if (!t->every || t->every > depth + 1)
        t->every = depth + 1;
}

/* The model entry for m (inserts or whole), or NULL. */
static tx_model *model_entry(rc_tx *t, const rc_model *m, int inserts)
{
    for (size_t i = 0; i < t->nmodels; i++)
        if (t->models[i].m == m && t->models[i].inserts == inserts)
            return &t->models[i];
    return NULL;
}

static void add_model(rc_tx *t, rc_model *m, int inserts, unsigned depth)
{
    tx_model *e = model_entry(t, m, inserts);
    if (e) {
        if (depth < e->depth)
            e->depth = depth; /* the outermost staging wins: it outlives a rollback-to */
        return;
    }
    if (t->nmodels == t->mcap) {
        size_t c = t->mcap ? t->mcap * 2 : 4;
        tx_model *p = orm__realloc(t->models, c * sizeof *p);
        if (!p) {
            set_every(t, depth);
            return;
        }
        t->models = p;
        t->mcap = c;
    }
    t->models[t->nmodels++] = (tx_model){ m, depth, inserts };
}

/* Rebuild the key index for the keys now in t (after a removal or to grow). 0 or -1. */
static int reindex(rc_tx *t, size_t cap)
{
    uint32_t *idx = orm__calloc(cap, sizeof *idx);
    if (!idx)
        return -1;
    for (size_t i = 0; i < t->nkeys; i++) {
        size_t k = (size_t)t->keys[i].h & (cap - 1);
        while (idx[k])
            k = (k + 1) & (cap - 1);
        idx[k] = (uint32_t)i + 1;
    }
    orm__free(t->index);
    t->index = idx;
    t->icap = cap;
    return 0;
}

static tx_key *find_key(const rc_tx *t, uint64_t h, const char *key)
{
    if (!t->icap)
        return NULL;
    for (size_t k = (size_t)h & (t->icap - 1); t->index[k]; k = (k + 1) & (t->icap - 1)) {
        tx_key *e = &t->keys[t->index[k] - 1];
        if (e->h == h && strcmp(e->key, key) == 0)
            return e;
    }
    return NULL;
}

/* Turn every staged key into a drop of its model. */
static void keys_to_models(rc_tx *t)
{
    for (size_t i = 0; i < t->nkeys; i++) {
        add_model(t, t->keys[i].m, 0, t->keys[i].depth);
        orm__free(t->keys[i].key);
    }
    t->nkeys = 0;
    orm__free(t->index); /* the next key rebuilds it */
    t->index = NULL;
    t->icap = 0;
}

static void add_key(rc_tx *t, rc_model *m, const char *key, unsigned depth)
{
    if (t->every)
        return;
    tx_model *whole = model_entry(t, m, 0);
    if (whole && whole->depth <= depth)
        return; /* the whole model goes at the end anyway */
    uint64_t h = hash_key(key);
    tx_key *e = find_key(t, h, key);
    if (e) {
        if (depth < e->depth)
            e->depth = depth;
        return;
    }
    if (t->nkeys >= MAX_KEYS) {
        keys_to_models(t);
        add_model(t, m, 0, depth);
        return;
    }
    if (t->nkeys == t->kcap) {
        size_t c = t->kcap ? t->kcap * 2 : 16;
        tx_key *p = orm__realloc(t->keys, c * sizeof *p);
        if (!p) {
            set_every(t, depth);
            return;
        }
        t->keys = p;
        t->kcap = c;
    }
    if ((t->nkeys + 1) * 2 > t->icap && reindex(t, t->icap ? t->icap * 2 : 32) != 0) {
        set_every(t, depth);
        return;
    }
    char *k = orm__strdup(key);
    if (!k) {
        set_every(t, depth);
        return;
    }
    t->keys[t->nkeys] = (tx_key){ h, k, m, depth };
    size_t s = (size_t)h & (t->icap - 1);
    while (t->index[s])
        s = (s + 1) & (t->icap - 1);
    t->index[s] = (uint32_t)++t->nkeys;
}

/* A savepoint at depth d ended: released (its drops move to d - 1) or rolled back (the drops
 * at d and deeper are forgotten). */
static void savepoint_end(rc_tx *t, unsigned d, int released)
{
    if (released) {
        for (size_t i = 0; i < t->nkeys; i++)
            if (t->keys[i].depth >= d)
                t->keys[i].depth = d - 1;
        for (size_t i = 0; i < t->nmodels; i++)
            if (t->models[i].depth >= d)
                t->models[i].depth = d - 1;
        if (t->every > d)
            t->every = d;
        return;
    }
    size_t w = 0;
    for (size_t i = 0; i < t->nkeys; i++) {
        if (t->keys[i].depth >= d)
            orm__free(t->keys[i].key);
        else
            t->keys[w++] = t->keys[i];
    }
    if (w != t->nkeys) {
        t->nkeys = w;
        if (reindex(t, t->icap) != 0) { /* cannot index what is left: drop everything */
            t->every = 1;
            orm__free(t->index);
            t->index = NULL;
            t->icap = 0;
        }
    }
    w = 0;
    for (size_t i = 0; i < t->nmodels; i++)
        if (t->models[i].depth < d)
            t->models[w++] = t->models[i];
    t->nmodels = w;
    if (t->every > d)
        t->every = 0;
}

static int on_top_end(orm_tx *tx, orm__txn_event ev, void *state)
{
    (void)tx;
    rc_tx *t = state;
    if (ev != ORM__TXN_ROLLED_BACK)
        apply(t); /* COMMITTED, COMMIT_FAILED (maybe applied), ABANDONED */
    if (t->flushed) /* write-back rows written in it: clean only when it surely committed */
        orm__rc_wb_tx_end(t->rc, tx, ev == ORM__TXN_COMMITTED);
    if (t->reading)
        orm__rc_wb_reader_end(t->rc, &t->reader);
    state_free(t);
    return 0;
}

/* A savepoint's hook: its state is the top-level transaction's (alive while the savepoint is
 * in it; ABANDONED means the top level ended first, and applied everything). */
static int on_savepoint_end(orm_tx *tx, orm__txn_event ev, void *state)
{
    rc_tx *t = state;
    if (ev == ORM__TXN_RELEASED) {
        savepoint_end(t, tx->depth, 1);
        if (t->flushed)
            orm__rc_wb_tx_savepoint(t->rc, t->root, tx->depth, 1);
    } else if (ev == ORM__TXN_ROLLED_BACK_TO) {
        savepoint_end(t, tx->depth, 0);
        if (t->flushed)
            orm__rc_wb_tx_savepoint(t->rc, t->root, tx->depth, 0);
        t->nepochs = 0; /* rows written in it are undone: the next statement writes them again */
    }
    return 0;
}

/* The state of tx's top-level transaction, hooked on it and on every savepoint from tx up. */
rc_tx *orm__rc_tx_state(orm_row_cache *rc, orm_tx *tx)
{
    orm_tx *root = orm__tx_root(tx);
    rc_tx *t = orm__txn_hook_find(root, rc);
    if (!t) {
        t = orm__calloc(1, sizeof *t);
        if (!t) {
            orm__error_nomem("row_cache");
            return NULL;
        }
        t->rc = rc;
        t->root = root;
        if (orm__txn_hook_add(root, rc, on_top_end, t) != ORM_OK) {
            orm__free(t);
            return NULL;
        }
        if (rc->wb) {
            orm__rc_wb_reader_begin(rc, &t->reader);
            t->reading = 1;
        }
    }
    for (orm_tx *sp = tx; sp != root; sp = sp->parent)
        if (!orm__txn_hook_find(sp, rc) && orm__txn_hook_add(sp, rc, on_savepoint_end, t) != ORM_OK)
            return NULL;
    return t;
}

/* Stage at the depth of the statement's transaction (its innermost savepoint). */
static unsigned depth_of(orm_tx *tx) { return tx->depth; }

void orm__rc_tx_key(rc_tx *t, orm_tx *tx, rc_model *m, const char *key) { add_key(t, m, key, depth_of(tx)); }
void orm__rc_tx_model(rc_tx *t, orm_tx *tx, rc_model *m) { add_model(t, m, 0, depth_of(tx)); }
void orm__rc_tx_inserts(rc_tx *t, orm_tx *tx, rc_model *m) { add_model(t, m, 1, depth_of(tx)); }
void orm__rc_tx_every(rc_tx *t, orm_tx *tx) { set_every(t, depth_of(tx)); }

int orm__rc_tx_wrote(orm_row_cache *rc, orm_tx *tx, rc_model *m, const char *key)
{
    rc_tx *t = orm__txn_hook_find(orm__tx_root(tx), rc);
    if (!t)
        return 0;
    if (t->every || model_entry(t, m, 0) || model_entry(t, m, 1))
        return 1;
    return key && find_key(t, hash_key(key), key) != NULL;
}

uint64_t orm__rc_tx_reader_seq(orm_row_cache *rc, orm_tx *tx)
{
    rc_tx *t = orm__txn_hook_find(orm__tx_root(tx), rc);
    return t && t->reading ? t->reader.seq : UINT64_MAX;
}

uint64_t orm__rc_tx_epoch(rc_tx *t, const rc_model *m)
{
    for (size_t i = 0; i < t->nepochs; i++)
        if (t->epochs[i].m == m)
            return t->epochs[i].saves;
    return UINT64_MAX;
}

void orm__rc_tx_set_epoch(rc_tx *t, rc_model *m, uint64_t saves)
{
    t->flushed = 1;
    for (size_t i = 0; i < t->nepochs; i++)
        if (t->epochs[i].m == m) {
            t->epochs[i].saves = saves;
            return;
        }
    if (t->nepochs == t->ecap) {
        size_t c = t->ecap ? t->ecap * 2 : 4;
        void *p = orm__realloc(t->epochs, c * sizeof *t->epochs);
        if (!p)
            return;
        t->epochs = p;
        t->ecap = c;
    }
    t->epochs[t->nepochs].m = m;
    t->epochs[t->nepochs++].saves = saves;
}

int orm__rc_tx_covers(const rc_tx *t, const orm_tx *tx, const rc_model *m)
{
    if (t->every && t->every - 1 <= tx->depth)
        return 1;
    for (size_t i = 0; i < t->nmodels; i++)
        if (t->models[i].m == m && !t->models[i].inserts && t->models[i].depth <= tx->depth)
            return 1;
    return 0;
}

void orm__rc_tx_savepoint_undone(orm_row_cache *rc, orm_tx *tx)
{
    orm_tx *root = orm__tx_root(tx);
    rc_tx *t = orm__txn_hook_find(root, rc);
    if (!t || !t->flushed)
        return;
    orm__rc_wb_tx_savepoint(rc, root, 0, 0); /* every claim: depth 0 and deeper */
    t->nepochs = 0;
}
