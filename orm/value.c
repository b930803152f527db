/* liborm — value type names and the timestamp text format.
 *
 * Timestamps are int64 microseconds since 1970-01-01 UTC on the proleptic Gregorian calendar.
 * Conversion uses Howard Hinnant's days-from-civil arithmetic (exact for every int64 day
 * count we accept), never timegm/gmtime or the locale, so it is thread-safe, identical on
 * every platform and independent of TZ. Format and parse are inverses for years 1..9999.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orm/error_internal.h"
#include "orm/value.h"
#include "orm/value_internal.h"

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)

const char *orm_value_type_name(orm_value_type t)
{
    switch (t) {
    case ORM_VALUE_NULL: return "null";
    case ORM_VALUE_INT: return "int";
    case ORM_VALUE_DOUBLE: return "double";
    case ORM_VALUE_TEXT: return "text";
    case ORM_VALUE_BLOB: return "blob";
    case ORM_VALUE_BOOL: return "bool";
    case ORM_VALUE_TIMESTAMP: return "timestamp";
    }
    return "unknown";
}

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int64_t y, int m)
{
    static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Split ts into its calendar fields; ORM_EINVAL outside years 1..9999. */
static int split(orm_timestamp ts, int64_t *y, int *m, int *d, int64_t *secs, int64_t *us)
{
    /* Floor division: -1 µs is 1969-12-31 23:59:59.999999, not 1970-01-01. */
    int64_t days = ts / US_PER_DAY;
    int64_t rem = ts % US_PER_DAY;
    if (rem < 0) {
        rem += US_PER_DAY;
        days--;
    }
    civil_from_days(days, y, m, d);
    if (*y < 1 || *y > 9999)
        return orm__error_set(ORM_EINVAL, "value", "timestamp %lld is outside years 1..9999",
                              (long long)ts);
    *secs = rem / US_PER_SEC;
    *us = rem % US_PER_SEC;
    return ORM_OK;
}

/* "YYYY-MM-DD HH:MM:SS.ffffff", or with shortest set the shortest of the forms that all sort
 * by text: each drops only a tail of zeros, so of two different instants the earlier is
 * always the smaller text (see value.h), and an instant written longer (datetime() at
 * midnight, strftime's ".000") is never smaller than ours. */
