/* Integration: fixed-capacity text fields (`char name[N]`, ORM_FIELD_FIXED_TEXT) on both
 * backends — a round trip at capacity - 1 bytes through every read path (orm_get,
 * orm_get_many, select, typed cursor, a view model, raw queries, orm_rows), every write path
 * refusing a value one byte over with ORM_ERANGE and writing nothing, a longer value written
 * by raw SQL read back as ORM_ERANGE naming table.column (the struct left cleared), NULL
 * through has_, UTF-8 at the boundary (bytes are counted; a character is never split), a NUL
 * inside text, and cached gets through the row cache. */
#include <stdio.h>
#include <string.h>

#include "it.h"

typedef struct ft_city {
    int64_t id;
    char code[8];  /* at most 7 bytes */
    char name[16]; /* at most 15 bytes; NULL through has_name */
    bool has_name;
    char *note;
} ft_city;

static const orm_field ft_city_fields[] = {
    ORM_FIELD(ft_city, id, ORM_FIELD_INT64, ORM_FIELD_PK),
    ORM_FIELD_FIXED(ft_city, code, ORM_FIELD_NOT_NULL),
    ORM_FIELD_FIXED_NULLABLE(ft_city, name, 0),
    ORM_FIELD(ft_city, note, ORM_FIELD_TEXT, 0),
};
static const size_t ft_city_pk[] = { 0 };
static const orm_model ft_city_model = ORM_MODEL(ft_city, "ft_city", ft_city_fields, ft_city_pk);
enum { FT_CITY_ID, FT_CITY_CODE, FT_CITY_NAME, FT_CITY_NOTE };

/* A fixed text primary key. */
typedef struct ft_tag {
    char tag[12];
    int64_t n;
} ft_tag;

static const orm_field ft_tag_fields[] = {
    ORM_FIELD_FIXED(ft_tag, tag, ORM_FIELD_PK | ORM_FIELD_NOT_NULL),
    ORM_FIELD(ft_tag, n, ORM_FIELD_INT64, ORM_FIELD_NOT_NULL),
};
static const size_t ft_tag_pk[] = { 0 };
static const orm_model ft_tag_model = ORM_MODEL(ft_tag, "ft_tag", ft_tag_fields, ft_tag_pk);

/* A report row: a view model (no table, no key) with a fixed text member. */
typedef struct ft_code_count {
    char code[8];
    int64_t n;
} ft_code_count;

static const orm_field ft_code_count_fields[] = {
    ORM_FIELD_FIXED(ft_code_count, code, 0),
    ORM_FIELD(ft_code_count, n, ORM_FIELD_INT64, 0),
};
static const orm_model ft_code_count_model = { ORM_MODEL_VERSION, "ft_code_count", "ft_code_count",
                                               ft_code_count_fields, 2, sizeof(ft_code_count), NULL, 0,
                                               NULL };

/* 7 two-byte characters and one byte: 15 bytes, the most name holds. */
#define NAME_15 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x"
/* 8 two-byte characters: 16 bytes, one too many. */
#define NAME_16 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
/* 14 bytes, then a two-byte character that would straddle the end: 16 bytes. */
#define NAME_SPLIT "aaaaaaaaaaaaaa\xc3\xa9"

static void create_tables(orm_session *s)
{
    ck_assert_ok(orm_exec_sql(s, NULL, "DROP TABLE IF EXISTS ft_city"));
    ck_assert_ok(orm_exec_sql(s, NULL, "DROP TABLE IF EXISTS ft_tag"));
    /* the columns are wider than the fields: what another tool writes is not limited */
    ck_assert_ok(orm_exec_sql(s, NULL, "CREATE TABLE ft_city (id BIGINT PRIMARY KEY, code VARCHAR(64), "
                                       "name VARCHAR(64), note TEXT)"));
    ck_assert_ok(orm_exec_sql(s, NULL, "CREATE TABLE ft_tag (tag VARCHAR(64) PRIMARY KEY, n BIGINT NOT NULL)"));
}

static void ft_setup(void)
{
    create_tables(it_s);
    ck_assert_ok(orm_db_register(it_db, &ft_city_model));
    ck_assert_ok(orm_db_register(it_db, &ft_tag_model));
}

