/* The local cache's per-shard hash table (see ctable.h for the layout and why).
 *
 * Kept true: an entry lives in exactly one lane of g[0] or g[1]; every group on the probe
 * path from an entry's home group to the group holding it has an overflow count of at least
 * one for it (or 255, which never goes down), so a lookup that meets a group with none can
 * stop; used[] is the exact number of occupied lanes; a table never becomes fuller than its
 * lanes (insert refuses instead). Growth doubles the group count and moves GROW_STEP groups
 * per call of orm__ctable_step, as Redis's dict moves buckets, so no request does O(n) work. */
#include <string.h>

#include "cache/ctable.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"

#define LANES ORM__CGROUP_LANES
#define LOAD_SIZED 0.78 /* the load a table is sized for: 64 / (7 x 0.78) = 11.7 bytes per entry */
/* The load at which it starts growing. Linear probing's clusters lengthen fast near full: over
 * a doubling cycle (36,000 to 72,000 keys in 8 shards) a hit read 1.079 groups on average
 * growing at 7/8 and 1.044 at 0.8, and one key in a hundred read 9 groups or more near 7/8. */
#define LOAD_GROW 0.8
#define GROW_STEP 4     /* groups moved per step */
#define MIN_GROUPS 4

_Static_assert(sizeof(orm__cgroup) == 64 || sizeof(void *) != 8, "a group fills one cache line");

/* The caller guarantees a free lane somewhere. */
static void insert_in(orm__cgroup *g, uint32_t n, orm__centry *e)
{
    uint8_t tag = ctab_tag(e->hash);
    for (uint32_t i = ctab_home(e->hash, n);; i = ctab_next(i, n)) {
        orm__cgroup *gr = &g[i];
        for (int k = 0; k < LANES; k++)
            if (!gr->tag[k]) {
                gr->tag[k] = tag;
                gr->slot[k] = e;
                return;
            }
        if (gr->overflow != 255)
            gr->overflow++;
    }
}

/* Remove e from g if it is there: 1, else 0. */
static int remove_in(orm__cgroup *g, uint32_t n, orm__centry *e)
{
    uint8_t tag = ctab_tag(e->hash);
    uint32_t home = ctab_home(e->hash, n);
    uint32_t i = home;
    for (uint32_t probes = 0; probes < n; probes++) {
        orm__cgroup *gr = &g[i];
        for (uint64_t m = ctab_candidates(gr, tag); m; m &= m - 1) {
            int k = ctab_lane(m);
            if (gr->slot[k] != e)
                continue;
            gr->tag[k] = 0;
            gr->slot[k] = NULL;
            for (uint32_t j = home; j != i; j = ctab_next(j, n))
                if (g[j].overflow != 255)
                    g[j].overflow--;
            return 1;
        }
        if (!gr->overflow)
            return 0;
        i = ctab_next(i, n);
    }
    return 0;
}

/* Put e in old's lane (same hash) if old is in g: 1, else 0. */
static int replace_in(orm__cgroup *g, uint32_t n, orm__centry *old, orm__centry *e)
{
    uint8_t tag = ctab_tag(old->hash);
    uint32_t i = ctab_home(old->hash, n);
    for (uint32_t probes = 0; probes < n; probes++) {
        orm__cgroup *gr = &g[i];
        for (uint64_t m = ctab_candidates(gr, tag); m; m &= m - 1)
            if (gr->slot[ctab_lane(m)] == old) {
                gr->slot[ctab_lane(m)] = e;
                return 1;
            }
        if (!gr->overflow)
            return 0;
        i = ctab_next(i, n);
    }
    return 0;
}

static orm__cgroup *groups_new(uint32_t n, void **mem)
{
    *mem = orm__calloc(1, (size_t)n * sizeof(orm__cgroup) + 63);
    if (!*mem)
        return NULL;
    return (orm__cgroup *)(((uintptr_t)*mem + 63) & ~(uintptr_t)63);
}

