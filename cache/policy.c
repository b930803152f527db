/* The local cache's eviction policies: LRU, and W-TinyLFU with an adaptive window.
 *
 * W-TinyLFU (Einziger, Friedman, Manes; as in Caffeine): new entries enter a small LRU
 * window; an entry leaving the window becomes a candidate for the main region, a segmented
 * LRU (probation, protected). When the cache is over its limit the candidate is compared with
 * probation's least recently used entry by their estimated frequency (a count-min sketch of
 * 4-bit counters, halved every 10 x capacity additions so old popularity fades) and the less
 * frequent one goes. A static window loses to LRU on recency-heavy workloads, so the window
 * adapts, as ARC (Megiddo & Modha) adapts its recency target: the policy remembers the hashes
 * of its recent evictions in two ghosts, rejected window candidates and main-region victims
 * (a direct-mapped table of 8-byte slots, one per two units of capacity, aged by eviction
 * count). A miss on a rejected candidate means a larger window would have hit, so the window
 * grows; a miss on a main victim shrinks it. Each step is 3 x the entry's weight times
 * sqrt(min(1, other kind's evictions / this kind's)) over recent evictions: on a cache that
 * rejects nine candidates per main victim the candidates' ghost sees far more returns only
 * because it sees far more keys, and unscaled it pushed the window to its maximum (2_pools at
 * 100 entries: 22 points below ARC). And as ARC moves a page that returns while remembered,
 * or is hit while in its recency list, to its frequency list: a rejected candidate that
 * returns while its ghost remembers it goes straight to protected, and so does a window entry
 * hit while the window holds at least 5% of the capacity. Caffeine's hill climber (step the
 * window by the change of the sampled hit rate) was measured with the ghosts and without, and
 * with them it only lost points (docs/DESIGN.md, "Eviction: how tinylfu's window adapts"), so
 * it is not used. The ghosts settle where their two kinds of hits balance, which on
 * recency-heavy traffic can be a window too small to match LRU; so an LRU shadow, run on a
 * hash sample of the keys, is compared with the policy's own misses on those keys, and when
 * LRU misses clearly less the window grows (shadow_access). A window hit goes to protected
 * only while the window holds at most half the capacity.
 *
 * Kept true: every function runs under the cache's policy lock and does bounded work (at most
 * TRANSFER_MAX queue moves per call; the sketch's periodic halving is O(capacity) once per
 * 10 x capacity additions, so O(1) amortized; the shadow's work per sampled access is one
 * probe of its table). wweight/pweight/protweight are the exact weights of the three queues;
 * an entry's queue field says which queue holds it. The shadow sees every access of a sampled
 * key (orm__cpolicy_access_quick never skips one). */
#include <math.h>
#include <string.h>

#include "cache/cache_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"

#define TRANSFER_MAX 1000
#define GHOST_SPAN 0.5    /* a ghost remembers the last 0.5 x capacity evictions of its kind */
#define GHOST_STEP 3      /* window change per ghost hit, in entry weights (before scaling) */
#define GHOST_DECAY 8     /* the eviction counts of the two kinds halve every 8 x capacity evictions */
#define WINDOW_PROMOTE 20 /* window hits go to protected while the window holds >= 1/20 of the capacity */
#define SKETCH_MIN_WIDTH 1024 /* counters per row at least (2 KB): a small cache's keys collide less */
#define ADMIT_HASHDOS_THRESHOLD 6
#define WINDOW_PROMOTE_MAX 2  /* ... and while it holds at most 1/2 of it */
#define SHADOW_SLOTS 1024     /* the LRU shadow's entries at most: its sample is 1024 / capacity */
#define SHADOW_PERIOD 1024    /* sampled accesses per comparison with the LRU shadow */
#define SHADOW_MARGIN 0.004   /* LRU ahead: its misses fewer by more than 0.4% of the accesses */
#define SHADOW_STEP 20        /* then the window grows by 1/20 of the capacity */

/* ---- lists: head.next is the least recently used end, head.prev the most recent ---- */

static void list_init(orm__clist *l)
{
    l->h->prev = l->h->next = l->h;
    l->n = 0;
}
static int list_empty(const orm__clist *l) { return l->h->next == l->h; }
static orm__centry *list_first(orm__clist *l) { return list_empty(l) ? NULL : l->h->next; }