static ft_city city_make(int64_t id, const char *code, const char *name)
{
    ft_city c;
    memset(&c, 0, sizeof c);
    c.id = id;
    snprintf(c.code, sizeof c.code, "%s", code);
    if (name) {
        snprintf(c.name, sizeof c.name, "%s", name);
        c.has_name = true;
    }
    return c;
}

/* Writes a row through raw SQL (so lengths are not checked by liborm). */
static void raw_city(int64_t id, orm_value code, orm_value name)
{
    orm_value args[3] = { orm_int(id), code, name };
    int64_t n = 0;
    ck_assert_ok(orm_raw_exec(it_s, NULL, "INSERT INTO ft_city (id, code, name) VALUES (?, ?, ?)", args, 3, &n));
    ck_assert_int_eq(n, 1);
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static void assert_city(const ft_city *c, int64_t id, const char *code, const char *name)
{
    ck_assert_int_eq(c->id, id);
    ck_assert_str_eq(c->code, code);
    if (name) {
        ck_assert(c->has_name);
        ck_assert_str_eq(c->name, name);
    } else {
        ck_assert(!c->has_name);
        ck_assert_str_eq(c->name, "");
    }
}

START_TEST(round_trip_at_capacity_through_every_read_path)
{
    ft_city a = city_make(1, "ABCDEFG", NAME_15); /* both at capacity - 1 bytes */
    ck_assert_ok(orm_insert_one(it_s, NULL, &ft_city_model, &a));
    ft_city more[2] = { city_make(2, "B", "Bordeaux"), city_make(3, "ABCDEFG", NULL) };
    orm_insert *ins = orm_insert_new(it_s, &ft_city_model);
    ck_assert_ok(orm_insert_add_many(ins, more, 2));
    int64_t n = 0;
    ck_assert_ok(orm_insert_exec(ins, NULL, &n));
    ck_assert_int_eq(n, 2);
    orm_insert_free(ins);
    /* the stored bytes are exactly the member's text */
    ck_assert_int_eq(it_count(&ft_city_model, orm_eq("name", orm_text(NAME_15))), 1);
    ck_assert_int_eq(it_count(&ft_city_model, orm_eq("code", orm_text("ABCDEFG"))), 2);

    ft_city g;
    memset(&g, 0, sizeof g);
    ck_assert_ok(orm_get(it_s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(1) }));
    assert_city(&g, 1, "ABCDEFG", NAME_15);
    ck_assert_ptr_null(g.note);

    ft_city many[3];
    bool found[3];
    orm_value keys[3] = { orm_int(3), orm_int(9), orm_int(1) };
    ck_assert_ok(orm_get_many(it_s, NULL, &ft_city_model, many, found, keys, 3));
    ck_assert(found[0] && !found[1] && found[2]);
    assert_city(&many[0], 3, "ABCDEFG", NULL);
    assert_city(&many[2], 1, "ABCDEFG", NAME_15);
    for (size_t i = 0; i < 3; i++)
        orm_model_clear(&ft_city_model, &many[i]);

    orm_select *q = orm_select_new(it_s, &ft_city_model);
    orm_select_order_by(q, "id", ORM_ASC);
    orm_list l = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &l));
    ck_assert_uint_eq(l.count, 3);
    assert_city(orm_list_at(&l, 0), 1, "ABCDEFG", NAME_15);
    assert_city(orm_list_at(&l, 1), 2, "B", "Bordeaux");
    assert_city(orm_list_at(&l, 2), 3, "ABCDEFG", NULL);
    orm_list_clear(&l);

    /* the typed cursor */
    orm_iter *it;
    ck_assert_ok(orm_select_iter(&it, q, NULL, NULL, false));
    ft_city row;
    memset(&row, 0, sizeof row);
    int rows = 0, rc;
    while ((rc = orm_iter_next(it, &row)) == 1) {
        rows++;
        ck_assert_int_eq(row.id, rows);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(rows, 3);
    orm_iter_free(it);

    /* raw SQL, mapped by name; and the positional getters */
    memset(&g, 0, sizeof g);
    ck_assert_ok(orm_raw_get(it_s, NULL, &ft_city_model, &g, "SELECT id, code, name FROM ft_city WHERE id = ?",
                             (orm_value[]){ orm_int(2) }, 1, NULL));
    assert_city(&g, 2, "B", "Bordeaux");
    ck_assert_ok(orm_raw_iter(&it, it_s, NULL, &ft_city_model, "SELECT id, code FROM ft_city ORDER BY id", NULL,
                              0, false));
    ck_assert_int_eq(orm_iter_next(it, &row), 1);
    ck_assert_str_eq(row.code, "ABCDEFG");
    orm_iter_free(it);
    orm_rows *r;
    ck_assert_ok(orm_select_rows(q, NULL, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    size_t len = 0;
    ck_assert_str_eq(orm_rows_text(r, FT_CITY_NAME, &len), NAME_15);
    ck_assert_uint_eq(len, 15);
    orm_rows_free(r);
    orm_select_free(q);

    /* a report row into a view model */
    q = orm_select_new(it_s, &ft_city_model);
    orm_select_columns(q, (const char *[]){ "code" }, 1);
    orm_select_expr(q, orm_count_all(), "n");
    orm_select_group_by(q, "code");
    orm_select_order_by(q, "code", ORM_ASC);
    l = (orm_list)ORM_LIST_INIT;
    ck_assert_ok(orm_select_all_into(q, NULL, &ft_code_count_model, &l));
    ck_assert_uint_eq(l.count, 2);
    const ft_code_count *c0 = orm_list_at(&l, 0), *c1 = orm_list_at(&l, 1);
    ck_assert_str_eq(c0->code, "ABCDEFG");
    ck_assert_int_eq(c0->n, 2);
    ck_assert_str_eq(c1->code, "B");
    ck_assert_int_eq(c1->n, 1);
    orm_list_clear(&l);
    orm_select_free(q);

    /* updates and a fixed text key */
    snprintf(a.code, sizeof a.code, "%s", "Z");
    a.has_name = false;
    ck_assert_ok(orm_update_one(it_s, NULL, &ft_city_model, &a));
    ck_assert_ok(orm_get(it_s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(1) }));
    assert_city(&g, 1, "Z", NULL);
    snprintf(a.name, sizeof a.name, "%s", NAME_15);
    a.has_name = true;
    ck_assert_ok(orm_update_fields(it_s, NULL, &ft_city_model, &a, (size_t[]){ FT_CITY_NAME }, 1));
    ck_assert_ok(orm_get(it_s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(1) }));
    assert_city(&g, 1, "Z", NAME_15);
    ft_tag t = { "eleven-byte", 5 };
    ck_assert_ok(orm_insert_one(it_s, NULL, &ft_tag_model, &t));
    ft_tag tg;
    memset(&tg, 0, sizeof tg);
    ck_assert_ok(orm_get(it_s, NULL, &ft_tag_model, &tg, (orm_value[]){ orm_text("eleven-byte") }));
    ck_assert_str_eq(tg.tag, "eleven-byte");
    ck_assert_int_eq(tg.n, 5);
    ck_assert_ok(orm_delete_one(it_s, NULL, &ft_tag_model, &tg));
    ck_assert_int_eq(it_count(&ft_tag_model, NULL), 0);
}
END_TEST