/* ---- the table ---- */

int orm__ctable_init(orm__ctable *t, uint64_t expected)
{
    memset(t, 0, sizeof *t);
    uint64_t n = (uint64_t)((double)expected / (LANES * LOAD_SIZED)) + 1;
    if (n < MIN_GROUPS)
        n = MIN_GROUPS;
    if (n > (1u << 28))
        n = 1u << 28;
    t->cursor = -1;
    t->n[0] = (uint32_t)n;
    t->g[0] = groups_new(t->n[0], &t->mem[0]);
    return t->g[0] ? ORM_OK : orm__error_nomem("cache");
}

void orm__ctable_free(orm__ctable *t)
{
    orm__free(t->mem[0]);
    orm__free(t->mem[1]);
    memset(t, 0, sizeof *t);
    t->cursor = -1;
}

/* Begin growing into a table twice the size; a failed allocation just postpones it. */
static void start_growing(orm__ctable *t)
{
    if (t->cursor >= 0 || t->n[0] >= (1u << 28))
        return;
    uint32_t n = t->n[0] * 2;
    orm__cgroup *g = groups_new(n, &t->mem[1]);
    if (!g)
        return;
    t->g[1] = g;
    t->n[1] = n;
    t->used[1] = 0;
    t->cursor = 0;
}

void orm__ctable_step(orm__ctable *t)
{
    if (t->cursor < 0)
        return;
    for (int s = 0; s < GROW_STEP && (uint64_t)t->cursor < t->n[0]; s++, t->cursor++) {
        orm__cgroup *gr = &t->g[0][t->cursor];
        for (int k = 0; k < LANES; k++) {
            orm__centry *e = gr->slot[k];
            if (!e)
                continue;
            remove_in(t->g[0], t->n[0], e);
            t->used[0]--;
            insert_in(t->g[1], t->n[1], e);
            t->used[1]++;
        }
    }
    if ((uint64_t)t->cursor < t->n[0])
        return;
    orm__free(t->mem[0]);
    t->g[0] = t->g[1];
    t->mem[0] = t->mem[1];
    t->n[0] = t->n[1];
    t->used[0] = t->used[1];
    t->g[1] = NULL;
    t->mem[1] = NULL;
    t->n[1] = 0;
    t->used[1] = 0;
    t->cursor = -1;
}

int orm__ctable_insert(orm__ctable *t, orm__centry *e)
{
    if (t->cursor < 0 && (double)(t->used[0] + 1) > (double)t->n[0] * LANES * LOAD_GROW)
        start_growing(t);
    int i = t->cursor >= 0 ? 1 : 0;
    if (t->used[i] >= (uint64_t)t->n[i] * LANES)
        return orm__error_nomem("cache");
    insert_in(t->g[i], t->n[i], e);
    t->used[i]++;
    return ORM_OK;
}

void orm__ctable_remove(orm__ctable *t, orm__centry *e)
{
    if (remove_in(t->g[0], t->n[0], e))
        t->used[0]--;
    else if (t->g[1] && remove_in(t->g[1], t->n[1], e))
        t->used[1]--;
}

void orm__ctable_replace(orm__ctable *t, orm__centry *old, orm__centry *e)
{
    if (!replace_in(t->g[0], t->n[0], old, e) && t->g[1])
        replace_in(t->g[1], t->n[1], old, e);
}

void orm__ctable_drain(orm__ctable *t, void (*fn)(orm__centry *e, void *arg), void *arg)
{
    for (int i = 0; i < 2; i++) {
        if (!t->g[i])
            continue;
        for (uint32_t j = 0; j < t->n[i]; j++)
            for (int k = 0; k < LANES; k++)
                if (t->g[i][j].slot[k])
                    fn(t->g[i][j].slot[k], arg);
        memset(t->g[i], 0, (size_t)t->n[i] * sizeof(orm__cgroup));
        t->used[i] = 0;
    }
}