static void list_push(orm__clist *l, orm__centry *e)
{
    e->stamp = ++l->clock;
    l->n++;
    e->next = l->h;
    e->prev = l->h->prev;
    l->h->prev->next = e;
    l->h->prev = e;
}

static void list_unlink(orm__clist *l, orm__centry *e)
{
    l->n--;
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static void list_move_tail(orm__clist *l, orm__centry *e)
{
    if (l->h->prev == e)
        return;
    list_unlink(l, e);
    list_push(l, e);
}

/* W-TinyLFU's queues are long, and moving a hit entry to the most recent end writes its two
 * neighbours, which a hit on a hot key would otherwise never touch: on a cache larger than the
 * CPU's caches those are two misses per hit. So a long queue is ordered only approximately,
 * as memcached bumps an item at most once a minute and CLOCK replaces LRU in page caches:
 * - the window moves an entry only when it is not among the most recent quarter of the queue
 *   (every push stamps the entry with its queue's clock, so fewer than n/4 pushes since its
 *   own mean it is still there);
 * - protected only marks the entry referenced, and gives it a second chance (a move to the
 *   recent end) when it reaches the old end (demote_protected);
 * - probation too only marks the entry, and promotes it to protected when it reaches the old
 *   end, where the victim is chosen (probation_victim). Promoting at the hit cost about a
 *   quarter of a Zipf hit's time on a 100,000-entry cache (W6); promoting here moved W7's
 *   hit ratios by at most 0.7 points down (multi3 at 2000) and 3.3 up (cs at 1000).
 * Queues under NEAR_EXACT entries, and the lru policy, keep exact LRU order. */
#define NEAR_EXACT ORM__NEAR_EXACT
#define SECOND_CHANCES 8 /* referenced entries passed over per demotion or victim search, at most */

static void list_touch(orm__clist *l, orm__centry *e)
{
    if (l->n >= NEAR_EXACT && l->clock - e->stamp < l->n / 4)
        return;
    list_move_tail(l, e);
}

/* ---- count-min sketch ---- */

static uint64_t next_pow2(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

/* The four counters of a key lie in one 64-byte block (8 words), so an update or a lookup
 * touches one cache line (as Caffeine's sketch does): the block is chosen by one half of a
 * remixed hash, and each counter's word (two candidates per counter) and nibble by the other. */
/* Where key hash's four counters are: word i is base + 2i + bit i of g, nibble i is bits
 * 4+4i..7+4i of g. */
static uint64_t sketch_mix(const orm__sketch *s, uint32_t hash, uint64_t *base)
{
    uint64_t h = ((uint64_t)hash + 0x97cb3127a1d4c5bfULL) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    *base = (h & ((s->mask + 1) / 32 - 1)) * 8; /* width/16 words per row x 4 rows, 8 a block */
    return h >> 32;
}

#define SK_WORD(base, g, i) ((base) + 2 * (i) + (((g) >> (i)) & 1))
#define SK_SHIFT(g, i) ((unsigned)(((g) >> (4 + 4 * (i))) & 15) * 4)

static int sketch_init(orm__sketch *s, uint64_t expected)
{
    uint64_t width = next_pow2(expected < SKETCH_MIN_WIDTH ? SKETCH_MIN_WIDTH : expected);
    s->mask = width - 1;
    /* Aligned to the cache line, or every block would straddle two lines (calloc aligns to
     * 16: cachegrind counted two first-level misses per update). */
    s->table_mem = orm__calloc(width / 4 + 8, sizeof(uint64_t));
    s->table = s->table_mem ? (uint64_t *)(((uintptr_t)s->table_mem + 63) & ~(uintptr_t)63) : NULL;
    s->additions = 0;
    s->halvings = 0;
    s->era = 1;
    s->sample_size = 10 * (expected ? expected : 1);
    return s->table ? ORM_OK : orm__error_nomem("cache");
}

static unsigned sketch_freq(const orm__sketch *s, uint32_t hash)
{
    uint64_t base, g = sketch_mix(s, hash, &base);
    const uint64_t *t = s->table;
    unsigned f = (unsigned)(t[SK_WORD(base, g, 0)] >> SK_SHIFT(g, 0)) & 15;
    unsigned c1 = (unsigned)(t[SK_WORD(base, g, 1)] >> SK_SHIFT(g, 1)) & 15;
    unsigned c2 = (unsigned)(t[SK_WORD(base, g, 2)] >> SK_SHIFT(g, 2)) & 15;
    unsigned c3 = (unsigned)(t[SK_WORD(base, g, 3)] >> SK_SHIFT(g, 3)) & 15;
    f = c1 < f ? c1 : f;
    f = c2 < f ? c2 : f;
    return c3 < f ? c3 : f;
}

static void sketch_halve(orm__sketch *s)
{
    size_t words = (s->mask + 1) / 4;
    for (size_t i = 0; i < words; i++)
        s->table[i] = (s->table[i] >> 1) & 0x7777777777777777ULL;
    s->additions /= 2;
    s->halvings++;
    s->era = (uint8_t)(s->halvings % 3 + 1);
}

/* Add one to the counter at shift in *w unless it is at 15. Returns 1 when it was below 15,
 * and sets *full when it is 15 afterwards. */
static int sketch_bump(uint64_t *w, unsigned shift, int *full)
{
    unsigned c = (unsigned)(*w >> shift) & 15;
    if (c == 15)
        return 0;
    *w += (uint64_t)1 << shift;
    *full &= c == 14;
    return 1;
}

/* Count one access of hash. Returns 1 when all four of its counters are at 15 afterwards:
 * until the next halving, further increments of this key would change nothing. */
static int sketch_inc(orm__sketch *s, uint32_t hash)
{
    uint64_t base, g = sketch_mix(s, hash, &base);
    uint64_t *t = s->table;
    int full = 1;
    int added = sketch_bump(&t[SK_WORD(base, g, 0)], SK_SHIFT(g, 0), &full);
    added |= sketch_bump(&t[SK_WORD(base, g, 1)], SK_SHIFT(g, 1), &full);
    added |= sketch_bump(&t[SK_WORD(base, g, 2)], SK_SHIFT(g, 2), &full);
    added |= sketch_bump(&t[SK_WORD(base, g, 3)], SK_SHIFT(g, 3), &full);
    if (added && ++s->additions >= s->sample_size) {
        sketch_halve(s);
        return 0;
    }
    return full;
}

/* The mark of the current sketch period: 1..3, changed by every halving. A mark three halvings
 * old looks current again; it then spares one key one increment, which the sketch's
 * approximation absorbs. */
static unsigned sketch_era(const orm__sketch *s) { return s->era; }

/* ---- the LRU shadow ----
 * An LRU of SHADOW_SLOTS entries run on the keys whose hash falls in a sample of rate
 * SHADOW_SLOTS / capacity (all keys for a smaller cache): as SHARDS (Waldspurger et al.) shows,
 * a hash sample's LRU of the scaled size misses at about the full LRU's rate. The policy's own
 * misses on the same keys are its inserts of them, so the two are compared on one stream:
 * unlike a hit rate measured over time (Caffeine's climber), the difference does not swing with
 * the trace's phases. Its keys are 32-bit hashes; slots are linked by 16-bit indexes (the
 * sentinel is slot cap) and found through an open-addressed table of slot + 1. */
struct orm__cshadow {
    uint32_t n, cap, tmask;
    uint32_t *key;
    uint16_t *prev, *next, *tab;
    uint32_t acc, real_miss, lru_miss; /* over the current period */
};

static uint32_t sh_home(const struct orm__cshadow *s, uint32_t h) { return (h * 0x85EBCA6Bu ^ h >> 15) & s->tmask; }

static void sh_unlink(struct orm__cshadow *s, uint32_t i)
{
    s->next[s->prev[i]] = s->next[i];
    s->prev[s->next[i]] = s->prev[i];
}

static void sh_push(struct orm__cshadow *s, uint32_t i)
{
    uint32_t h = s->cap;
    s->prev[i] = s->prev[h];
    s->next[i] = (uint16_t)h;
    s->next[s->prev[h]] = (uint16_t)i;
    s->prev[h] = (uint16_t)i;
}

/* Empty table position i, shifting later entries of its probe run back (no tombstones). */
static void sh_tab_del(struct orm__cshadow *s, uint32_t i)
{
    for (uint32_t j = i;;) {
        j = (j + 1) & s->tmask;
        if (!s->tab[j])
            break;
        uint32_t k = sh_home(s, s->key[s->tab[j] - 1]);
        if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
            s->tab[i] = s->tab[j];
            i = j;
        }
    }
    s->tab[i] = 0;
}

/* One access of a sampled key: returns 1 when the shadow LRU missed it (and now holds it). */
static int sh_access(struct orm__cshadow *s, uint32_t h)
{
    uint32_t i = sh_home(s, h);
    for (; s->tab[i]; i = (i + 1) & s->tmask) {
        uint32_t slot = s->tab[i] - 1u;
        if (s->key[slot] == h) {
            sh_unlink(s, slot);
            sh_push(s, slot);
            return 0;
        }
    }
    uint32_t slot;
    if (s->n < s->cap) {
        slot = s->n++;
    } else { /* the least recent slot is reused */
        slot = s->next[s->cap];
        sh_unlink(s, slot);
        uint32_t j = sh_home(s, s->key[slot]);
        while (s->tab[j] != slot + 1)
            j = (j + 1) & s->tmask;
        sh_tab_del(s, j);
        for (i = sh_home(s, h); s->tab[i]; i = (i + 1) & s->tmask)
            ;
    }
    s->key[slot] = h;
    s->tab[i] = (uint16_t)(slot + 1);
    sh_push(s, slot);
    return 1;
}

static void shadow_clear(struct orm__cshadow *s)
{
    memset(s->tab, 0, ((size_t)s->tmask + 1) * sizeof *s->tab);
    s->prev[s->cap] = s->next[s->cap] = (uint16_t)s->cap;
    s->n = s->acc = s->real_miss = s->lru_miss = 0;
}

static void shadow_free(orm__cpolicy *p)
{
    struct orm__cshadow *s = p->shadow;
    if (s) {
        orm__free(s->key);
        orm__free(s->prev);
        orm__free(s->next);
        orm__free(s->tab);
        orm__free(s);
    }
    p->shadow = NULL;
    p->shadow_thresh = 0;
}

/* A count-limited cache only: the sample is of keys, and a byte-limited cache's capacity says
 * nothing of how many keys it holds. */
static int shadow_init(orm__cpolicy *p)
{
    if (p->by_bytes)
        return ORM_OK;
    double rate = p->max > SHADOW_SLOTS ? (double)SHADOW_SLOTS / (double)p->max : 1;
    uint32_t cap = (uint32_t)ceil(rate * (double)p->max);
    struct orm__cshadow *s = orm__calloc(1, sizeof *s);
    if (!s)
        return orm__error_nomem("cache");
    p->shadow = s;
    s->cap = cap;
    s->tmask = (uint32_t)next_pow2(2 * (uint64_t)cap) - 1;
    s->key = orm__calloc(cap, sizeof *s->key);
    s->prev = orm__calloc(cap + 1, sizeof *s->prev);
    s->next = orm__calloc(cap + 1, sizeof *s->next);
    s->tab = orm__calloc((size_t)s->tmask + 1, sizeof *s->tab);
    if (!s->key || !s->prev || !s->next || !s->tab) {
        shadow_free(p);
        return orm__error_nomem("cache");
    }
    shadow_clear(s);
    p->shadow_thresh = rate >= 1 ? UINT32_MAX : (uint32_t)(rate * 4294967296.0);
    return ORM_OK;
}

static void increase_window(orm__cpolicy *p, uint64_t amount);

/* An access of a key (miss: the policy did not hold it). When the key is sampled it is replayed
 * on the shadow; every SHADOW_PERIOD sampled accesses the policy's misses on the sample are
 * compared with the shadow's, and when LRU was clearly ahead the window grows by 1/SHADOW_STEP
 * of the capacity and, for the next cap sampled accesses, main victims' ghosts do not shrink it
 * (they would undo the step at once: on sprite, a recency-heavy trace, they held the window
 * at 5-20% of the cache where 20-25% is best). */
static void shadow_access(orm__cpolicy *p, uint32_t hash, int miss)
{
    struct orm__cshadow *s = p->shadow;
    if (!orm__cpolicy_sampled(p, hash))
        return;
    s->real_miss += (uint32_t)miss;
    s->lru_miss += (uint32_t)sh_access(s, hash);
    if (p->lru_ahead)
        p->lru_ahead--;
    if (++s->acc < SHADOW_PERIOD)
        return;
    if ((double)s->real_miss > (double)s->lru_miss + SHADOW_MARGIN * (double)s->acc) {
        increase_window(p, p->max / SHADOW_STEP + 1);
        p->lru_ahead = s->cap;
    } else {
        p->lru_ahead = 0;
    }
    s->acc = s->real_miss = s->lru_miss = 0;
}

/* ---- policy ---- */

uint64_t orm__cpolicy_weight(const orm__cpolicy *p, const orm__centry *e)
{
    return p->by_bytes ? e->charge : 1;
}

static void reset_sizes(orm__cpolicy *p)
{
    p->wweight = p->pweight = p->protweight = 0;
    p->cand = NULL;
    p->ncand = 0;
    if (p->kind == ORM_CACHE_LRU) {
        p->window_max = p->max;
        p->protected_max = 0;
    } else {
        p->window_max = p->max / 100 ? p->max / 100 : 1;
        p->protected_max = (uint64_t)((double)(p->max - (p->max > p->window_max ? p->window_max : 0)) * 0.8);
    }
    p->ghost_evictions[0] = p->ghost_evictions[1] = 0;
    p->ghost_credit = 0;
    p->lru_ahead = 0;
}

int orm__cpolicy_init(orm__cpolicy *p, int kind, int by_bytes, uint64_t max, uint64_t expected_entries)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->by_bytes = by_bytes;
    p->max = max;
    p->rng = 0x2545F4914F6CDD1DULL;
    p->sentinels = orm__calloc(3, sizeof(orm__centry));
    if (!p->sentinels)
        return orm__error_nomem("cache");
    p->window.h = &p->sentinels[0];
    p->probation.h = &p->sentinels[1];
    p->protected_.h = &p->sentinels[2];
    list_init(&p->window);
    list_init(&p->probation);
    list_init(&p->protected_);
    reset_sizes(p);
    if (kind == ORM_CACHE_TINYLFU && max) {
        uint64_t n = next_pow2(expected_entries < 128 ? 128 : expected_entries) / 2;
        p->ghost_span = (uint64_t)(GHOST_SPAN * (double)expected_entries);
        p->ghost_mask = n - 1;
        if (!(p->ghost = orm__calloc(n, sizeof(uint64_t))))
            return orm__error_nomem("cache");
        int rc = shadow_init(p);
        if (rc != ORM_OK)
            return rc;
        return sketch_init(&p->sketch, expected_entries);
    }
    return ORM_OK;
}

