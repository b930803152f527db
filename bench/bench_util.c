/* orm-bench — the shared pieces: the users model, data from a fixed seed, the clock, and the
 * report. Keeps true: the data depends only on the seed and the counts, so every side and
 * every run sees the same rows, keys and updates; --json lines carry exactly the fields
 * docs/BENCH.md names (plus "rows" on W3).
 */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const orm_field user_fields[] = {
    ORM_FIELD(bench_user, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(bench_user, name, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(bench_user, email, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(bench_user, age, ORM_FIELD_INT32, ORM_FIELD_NOT_NULL),
    ORM_FIELD(bench_user, score, ORM_FIELD_DOUBLE, ORM_FIELD_NOT_NULL),
    ORM_FIELD(bench_user, created_at, ORM_FIELD_INT64, ORM_FIELD_NOT_NULL),
};
static const size_t user_pk[] = { 0 };
const orm_model bench_user_model = ORM_MODEL(bench_user, "users", user_fields, user_pk);

static const orm_field user_fixed_fields[] = {
    ORM_FIELD(bench_user_fixed, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD_FIXED(bench_user_fixed, name, ORM_FIELD_NOT_NULL),
    ORM_FIELD_FIXED(bench_user_fixed, email, ORM_FIELD_NOT_NULL),
    ORM_FIELD(bench_user_fixed, age, ORM_FIELD_INT32, ORM_FIELD_NOT_NULL),
    ORM_FIELD(bench_user_fixed, score, ORM_FIELD_DOUBLE, ORM_FIELD_NOT_NULL),
    ORM_FIELD(bench_user_fixed, created_at, ORM_FIELD_INT64, ORM_FIELD_NOT_NULL),
};
const orm_model bench_user_fixed_model = ORM_MODEL(bench_user_fixed, "users", user_fixed_fields, user_pk);

/* ---- data ---- */

#define BENCH_SEED 0x5eed2026u

/* splitmix64: small, fast, and the same sequence on every platform. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *state, uint64_t n)
{
    return rng_next(state) % n;
}

/* A random lowercase word of len characters followed by suffix (len counts both). */
static char *rand_text(uint64_t *state, size_t len, const char *suffix)
{
    size_t slen = strlen(suffix);
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < len - slen; i++)
        s[i] = (char)('a' + rng_below(state, 26));
    memcpy(s + len - slen, suffix, slen + 1);
    return s;
}

int bench_data_init(bench_data *d, int quick)
{
    uint64_t st = BENCH_SEED;
    size_t div = quick ? 10 : 1;
    memset(d, 0, sizeof *d);
    d->n_rows = 50000 / div;
    d->n_get = 50000 / div;
    d->n_filter = 5000 / div;
    d->n_update = 20000 / div;
    d->rows = calloc(d->n_rows, sizeof *d->rows);
    d->get_ids = malloc(d->n_get * sizeof *d->get_ids);
    d->filter_ages = malloc(d->n_filter * sizeof *d->filter_ages);
    d->update_ids = malloc(d->n_update * sizeof *d->update_ids);
    d->update_scores = malloc(d->n_update * sizeof *d->update_scores);
    if (!d->rows || !d->get_ids || !d->filter_ages || !d->update_ids || !d->update_scores)
        goto oom;
    for (size_t i = 0; i < d->n_rows; i++) {
        bench_user *u = &d->rows[i];
        /* Names and emails are 8-24 characters, as docs/BENCH.md says. */
        u->name = rand_text(&st, 8 + (size_t)rng_below(&st, 17), "");
        u->email = rand_text(&st, 8 + (size_t)rng_below(&st, 17), "@ex.io");
        if (!u->name || !u->email)
            goto oom;
        u->age = (int32_t)(BENCH_AGE_MIN + rng_below(&st, BENCH_AGE_MAX - BENCH_AGE_MIN + 1));
        u->score = (double)rng_below(&st, 1000000) / 100.0;
        u->created_at = 1700000000000000 + (int64_t)i * 1000003;
    }
    for (size_t i = 0; i < d->n_get; i++)
        d->get_ids[i] = 1 + (int64_t)rng_below(&st, d->n_rows);
    for (size_t i = 0; i < d->n_filter; i++)
        d->filter_ages[i] = (int32_t)(BENCH_AGE_MIN + rng_below(&st, BENCH_AGE_MAX - BENCH_AGE_MIN));
    for (size_t i = 0; i < d->n_update; i++) {
        d->update_ids[i] = 1 + (int64_t)rng_below(&st, d->n_rows);
        d->update_scores[i] = (double)rng_below(&st, 1000000) / 100.0;
    }
    return 0;
oom:
    bench_data_free(d);
    return -1;
}

void bench_data_free(bench_data *d)
{
    if (d->rows) {
        for (size_t i = 0; i < d->n_rows; i++) {
            free(d->rows[i].name);
            free(d->rows[i].email);
        }
    }
    free(d->rows);
    free(d->get_ids);
    free(d->filter_ages);
    free(d->update_ids);
    free(d->update_scores);
    memset(d, 0, sizeof *d);
}

void bench_data_reset_ids(bench_data *d)
{
    for (size_t i = 0; i < d->n_rows; i++)
        d->rows[i].id = 0;
}

void bench_check_add(bench_check *c, const bench_user *u)
{
    c->rows++;
    c->sum += (uint64_t)u->id * 31u + (uint64_t)u->age + (uint64_t)(u->score * 100.0 + 0.5) +
              (uint64_t)u->created_at + (u->name ? strlen(u->name) : 0) * 7u +
              (u->email ? strlen(u->email) : 0) * 13u;
}

void bench_check_add_fixed(bench_check *c, const bench_user_fixed *u)
{
    c->rows++;
    c->sum += (uint64_t)u->id * 31u + (uint64_t)u->age + (uint64_t)(u->score * 100.0 + 0.5) +
              (uint64_t)u->created_at + strlen(u->name) * 7u + strlen(u->email) * 13u;
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- report ---- */

static int report_json;

void bench_report_init(int json)
{
    report_json = json;
}

void bench_report_begin(const char *db, const char *detail)
{
    if (report_json)
        return;
    printf("\n%s (%s)\n", db, detail);
    printf("%-9s %8s %12s %12s %8s\n", "workload", "n", "orm us/op", "raw us/op", "orm/raw");
    fflush(stdout);
}

static void json_line(const char *workload, const char *db, const char *impl, size_t n,
                      double s, uint64_t rows)
{
    printf("{\"workload\":\"%s\",\"db\":\"%s\",\"impl\":\"%s\",\"n\":%zu,\"us_per_op\":%.3f,"
           "\"total_s\":%.4f",
           workload, db, impl, n, s * 1e6 / (double)n, s);
    if (rows)
        printf(",\"rows\":%llu", (unsigned long long)rows);
    printf("}\n");
}

void bench_report_row(const char *workload, const char *db, size_t n, double orm_s, double raw_s,
                      const char *raw_from, uint64_t rows)
{
    if (report_json) {
        json_line(workload, db, "orm", n, orm_s, rows);
        if (!raw_from)
            json_line(workload, db, "raw", n, raw_s, rows);
        fflush(stdout);
        return;
    }
    char raw_col[32];
    snprintf(raw_col, sizeof raw_col, "%.2f%s%s%s", raw_s * 1e6 / (double)n,
             raw_from ? " (" : "", raw_from ? raw_from : "", raw_from ? ")" : "");
    printf("%-9s %8zu %12.2f %12s %8.2f", workload, n, orm_s * 1e6 / (double)n, raw_col,
           orm_s / raw_s);
    if (rows)
        printf("   rows %llu on both sides", (unsigned long long)rows);
    printf("\n");
    fflush(stdout);
}

void bench_report_note(const char *fmt, ...)
{
    FILE *f = report_json ? stderr : stdout;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}
