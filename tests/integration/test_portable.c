/* Integration: one program, the same results on both backends, on data liborm did not write.
 * Timestamps written by the sqlite3 command-line shell (SQLite's own date functions) compare
 * with the timestamps liborm binds, and read back; on PostgreSQL the same rows come from SQL
 * literals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it.h"

#define US INT64_C(1000000)
#define DAY (INT64_C(86400) * US)
/* 2026-03-04 00:00:00 UTC */
#define MAR4 (INT64_C(1772582400) * US)

/* Run sql through the sqlite3 shell on the test's database file; its output (at most
 * outlen - 1 bytes) into out when out is not NULL. Asserts the shell succeeded. */
static void shell(const char *sql, char *out, size_t outlen)
{
    const char *dsn = strstr(it_dsn(), "sqlite:"); /* also through a plug-in: record+sqlite: */
    ck_assert_ptr_nonnull(dsn);
    char *sqlpath = orm_test_temp_path("shell_sql");
    FILE *f = fopen(sqlpath, "w");
    ck_assert_ptr_nonnull(f);
    fputs(sql, f);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sqlite3 -batch '%s' < '%s'", dsn + 7, sqlpath);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = 0;
    char buf[512];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, p)) > 0) {
        if (out && n + 1 < outlen) {
            size_t c = k < outlen - 1 - n ? k : outlen - 1 - n;
            memcpy(out + n, buf, c);
            n += c;
        }
    }
    if (out)
        out[n] = '\0';
    int st = pclose(p);
    remove(sqlpath);
    free(sqlpath);
    ck_assert_msg(st == 0, "sqlite3 shell failed (%d) on: %s", st, sql);
}

/* Insert (t, ts) rows as another tool would: through the sqlite3 shell with SQLite's date
 * functions, or on PostgreSQL as timestamp literals of the same instants. */
typedef struct foreign_row {
    const char *t;
    const char *sqlite_expr; /* an SQL expression the sqlite3 shell evaluates */
    const char *pg_literal;  /* the same instant for PostgreSQL */
    int64_t want;            /* the instant, microseconds */
} foreign_row;

static void insert_foreign(const foreign_row *rows, size_t n)
{
    char sql[4096];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (it_is_postgres())
            len += (size_t)snprintf(sql + len, sizeof sql - len,
                                    "INSERT INTO all_types (t, ts) VALUES ('%s', timestamp '%s');",
                                    rows[i].t, rows[i].pg_literal);
        else
            len += (size_t)snprintf(sql + len, sizeof sql - len,
                                    "INSERT INTO all_types (t, ts) VALUES ('%s', %s);\n", rows[i].t,
                                    rows[i].sqlite_expr);
        ck_assert_uint_lt(len, sizeof sql);
    }
    if (it_is_postgres())
        ck_assert_ok(orm_exec_sql(it_s, NULL, sql));
    else
        shell(sql, NULL, 0);
}

/* The t of the rows matching where, ordered by t, joined with commas. */
static void matching(orm_expr *where, char *out, size_t outlen)
{
    orm_select *q = orm_select_new(it_s, &it_alltypes_model);
    ck_assert_ptr_nonnull(q);
    orm_select_where(q, where);
    orm_select_order_by(q, "t", ORM_ASC);
    orm_list l = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &l));
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < l.count; i++) {
        const it_alltypes *r = orm_list_at(&l, i);
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", i ? "," : "", r->t);
    }
    orm_list_clear(&l);
    orm_select_free(q);
}

/* SQLite's date(), datetime() and strftime('%f') write three forms; a day's half-open range
 * bound by liborm finds each of them, and so do = and > on a whole second. */