void orm__cpolicy_free(orm__cpolicy *p)
{
    orm__free(p->sketch.table_mem);
    orm__free(p->sentinels);
    orm__free(p->ghost);
    p->ghost = NULL;
    shadow_free(p);
    p->sketch.table = NULL;
    p->sketch.table_mem = NULL;
    p->sentinels = NULL;
}

void orm__cpolicy_reset(orm__cpolicy *p)
{
    list_init(&p->window);
    list_init(&p->probation);
    list_init(&p->protected_);
    reset_sizes(p);
    if (p->shadow)
        shadow_clear(p->shadow);
}

static int tinylfu(const orm__cpolicy *p) { return p->kind == ORM_CACHE_TINYLFU && p->sketch.table; }

static void forget_cand(orm__cpolicy *p, orm__centry *e)
{
    if (e == p->cand) {
        p->cand = NULL;
        p->ncand = 0;
    }
}

/* Protected over its share: its least recent entries go back to probation. */
static void demote_protected(orm__cpolicy *p)
{
    int chances = SECOND_CHANCES;
    while (p->protweight > p->protected_max) {
        orm__centry *e = list_first(&p->protected_);
        if (!e)
            break;
        int referenced = e->flags & ORM__E_REFERENCED;
        e->flags &= (uint8_t)~ORM__E_REFERENCED;
        if (referenced && chances-- > 0) {
            list_move_tail(&p->protected_, e);
            continue;
        }
        uint64_t w = orm__cpolicy_weight(p, e);
        list_unlink(&p->protected_, e);
        p->protweight -= w;
        list_push(&p->probation, e);
        p->pweight += w;
        e->queue = ORM__Q_PROBATION;
    }
}

