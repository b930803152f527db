/* liborm — values: the tagged union every argument and scalar result travels in.
 *
 * An orm_value is a small view: text and blob values point at memory they do not own.
 * Whatever takes a value and keeps it past the call (an expression node, a builder)
 * copies the bytes, so passing a stack buffer is always safe.
 *
 * Timestamps are microseconds since 1970-01-01 00:00:00 UTC. PostgreSQL stores them as
 * timestamp / timestamptz. SQLite stores them as UTC text its date functions read, and liborm
 * writes (and binds, in comparisons) the shortest of these exact forms:
 *     "2026-11-22"                   midnight, as date() writes
 *     "2026-11-22 03:57:47"          whole seconds, as datetime() and CURRENT_TIMESTAMP write
 *     "2026-11-22 03:57:47.120"      whole milliseconds, as strftime('%f') and 'subsec' write
 *     "2026-11-22 03:57:47.123456"   otherwise
 * Each form is the full one with a tail of zeros cut off, so text order is time order: of two
 * different instants the earlier is the smaller text, whichever of these forms either is in.
 * The same instant written longer (datetime() at midnight, ".000") sorts just above liborm's
 * form, so a half-open range (ts >= a AND ts < b) is exact against every one of them; only
 * =, <=, > at exactly such an instant can differ. Reading accepts more: any of the forms
 * above, 'T' for the space, "HH:MM" without seconds, 1 to 9 fraction digits, a "Z" or
 * "+HH:MM" offset, an INTEGER (unix seconds, as unixepoch() writes) and a REAL (a Julian day,
 * as julianday() writes, to the millisecond). Rows stored in those other forms read correctly
 * but do not compare by text with the forms above: normalize them once, for example
 * UPDATE t SET ts = strftime('%Y-%m-%d %H:%M:%f', ts) (then ".000" forms) or datetime(ts).
 *
 * Thread safety: the constructors are pure functions.
 */
#ifndef ORM_VALUE_H
#define ORM_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "orm/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum orm_value_type {
    ORM_VALUE_NULL = 0,
    ORM_VALUE_INT,       /* int64_t */
    ORM_VALUE_DOUBLE,    /* double */
    ORM_VALUE_TEXT,      /* UTF-8 bytes, length in len (may contain NUL bytes) */
    ORM_VALUE_BLOB,      /* bytes, length in len */
    ORM_VALUE_BOOL,      /* bool */
    ORM_VALUE_TIMESTAMP  /* int64_t microseconds since the Unix epoch, UTC */
} orm_value_type;

typedef struct orm_value {
    orm_value_type type;
    size_t len; /* bytes of text or blob */
    union {
        int64_t i;   /* INT and TIMESTAMP */
        double d;
        bool b;
        const char *s;
        const void *p;
    } u;
} orm_value;

/* A blob member of a model struct: owned data and its length. */
typedef struct orm_blob {
    void *data;
    size_t len;
} orm_blob;

/* Microseconds since the Unix epoch, UTC: the C type of a timestamp member. */
typedef int64_t orm_timestamp;

static inline orm_value orm_null(void) { orm_value v; memset(&v, 0, sizeof v); return v; }
static inline orm_value orm_int(int64_t i) { orm_value v = orm_null(); v.type = ORM_VALUE_INT; v.u.i = i; return v; }
/* A NaN double is refused when bound (ORM_EINVAL) on every backend: SQLite would store NULL
 * and PostgreSQL NaN, so the two could not agree. Infinities are stored. A NaN already in a
 * PostgreSQL column (written by other means) reads as NaN. */
static inline orm_value orm_double(double d) { orm_value v = orm_null(); v.type = ORM_VALUE_DOUBLE; v.u.d = d; return v; }
static inline orm_value orm_bool(bool b) { orm_value v = orm_null(); v.type = ORM_VALUE_BOOL; v.u.b = b; return v; }
static inline orm_value orm_timestamp_us(int64_t us) { orm_value v = orm_null(); v.type = ORM_VALUE_TIMESTAMP; v.u.i = us; return v; }
/* A NUL-terminated string; NULL gives a NULL value. */
static inline orm_value orm_text(const char *s)
{
    orm_value v = orm_null();
    if (s) { v.type = ORM_VALUE_TEXT; v.u.s = s; v.len = strlen(s); }
    return v;
}
/* Text of a known length (may hold NUL bytes). */
static inline orm_value orm_text_n(const char *s, size_t len)
{
    orm_value v = orm_null();
    v.type = ORM_VALUE_TEXT; v.u.s = s ? s : ""; v.len = s ? len : 0;
    return v;
}
static inline orm_value orm_blob_n(const void *p, size_t len)
{
    orm_value v = orm_null();
    v.type = ORM_VALUE_BLOB; v.u.p = p ? p : ""; v.len = p ? len : 0;
    return v;
}

/* A name for the type ("int", "text", ...), for messages. */
ORM_API const char *orm_value_type_name(orm_value_type t);

/* The timestamps liborm stores and reads: 0001-01-01 00:00:00 to 9999-12-31 23:59:59.999999
 * UTC. Writing one outside is ORM_EINVAL (builders) or ORM_ETYPE (a PostgreSQL parameter);
 * reading one outside into a struct field is ORM_ETYPE. A PostgreSQL value beyond them reads
 * as INT64_MIN (before year 1) or INT64_MAX (after 9999), as its -infinity and infinity do. */
#define ORM_TIMESTAMP_MIN INT64_C(-62135596800000000)
#define ORM_TIMESTAMP_MAX INT64_C(253402300799999999)

/* Format a timestamp as "YYYY-MM-DD HH:MM:SS.ffffff" (UTC) into buf (at least 32 bytes).
 * Returns the length written, or ORM_EINVAL when the year falls outside 1..9999. */
ORM_API int orm_timestamp_format(orm_timestamp ts, char *buf, size_t buflen);

/* Format a timestamp in the shortest exact form above (what liborm stores on SQLite):
 * "YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS", "… HH:MM:SS.fff" or "… HH:MM:SS.ffffff" (UTC), into
 * buf (at least 32 bytes). Returns the length written, or ORM_EINVAL outside years 1..9999. */
ORM_API int orm_timestamp_format_short(orm_timestamp ts, char *buf, size_t buflen);

/* Parse "YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]][Z|+HH[:MM]|-HH[:MM]]" or "YYYY-MM-DD".
 * Returns ORM_OK or ORM_EINVAL (with the text in the last error), also when the UTC instant
 * falls outside ORM_TIMESTAMP_MIN..MAX (an offset can push 0001-01-01 or 9999-12-31 past
 * them): what parses always formats. */
ORM_API int orm_timestamp_parse(orm_timestamp *out, const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif
