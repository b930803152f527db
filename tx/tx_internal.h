/* liborm internal — the transaction object for tx/ and migrations: its state lives in
 * orm/txn.h (the session and the cursors write it, and orm/ includes nothing from tx/). */
#ifndef ORM_TX_INTERNAL_H
#define ORM_TX_INTERNAL_H

#include "orm/txn.h"

#endif
