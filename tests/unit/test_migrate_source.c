/* Unit tests: migrations from folders (discovery, ordering, gaps, duplicates naming both
 * files, bad names), from arrays, `new` (the next numbered pair) and `embed` (no database). */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrations/migrate_internal.h"
#include "orm/orm.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
    dir = orm_test_temp_path("migdir");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

static void put(const char *file, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static int exists(const char *file)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

static bool msg_has(const char *needle)
{
    return strstr(orm_error_last()->message, needle) != NULL;
}

START_TEST(test_read_sorted_with_gaps)
{
    put("0010_third.up.sql", "C;");
    put("0002_second.up.sql", "B;");
    put("0002_second.down.sql", "-B;");
    put("1_first.up.sql", "A;\r\n");
    put("README.md", "ignored");
    orm__mig *m;
    size_t n;
    ck_assert_ok(orm__mig_read_dir(dir, &m, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(m[0].version, 1);
    ck_assert_str_eq(m[0].name, "first");
    ck_assert_ptr_null(m[0].down);
    ck_assert_int_eq(m[1].version, 2);
    ck_assert_str_eq(m[1].down, "-B;");
    ck_assert_str_eq(m[1].down_file, "0002_second.down.sql");
    ck_assert_int_eq(m[2].version, 10);
    ck_assert_str_eq(m[2].up_file, "0010_third.up.sql");
    char sum[17];
    orm__mig_checksum("A;\n", sum);
    ck_assert_str_eq(m[0].checksum, sum); /* CRLF on disk, same checksum */
    orm__mig_list_free(m, n);
}
END_TEST

START_TEST(test_duplicate_names_both)
{
    put("0002_a.up.sql", "A;");
    put("2_b.up.sql", "B;");
    orm__mig *m;
    size_t n;
    ck_assert_orm(orm__mig_read_dir(dir, &m, &n), ORM_EPARSE);
    ck_assert_msg(msg_has("duplicate migration version 2") && msg_has("0002_a.up.sql") &&
                      msg_has("2_b.up.sql"),
                  "%s", orm_error_last()->message);
}
END_TEST

START_TEST(test_up_down_name_mismatch)
{
    put("0003_a.up.sql", "A;");
    put("0003_b.down.sql", "B;");
    orm__mig *m;
    size_t n;
    ck_assert_orm(orm__mig_read_dir(dir, &m, &n), ORM_EPARSE);
    ck_assert_msg(msg_has("0003_a.up.sql") && msg_has("0003_b.down.sql"), "%s",
                  orm_error_last()->message);
}
END_TEST

START_TEST(test_bad_names)
{
    orm__mig *m;
    size_t n;
    put("0001-create.up.sql", "A;");
    ck_assert_orm(orm__mig_read_dir(dir, &m, &n), ORM_EPARSE);
    ck_assert(msg_has("0001-create.up.sql: not a migration name"));
    teardown();
    setup();
    put("0004_only.down.sql", "A;");
    ck_assert_orm(orm__mig_read_dir(dir, &m, &n), ORM_EPARSE);
    ck_assert(msg_has("0004_only.down.sql: a down migration without its up file"));
    teardown();
    setup();
    put("0000_zero.up.sql", "A;");
    ck_assert_orm(orm__mig_read_dir(dir, &m, &n), ORM_EPARSE);
    ck_assert_orm(orm__mig_read_dir("/nonexistent/migrations", &m, &n), ORM_EIO);
    ck_assert(msg_has("/nonexistent/migrations"));
}
END_TEST

START_TEST(test_list_duplicates_and_validation)
{
    orm_migration list[] = { { 5, "e", "E;", NULL }, { 1, "a", "A;", "-A;" }, { 5, "f", "F;", NULL } };
    orm__mig *m;
    size_t n;
    ck_assert_orm(orm__mig_from_list(list, 3, &m, &n), ORM_EPARSE);
    ck_assert_msg(msg_has("5_e.up") && msg_has("5_f.up"), "%s", orm_error_last()->message);
    ck_assert_ok(orm__mig_from_list(list, 2, &m, &n));
    ck_assert_int_eq(m[0].version, 1);
    ck_assert_int_eq(m[1].version, 5);
    orm__mig_list_free(m, n);
    orm_migration bad[] = { { 0, "z", "Z;", NULL } };
    ck_assert_orm(orm__mig_from_list(bad, 1, &m, &n), ORM_EINVAL);
}
END_TEST

START_TEST(test_new_numbers_next_pair)
{
    char *up;
    ck_assert_ok(orm_migrate_new(dir, "create_users", &up));
    ck_assert_ptr_nonnull(strstr(up, "0001_create_users.up.sql"));
    orm_free_string(up);
    ck_assert(exists("0001_create_users.up.sql") && exists("0001_create_users.down.sql"));
    put("0007_gap.up.sql", "X;");
    ck_assert_ok(orm_migrate_new(dir, "add_email", NULL));
    ck_assert(exists("0008_add_email.up.sql") && exists("0008_add_email.down.sql"));
    ck_assert_orm(orm_migrate_new(dir, "bad name", NULL), ORM_EINVAL);
    ck_assert_orm(orm_migrate_new(dir, "", NULL), ORM_EINVAL);
    /* the new pair is valid input */
    orm__mig *m;
    size_t n;
    ck_assert_ok(orm__mig_read_dir(dir, &m, &n));
    ck_assert_uint_eq(n, 3);
    orm__mig_list_free(m, n);
}
END_TEST

START_TEST(test_new_keeps_wider_numbers)
{
    put("20240101_init.up.sql", "X;");
    ck_assert_ok(orm_migrate_new(dir, "next", NULL));
    ck_assert(exists("20240102_next.up.sql"));
}
END_TEST

START_TEST(test_embed)
{
    put("0001_init.up.sql", "CREATE TABLE t (s TEXT DEFAULT 'a\"b\\\\c?\?=');\nINSERT INTO t VALUES ('\t');\n");
    put("0001_init.down.sql", "DROP TABLE t;\n");
    put("0002_more.up.sql", "SELECT 1;");
    char *c;
    ck_assert_ok(orm_migrate_embed(dir, "app_migrations", &c));
    ck_assert_ptr_nonnull(strstr(c, "const orm_migration app_migrations[] = {"));
    ck_assert_ptr_nonnull(strstr(c, "const size_t app_migrations_count = 2;"));
    ck_assert_ptr_nonnull(strstr(c, "{ 1, \"init\","));
    ck_assert_ptr_nonnull(strstr(c, "'a\\\"b\\\\\\\\c\\?\\?='"));
    ck_assert_ptr_nonnull(strstr(c, "\"SELECT 1;\",\n      NULL }"));
    orm_free_string(c);
    ck_assert_orm(orm_migrate_embed(dir, "1bad", &c), ORM_EINVAL);
}
END_TEST

/* Issue 19 item 6: nothing of a file or folder name reaches the generated C unescaped. */
START_TEST(test_embed_hostile_names)
{
    orm__mig *m;
    size_t n;
    static const char *const bad[] = {
        "0001_x\", NULL, NULL }; int pwned = 42; static const char *y[] = { \"a.up.sql",
        "0001_a b.up.sql", "0001_a*/x.down.sql", "0001_caf\xc3\xa9.up.sql", "0001_a\nb.up.sql" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (strchr(bad[i], '/'))
            continue; /* not a possible file name */
        put(bad[i], "SELECT 1;");
        ck_assert_orm(orm__mig_read_dir(dir, &m, &n), ORM_EPARSE);
        ck_assert_msg(msg_has("not a migration name"), "%s", orm_error_last()->message);
        char *c = (char *)1;
        ck_assert_orm(orm_migrate_embed(dir, "mig", &c), ORM_EPARSE);
        ck_assert_ptr_null(c);
        teardown();
        setup();
    }
    /* the folder's name goes into a comment: its end and other bytes are defused */
    char sub[4400], lvl1[4096], lvl2[4200];
    snprintf(lvl1, sizeof lvl1, "%s/x*", dir);
    snprintf(lvl2, sizeof lvl2, "%s/ int pwned = 42; ", lvl1);
    snprintf(sub, sizeof sub, "%s/*\n\"", lvl2);
    ck_assert_int_eq(mkdir(lvl1, 0700), 0);
    ck_assert_int_eq(mkdir(lvl2, 0700), 0);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    char file[4500];
    snprintf(file, sizeof file, "%s/0001_ok.up.sql", sub);
    FILE *f = fopen(file, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("SELECT 1;", f);
    fclose(f);
    char *c;
    ck_assert_ok(orm_migrate_embed(sub, "mig", &c));
    unlink(file);
    rmdir(sub);
    rmdir(lvl2);
    rmdir(lvl1);
    const char *end = strstr(c, "*/");
    ck_assert_ptr_nonnull(end);
    ck_assert_msg(strncmp(end, "*/\n#include <stddef.h>", 22) == 0, "%s", c);
    ck_assert_ptr_null(strstr(c, "*/ int pwned"));
    const char *nl = strchr(c, '\n');
    ck_assert_ptr_eq(nl, end + 2); /* the folder's newline did not end the line */
    ck_assert_ptr_nonnull(strstr(c, "{ 1, \"ok\","));
    orm_free_string(c);
}
END_TEST

/* Issue 19 item 12: a FIFO or a device named like a migration is refused at once, never
 * waited on or read for ever; an oversized file is refused. */
START_TEST(test_read_only_regular_files)
{
    orm__mig *m;
    size_t n;
    char p[4096];
    snprintf(p, sizeof p, "%s/0001_fifo.up.sql", dir);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    ck_assert_orm(orm__mig_read_dir(dir, &m, &n), ORM_EIO);
    ck_assert_msg(msg_has("0001_fifo.up.sql: not a regular file"), "%s", orm_error_last()->message);
    unlink(p);
    snprintf(p, sizeof p, "%s/0001_zero.up.sql", dir);
    ck_assert_int_eq(symlink("/dev/zero", p), 0);
    ck_assert_orm(orm__mig_read_dir(dir, &m, &n), ORM_EIO);
    ck_assert_msg(msg_has("0001_zero.up.sql: not a regular file"), "%s", orm_error_last()->message);
    unlink(p);
    snprintf(p, sizeof p, "%s/0001_big.up.sql", dir);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ftruncate(fileno(f), (off_t)ORM_MIGRATION_MAX_BYTES + 1), 0);
    fclose(f);
    ck_assert_orm(orm__mig_read_dir(dir, &m, &n), ORM_EIO);
    ck_assert_msg(msg_has("0001_big.up.sql") && msg_has("bytes"), "%s", orm_error_last()->message);
    unlink(p);
    put("0001_ok.up.sql", "SELECT 1;");
    ck_assert_ok(orm__mig_read_dir(dir, &m, &n));
    ck_assert_uint_eq(n, 1);
    orm__mig_list_free(m, n);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("migrate_source");
    TCase *tc = tcase_create("source");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_read_sorted_with_gaps);
    tcase_add_test(tc, test_duplicate_names_both);
    tcase_add_test(tc, test_up_down_name_mismatch);
    tcase_add_test(tc, test_bad_names);
    tcase_add_test(tc, test_list_duplicates_and_validation);
    tcase_add_test(tc, test_new_numbers_next_pair);
    tcase_add_test(tc, test_new_keeps_wider_numbers);
    tcase_add_test(tc, test_embed);
    tcase_add_test(tc, test_embed_hostile_names);
    tcase_add_test(tc, test_read_only_regular_files);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return orm_test_run(suite());
}