/* Window over its share: its least recent entries become candidates for the main region. */
static void window_overflow(orm__cpolicy *p)
{
    while (p->wweight > p->window_max) {
        orm__centry *e = list_first(&p->window);
        if (!e)
            break;
        uint64_t w = orm__cpolicy_weight(p, e);
        list_unlink(&p->window, e);
        p->wweight -= w;
        list_push(&p->probation, e);
        p->pweight += w;
        e->queue = ORM__Q_PROBATION;
        p->cand = e;
        p->ncand++;
    }
}

static uint64_t ghost_slot(const orm__cpolicy *p, uint32_t hash)
{
    uint64_t h = (uint64_t)hash * 0xD6E8FEB86659FD93ULL;
    return (h ^ (h >> 32)) & p->ghost_mask;
}

static void ghost_add(orm__cpolicy *p, uint32_t hash, int which)
{
    if (!p->ghost)
        return;
    uint32_t stamp = ++p->ghost_clock[which] & 0x7fffffffu;
    p->ghost[ghost_slot(p, hash)] = (uint64_t)hash << 32 | (uint64_t)stamp << 1 | (uint64_t)which;
    if (++p->ghost_evictions[which] + p->ghost_evictions[!which] >= GHOST_DECAY * p->max) {
        p->ghost_evictions[0] /= 2;
        p->ghost_evictions[1] /= 2;
    }
}