/* A member one byte over (no NUL in its capacity) or a builder value one byte over: ORM_ERANGE
 * naming table.column, before anything reaches the database. */
START_TEST(writes_one_over_are_refused_and_write_nothing)
{
    ft_city bad = city_make(1, "", NULL);
    memset(bad.code, 'x', sizeof bad.code);
    ck_assert_orm(orm_insert_one(it_s, NULL, &ft_city_model, &bad), ORM_ERANGE);
    ck_assert(it_msg_has("ft_city.code: the char[8] member ft_city.code holds no NUL"));
    ck_assert(it_msg_has("at most 7"));
    ck_assert_int_eq(it_count(&ft_city_model, NULL), 0);

    /* a multi-row insert: the bad row is the last, the first is not written either */
    ft_city rows[3] = { city_make(1, "A", NULL), city_make(2, "B", NULL), bad };
    rows[2].id = 3;
    orm_insert *ins = orm_insert_new(it_s, &ft_city_model);
    ck_assert_ok(orm_insert_add_many(ins, rows, 3));
    int64_t n = -1;
    ck_assert_orm(orm_insert_exec(ins, NULL, &n), ORM_ERANGE);
    ck_assert_int_eq(n, 0);
    orm_insert_free(ins);
    ck_assert_int_eq(it_count(&ft_city_model, NULL), 0);

    /* an upsert */
    ft_city good = city_make(1, "GOOD", "kept");
    ck_assert_ok(orm_insert_one(it_s, NULL, &ft_city_model, &good));
    bad.id = 1;
    ins = orm_insert_new(it_s, &ft_city_model);
    ck_assert_ok(orm_insert_add(ins, &bad));
    ck_assert_ok(orm_insert_on_conflict(ins, (const char *[]){ "id" }, 1, ORM_CONFLICT_UPDATE, NULL, 0));
    ck_assert_orm(orm_insert_exec(ins, NULL, &n), ORM_ERANGE);
    orm_insert_free(ins);

    /* update_one, update_fields, the update builder (from a struct, and a value) */
    ck_assert_orm(orm_update_one(it_s, NULL, &ft_city_model, &bad), ORM_ERANGE);
    ck_assert(it_msg_has("ft_city.code"));
    ck_assert_orm(orm_update_fields(it_s, NULL, &ft_city_model, &bad, (size_t[]){ FT_CITY_CODE }, 1), ORM_ERANGE);
    orm_update *u = orm_update_new(it_s, &ft_city_model);
    ck_assert_orm(orm_update_from(u, &bad, NULL, 0), ORM_ERANGE);
    ck_assert_orm(orm_update_exec(u, NULL, &n), ORM_ERANGE);
    orm_update_free(u);
    u = orm_update_new(it_s, &ft_city_model);
    ck_assert_orm(orm_update_set(u, "code", orm_text("ABCDEFGH")), ORM_ERANGE);
    ck_assert(it_msg_has("ft_city.code: a text of 8 bytes does not fit the char[8] field ft_city.code (at most 7 bytes)"));
    orm_update_free(u);
    /* UTF-8: bytes count, and a character is refused whole, never split */
    u = orm_update_new(it_s, &ft_city_model);
    ck_assert_orm(orm_update_set(u, "name", orm_text(NAME_16)), ORM_ERANGE);
    ck_assert(it_msg_has("ft_city.name: a text of 16 bytes"));
    orm_update_free(u);
    u = orm_update_new(it_s, &ft_city_model);
    ck_assert_orm(orm_update_set(u, "name", orm_text(NAME_SPLIT)), ORM_ERANGE);
    orm_update_free(u);
    /* where clauses compare with text of any length */
    u = orm_update_new(it_s, &ft_city_model);
    ck_assert_ok(orm_update_set(u, "name", orm_text(NAME_15)));
    ck_assert_ok(orm_update_where(u, orm_eq("code", orm_text("LONGER THAN EIGHT"))));
    ck_assert_ok(orm_update_exec(u, NULL, &n));
    ck_assert_int_eq(n, 0);
    orm_update_free(u);

    /* a fixed text key with no NUL: delete by key refuses it too */
    ft_tag t;
    memset(t.tag, 'k', sizeof t.tag);
    t.n = 1;
    ck_assert_orm(orm_delete_one(it_s, NULL, &ft_tag_model, &t), ORM_ERANGE);
    orm_delete *d = orm_delete_new(it_s, &ft_tag_model);
    ck_assert_orm(orm_delete_by_key(d, &t), ORM_ERANGE);
    orm_delete_free(d);
    ck_assert_orm(orm_insert_one(it_s, NULL, &ft_tag_model, &t), ORM_ERANGE);
    ck_assert_int_eq(it_count(&ft_tag_model, NULL), 0);

    /* the good row is as it was */
    ft_city g;
    memset(&g, 0, sizeof g);
    ck_assert_ok(orm_get(it_s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(1) }));
    assert_city(&g, 1, "GOOD", "kept");
    ck_assert_int_eq(it_count(&ft_city_model, NULL), 1);
}
END_TEST

