/* liborm — orm_do_tx: the transaction closure, with bounded retries.
 *
 * Keeps true:
 *  - fn returning 0 commits (unless fn ended the tx itself); anything else rolls back and is
 *    returned as is, with fn's error message; when the rollback fails too, the message holds
 *    both errors and the code stays fn's;
 *  - fn always gets a ctx that carries its tx (the caller's ctx, or one made for the call),
 *    so code it calls with that ctx joins the transaction;
 *  - only the outermost orm_do_tx retries (a nested one is a savepoint of a transaction that
 *    a serialization failure has doomed as a whole), on ORM_ERETRY and ORM_EBUSY, at most
 *    max_retries times, pausing with doubling jittered backoff, never past the ctx deadline.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "orm/ctx_internal.h"
#include "orm/error_internal.h"
#include "tx/tx_internal.h"

/* Roll tx back after fn failed with rc, keeping fn's error (and adding the rollback's). */
static void rollback_after(orm_tx *tx, int rc)
{
    const orm_error *e = orm_error_last();
    orm_error first = *e;
    char msg[512];
    if (e->code == rc) {
        strncpy(msg, e->message, sizeof msg - 1);
        msg[sizeof msg - 1] = '\0';
    } else { /* fn returned a code of its own without setting the error */
        first.module = "tx";
        first.sqlstate[0] = '\0';
        first.native_code = 0;
        snprintf(msg, sizeof msg, "the transaction closure returned %d (%s)", rc,
                 orm_strerror(rc));
    }
    const char *state = first.sqlstate[0] ? first.sqlstate : NULL;
    char statebuf[6];
    if (state) {
        memcpy(statebuf, first.sqlstate, sizeof statebuf);
        state = statebuf;
    }
    int rb = orm_tx_rollback(tx);
    if (rb == ORM_OK)
        orm__error_set_db(rc, first.module, state, first.native_code, "%s", msg);
    else
        orm__error_set_db(rc, first.module, state, first.native_code,
                          "%s; and the rollback failed too: %s (%s)", msg,
                          orm_error_last()->message, orm_strerror(rb));
}

/* A thread-local xorshift for the jitter: no global state, no locks. */
static uint64_t jitter_next(void)
{
    static _Thread_local uint64_t x;
    if (!x)
        x = (uint64_t)orm_ctx_now_us() * 0x9e3779b97f4a7c15ull | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

/* Sleep before attempt+1; 0 when the ctx would not let a retry finish (or is done). */
static int pause_before_retry(const orm_ctx *ctx, int base_ms, int attempt)
{
    int64_t us = (int64_t)(base_ms > 0 ? base_ms : 5) * 1000;
    for (int i = 0; i < attempt && us < 1000000; i++)
        us *= 2;
    if (us > 1000000)
        us = 1000000;
    us = us / 2 + (int64_t)(jitter_next() % (uint64_t)(us / 2 + 1)); /* [us/2, us] */
    if (orm_ctx_err(ctx) != ORM_OK)
        return 0;
    int64_t deadline = orm_ctx_deadline(ctx);
    if (deadline && orm_ctx_now_us() + us >= deadline)
        return 0;
    struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
    return 1;
}

int orm_do_tx(orm_db *db, orm_ctx *ctx, const orm_tx_options *opts, orm_tx_fn fn, void *userdata)
{
    if (!db || !fn)
        return orm__error_set(ORM_EINVAL, "tx", "orm_do_tx: NULL db or fn");
    if (opts && opts->version != 1 && opts->version != ORM_TX_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "tx", "unknown orm_tx_options version %u (this liborm knows %u)",
                              opts->version, ORM_TX_OPTIONS_VERSION);
    orm_ctx *own = NULL;
    if (!ctx) {
        int rc = orm_ctx_new(&own, NULL);
        if (rc != ORM_OK)
            return rc;
        ctx = own;
    }
    const int nested = orm__ctx_tx_for(ctx, db) != NULL;
    const int max_retries = !nested && opts && opts->version >= 2 && opts->max_retries > 0
                                ? opts->max_retries : 0;
    const int backoff_ms = opts && opts->version >= 2 ? opts->retry_backoff_ms : 0;
    int rc;
    for (int attempt = 0;; attempt++) {
        orm_tx *tx;
        rc = orm_tx_begin(&tx, db, ctx, opts);
        if (rc == ORM_OK) {
            rc = fn(tx, ctx, userdata);
            if (rc == ORM_OK) {
                if (orm_tx_is_open(tx))
                    rc = orm_tx_commit(tx);
            } else if (orm_tx_is_open(tx)) {
                rollback_after(tx, rc);
            }
            orm_tx_free(tx);
        }
        if ((rc == ORM_ERETRY || rc == ORM_EBUSY) && attempt < max_retries &&
            pause_before_retry(ctx, backoff_ms, attempt))
            continue;
        break;
    }
    orm_ctx_free(own);
    return rc;
}