/* Which ghost remembers hash (0, 1), or -1. A ghost forgets after ghost_span of its evictions. */
static int ghost_take(orm__cpolicy *p, uint32_t hash)
{
    if (!p->ghost)
        return -1;
    uint64_t *g = &p->ghost[ghost_slot(p, hash)];
    if (!*g || (uint32_t)(*g >> 32) != hash)
        return -1;
    int which = (int)(*g & 1);
    uint32_t age = (p->ghost_clock[which] - (uint32_t)(*g >> 1)) & 0x7fffffffu;
    *g = 0;
    return age < p->ghost_span ? which : -1;
}

static void increase_window(orm__cpolicy *p, uint64_t amount);
static void decrease_window(orm__cpolicy *p, uint64_t amount);

/* A miss on a key the policy recently threw out: move the window/main boundary toward the
 * region that would have kept it, by GHOST_STEP x w, scaled down when this kind of eviction
 * is the more common (see the top of the file); fractions accumulate in ghost_credit.
 * Returns which ghost remembered the key, or -1. */
static int ghost_feedback(orm__cpolicy *p, uint32_t hash, uint64_t w)
{
    int which = ghost_take(p, hash);
    if (which < 0)
        return -1;
    double mine = (double)p->ghost_evictions[which] + 1, other = (double)p->ghost_evictions[!which] + 1;
    double d = GHOST_STEP * (double)w * (other < mine ? sqrt(other / mine) : 1);
    if (which == 1 && p->lru_ahead)
        d = 0; /* the LRU shadow is ahead: see shadow_access */
    p->ghost_credit += which == 0 ? d : -d;
    if (p->ghost_credit >= 1) {
        uint64_t n = (uint64_t)p->ghost_credit;
        p->ghost_credit -= (double)n;
        increase_window(p, n);
    } else if (p->ghost_credit <= -1) {
        uint64_t n = (uint64_t)-p->ghost_credit;
        p->ghost_credit += (double)n;
        decrease_window(p, n);
    }
    return which;
}

