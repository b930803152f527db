/* orm_db_use: registering a middleware on a db's chain (the chain itself is orm/middleware.c;
 * the db embeds it and hands it out with orm__db_chain).
 *
 * What it keeps true: registration goes through orm__chain_use, which refuses once the db
 * has run a statement and frees the middleware's userdata when it refuses.
 */
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"

int orm_db_use(orm_db *db, const orm_middleware *mw)
{
    if (!db) {
        if (mw && mw->free)
            mw->free(mw->userdata);
        return orm__error_set(ORM_EINVAL, "middleware", "orm_db_use: db is NULL");
    }
    return orm__chain_use(orm__db_chain(db), mw);
}
