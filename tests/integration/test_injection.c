/* Integration: the injection corpus. Hostile strings and bytes go in through insert (and an
 * UPDATE ... SET), come back byte-for-byte through get and through a WHERE = lookup, and the
 * tables are intact afterwards with exactly the expected rows.
 *
 * Where the bytes go, and why:
 * - NUL bytes always travel in the blob column (avatar), on every backend: a text member is a
 *   NUL-terminated char * (model.h) and PostgreSQL text cannot hold NUL at all, so text with
 *   an embedded NUL is not a value a model can round-trip anywhere.
 * - Invalid UTF-8 goes in the text columns on SQLite (it stores text bytes as given and never
 *   validates them) and only in the blob on PostgreSQL, whose text type rejects invalid UTF-8
 *   in a UTF-8 database (SQLSTATE 22021): that is the server enforcing its encoding, not an
 *   injection, so the byte-for-byte check runs on bytea there.
 * - The 1 MB string goes in email, which has no index: PostgreSQL cannot put a 1 MB value in
 *   the btree behind the UNIQUE name. */
#include <stdlib.h>
#include <string.h>

#include "it.h"

typedef struct entry {
    const char *text;       /* stored in name and email (NULL: see the build below) */
    const void *bytes;      /* stored in avatar */
    size_t nbytes;
    bool invalid_utf8;      /* text only where the backend takes it */
} entry;

static const char nul_bytes[] = "a\0b\0'\0--\0\0;DROP TABLE users;\0";
static const char bad_utf8[] = "\xff\xfe\xc3\x28 \xed\xa0\x80 \xc0\xaf '\x80";

static const entry corpus[] = {
    { "O'Brien", "O'Brien", 7, false },
    { "say \"hi\"", "\"", 1, false },
    { "'; DROP TABLE users; --", "'; DROP TABLE users; --", 23, false },
    { "\"; DROP TABLE users; --", "x", 1, false },
    { "Robert'); DROP TABLE posts;--", NULL, 0, false },
    { "/* comment */ name", "/*", 2, false },
    { "-- dash comment", "--", 2, false },
    { "back\\slash \\' \\\\ \\0", "\\", 1, false },
    { "' OR '1'='1", "' OR 1=1 --", 11, false },
    { "? $1 :name @p %s %n", "?", 1, false },
    { "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", 4, false },
    { "nul bytes in blob", nul_bytes, sizeof nul_bytes, false },
    { bad_utf8, bad_utf8, sizeof bad_utf8 - 1, true },
};
enum { NCORPUS = sizeof corpus / sizeof corpus[0] };
enum { BIG = 1 << 20 };

/* The 1 MB string: quotes, comment markers and backslashes all through it. */
static char *make_big(void)
{
    static const char pattern[] = "x'y\"z--/*\\;";
    char *s = malloc(BIG + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < BIG; i++)
        s[i] = pattern[i % (sizeof pattern - 1)];
    s[BIG] = '\0';
    return s;
}

static void assert_blob(const orm_blob *b, const void *bytes, size_t n)
{
    if (!bytes) {
        ck_assert_ptr_null(b->data);
        return;
    }
    ck_assert_ptr_nonnull(b->data);
    ck_assert_uint_eq(b->len, n);
    ck_assert(memcmp(b->data, bytes, n) == 0);
}

/* The single user matching where (stolen); its id. */
static int64_t only_match(orm_expr *where)
{
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_where(q, where));
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &list));
    orm_select_free(q);
    ck_assert_uint_eq(list.count, 1);
    int64_t id = ((it_user *)orm_list_at(&list, 0))->id;
    orm_list_clear(&list);
    return id;
}

