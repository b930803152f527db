/* liborm — PostgreSQL value encoding (parameters) and decoding (result fields).
 *
 * Parameters are prepared with the type of the first call's values (int8, float8, bool,
 * bytea, timestamptz; text and NULL as "unknown" so the server infers the column's type).
 * A later call whose value matches the prepared type is sent binary; any other value is
 * sent as text, which the server parses into whatever type the parameter has: correct
 * always, binary only where it is known to be exact.
 *
 * Results are decoded from binary for the types listed in orm__pg_binary_ok and from the
 * server's text output otherwise. Both decoders give the same orm_value for the same field.
 * What stays true: nothing here allocates except PQunescapeBytea for bytea in text form.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orm/error_internal.h"
#include "orm/driver/postgres/pg.h"

static void put_be64(char *dst, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        dst[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | (unsigned char)p[i];
    return v;
}

static uint32_t get_be32(const char *p)
{
    return ((uint32_t)(unsigned char)p[0] << 24) | ((uint32_t)(unsigned char)p[1] << 16) |
           ((uint32_t)(unsigned char)p[2] << 8) | (uint32_t)(unsigned char)p[3];
}

static uint16_t get_be16(const char *p)
{
    return (uint16_t)(((unsigned)(unsigned char)p[0] << 8) | (unsigned char)p[1]);
}

Oid orm__pg_param_oid(const orm_value *v)
{
    switch (v->type) {
    case ORM_VALUE_INT: return PG_OID_INT8;
    case ORM_VALUE_DOUBLE: return PG_OID_FLOAT8;
    case ORM_VALUE_BOOL: return PG_OID_BOOL;
    case ORM_VALUE_BLOB: return PG_OID_BYTEA;
    case ORM_VALUE_TIMESTAMP: return PG_OID_TIMESTAMPTZ;
    case ORM_VALUE_TEXT: /* unknown: the column's type (varchar, uuid, json, an enum ...) */
    case ORM_VALUE_NULL:
    default: return 0;
    }
}

size_t orm__pg_param_room(const orm_value *v, Oid oid)
{
    switch (v->type) {
    case ORM_VALUE_NULL: return 0;
    case ORM_VALUE_TEXT: return v->len + 1;
    case ORM_VALUE_BLOB: return oid == PG_OID_BYTEA || oid == 0 ? 0 : 2 * v->len + 3;
    default: return 48;
    }
}

static int encode_text(const orm_value *v, char *dst, pg_param *out)
{
    int n = 0;
    switch (v->type) {
    case ORM_VALUE_INT: n = snprintf(dst, 48, "%" PRId64, v->u.i); break;
    case ORM_VALUE_BOOL: n = snprintf(dst, 48, "%s", v->u.b ? "t" : "f"); break;
    case ORM_VALUE_DOUBLE:
        if (isnan(v->u.d))
            n = snprintf(dst, 48, "NaN");
        else if (isinf(v->u.d))
            n = snprintf(dst, 48, "%sInfinity", v->u.d < 0 ? "-" : "");
        else
            n = snprintf(dst, 48, "%.17g", v->u.d);
        break;
    case ORM_VALUE_TIMESTAMP:
        n = orm_timestamp_format(v->u.i, dst, 48);
        if (n < 0)
            return orm__error_set(ORM_ETYPE, "postgres",
                                  "timestamp %" PRId64 " us is outside years 1..9999", v->u.i);
        memcpy(dst + n, "+00", 4); /* UTC, also right for timestamp without time zone */
        n += 3;
        break;
    case ORM_VALUE_BLOB: { /* bytea hex input: \x0a1b... */
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = v->u.p;
        dst[n++] = '\\';
        dst[n++] = 'x';
        for (size_t i = 0; i < v->len; i++) {
            dst[n++] = hex[p[i] >> 4];
            dst[n++] = hex[p[i] & 15];
        }
        dst[n] = '\0';
        break;
    }
    default: return orm__error_set(ORM_ETYPE, "postgres", "cannot bind a value of type %d", v->type);
    }
    out->value = dst;
    out->length = n;
    out->format = 0;
    return ORM_OK;
}

