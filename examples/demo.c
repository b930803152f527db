/* orm-demo — liborm in one page: a hand-written model, then create, insert, query with a
 * where, update and delete on an embedded SQLite file, saying what it does at each step.
 *
 *     ./orm-demo demo.db
 *
 * Re-runnable: it migrates the file's schema at start (a no-op once done) and empties the table,
 * so an existing file is fine.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "orm/orm.h"

/* The model: a C struct and a descriptor saying how it maps to the "books" table.
 * `ormctl generate` writes these from a schema; here they are written by hand. */
typedef struct book {
    int64_t id;
    char *title;
    char *author;
    int32_t year;
    double rating;
    bool has_rating; /* rating is nullable: has_rating false is SQL NULL */
} book;

static const orm_field book_fields[] = {
    ORM_FIELD(book, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(book, title, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(book, author, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(book, year, ORM_FIELD_INT32, ORM_FIELD_NOT_NULL),
    ORM_FIELD_NULLABLE(book, rating, ORM_FIELD_DOUBLE, 0),
};
static const size_t book_pk[] = { 0 };
static const orm_model book_model = ORM_MODEL(book, "books", book_fields, book_pk);

/* The migrations of examples/migrations (demo_migrations.c, generated at build time). */
extern const orm_migration demo_migrations[];
extern const size_t demo_migrations_count;

/* Stop with liborm's own explanation when a call fails. */
static void check(int rc, const char *what)
{
    if (rc == ORM_OK)
        return;
    fprintf(stderr, "%s failed: %s (%s)\n", what, orm_error_last()->message, orm_strerror(rc));
    exit(1);
}

static void print_book(const book *b)
{
    printf("  #%lld  %-32s %-20s %d", (long long)b->id, b->title, b->author, (int)b->year);
    if (b->has_rating)
        printf("  rated %.1f", b->rating);
    printf("\n");
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "demo.db";
    char dsn[1024];
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);

    orm_db *db;
    check(orm_db_open(&db, dsn, NULL), "open");
    check(orm_db_register(db, &book_model), "register");
    orm_session *s = orm_db_session(db);
    printf("opened %s\n", path);

    /* Migrate the schema at start: examples/migrations, compiled in at build time by
     * `ormctl migrate -m examples/migrations embed demo_migrations`. Already applied
     * migrations are skipped, so this is a no-op on the second run. */
    orm_migrator *mig;
    size_t applied;
    int64_t version;
    check(orm_migrator_open_list(&mig, db, demo_migrations, demo_migrations_count, NULL), "migrations");
    check(orm_migrate_up(mig, NULL, 0, &applied), "migrate");
    check(orm_migrate_version(mig, NULL, &version, NULL), "migration version");
    orm_migrator_free(mig);
    printf("migrated: %zu applied, schema version %lld\n", applied, (long long)version);
    check(orm_exec_sql(s, NULL, "DELETE FROM books"), "empty table"); /* start fresh each run */

    /* Insert: the database assigns each id, and liborm writes it back into the struct. */
    book books[] = {
        { 0, "The C Programming Language", "Kernighan, Ritchie", 1978, 4.8, true },
        { 0, "SQLite Internals", "Hipp", 2023, 0, false },
        { 0, "Structure and Interpretation", "Abelson, Sussman", 1985, 4.6, true },
        { 0, "The Art of Unix Programming", "Raymond", 2003, 4.1, true },
    };
    for (size_t i = 0; i < sizeof books / sizeof books[0]; i++) {
        check(orm_insert_one(s, NULL, &book_model, &books[i]), "insert");
        printf("inserted #%lld %s\n", (long long)books[i].id, books[i].title);
    }

    /* Query with a where: values are bound as parameters, never pasted into the SQL. */
    printf("books before 2000, oldest first:\n");
    orm_select *q = orm_select_new(s, &book_model);
    orm_select_where(q, orm_lt("year", orm_int(2000)));
    orm_select_order_by(q, "year", ORM_ASC);
    orm_list found = ORM_LIST_INIT;
    check(orm_select_all(q, NULL, &found), "select");
    for (size_t i = 0; i < found.count; i++)
        print_book(orm_list_at(&found, i));
    orm_list_clear(&found);
    orm_select_free(q);

    /* Update one struct by its primary key. */
    books[1].rating = 4.4;
    books[1].has_rating = true;
    check(orm_update_one(s, NULL, &book_model, &books[1]), "update");
    printf("rated #%lld %s: %.1f\n", (long long)books[1].id, books[1].title, books[1].rating);

    /* Read it back by key into a fresh struct (liborm allocates its text; clear frees it). */
    book got = { 0 };
    orm_value key = orm_int(books[1].id);
    check(orm_get(s, NULL, &book_model, &got, &key), "get");
    printf("read back:\n");
    print_book(&got);
    orm_model_clear(&book_model, &got);

    /* Delete by key, then count what is left. */
    check(orm_delete_one(s, NULL, &book_model, &books[3]), "delete");
    printf("deleted #%lld %s\n", (long long)books[3].id, books[3].title);

    int64_t left = 0;
    q = orm_select_new(s, &book_model);
    check(orm_select_count(q, NULL, &left), "count");
    orm_select_free(q);
    printf("%lld books left in %s\n", (long long)left, path);

    orm_db_close(db);
    return 0;
}
