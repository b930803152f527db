/* liborm — error codes and the per-thread last error.
 *
 * Every function that can fail returns int: ORM_OK (0) or a negative ORM_E... code.
 * The detail (a message naming the field, table, SQLSTATE or file:line) is kept per
 * thread and read with orm_error_last().
 *
 * Thread safety: all functions here are safe from any thread; the last error is
 * thread-local, so one thread never sees another's.
 */
#ifndef ORM_ERROR_H
#define ORM_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#include "orm/export.h"

typedef enum orm_code {
    ORM_OK = 0,
    ORM_ERROR = -1,          /* generic failure */
    ORM_ENOMEM = -2,         /* out of memory */
    ORM_EINVAL = -3,         /* bad argument, bad model, bad option version */
    ORM_ENOTFOUND = -4,      /* no row (get), no such key */
    ORM_EUNKNOWN_FIELD = -5, /* a field or column the model does not have */
    ORM_ETYPE = -6,          /* a value of the wrong type for its column */
    ORM_ENULL = -7,          /* NULL read into a field that cannot hold it */
    ORM_ECONSTRAINT = -8,    /* unique, not null, foreign key, check violation */
    ORM_EBUSY = -9,          /* database locked / busy */
    ORM_ETIMEOUT = -10,      /* a deadline passed */
    ORM_ECANCELED = -11,     /* cancelled by the caller */
    ORM_ECONN = -12,         /* connection failed or lost */
    ORM_ETXDONE = -13,       /* transaction already committed or rolled back */
    ORM_ERETRY = -14,        /* serialization failure or deadlock: retry the transaction */
    ORM_EUNSAFE = -15,       /* refused as unsafe (UPDATE/DELETE without WHERE) */
    ORM_EUNSUPPORTED = -16,  /* the backend or dialect cannot express this */
    ORM_EDB = -17,           /* any other error reported by the database */
    ORM_EIO = -18,           /* file or I/O error */
    ORM_EPARSE = -19,        /* a file that cannot be parsed (schema, migration) */
    ORM_ESCHEMA = -20,       /* the live table does not match the model (orm_db_verify) */
    ORM_EUNKNOWN = -21,      /* commit outcome unknown: COMMIT was sent, then the deadline
                                passed or the connection was lost before the answer, and the
                                outcome could not be learned. The transaction may have
                                committed: never simply retry it (see README "Deadlines") */
    ORM_ERANGE = -22         /* a value longer than its field can hold (a fixed-capacity text
                                field: see model.h); never truncated */
} orm_code;

/* The detail of the last error on the calling thread. */
typedef struct orm_error {
    int code;              /* the ORM_E... code */
    const char *module;    /* "sqlite", "postgres", "builder", "mapper", "model", ... */
    const char *message;   /* one line, never NULL */
    char sqlstate[6];      /* SQLSTATE when the database gave one, else "" */
    int native_code;       /* the backend's own code (sqlite extended code), else 0 */
    int position;          /* where in the statement the database located the error: 1-based,
                              in bytes (SQLite) or characters (PostgreSQL); 0 when unknown */
} orm_error;

/* The last error set on this thread. Never NULL: when nothing failed yet, code is ORM_OK
 * and the message is "no error". The pointer stays valid until the next liborm call on
 * this thread. */
ORM_API const orm_error *orm_error_last(void);

/* Reset this thread's last error to ORM_OK. This function can't fail. */
ORM_API void orm_error_clear(void);

/* A static description of a code ("not found", ...). Unknown codes give "unknown error". */
ORM_API const char *orm_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
