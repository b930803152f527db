/* liborm — orm_tx_on_commit: callbacks run after the outermost COMMIT, on the transaction
 * hooks of orm/txn.h.
 *
 * Keeps true: each callback is called exactly once, with 1 only when the work it was
 * registered with is committed; a released savepoint moves its callbacks to its parent
 * without allocating (so a release never loses one to a failed allocation).
 */
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "tx/tx_internal.h"

typedef struct on_commit {
    orm_tx_commit_cb fn;
    void *userdata;
} on_commit;

static const char owner; /* these hooks' owner tag */

static int on_end(orm_tx *tx, orm__txn_event ev, void *state)
{
    (void)tx;
    on_commit *oc = state;
    if (ev == ORM__TXN_RELEASED)
        return 1; /* the parent's now */
    oc->fn(ev == ORM__TXN_COMMITTED, oc->userdata);
    orm__free(oc);
    return 0;
}

int orm_tx_on_commit(orm_tx *tx, orm_tx_commit_cb fn, void *userdata)
{
    if (!tx || !fn)
        return orm__error_set(ORM_EINVAL, "tx", "orm_tx_on_commit: NULL %s", !tx ? "tx" : "fn");
    on_commit *oc = orm__malloc(sizeof *oc);
    if (!oc)
        return orm__error_nomem("tx");
    oc->fn = fn;
    oc->userdata = userdata;
    int rc = orm__txn_hook_add(tx, &owner, on_end, oc); /* ORM_ETXDONE when tx is over */
    if (rc != ORM_OK)
        orm__free(oc);
    return rc;
}
