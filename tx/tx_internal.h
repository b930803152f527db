/* liborm internal — the transaction object, for the session code that runs statements on
 * a transaction's connection. */
#ifndef ORM_TX_INTERNAL_H
#define ORM_TX_INTERNAL_H

#include "orm/session_internal.h"
#include "orm/tx.h"

struct orm_tx {
    orm_db *db;
    orm_conn *conn;      /* leased with orm__db_acquire while open; NULL after */
    int open;            /* 1 from begin until commit or rollback */
    struct orm_session session; /* { db, this tx } */
};

#endif