/* e (in the window) goes to protected, as ARC moves a page seen again to its frequency list. */
static void window_to_protected(orm__cpolicy *p, orm__centry *e)
{
    uint64_t w = orm__cpolicy_weight(p, e);
    list_unlink(&p->window, e);
    p->wweight -= w;
    list_push(&p->protected_, e);
    p->protweight += w;
    e->queue = ORM__Q_PROTECTED;
    e->flags &= (uint8_t)~ORM__E_REFERENCED;
    demote_protected(p);
}

void orm__cpolicy_insert(orm__cpolicy *p, orm__centry *e)
{
    uint64_t w = orm__cpolicy_weight(p, e);
    e->queue = ORM__Q_WINDOW;
    list_push(&p->window, e);
    p->wweight += w;
    if (tinylfu(p)) {
        shadow_access(p, e->hash, 1);
        sketch_inc(&p->sketch, e->hash);
        /* a rejected candidate back while remembered was wrongly rejected: no second trial */
        if (ghost_feedback(p, e->hash, w) == 0 && e->queue == ORM__Q_WINDOW)
            window_to_protected(p, e);
        window_overflow(p);
    }
}

/* A probation entry that was hit moves to protected, whose least recent entries may go back
 * to probation. */
static void promote(orm__cpolicy *p, orm__centry *e)
{
    uint64_t w = orm__cpolicy_weight(p, e);
    forget_cand(p, e);
    list_unlink(&p->probation, e);
    p->pweight -= w;
    list_push(&p->protected_, e);
    p->protweight += w;
    e->queue = ORM__Q_PROTECTED;
    e->flags &= (uint8_t)~ORM__E_REFERENCED;
    demote_protected(p);
}

