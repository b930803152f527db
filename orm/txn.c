/* liborm — the transaction hooks: per-transaction state that layers above attach and that
 * runs once when the transaction ends (see orm/txn.h).
 *
 * Keeps true: a hook runs exactly once (orm__txn_hooks_run detaches the list before calling
 * anything, so a hook that attaches to another transaction — a savepoint merging into its
 * parent — never sees its own list change under it); hooks run oldest first.
 */
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/txn.h"

int orm__txn_hook_add(struct orm_tx *tx, const void *owner, orm__txn_hook_fn fn, void *state)
{
    if (!tx || !fn)
        return orm__error_set(ORM_EINVAL, "tx", "hook: NULL transaction or function");
    if (!orm__tx_usable(tx))
        return orm__error_set(ORM_ETXDONE, "tx", "transaction already committed or rolled back");
    orm__txn_hook *h = orm__malloc(sizeof *h);
    if (!h)
        return orm__error_nomem("tx");
    h->owner = owner;
    h->fn = fn;
    h->state = state;
    h->next = tx->hooks;
    tx->hooks = h;
    return ORM_OK;
}

void *orm__txn_hook_find(const struct orm_tx *tx, const void *owner)
{
    for (const orm__txn_hook *h = tx ? tx->hooks : NULL; h; h = h->next)
        if (h->owner == owner)
            return h->state;
    return NULL;
}

void orm__txn_hooks_run(struct orm_tx *tx, orm__txn_event ev)
{
    orm__txn_hook *h = tx->hooks, *rev = NULL;
    tx->hooks = NULL;
    while (h) { /* newest first -> oldest first */
        orm__txn_hook *n = h->next;
        h->next = rev;
        rev = h;
        h = n;
    }
    while (rev) {
        orm__txn_hook *n = rev->next;
        if (rev->fn(tx, ev, rev->state) && ev == ORM__TXN_RELEASED && tx->parent) {
            rev->next = tx->parent->hooks; /* the parent's newest: order is kept */
            tx->parent->hooks = rev;
        } else {
            orm__free(rev);
        }
        rev = n;
    }
}