START_TEST(timestamp_range_finds_rows_written_by_date_functions)
{
    static const foreign_row rows[] = {
        { "a", "datetime('2026-03-04 10:00:00')", "2026-03-04 10:00:00", MAR4 + 10 * 3600 * US },
        { "b", "datetime('2026-03-04')", "2026-03-04 00:00:00", MAR4 },
        { "c", "date('2026-03-04 15:00')", "2026-03-04", MAR4 },
        { "d", "strftime('%Y-%m-%d %H:%M:%f', '2026-03-04 23:59:59.5')",
          "2026-03-04 23:59:59.5", MAR4 + DAY - 500000 },
        { "e", "datetime('2026-03-05')", "2026-03-05 00:00:00", MAR4 + DAY },
        { "f", "strftime('%Y-%m-%d %H:%M:%f', '2026-03-03 23:59:59.999')",
          "2026-03-03 23:59:59.999", MAR4 - 1000 },
        { "g", "strftime('%Y-%m-%d %H:%M:%f', '2026-03-04')", "2026-03-04 00:00:00.000", MAR4 },
        { "h", "date('2026-03-05')", "2026-03-05", MAR4 + DAY },
    };
    insert_foreign(rows, sizeof rows / sizeof rows[0]);
    char got[256];
    matching(orm_and(orm_ge("ts", orm_timestamp_us(MAR4)), orm_lt("ts", orm_timestamp_us(MAR4 + DAY))),
             got, sizeof got);
    ck_assert_str_eq(got, "a,b,c,d,g");
    matching(orm_eq("ts", orm_timestamp_us(MAR4 + 10 * 3600 * US)), got, sizeof got);
    ck_assert_str_eq(got, "a");
    matching(orm_gt("ts", orm_timestamp_us(MAR4 + 10 * 3600 * US)), got, sizeof got);
    ck_assert_str_eq(got, "d,e,h");
    matching(orm_lt("ts", orm_timestamp_us(MAR4 + DAY - 500000)), got, sizeof got);
    ck_assert_str_eq(got, "a,b,c,f,g");
    /* Each reads back as its instant. */
    orm_list l = ORM_LIST_INIT;
    orm_select *q = orm_select_new(it_s, &it_alltypes_model);
    ck_assert_ok(orm_select_all(q, NULL, &l));
    ck_assert_uint_eq(l.count, sizeof rows / sizeof rows[0]);
    for (size_t i = 0; i < l.count; i++) {
        const it_alltypes *r = orm_list_at(&l, i);
        for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
            if (strcmp(r->t, rows[k].t) == 0) {
                ck_assert(r->has_ts);
                ck_assert_msg(r->ts == rows[k].want, "row %s: %lld, want %lld", r->t,
                              (long long)r->ts, (long long)rows[k].want);
            }
    }
    orm_list_clear(&l);
    orm_select_free(q);
}
END_TEST

/* The other direction: what liborm writes, SQLite's date functions in the shell compare
 * (and PostgreSQL's comparisons, the same query on its side). */
START_TEST(timestamps_written_by_liborm_compare_in_sqlite_shell)
{
    static const int64_t at[] = { MAR4, MAR4 + 10 * 3600 * US, MAR4 + 10 * 3600 * US + 500000,
                                  MAR4 + 10 * 3600 * US + 123456, MAR4 + DAY, MAR4 - 1 };
    static const char *names[] = { "m", "s", "ms", "us", "next", "prev" };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        it_alltypes r;
        memset(&r, 0, sizeof r);
        r.t = (char *)names[i];
        r.ts = at[i];
        r.has_ts = true;
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_alltypes_model, &r));
    }
    const char *day_sqlite = "SELECT group_concat(t, ',') FROM (SELECT t FROM all_types WHERE "
                             "ts >= date('2026-03-04') AND ts < date('2026-03-05') "
                             "ORDER BY ts);\n"
                             "SELECT t FROM all_types WHERE ts = datetime('2026-03-04 10:00:00');\n"
                             "SELECT t FROM all_types WHERE ts = date('2026-03-04');\n";
    const char *day_pg = "SELECT string_agg(t, ',' ORDER BY ts) FROM all_types WHERE "
                         "ts >= timestamp '2026-03-04' AND ts < timestamp '2026-03-05'";
    if (it_is_postgres()) {
        orm_rows *r;
        ck_assert_ok(orm_raw_rows(it_s, NULL, day_pg, NULL, 0, &r));
        ck_assert_int_eq(orm_rows_next(r), 1);
        ck_assert_str_eq(orm_rows_text(r, 0, NULL), "m,s,us,ms");
        orm_rows_free(r);
    } else {
        char out[256];
        shell(day_sqlite, out, sizeof out);
        /* liborm wrote midnight as date() does, a whole second as datetime() does. */
        ck_assert_str_eq(out, "m,s,us,ms\ns\nm\n");
    }
}
END_TEST

/* The common forms other tools write all read back as their instant (SQLite: 'T', 'Z', an
 * offset, HH:MM, integer unix seconds, a Julian day; PostgreSQL: its timestamp literals). */