/* A value another writer stored, longer than the field: ORM_ERANGE naming the field and the
 * lengths on every read path, the struct left cleared, never a cut value. */
START_TEST(longer_value_in_the_database_is_erange)
{
    raw_city(1, orm_text("ABCDEFGH"), orm_null());
    raw_city(2, orm_text("OK"), orm_text(NAME_SPLIT));
    raw_city(3, orm_text("OK"), orm_text(NAME_15));

    ft_city g;
    memset(&g, 0x5a, sizeof g); /* documented: cleared on failure, whatever it held */
    g.note = NULL;
    ck_assert_orm(orm_get(it_s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(1) }), ORM_ERANGE);
    ck_assert(it_msg_has("ft_city.code: a text of 8 bytes does not fit the char[8] field ft_city.code (at most 7 bytes)"));
    ck_assert(all_zero(&g, sizeof g));
    /* a two-byte character straddling the end is not cut in half: the value is refused */
    ck_assert_orm(orm_get(it_s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(2) }), ORM_ERANGE);
    ck_assert(it_msg_has("ft_city.name: a text of 16 bytes"));
    ck_assert(all_zero(&g, sizeof g));
    ck_assert_ok(orm_get(it_s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(3) }));
    assert_city(&g, 3, "OK", NAME_15);

    ft_city many[2];
    bool found[2];
    ck_assert_orm(orm_get_many(it_s, NULL, &ft_city_model, many, found, (orm_value[]){ orm_int(3), orm_int(1) }, 2),
                  ORM_ERANGE);
    ck_assert(all_zero(many, sizeof many));

    orm_select *q = orm_select_new(it_s, &ft_city_model);
    orm_select_order_by(q, "id", ORM_DESC);
    orm_list l = ORM_LIST_INIT;
    ck_assert_orm(orm_select_all(q, NULL, &l), ORM_ERANGE);
    ck_assert_uint_eq(l.count, 0);
    orm_list_clear(&l);
    orm_iter *it;
    ck_assert_ok(orm_select_iter(&it, q, NULL, NULL, false));
    ft_city row;
    memset(&row, 0, sizeof row);
    ck_assert_int_eq(orm_iter_next(it, &row), 1); /* id 3 */
    ck_assert_orm(orm_iter_next(it, &row), ORM_ERANGE);
    ck_assert(it_msg_has("ft_city.name"));
    ck_assert(all_zero(&row, sizeof row));
    orm_iter_free(it);
    orm_select_free(q);
    ck_assert_orm(orm_raw_get(it_s, NULL, &ft_city_model, &g, "SELECT id, code FROM ft_city WHERE id = 1", NULL, 0,
                              NULL), ORM_ERANGE);
    ck_assert(it_msg_has("ft_city.code"));
}
END_TEST