START_TEST(corpus_round_trips_byte_for_byte)
{
    bool pg = it_is_postgres();
    it_user users[NCORPUS + 1];
    char *big = make_big();
    for (size_t i = 0; i < NCORPUS; i++) {
        const entry *e = &corpus[i];
        const char *text = (e->invalid_utf8 && pg) ? "invalid utf-8 (bytes in the blob)" : e->text;
        users[i] = it_user_make(text, text, (int)i, true, (double)i, true);
        users[i].avatar.data = (void *)e->bytes;
        users[i].avatar.len = e->nbytes;
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &users[i]));
    }
    users[NCORPUS] = it_user_make("one megabyte", big, 0, false, 0, false);
    users[NCORPUS].avatar.data = big;
    users[NCORPUS].avatar.len = BIG;
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &users[NCORPUS]));

    for (size_t i = 0; i <= NCORPUS; i++) {
        const it_user *w = &users[i];
        it_user got;
        it_user_load(w->id, &got);
        ck_assert_uint_eq(strlen(got.name), strlen(w->name));
        ck_assert_msg(strcmp(got.name, w->name) == 0, "entry %zu: name differs", i);
        ck_assert_ptr_nonnull(got.email);
        ck_assert_uint_eq(strlen(got.email), strlen(w->email));
        ck_assert_msg(strcmp(got.email, w->email) == 0, "entry %zu: email differs", i);
        assert_blob(&got.avatar, w->avatar.data, w->avatar.len);
        orm_model_clear(&it_user_model, &got);

        ck_assert_int_eq(only_match(orm_eq("name", orm_text(w->name))), w->id);
        ck_assert_int_eq(only_match(orm_eq("email", orm_text(w->email))), w->id);
        if (w->avatar.data) /* every entry's bytes are distinct */
            ck_assert_int_eq(only_match(orm_eq("avatar", orm_blob_n(w->avatar.data,
                                                                    w->avatar.len))),
                             w->id);
    }
    /* LIKE with a hostile pattern binds as a value too. */
    ck_assert_int_eq(it_count(&it_user_model, orm_like("name", orm_text("%DROP TABLE%"))), 3);

    /* The tables are intact, with exactly the rows inserted, in order. */
    ck_assert_int_eq(it_count(&it_user_model, NULL), NCORPUS + 1);
    ck_assert_int_eq(it_count(&it_post_model, NULL), 0);
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_order_by(q, "id", ORM_ASC));
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &list));
    orm_select_free(q);
    ck_assert_uint_eq(list.count, NCORPUS + 1);
    for (size_t i = 0; i <= NCORPUS; i++) {
        const it_user *g = orm_list_at(&list, i);
        ck_assert_int_eq(g->id, users[i].id);
        ck_assert(strcmp(g->name, users[i].name) == 0);
        assert_blob(&g->avatar, users[i].avatar.data, users[i].avatar.len);
    }
    orm_list_clear(&list);
    free(big);
}
END_TEST

START_TEST(hostile_values_in_update_set_and_where)
{
    it_seed();
    const char *evil = "x'); DELETE FROM users; --";
    orm_update *up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_set(up, "email", orm_text(evil)));
    ck_assert_ok(orm_update_set(up, "avatar", orm_blob_n(nul_bytes, sizeof nul_bytes)));
    ck_assert_ok(orm_update_where(up, orm_or(orm_eq("name", orm_text("bob")),
                                             orm_eq("name", orm_text("' OR '1'='1")))));
    int64_t n = -1;
    ck_assert_ok(orm_update_exec(up, NULL, &n));
    orm_update_free(up);
    ck_assert_int_eq(n, 1);
    it_user got;
    it_user_load(it_uid[IT_BOB], &got);
    ck_assert_str_eq(got.email, evil);
    assert_blob(&got.avatar, nul_bytes, sizeof nul_bytes);
    orm_model_clear(&it_user_model, &got);
    ck_assert_int_eq(it_count(&it_user_model, orm_eq("email", orm_text(evil))), 1);

    /* A hostile raw-expression argument is bound, not pasted. */
    orm_value arg = orm_text("' OR 1=1 --");
    ck_assert_int_eq(it_count(&it_user_model, orm_raw_expr("\"name\" = ?", &arg, 1)), 0);

    orm_delete *del = orm_delete_new(it_s, &it_user_model);
    ck_assert_ok(orm_delete_where(del, orm_eq("name", orm_text("' OR '1'='1"))));
    ck_assert_ok(orm_delete_exec(del, NULL, &n));
    orm_delete_free(del);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 5);
}
END_TEST

/* Text values carry a length and may hold NUL bytes (value.h). SQLite stores all of them; a
 * PostgreSQL text cannot hold NUL, so there the write must fail rather than silently store
 * the bytes before the first NUL. */
START_TEST(text_value_with_embedded_nul)
{
    it_seed();
    static const char nul_text[] = "before\0after";
    orm_update *up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_set(up, "email", orm_text_n(nul_text, sizeof nul_text - 1)));
    ck_assert_ok(orm_update_where(up, orm_eq("name", orm_text("cy"))));
    int64_t n = -1;
    int rc = orm_update_exec(up, NULL, &n);
    orm_update_free(up);

    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_columns(q, (const char *const[]){ "email" }, 1));
    ck_assert_ok(orm_select_where(q, orm_eq("name", orm_text("cy"))));
    orm_rows *r = NULL;
    ck_assert_ok(orm_select_rows(q, NULL, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    size_t len = 0;
    const char *got = orm_rows_text(r, 0, &len);
    if (it_is_postgres()) {
        ck_assert_msg(rc < 0, "text with a NUL byte was accepted by PostgreSQL (stored %zu bytes)",
                      len);
        ck_assert_str_eq(got, "cy@example.com"); /* unchanged */
    } else {
        ck_assert_ok(rc);
        ck_assert_int_eq(n, 1);
        ck_assert_uint_eq(len, sizeof nul_text - 1);
        ck_assert(memcmp(got, nul_text, len) == 0);
    }
    orm_rows_free(r);
    orm_select_free(q);
}
END_TEST

Suite *it_injection_suite(void)
{
    Suite *s = suite_create("injection");
    TCase *tc = it_tcase("injection");
    tcase_add_test(tc, corpus_round_trips_byte_for_byte);
    tcase_add_test(tc, hostile_values_in_update_set_and_where);
    tcase_add_test(tc, text_value_with_embedded_nul);
    suite_add_tcase(s, tc);
    return s;
}