START_TEST(timestamp_forms_written_by_other_tools_read_back)
{
    static const foreign_row rows[] = {
        { "iso_t", "'2026-03-04T10:00:00'", "2026-03-04T10:00:00", MAR4 + 10 * 3600 * US },
        { "iso_z", "'2026-03-04T10:00:00.250Z'", "2026-03-04 10:00:00.25", MAR4 + 10 * 3600 * US + 250000 },
        { "offset", "'2026-03-04 12:00:00+02:00'", "2026-03-04 10:00:00", MAR4 + 10 * 3600 * US },
        { "hhmm", "'2026-03-04 10:30'", "2026-03-04 10:30", MAR4 + 10 * 3600 * US + 1800 * US },
        { "unix", "unixepoch('2026-03-04 10:00:00')", "2026-03-04 10:00:00", MAR4 + 10 * 3600 * US },
        { "julian", "julianday('2026-03-04 10:00:00.125')", "2026-03-04 10:00:00.125",
          MAR4 + 10 * 3600 * US + 125000 },
    };
    insert_foreign(rows, sizeof rows / sizeof rows[0]);
    orm_list l = ORM_LIST_INIT;
    orm_select *q = orm_select_new(it_s, &it_alltypes_model);
    ck_assert_ok(orm_select_all(q, NULL, &l));
    ck_assert_uint_eq(l.count, sizeof rows / sizeof rows[0]);
    for (size_t i = 0; i < l.count; i++) {
        const it_alltypes *r = orm_list_at(&l, i);
        for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
            if (strcmp(r->t, rows[k].t) == 0)
                ck_assert_msg(r->has_ts && r->ts == rows[k].want, "row %s: %lld, want %lld",
                              r->t, (long long)r->ts, (long long)rows[k].want);
    }
    orm_list_clear(&l);
    orm_select_free(q);
}
END_TEST

/* A value the field cannot hold is refused when the statement is built, naming the field,
 * on both backends (SQLite would store text in an INTEGER column and fail the next read). */
START_TEST(values_are_checked_against_field_types)
{
    it_seed();
    orm_update *up = orm_update_new(it_s, &it_user_model);
    ck_assert_orm(orm_update_set(up, "age", orm_text("very long")), ORM_ETYPE);
    ck_assert(it_msg_has("users.age"));
    orm_update_where(up, orm_eq("id", orm_int(it_uid[IT_ADA])));
    int64_t n = -1;
    ck_assert_orm(orm_update_exec(up, NULL, &n), ORM_ETYPE);
    ck_assert_int_eq(n, 0);
    orm_update_free(up);

    /* out of range for int32, a double into an integer, text into a timestamp */
    up = orm_update_new(it_s, &it_user_model);
    ck_assert_orm(orm_update_set(up, "age", orm_int(INT64_C(1) << 40)), ORM_ETYPE);
    ck_assert(it_msg_has("users.age") && it_msg_has("out of range"));
    orm_update_free(up);
    up = orm_update_new(it_s, &it_user_model);
    ck_assert_orm(orm_update_set(up, "age", orm_double(1.5)), ORM_ETYPE);
    orm_update_free(up);
    up = orm_update_new(it_s, &it_user_model);
    ck_assert_orm(orm_update_set(up, "created_at", orm_text("2026-03-04")), ORM_ETYPE);
    ck_assert(it_msg_has("users.created_at") && it_msg_has("orm_timestamp_us"));
    orm_update_free(up);

    /* the row is intact and still loads */
    it_user u;
    it_user_load(it_uid[IT_ADA], &u);
    ck_assert_int_eq(u.age, 36);
    orm_model_clear(&it_user_model, &u);

    /* where clauses on model fields: =, LIKE, BETWEEN, IN, either side */
    orm_expr *bad[] = {
        orm_eq("age", orm_text("36")),
        orm_like("age", orm_text("3%")),
        orm_between("name", orm_int(1), orm_int(2)),
        orm_in("active", (orm_value[]){ orm_bool(true), orm_text("yes") }, 2),
        orm_lt("created_at", orm_text("2026-01-01")),
        orm_gt("email", orm_int(0)),
    };
    const char *names[] = { "users.age", "users.age", "users.name", "users.active",
                            "users.created_at", "users.email" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        orm_select *q = orm_select_new(it_s, &it_user_model);
        orm_select_where(q, bad[i]);
        orm_list l = ORM_LIST_INIT;
        ck_assert_orm(orm_select_all(q, NULL, &l), ORM_ETYPE);
        ck_assert_msg(it_msg_has(names[i]), "%zu: %s", i, orm_error_last()->message);
        orm_select_free(q);
    }
    /* what fits passes: an int for a double, a double compared with an int, NULL */
    up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_set(up, "score", orm_int(3)));
    ck_assert_ok(orm_update_set(up, "age", orm_null()));
    orm_update_where(up, orm_and(orm_eq("id", orm_int(it_uid[IT_ADA])), orm_gt("age", orm_double(35.5))));
    ck_assert_ok(orm_update_exec(up, NULL, &n));
    ck_assert_int_eq(n, 1);
    orm_update_free(up);
    /* one where with a bad value in a delete too */
    orm_delete *d = orm_delete_new(it_s, &it_user_model);
    orm_delete_where(d, orm_eq("score", orm_text("x")));
    ck_assert_orm(orm_delete_exec(d, NULL, &n), ORM_ETYPE);
    orm_delete_free(d);
    ck_assert_int_eq(it_count(&it_user_model, NULL), IT_NUSERS);
}
END_TEST