START_TEST(null_through_the_has_flag)
{
    ft_city c = city_make(1, "N", NULL);
    snprintf(c.name, sizeof c.name, "%s", "not written"); /* has_name false: NULL */
    ck_assert_ok(orm_insert_one(it_s, NULL, &ft_city_model, &c));
    ck_assert_int_eq(it_count(&ft_city_model, orm_is_null("name")), 1);
    ft_city g;
    memset(&g, 0, sizeof g);
    ck_assert_ok(orm_get(it_s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(1) }));
    assert_city(&g, 1, "N", NULL);
    /* a member without has_ cannot hold NULL */
    raw_city(2, orm_null(), orm_text("x"));
    ck_assert_orm(orm_get(it_s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(2) }), ORM_ENULL);
    ck_assert(it_msg_has("ft_city.code: NULL read into fixed text field ft_city.code"));
    /* empty text is not NULL */
    c = city_make(3, "", "");
    ck_assert_ok(orm_insert_one(it_s, NULL, &ft_city_model, &c));
    ck_assert_ok(orm_get(it_s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(3) }));
    assert_city(&g, 3, "", "");
    ck_assert_int_eq(it_count(&ft_city_model, orm_is_null("name")), 1);
}
END_TEST

/* The member is NUL-terminated: text with a NUL inside is refused when written (both
 * backends) and when read (SQLite can store it; PostgreSQL's text cannot hold one). */
START_TEST(nul_inside_text)
{
    orm_update *u = orm_update_new(it_s, &ft_city_model);
    ck_assert_orm(orm_update_set(u, "code", orm_text_n("a\0b", 3)), ORM_ETYPE);
    ck_assert(it_msg_has("ft_city.code: text with a NUL byte inside (at byte 1)"));
    orm_update_free(u);
    if (it_is_postgres())
        return;
    raw_city(1, orm_text_n("a\0b", 3), orm_null());
    ft_city g;
    memset(&g, 0, sizeof g);
    ck_assert_orm(orm_get(it_s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(1) }), ORM_ETYPE);
    ck_assert(it_msg_has("NUL byte inside"));
    ck_assert(all_zero(&g, sizeof g));
}
END_TEST