static int format(orm_timestamp ts, char *buf, size_t buflen, int shortest)
{
    if (!buf || buflen < 27)
        return orm__error_set(ORM_EINVAL, "value", "timestamp buffer too small (%zu bytes)", buflen);
    int64_t y = 0, secs = 0, us = 0; /* set by split; zeroed for -Wmaybe-uninitialized */
    int m, d;
    int rc = split(ts, &y, &m, &d, &secs, &us);
    if (rc != ORM_OK)
        return rc;
    if (shortest && secs == 0 && us == 0)
        return snprintf(buf, buflen, "%04d-%02d-%02d", (int)y, m, d);
    int n = snprintf(buf, buflen, "%04d-%02d-%02d %02d:%02d:%02d", (int)y, m, d,
                     (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    if (shortest && us == 0)
        return n;
    if (shortest && us % 1000 == 0) /* milliseconds: what SQLite's %f and 'subsec' write */
        return n + snprintf(buf + n, buflen - (size_t)n, ".%03d", (int)(us / 1000));
    return n + snprintf(buf + n, buflen - (size_t)n, ".%06d", (int)us);
}

int orm_timestamp_format(orm_timestamp ts, char *buf, size_t buflen)
{
    return format(ts, buf, buflen, 0);
}

int orm_timestamp_format_short(orm_timestamp ts, char *buf, size_t buflen)
{
    return format(ts, buf, buflen, 1);
}

/* Read exactly n decimal digits at *p (bounded by end). */
static int digits(const char **p, const char *end, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (*p >= end || **p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

static int expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return -1;
    (*p)++;
    return 0;
}

static int parse(orm_timestamp *out, const char *p, const char *end)
{
    int y, m, d, hh = 0, mi = 0, ss = 0;
    int64_t frac = 0;
    if (digits(&p, end, 4, &y) || expect(&p, end, '-') || digits(&p, end, 2, &m) ||
        expect(&p, end, '-') || digits(&p, end, 2, &d))
        return -1;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -1;
    if (p < end) {
        if (*p != ' ' && *p != 'T' && *p != 't')
            return -1;
        p++;
        if (digits(&p, end, 2, &hh) || expect(&p, end, ':') || digits(&p, end, 2, &mi))
            return -1;
        /* Seconds are optional, as in SQLite's date functions ("HH:MM"). */
        int has_ss = 0;
        if (p < end && *p == ':') {
            p++;
            if (digits(&p, end, 2, &ss))
                return -1;
            has_ss = 1;
        }
        if (hh > 23 || mi > 59 || ss > 59)
            return -1;
        if (has_ss && p < end && *p == '.') {
            p++;
            int nd = 0;
            /* Up to 9 digits (nanoseconds from other systems): keep microseconds. */
            while (p < end && *p >= '0' && *p <= '9') {
                if (nd < 6)
                    frac = frac * 10 + (*p - '0');
                nd++;
                p++;
            }
            if (nd == 0 || nd > 9)
                return -1;
            for (; nd < 6; nd++)
                frac *= 10;
        }
        int offset_min = 0;
        if (p < end && (*p == 'Z' || *p == 'z')) {
            p++;
        } else if (p < end && (*p == '+' || *p == '-')) {
            const int sign = *p == '-' ? -1 : 1;
            int oh, om = 0;
            p++;
            if (digits(&p, end, 2, &oh))
                return -1;
            if (p < end && *p == ':')
                p++;
            if (p < end && digits(&p, end, 2, &om))
                return -1;
            if (oh > 23 || om > 59)
                return -1;
            offset_min = sign * (oh * 60 + om);
        }
        if (p != end)
            return -1;
        int64_t days = days_from_civil(y, m, d);
        int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - (int64_t)offset_min * 60;
        *out = secs * US_PER_SEC + frac;
        return 0;
    }
    *out = days_from_civil(y, m, d) * US_PER_DAY;
    return 0;
}

int orm_timestamp_parse(orm_timestamp *out, const char *text, size_t len)
{
    orm_timestamp ts = 0;
    if (!out || !text || parse(&ts, text, text + len) != 0)
        return orm__error_set(ORM_EINVAL, "value", "not a timestamp: \"%.*s\"",
                              text ? (int)(len > 64 ? 64 : len) : 6, text ? text : "(null)");
    if (ts < ORM_TIMESTAMP_MIN || ts > ORM_TIMESTAMP_MAX)
        return orm__error_set(ORM_EINVAL, "value", "timestamp \"%.*s\" is outside years 1..9999 in UTC",
                              (int)(len > 64 ? 64 : len), text);
    *out = ts;
    return ORM_OK;
}

static int from_unix_seconds(int64_t s, orm_timestamp *out)
{
    if (s < INT64_MIN / US_PER_SEC || s > INT64_MAX / US_PER_SEC)
        return -1;
    *out = s * US_PER_SEC;
    return 0;
}

static int from_julian_day(double jd, orm_timestamp *out)
{
    const double ms = (jd - 2440587.5) * 86400000.0; /* 2440587.5: 1970-01-01 00:00 UTC */
    if (!(ms > -9.2e15 && ms < 9.2e15))
        return -1;
    *out = (orm_timestamp)llround(ms) * 1000;
    return 0;
}

/* Text that is only a number: what a TEXT column's affinity makes of an INTEGER or REAL. */
static int from_numeric_text(const char *s, size_t len, orm_timestamp *out)
{
    char buf[40];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    size_t i = buf[0] == '-' ? 1 : 0;
    int dots = 0;
    if (i == len)
        return -1;
    for (; i < len; i++) {
        if (buf[i] == '.')
            dots++;
        else if (buf[i] < '0' || buf[i] > '9')
            return -1;
    }
    if (dots > 1)
        return -1;
    char *end;
    if (dots == 0) {
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        if (errno || *end)
            return -1;
        return from_unix_seconds(v, out);
    }
    double d = strtod(buf, &end);
    if (*end)
        return -1;
    return from_julian_day(d, out);
}

int orm__timestamp_from_value(orm_value v, orm_timestamp *out)
{
    switch (v.type) {
    case ORM_VALUE_TIMESTAMP: *out = v.u.i; return 0;
    case ORM_VALUE_INT: return from_unix_seconds(v.u.i, out);
    case ORM_VALUE_DOUBLE: return from_julian_day(v.u.d, out);
    case ORM_VALUE_TEXT: {
        orm_timestamp ts;
        if (parse(&ts, v.u.s, v.u.s + v.len) == 0) {
            *out = ts;
            return 0;
        }
        return from_numeric_text(v.u.s, v.len, out);
    }
    default: return -1;
    }
}
