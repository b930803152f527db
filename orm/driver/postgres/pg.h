/* liborm internal — the PostgreSQL driver's private pieces: value encoding and decoding
 * (orm/driver/postgres/codec.c) and the SQLSTATE table (orm/driver/postgres/error.c), shared with driver.c.
 *
 * Type mapping (see the comment at the top of orm/driver/postgres/driver.c for the full contract):
 *   int2/int4/int8/oid -> INT, float4/float8/numeric -> DOUBLE, bool -> BOOL,
 *   text/varchar/bpchar/name -> TEXT, bytea -> BLOB, timestamp/timestamptz/date -> TIMESTAMP,
 *   anything else -> TEXT (the server's text output).
 */
#ifndef ORM_PG_INTERNAL_H
#define ORM_PG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "orm/value.h"

/* Type OIDs from pg_type.h (stable across server versions). */
enum {
    PG_OID_BOOL = 16,
    PG_OID_BYTEA = 17,
    PG_OID_NAME = 19,
    PG_OID_INT8 = 20,
    PG_OID_INT2 = 21,
    PG_OID_INT4 = 23,
    PG_OID_TEXT = 25,
    PG_OID_OID = 26,
    PG_OID_FLOAT4 = 700,
    PG_OID_FLOAT8 = 701,
    PG_OID_UNKNOWN = 705,
    PG_OID_BPCHAR = 1042,
    PG_OID_VARCHAR = 1043,
    PG_OID_DATE = 1082,
    PG_OID_TIMESTAMP = 1114,
    PG_OID_TIMESTAMPTZ = 1184,
    PG_OID_NUMERIC = 1700
};

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC). */
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)

/* The parameter type a value is prepared with (0: let the server infer it). */
Oid orm__pg_param_oid(const orm_value *v);

/* One parameter ready for PQexecPrepared. */
typedef struct pg_param {
    const char *value;
    int length;
    int format; /* 0 text, 1 binary */
} pg_param;

/* Bytes of scratch orm__pg_param_encode needs for v bound to a parameter of type oid. */
size_t orm__pg_param_room(const orm_value *v, Oid oid);

/* Encode v for a parameter prepared as `oid`: binary when the value's own type is oid (or
 * a blob), text otherwise (the server parses text into any type). Writes at most
 * orm__pg_param_room bytes at dst; out may point into dst or at the value's own bytes.
 * ORM_OK or ORM_ETYPE (text with a NUL byte, a timestamp outside years 1..9999 as text). */
int orm__pg_param_encode(const orm_value *v, Oid oid, char *dst, pg_param *out);

/* Whether a result column of this type is decoded from binary format. */
int orm__pg_binary_ok(Oid oid);

/* Decode one non-NULL field. Text and blob point into the result, or into *scratch (bytea
 * in text form; the caller frees it with PQfreemem). */
orm_value orm__pg_decode(Oid oid, int format, const char *data, int len, unsigned char **scratch);

/* Map a failed result (or, res NULL, a failed connection) to an ORM_E... code and set the
 * last error: SQLSTATE, the constraint name, the server's message. timed_out: the driver
 * cancelled the statement because the ctx deadline passed. */
int orm__pg_error(PGconn *pg, const PGresult *res, const char *what, int timed_out);

/* ORM_OK, or ORM_EINVAL naming what is malformed in a PostgreSQL DSN (a bad % escape, an
 * unterminated quote, a missing '=', a port that is not 1..65535): parsed, never connected
 * to (orm/driver/postgres/dsn.c). */
int orm__pg_dsn_check(const char *dsn);

#endif