int orm__pg_param_encode(const orm_value *v, Oid oid, char *dst, pg_param *out)
{
    out->value = NULL;
    out->length = 0;
    out->format = 0;
    switch (v->type) {
    case ORM_VALUE_NULL: return ORM_OK;
    case ORM_VALUE_DOUBLE:
        /* PostgreSQL could store it, SQLite cannot (it stores NULL): refused on both */
        if (isnan(v->u.d))
            return orm__error_set(ORM_EINVAL, "postgres", "a NaN parameter: not stored (see orm_double)");
        break;
    case ORM_VALUE_TEXT:
        /* Text parameters travel NUL-terminated (libpq ignores lengths for text format), so
         * copy, and refuse a NUL inside: the server would silently cut the value there. */
        if (v->len && memchr(v->u.s, '\0', v->len))
            return orm__error_set(ORM_ETYPE, "postgres", "text parameter contains a NUL byte");
        if (v->len)
            memcpy(dst, v->u.s, v->len);
        dst[v->len] = '\0';
        out->value = dst;
        out->length = (int)v->len;
        return ORM_OK;
    case ORM_VALUE_BLOB:
        if (oid == PG_OID_BYTEA || oid == 0) { /* bytea's binary form is the bytes themselves */
            out->value = v->len ? v->u.p : "";
            out->length = (int)v->len;
            out->format = 1;
            return ORM_OK;
        }
        return encode_text(v, dst, out);
    default: break;
    }
    if (oid != orm__pg_param_oid(v))
        return encode_text(v, dst, out);
    out->value = dst;
    out->format = 1;
    switch (v->type) {
    case ORM_VALUE_INT: put_be64(dst, (uint64_t)v->u.i); out->length = 8; break;
    case ORM_VALUE_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, 8);
        put_be64(dst, bits);
        out->length = 8;
        break;
    }
    case ORM_VALUE_BOOL: dst[0] = v->u.b ? 1 : 0; out->length = 1; break;
    case ORM_VALUE_TIMESTAMP:
        /* the range check also keeps the epoch shift from overflowing */
        if (v->u.i < ORM_TIMESTAMP_MIN || v->u.i > ORM_TIMESTAMP_MAX)
            return orm__error_set(ORM_ETYPE, "postgres",
                                  "timestamp %" PRId64 " us is outside years 1..9999", v->u.i);
        put_be64(dst, (uint64_t)(v->u.i - PG_EPOCH_OFFSET_US));
        out->length = 8;
        break;
    default: return encode_text(v, dst, out);
    }
    return ORM_OK;
}

int orm__pg_binary_ok(Oid oid)
{
    switch (oid) {
    case PG_OID_BOOL: case PG_OID_BYTEA: case PG_OID_NAME: case PG_OID_INT8: case PG_OID_INT2:
    case PG_OID_INT4: case PG_OID_TEXT: case PG_OID_OID: case PG_OID_FLOAT4: case PG_OID_FLOAT8:
    case PG_OID_BPCHAR: case PG_OID_VARCHAR: case PG_OID_DATE: case PG_OID_TIMESTAMP:
    case PG_OID_TIMESTAMPTZ: case PG_OID_NUMERIC:
        return 1;
    default:
        return 0;
    }
}

/* numeric's binary form: ndigits, weight, sign, dscale (int16 each), then base-10000 digits,
 * the first worth 10000^weight. Written out as decimal and read with strtod, so the double
 * is the correctly rounded nearest one (as the text path gives); past 200 base-10000 digits
 * (800 decimal digits, beyond what can change a double's rounding) the rest is dropped. */
static double numeric_binary_to_double(const char *p, int len)
{
    if (len < 8)
        return NAN;
    int ndigits = (int16_t)get_be16(p), weight = (int16_t)get_be16(p + 2);
    uint16_t sign = get_be16(p + 4);
    if (sign == 0xC000)
        return NAN;
    if (sign == 0xD000)
        return INFINITY;
    if (sign == 0xF000)
        return -INFINITY;
    if (ndigits <= 0)
        return 0.0;
    if (len < 8 + 2 * ndigits)
        return NAN;
    int used = ndigits > 200 ? 200 : ndigits;
    char buf[1 + 200 * 4 + 16];
    int n = 0;
    if (sign == 0x4000)
        buf[n++] = '-';
    for (int i = 0; i < used; i++) {
        unsigned d = get_be16(p + 8 + 2 * i);
        buf[n++] = (char)('0' + d / 1000);
        buf[n++] = (char)('0' + d / 100 % 10);
        buf[n++] = (char)('0' + d / 10 % 10);
        buf[n++] = (char)('0' + d % 10);
    }
    snprintf(buf + n, sizeof buf - (size_t)n, "e%d", 4 * (weight - used + 1));
    return strtod(buf, NULL);
}