/* Raw SQL takes "?" and "$n" on both backends; literals, identifiers and comments keep
 * theirs. */
START_TEST(raw_sql_placeholders_either_way)
{
    it_seed();
    orm_value args[] = { orm_double(0.5), orm_int(it_uid[IT_ADA]) };
    int64_t n = 0;
    ck_assert_ok(orm_raw_exec(it_s, NULL, "UPDATE users SET score = score - ? WHERE id = ?", args, 2, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_ok(orm_raw_exec(it_s, NULL, "UPDATE users SET score = score + $1 WHERE id = $2", args, 2, &n));
    ck_assert_int_eq(n, 1);
    /* numbered out of order, one used twice */
    orm_value a2[] = { orm_text("bob"), orm_int(25) };
    orm_rows *r;
    ck_assert_ok(orm_raw_rows(it_s, NULL,
                              "SELECT name, '?' AS q, '$1' AS d, \"name\" /* ? $1 */ AS \"n?\" FROM users "
                              "WHERE age = $2 AND name <> $1 AND length($1) = 3 -- ? $2\n"
                              "ORDER BY name",
                              a2, 2, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_str_eq(orm_rows_text(r, 0, NULL), "eve");
    ck_assert_str_eq(orm_rows_text(r, 1, NULL), "?");
    ck_assert_str_eq(orm_rows_text(r, 2, NULL), "$1");
    ck_assert_str_eq(orm_rows_name(r, 3), "n?");
    ck_assert_int_eq(orm_rows_next(r), 0);
    orm_rows_free(r);
    /* ?NNN as well */
    ck_assert_ok(orm_raw_rows(it_s, NULL, "SELECT name FROM users WHERE age = ?2 AND name = ?1",
                              (orm_value[]){ orm_text("ada"), orm_int(36) }, 2, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_str_eq(orm_rows_text(r, 0, NULL), "ada");
    orm_rows_free(r);
    /* mixing is refused on both */
    ck_assert_orm(orm_raw_exec(it_s, NULL, "UPDATE users SET score = ? WHERE id = $1", args, 2, NULL),
                  ORM_EINVAL);
    ck_assert(it_msg_has("mixes"));
    ck_assert_orm(orm_raw_exec(it_s, NULL, "UPDATE users SET score = $1 WHERE id = ?", args, 2, NULL),
                  ORM_EINVAL);
    /* into structs */
    orm_list l = ORM_LIST_INIT;
    orm_value min = orm_int(40);
    ck_assert_ok(orm_raw_all(it_s, NULL, &it_user_model, &l, "SELECT * FROM users WHERE age > ?",
                             &min, 1, NULL));
    ck_assert_uint_eq(l.count, 1);
    orm_list_clear(&l);
    if (it_is_postgres()) { /* dollar quotes and nested comments are PostgreSQL's */
        ck_assert_ok(orm_raw_rows(it_s, NULL, "SELECT $q$?$1$q$ /* a /* ? */ b */, $$?$$, ?::int",
                                  (orm_value[]){ orm_int(7) }, 1, &r));
        ck_assert_int_eq(orm_rows_next(r), 1);
        ck_assert_str_eq(orm_rows_text(r, 0, NULL), "?$1");
        ck_assert_str_eq(orm_rows_text(r, 1, NULL), "?");
        ck_assert_int_eq(orm_rows_int(r, 2), 7);
        orm_rows_free(r);
    } else { /* SQLite's bracket and backtick identifiers */
        ck_assert_ok(orm_raw_rows(it_s, NULL, "SELECT name AS [a?$1], age AS `b?` FROM users WHERE id = $1",
                                  (orm_value[]){ orm_int(it_uid[IT_ADA]) }, 1, &r));
        ck_assert_int_eq(orm_rows_next(r), 1);
        ck_assert_str_eq(orm_rows_name(r, 0), "a?$1");
        ck_assert_str_eq(orm_rows_name(r, 1), "b?");
        orm_rows_free(r);
    }
}
END_TEST

/* "Q.field": Q is an alias, the table name or the model's name, the same on both backends. */
START_TEST(qualified_names_take_table_or_model_name)
{
    it_seed();
    const char *quals[][2] = { { "users", "posts" }, { "it_user", "it_post" } };
    for (size_t k = 0; k < 2; k++) {
        char uname[64], pviews[64], uid[64], puid[64];
        snprintf(uname, sizeof uname, "%s.name", quals[k][0]);
        snprintf(uid, sizeof uid, "%s.id", quals[k][0]);
        snprintf(pviews, sizeof pviews, "%s.views", quals[k][1]);
        snprintf(puid, sizeof puid, "%s.user_id", quals[k][1]);
        orm_select *q = orm_select_new(it_s, &it_user_model);
        orm_select_join(q, ORM_JOIN_INNER, &it_post_model, NULL, orm_eq_col(uid, puid));
        orm_select_where(q, orm_and(orm_eq(uname, orm_text("ada")), orm_ge(pviews, orm_int(15))));
        orm_select_order_by(q, pviews, ORM_DESC);
        int64_t n = -1;
        ck_assert_ok(orm_select_count(q, NULL, &n));
        ck_assert_int_eq(n, 1); /* ada's "again", 20 views */
        orm_select_free(q);
    }
    /* an alias hides the table name */
    orm_select *q = orm_select_new(it_s, &it_user_model);
    orm_select_join(q, ORM_JOIN_INNER, &it_post_model, "p", orm_eq_col("id", "p.user_id"));
    orm_select_where(q, orm_gt("p.views", orm_int(50)));
    int64_t n = -1;
    ck_assert_ok(orm_select_count(q, NULL, &n));
    ck_assert_int_eq(n, 1);
    orm_select_free(q);
    /* unknown qualifiers name themselves; case matters */
    q = orm_select_new(it_s, &it_user_model);
    orm_select_where(q, orm_eq("Users.name", orm_text("ada")));
    ck_assert_orm(orm_select_count(q, NULL, &n), ORM_EUNKNOWN_FIELD);
    ck_assert(it_msg_has("\"Users\""));
    orm_select_free(q);
}
END_TEST

/* orm_rows_timestamp reads a timestamp column on both backends; orm_rows_value gives
 * ORM_VALUE_TIMESTAMP for a column declared as one, on both. */
START_TEST(rows_read_timestamps_alike)
{
    ck_assert_ok(orm_exec_sql(it_s, NULL, "DROP TABLE IF EXISTS events"));
    ck_assert_ok(orm_exec_sql(it_s, NULL, it_is_postgres()
                                              ? "CREATE TABLE events (id integer, at timestamp)"
                                              : "CREATE TABLE events (id INTEGER, at TIMESTAMP)"));
    const int64_t at = MAR4 + 10 * 3600 * US + 250000;
    orm_value args[] = { orm_int(1), orm_timestamp_us(at) };
    ck_assert_ok(orm_raw_exec(it_s, NULL, "INSERT INTO events VALUES (?, ?)", args, 2, NULL));
    args[0] = orm_int(2);
    args[1] = orm_null();
    ck_assert_ok(orm_raw_exec(it_s, NULL, "INSERT INTO events VALUES (?, ?)", args, 2, NULL));
    orm_rows *r;
    ck_assert_ok(orm_raw_rows(it_s, NULL,
                              "SELECT at, max(at) OVER () AS latest, 'soon' AS word FROM events ORDER BY id",
                              NULL, 0, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_int_eq(orm_rows_type(r, 0), ORM_VALUE_TIMESTAMP);
    orm_value v = orm_rows_value(r, 0);
    ck_assert_int_eq(v.u.i, at);
    orm_timestamp ts = 0;
    ck_assert_ok(orm_rows_timestamp(&ts, r, 0));
    ck_assert_int_eq(ts, at);
    ts = 0; /* an expression: text on SQLite, a timestamp on PostgreSQL; the getter reads both */
    ck_assert_ok(orm_rows_timestamp(&ts, r, 1));
    ck_assert_int_eq(ts, at);
    ck_assert_orm(orm_rows_timestamp(&ts, r, 2), ORM_ETYPE);
    ck_assert(it_msg_has("word"));
    ck_assert_orm(orm_rows_timestamp(&ts, r, 9), ORM_EINVAL);
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_orm(orm_rows_timestamp(&ts, r, 0), ORM_ENULL);
    ck_assert_int_eq(orm_rows_type(r, 0), ORM_VALUE_NULL);
    ck_assert_int_eq(orm_rows_next(r), 0);
    orm_rows_free(r);
    ck_assert_ok(orm_exec_sql(it_s, NULL, "DROP TABLE events"));
}
END_TEST

/* Item 11's small ones, on both backends. */
START_TEST(errors_name_what_went_wrong)
{
    it_seed();
    /* orm_get with a NULL key: a mistake, not "not found" */
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value key = orm_null();
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &u, &key), ORM_EINVAL);
    ck_assert(it_msg_has("users.id") && it_msg_has("NULL"));
    key = orm_text("1");
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &u, &key), ORM_ETYPE);

    /* NOT NULL names the column, never constraint "?" */
    ck_assert_orm(orm_raw_exec(it_s, NULL, "INSERT INTO users (name, score, active) VALUES (NULL, 1, ?)",
                               (orm_value[]){ orm_bool(true) }, 1, NULL),
                  ORM_ECONSTRAINT);
    ck_assert(it_msg_has("name"));
    ck_assert(!it_msg_has("\"?\""));

    /* a long statement's quote says it is cut */
    char sql[400];
    int n = snprintf(sql, sizeof sql, "SELECT nosuchcolumn FROM users WHERE name IN (");
    for (int i = 0; i < 40; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, "%s'n%02d'", i ? ", " : "", i);
    snprintf(sql + n, sizeof sql - (size_t)n, ")");
    orm_rows *r = NULL;
    int rc = orm_raw_rows(it_s, NULL, sql, NULL, 0, &r);
    ck_assert_int_ne(rc, ORM_OK);
    if (!it_is_postgres())
        ck_assert_msg(it_msg_has("... [") && it_msg_has("more bytes])"), "%s", orm_error_last()->message);
    ck_assert_int_gt(orm_error_last()->position, 0); /* where "nosuchcolumn" is */
    ck_assert_int_eq(orm_error_last()->position, 8);

    /* a migration's error names the line of the mistake, not the statement's first */
    static const orm_migration bad[] = {
        { 1, "bad", "-- a comment\nCREATE TABLE mig_line (\n  a INTEGER,\n  b INTEGER,,\n  c INTEGER\n);\n",
          NULL },
    };
    /* (PostgreSQL's database is shared by the suites: another suite's migration 1 may be
     * recorded there, and this one would then be "changed after it was applied") */
    ck_assert_ok(orm_exec_sql(it_s, NULL, "DROP TABLE IF EXISTS orm_schema_migrations"));
    orm_migrator *m;
    ck_assert_ok(orm_migrator_open_list(&m, it_db, bad, 1, NULL));
    ck_assert_int_ne(orm_migrate_up(m, NULL, 0, NULL), ORM_OK);
    ck_assert_msg(it_msg_has("statement 1 (line 4)"), "%s", orm_error_last()->message);
    orm_migrator_free(m);
    orm_exec_sql(it_s, NULL, "DROP TABLE IF EXISTS orm_schema_migrations");
}
END_TEST

/* A report row: a "view" model, no table of its own, never registered. */
typedef struct user_report {
    char *name;
    int64_t posts;
    double views;
    bool has_views;
} user_report;
static const orm_field report_fields[] = {
    ORM_FIELD(user_report, name, ORM_FIELD_TEXT, 0),
    ORM_FIELD(user_report, posts, ORM_FIELD_INT64, 0),
    ORM_FIELD_NULLABLE(user_report, views, ORM_FIELD_DOUBLE, 0),
};
/* no key: a view is never got, updated or deleted by key */
static const orm_model report_model = { ORM_MODEL_VERSION, "user_report", "user_report", report_fields,
                                        3, sizeof(user_report), NULL, 0, NULL };
enum { IT_USER_FIELD_NAME = 1 }; /* as a generated field enum would number it */

/* Typed results: a join + group by into a view model, a typed cursor over a select and over
 * raw SQL, field enums as builder names. */
START_TEST(typed_results_into_any_model)
{
    it_seed();
    const char *name_field = orm_model_field_name(&it_user_model, IT_USER_FIELD_NAME);
    ck_assert_str_eq(name_field, "name");
    ck_assert_ptr_null(orm_model_field_name(&it_user_model, 99));

    orm_select *q = orm_select_new(it_s, &it_user_model);
    orm_select_columns(q, (const char *[]){ "users.name" }, 1);
    orm_select_expr(q, orm_count_all(), "posts");
    orm_select_expr(q, orm_aggregate(ORM_AGG_SUM, orm_col("posts.views"), 0), "views");
    orm_select_join(q, ORM_JOIN_INNER, &it_post_model, NULL, orm_eq_col("users.id", "posts.user_id"));
    orm_select_group_by(q, "users.name");
    orm_select_order_by(q, name_field, ORM_ASC);
    orm_list l = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all_into(q, NULL, &report_model, &l));
    ck_assert_uint_eq(l.count, 3);
    const user_report *r0 = orm_list_at(&l, 0), *r2 = orm_list_at(&l, 2);
    ck_assert_str_eq(r0->name, "ada");
    ck_assert_int_eq(r0->posts, 2);
    ck_assert(r0->has_views && r0->views == 30.0);
    ck_assert_str_eq(r2->name, "dee");
    ck_assert(r2->views == 100.0);
    orm_list_clear(&l);

    /* the same select, a row at a time */
    orm_iter *it;
    ck_assert_ok(orm_select_iter(&it, q, NULL, &report_model, false));
    user_report row = { 0 };
    int n = 0, rc;
    while ((rc = orm_iter_next(it, &row)) == 1)
        n++;
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(n, 3);
    ck_assert_ptr_null(row.name); /* cleared at the end */
    orm_iter_free(it);
    orm_select_free(q);

    /* the select's own model, by a field enum */
    q = orm_select_new(it_s, &it_user_model);
    orm_select_where(q, orm_ne(name_field, orm_text("bob")));
    orm_select_order_by(q, name_field, ORM_DESC);
    ck_assert_ok(orm_select_iter(&it, q, NULL, NULL, false));
    it_user u;
    memset(&u, 0, sizeof u);
    ck_assert_int_eq(orm_iter_next(it, &u), 1);
    ck_assert_str_eq(u.name, "eve");
    ck_assert_int_eq(orm_iter_next(it, &u), 1);
    ck_assert_str_eq(u.name, "dee");
    orm_iter_free(it);
    orm_model_clear(&it_user_model, &u);
    /* a column the view has no field for: named, unless skipped */
    ck_assert_orm(orm_select_iter(&it, q, NULL, &report_model, false), ORM_EUNKNOWN_FIELD);
    ck_assert(it_msg_has("\"id\"") && it_msg_has("user_report"));
    ck_assert_ok(orm_select_iter(&it, q, NULL, &report_model, true));
    ck_assert_int_eq(orm_iter_next(it, &row), 1);
    ck_assert_str_eq(row.name, "eve");
    ck_assert(!row.has_views);
    orm_iter_free(it);
    orm_model_clear(&report_model, &row);
    orm_select_free(q);

    /* raw SQL into the view */
    orm_value min = orm_int(10);
    ck_assert_ok(orm_raw_iter(&it, it_s, NULL, &report_model,
                              "SELECT u.name AS name, count(*) AS posts, sum(p.views) AS views "
                              "FROM users u JOIN posts p ON p.user_id = u.id WHERE p.views >= ? "
                              "GROUP BY u.name ORDER BY u.name",
                              &min, 1, false));
    ck_assert_int_eq(orm_iter_next(it, &row), 1);
    ck_assert_str_eq(row.name, "ada");
    ck_assert_int_eq(row.posts, 2);
    ck_assert_int_eq(orm_iter_next(it, &row), 1);
    ck_assert_str_eq(row.name, "dee");
    ck_assert_int_eq(orm_iter_next(it, &row), 0);
    orm_iter_free(it);
}
END_TEST

/* The fast paths: orm_insert_one with the AUTOINCREMENT key set, orm_update_fields. */
START_TEST(fast_paths_insert_with_key_and_update_fields)
{
    it_seed();
    /* a key the caller set is inserted as is (twice: the second call reuses the SQL) */
    for (int k = 0; k < 2; k++) {
        char name[16];
        snprintf(name, sizeof name, "keyed%d", k);
        it_user u = it_user_make(name, NULL, 30 + k, true, 1.0, true);
        u.id = 1000 + k;
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
        ck_assert_int_eq(u.id, 1000 + k);
        it_user got;
        it_user_load(1000 + k, &got);
        ck_assert_str_eq(got.name, name);
        ck_assert_int_eq(got.age, 30 + k);
        orm_model_clear(&it_user_model, &got);
    }
    it_user dup = it_user_make("dup", NULL, 1, true, 1.0, true);
    dup.id = 1000;
    ck_assert_orm(orm_insert_one(it_s, NULL, &it_user_model, &dup), ORM_ECONSTRAINT);

    /* update two fields by index, in either order; the others keep the table's values */
    enum { F_NAME = 1, F_AGE = 3, F_SCORE = 4 };
    it_user u;
    it_user_load(it_uid[IT_ADA], &u);
    char *old_name = u.name;
    u.name = (char *)"not written";
    u.age = 50;
    u.score = 12.5;
    ck_assert_ok(orm_update_fields(it_s, NULL, &it_user_model, &u, (const size_t[]){ F_AGE, F_SCORE }, 2));
    u.age = 51;
    ck_assert_ok(orm_update_fields(it_s, NULL, &it_user_model, &u, (const size_t[]){ F_SCORE, F_AGE }, 2));
    u.name = old_name;
    it_user got;
    it_user_load(it_uid[IT_ADA], &got);
    ck_assert_str_eq(got.name, "ada");
    ck_assert_int_eq(got.age, 51);
    ck_assert(got.score == 12.5);
    orm_model_clear(&it_user_model, &got);
    /* a nullable field to NULL */
    u.has_age = false;
    ck_assert_ok(orm_update_fields(it_s, NULL, &it_user_model, &u, (const size_t[]){ F_AGE }, 1));
    it_user_load(it_uid[IT_ADA], &got);
    ck_assert(!got.has_age);
    orm_model_clear(&it_user_model, &got);
    /* refused: a key, no field, an index past the model, a missing row */
    ck_assert_orm(orm_update_fields(it_s, NULL, &it_user_model, &u, (const size_t[]){ 0 }, 1), ORM_EINVAL);
    ck_assert(it_msg_has("users.id") && it_msg_has("key"));
    ck_assert_orm(orm_update_fields(it_s, NULL, &it_user_model, &u, NULL, 0), ORM_EINVAL);
    ck_assert_orm(orm_update_fields(it_s, NULL, &it_user_model, &u, (const size_t[]){ 42 }, 1),
                  ORM_EUNKNOWN_FIELD);
    int64_t real_id = u.id;
    u.id = 999999;
    ck_assert_orm(orm_update_fields(it_s, NULL, &it_user_model, &u, (const size_t[]){ F_NAME }, 1),
                  ORM_ENOTFOUND);
    u.id = real_id;
    orm_model_clear(&it_user_model, &u);
}
END_TEST

Suite *it_portable_suite(void)
{
    Suite *s = suite_create("portable");
    TCase *tc = it_tcase("timestamps");
    tcase_add_test(tc, timestamp_range_finds_rows_written_by_date_functions);
    tcase_add_test(tc, timestamps_written_by_liborm_compare_in_sqlite_shell);
    tcase_add_test(tc, timestamp_forms_written_by_other_tools_read_back);
    tcase_add_test(tc, rows_read_timestamps_alike);
    suite_add_tcase(s, tc);
    tc = it_tcase("types");
    tcase_add_test(tc, values_are_checked_against_field_types);
    suite_add_tcase(s, tc);
    tc = it_tcase("raw");
    tcase_add_test(tc, raw_sql_placeholders_either_way);
    tcase_add_test(tc, qualified_names_take_table_or_model_name);
    tcase_add_test(tc, errors_name_what_went_wrong);
    tcase_add_test(tc, typed_results_into_any_model);
    tcase_add_test(tc, fast_paths_insert_with_key_and_update_fields);
    suite_add_tcase(s, tc);
    return s;
}