/* Through the row cache: a hit fills the struct as the database did (a plain copy: fixed
 * text owns nothing), writes drop the row, a fixed text key works as a cache key. */
START_TEST(cached_gets_through_the_row_cache)
{
    orm_db *db;
    ck_assert_ok(orm_db_open(&db, it_dsn(), NULL));
    orm_cache *cache;
    ck_assert_ok(orm_cache_local_new(&cache, NULL));
    orm_row_cache *rc;
    ck_assert_ok(orm_row_cache_attach(&rc, db, cache, NULL));
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    ck_assert_ok(orm_row_cache_model(rc, &ft_city_model, &mo));
    ck_assert_ok(orm_row_cache_model(rc, &ft_tag_model, &mo));
    ck_assert_ok(orm_db_register(db, &ft_city_model));
    ck_assert_ok(orm_db_register(db, &ft_tag_model));
    orm_session *s = orm_db_session(db);

    ft_city c = city_make(1, "ABCDEFG", NAME_15);
    ck_assert_ok(orm_insert_one(s, NULL, &ft_city_model, &c));
    ft_city g;
    for (int i = 0; i < 3; i++) {
        memset(&g, 0, sizeof g);
        ck_assert_ok(orm_get(s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(1) }));
        assert_city(&g, 1, "ABCDEFG", NAME_15);
    }
    orm_row_cache_stats st;
    ck_assert_ok(orm_row_cache_stats_get(rc, &ft_city_model, &st));
    ck_assert_uint_eq(st.loads, 1);
    ck_assert_uint_eq(st.hits, 2);
    /* a write drops the row: the next get loads the new text */
    snprintf(c.code, sizeof c.code, "%s", "NEW");
    c.has_name = false;
    ck_assert_ok(orm_update_one(s, NULL, &ft_city_model, &c));
    ck_assert_ok(orm_get(s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(1) }));
    assert_city(&g, 1, "NEW", NULL);
    ft_city many[2];
    bool found[2];
    ck_assert_ok(orm_get_many(s, NULL, &ft_city_model, many, found, (orm_value[]){ orm_int(1), orm_int(2) }, 2));
    ck_assert(found[0] && !found[1]);
    assert_city(&many[0], 1, "NEW", NULL);
    /* a refused write leaves the cached row alone */
    memset(c.code, 'x', sizeof c.code);
    ck_assert_orm(orm_update_one(s, NULL, &ft_city_model, &c), ORM_ERANGE);
    ck_assert_ok(orm_get(s, NULL, &ft_city_model, &g, (orm_value[]){ orm_int(1) }));
    assert_city(&g, 1, "NEW", NULL);

    ft_tag t = { "red", 1 };
    ck_assert_ok(orm_insert_one(s, NULL, &ft_tag_model, &t));
    ft_tag tg;
    for (int i = 0; i < 2; i++) {
        memset(&tg, 0, sizeof tg);
        ck_assert_ok(orm_get(s, NULL, &ft_tag_model, &tg, (orm_value[]){ orm_text("red") }));
        ck_assert_str_eq(tg.tag, "red");
        ck_assert_int_eq(tg.n, 1);
    }
    ck_assert_ok(orm_row_cache_stats_get(rc, &ft_tag_model, &st));
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_ok(orm_delete_one(s, NULL, &ft_tag_model, &tg));
    ck_assert_orm(orm_get(s, NULL, &ft_tag_model, &tg, (orm_value[]){ orm_text("red") }), ORM_ENOTFOUND);
    orm_db_close(db);
}
END_TEST

static Suite *ft_suite(void)
{
    Suite *s = suite_create("fixed_text");
    TCase *tc = it_tcase("fixed_text");
    tcase_add_checked_fixture(tc, ft_setup, NULL);
    tcase_add_test(tc, round_trip_at_capacity_through_every_read_path);
    tcase_add_test(tc, writes_one_over_are_refused_and_write_nothing);
    tcase_add_test(tc, longer_value_in_the_database_is_erange);
    tcase_add_test(tc, null_through_the_has_flag);
    tcase_add_test(tc, nul_inside_text);
    tcase_add_test(tc, cached_gets_through_the_row_cache);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (it_config_init() != 0)
        return 1;
    return orm_test_run(ft_suite());
}