/* Probation's least recent entry that was not hit while there. A long probation queue marks
 * its hit entries instead of promoting them (each promotion rewrites four neighbours and
 * usually demotes a protected entry, some ten cache misses on a large cache, for an entry
 * that would often be hit again before it mattered); the marked ones are promoted here, when
 * they reach the old end, at most SECOND_CHANCES per call, as S3-FIFO and CLOCK promote
 * lazily. */
static orm__centry *probation_victim(orm__cpolicy *p)
{
    for (int chances = SECOND_CHANCES;; chances--) {
        orm__centry *v = list_first(&p->probation);
        if (!v || chances == 0 || !(v->flags & ORM__E_REFERENCED))
            return v;
        promote(p, v);
    }
}

void orm__cpolicy_access(orm__cpolicy *p, orm__centry *e)
{
    if ((e->flags & ORM__E_DEAD) || e->queue == ORM__Q_NONE)
        return;
    if (!tinylfu(p)) {
        list_move_tail(&p->window, e);
        return;
    }
    shadow_access(p, e->hash, 0);
    /* A key whose counters are all at 15 is not counted again until the next halving (it
     * would change nothing): on a skewed workload most hits are such keys, and this spares
     * them the sketch's cache line and some 50 instructions. */
    unsigned era = sketch_era(&p->sketch);
    if ((e->flags & ORM__E_SATURATED_MASK) >> ORM__E_SATURATED_SHIFT != era) {
        unsigned mark = sketch_inc(&p->sketch, e->hash) ? sketch_era(&p->sketch) : 0;
        e->flags = (uint8_t)((e->flags & ~ORM__E_SATURATED_MASK) | mark << ORM__E_SATURATED_SHIFT);
    }
    switch (e->queue) {
    case ORM__Q_WINDOW:
        if (p->window_max >= p->max / WINDOW_PROMOTE && p->window_max <= p->max / WINDOW_PROMOTE_MAX) /* see the top of the file */
            window_to_protected(p, e);
        else
            list_touch(&p->window, e);
        break;
    case ORM__Q_PROBATION:
        if (p->probation.n < NEAR_EXACT)
            promote(p, e);
        else if (!(e->flags & ORM__E_REFERENCED)) /* promoted when it reaches the old end */
            e->flags |= ORM__E_REFERENCED;
        break;
    default:
        if (p->protected_.n < NEAR_EXACT)
            list_move_tail(&p->protected_, e);
        else if (!(e->flags & ORM__E_REFERENCED)) /* no store when set: other CPUs read this line */
            e->flags |= ORM__E_REFERENCED;
        break;
    }
}

static uint64_t *queue_weight(orm__cpolicy *p, int queue)
{
    return queue == ORM__Q_WINDOW ? &p->wweight : queue == ORM__Q_PROBATION ? &p->pweight : &p->protweight;
}

static orm__clist *queue_list(orm__cpolicy *p, int queue)
{
    return queue == ORM__Q_WINDOW ? &p->window : queue == ORM__Q_PROBATION ? &p->probation : &p->protected_;
}

void orm__cpolicy_remove(orm__cpolicy *p, orm__centry *e)
{
    if (e->queue == ORM__Q_NONE)
        return;
    forget_cand(p, e);
    *queue_weight(p, e->queue) -= orm__cpolicy_weight(p, e);
    list_unlink(queue_list(p, e->queue), e);
    e->queue = ORM__Q_NONE;
}

void orm__cpolicy_replace(orm__cpolicy *p, orm__centry *old, orm__centry *e)
{
    e->queue = old->queue;
    e->stamp = old->stamp;
    e->flags = (uint8_t)((e->flags & ORM__E_EMBEDDED) | (old->flags & (ORM__E_REFERENCED | ORM__E_SATURATED_MASK)));
    old->queue = ORM__Q_NONE;
    if (e->queue == ORM__Q_NONE)
        return;
    e->prev = old->prev;
    e->next = old->next;
    e->prev->next = e;
    e->next->prev = e;
    old->prev = old->next = NULL;
    if (p->cand == old)
        p->cand = e;
}