static orm_value decode_binary(Oid oid, const char *data, int len)
{
    switch (oid) {
    case PG_OID_BOOL: return orm_bool(len > 0 && data[0] != 0);
    case PG_OID_INT2: return orm_int(len == 2 ? (int16_t)get_be16(data) : 0);
    case PG_OID_INT4: return orm_int(len == 4 ? (int32_t)get_be32(data) : 0);
    case PG_OID_OID: return orm_int(len == 4 ? (int64_t)get_be32(data) : 0);
    case PG_OID_INT8: return orm_int(len == 8 ? (int64_t)get_be64(data) : 0);
    case PG_OID_FLOAT4: {
        float f = 0;
        uint32_t bits = len == 4 ? get_be32(data) : 0;
        memcpy(&f, &bits, 4);
        return orm_double(f);
    }
    case PG_OID_FLOAT8: {
        double d = 0;
        uint64_t bits = len == 8 ? get_be64(data) : 0;
        memcpy(&d, &bits, 8);
        return orm_double(d);
    }
    case PG_OID_NUMERIC: return orm_double(numeric_binary_to_double(data, len));
    case PG_OID_TIMESTAMP:
    case PG_OID_TIMESTAMPTZ: {
        int64_t t = len == 8 ? (int64_t)get_be64(data) : 0;
        /* +-infinity are INT64_MIN/MAX on the server, and a value beyond years 1..9999 (which
         * the shift could overflow) reads as them too (see ORM_TIMESTAMP_MIN in value.h). */
        if (t < ORM_TIMESTAMP_MIN - PG_EPOCH_OFFSET_US)
            return orm_timestamp_us(INT64_MIN);
        if (t > ORM_TIMESTAMP_MAX - PG_EPOCH_OFFSET_US)
            return orm_timestamp_us(INT64_MAX);
        return orm_timestamp_us(t + PG_EPOCH_OFFSET_US);
    }
    case PG_OID_DATE: {
        /* days since 2000-01-01; +-infinity are INT32_MAX/MIN; beyond years 1..9999 (where
         * the product could overflow) reads as the extremes too */
        int32_t days = len == 4 ? (int32_t)get_be32(data) : 0;
        int64_t lo = (ORM_TIMESTAMP_MIN - PG_EPOCH_OFFSET_US) / INT64_C(86400000000);
        int64_t hi = (ORM_TIMESTAMP_MAX - PG_EPOCH_OFFSET_US) / INT64_C(86400000000);
        if (days < lo)
            return orm_timestamp_us(INT64_MIN);
        if (days > hi)
            return orm_timestamp_us(INT64_MAX);
        return orm_timestamp_us((int64_t)days * INT64_C(86400000000) + PG_EPOCH_OFFSET_US);
    }
    case PG_OID_BYTEA: return orm_blob_n(data, (size_t)len);
    default: return orm_text_n(data, (size_t)len);
    }
}

static orm_value decode_text(Oid oid, const char *data, int len, unsigned char **scratch)
{
    switch (oid) {
    case PG_OID_BOOL: return orm_bool(data[0] == 't');
    case PG_OID_INT2: case PG_OID_INT4: case PG_OID_INT8: case PG_OID_OID:
        return orm_int(strtoll(data, NULL, 10));
    case PG_OID_FLOAT4: case PG_OID_FLOAT8: case PG_OID_NUMERIC:
        return orm_double(strtod(data, NULL)); /* also "NaN", "Infinity", "-Infinity" */
    case PG_OID_TIMESTAMP: case PG_OID_TIMESTAMPTZ: case PG_OID_DATE: {
        orm_timestamp ts;
        if (strcmp(data, "infinity") == 0)
            return orm_timestamp_us(INT64_MAX);
        if (strcmp(data, "-infinity") == 0)
            return orm_timestamp_us(INT64_MIN);
        /* The session runs with TimeZone=UTC, so the text is UTC. Beyond years 1..9999 (a
         * BC date, a year of five digits or more): the extremes, as the binary form gives. */
        if (orm_timestamp_parse(&ts, data, (size_t)len) == ORM_OK)
            return orm_timestamp_us(ts);
        orm_error_clear();
        if (len > 3 && strcmp(data + len - 3, " BC") == 0)
            return orm_timestamp_us(INT64_MIN);
        if (len > 5 && isdigit((unsigned char)data[4]) && isdigit((unsigned char)data[0]))
            return orm_timestamp_us(INT64_MAX);
        return orm_text_n(data, (size_t)len);
    }
    case PG_OID_BYTEA: {
        size_t n = 0;
        if (*scratch)
            PQfreemem(*scratch);
        *scratch = PQunescapeBytea((const unsigned char *)data, &n);
        return *scratch ? orm_blob_n(*scratch, n) : orm_null();
    }
    default: return orm_text_n(data, (size_t)len);
    }
}

orm_value orm__pg_decode(Oid oid, int format, const char *data, int len, unsigned char **scratch)
{
    return format == 1 ? decode_binary(oid, data, len) : decode_text(oid, data, len, scratch);
}