void orm__cpolicy_reweigh(orm__cpolicy *p, orm__centry *e, uint32_t old_charge)
{
    if (!p->by_bytes || e->queue == ORM__Q_NONE)
        return;
    uint64_t *w = queue_weight(p, e->queue);
    *w = *w - old_charge + e->charge;
}

static uint64_t rng_next(orm__cpolicy *p)
{
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return p->rng;
}

static int admit(orm__cpolicy *p, orm__centry *cand, orm__centry *victim)
{
    unsigned fc = sketch_freq(&p->sketch, cand->hash);
    unsigned fv = sketch_freq(&p->sketch, victim->hash);
    if (fc > fv)
        return 1;
    /* A warm candidate is sometimes let in anyway, so an attacker cannot pin a victim by
     * inflating its frequency (Caffeine's hash-flooding defence). */
    if (fc >= ADMIT_HASHDOS_THRESHOLD)
        return (rng_next(p) & 127) == 0;
    return 0;
}

orm__centry *orm__cpolicy_victim(orm__cpolicy *p)
{
    orm__centry *v;
    if (!tinylfu(p)) {
        v = list_first(&p->window);
        if (v)
            orm__cpolicy_remove(p, v);
        return v;
    }
    window_overflow(p);
    v = probation_victim(p);
    if (!v) {
        v = list_first(&p->protected_);
        if (!v)
            v = list_first(&p->window);
        if (v)
            orm__cpolicy_remove(p, v);
        return v;
    }
    orm__centry *c = p->ncand ? p->cand : NULL;
    if (c && c != v) {
        orm__centry *next = (p->ncand > 1 && c->prev != p->probation.h) ? c->prev : NULL;
        p->cand = next;
        p->ncand = next ? p->ncand - 1 : 0;
        if (!admit(p, c, v))
            v = c;
    }
    ghost_add(p, v->hash, v == c ? 0 : 1);
    orm__cpolicy_remove(p, v);
    return v;
}

/* The window takes up to amount of weight from the main region: protected's share first,
 * entries moving from probation's (then protected's) old end into the window. */
static void increase_window(orm__cpolicy *p, uint64_t amount)
{
    if (p->protected_max == 0)
        return;
    uint64_t quota = amount < p->protected_max ? amount : p->protected_max;
    p->protected_max -= quota;
    p->window_max += quota;
    demote_protected(p);
    for (int i = 0; i < TRANSFER_MAX; i++) {
        orm__centry *e = list_first(&p->probation);
        if (!e || quota < orm__cpolicy_weight(p, e))
            e = list_first(&p->protected_);
        if (!e)
            break;
        uint64_t w = orm__cpolicy_weight(p, e);
        if (quota < w)
            break;
        quota -= w;
        orm__cpolicy_remove(p, e);
        e->queue = ORM__Q_WINDOW;
        e->flags &= (uint8_t)~ORM__E_REFERENCED; /* a mark of probation or protected */
        list_push(&p->window, e);
        p->wweight += w;
    }
    p->protected_max += quota;
    p->window_max -= quota;
}

/* The window gives up to amount of weight to the main region (at least 1 stays): its least
 * recent entries move to probation. */
static void decrease_window(orm__cpolicy *p, uint64_t amount)
{
    if (p->window_max <= 1)
        return;
    uint64_t quota = amount < p->window_max - 1 ? amount : p->window_max - 1;
    p->protected_max += quota;
    p->window_max -= quota;
    for (int i = 0; i < TRANSFER_MAX; i++) {
        orm__centry *e = list_first(&p->window);
        if (!e)
            break;
        uint64_t w = orm__cpolicy_weight(p, e);
        if (quota < w)
            break;
        quota -= w;
        list_unlink(&p->window, e);
        p->wweight -= w;
        list_push(&p->probation, e);
        p->pweight += w;
        e->queue = ORM__Q_PROBATION;
    }
    p->protected_max -= quota;
    p->window_max += quota;
}

void orm__cpolicy_maintain(orm__cpolicy *p)
{
    p->cand = NULL;
    p->ncand = 0;
    if (tinylfu(p))
        demote_protected(p);
}
