/* orm-demo — liborm in one page: a model generated from the schema, then create, insert, query
 * with a where, update and delete on an embedded SQLite file, saying what it does at each step.
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

/* The model: `ormctl generate` wrote demo_models.h and demo_models.c from examples/migrations
 * at build time (orm_generate() in examples/CMakeLists.txt): the struct
 *
 *     typedef struct books { int64_t id; char *title; char *author; int32_t year;
 *                            double rating; bool has_rating; } books;
 *
 * (rating is nullable: has_rating false is SQL NULL), its descriptor books_model, and
 * demo_models_register_all(). Change a migration and they are regenerated. */
#include "demo_models.h"

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

static void print_book(const books *b)
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

    /* verify_models: registering a model checks it against the live table (ORM_ESCHEMA
     * names any missing or retyped column), so a stale build fails here, not mid-query. */
    orm_db_options opts = ORM_DB_OPTIONS_INIT;
    opts.verify_models = 1;
    orm_db *db;
    check(orm_db_open(&db, dsn, &opts), "open");
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
    check(demo_models_register_all(db), "register"); /* after migrating: the tables exist */
    printf("registered the generated models; the tables match them\n");
    check(orm_exec_sql(s, NULL, "DELETE FROM books"), "empty table"); /* start fresh each run */

    /* Insert: the database assigns each id, and liborm writes it back into the struct. */
    books shelf[] = {
        { 0, "The C Programming Language", "Kernighan, Ritchie", 1978, 4.8, true },
        { 0, "SQLite Internals", "Hipp", 2023, 0, false },
        { 0, "Structure and Interpretation", "Abelson, Sussman", 1985, 4.6, true },
        { 0, "The Art of Unix Programming", "Raymond", 2003, 4.1, true },
    };
    for (size_t i = 0; i < sizeof shelf / sizeof shelf[0]; i++) {
        check(orm_insert_one(s, NULL, &books_model, &shelf[i]), "insert");
        printf("inserted #%lld %s\n", (long long)shelf[i].id, shelf[i].title);
    }

    /* Query with a where: values are bound as parameters, never pasted into the SQL. */
    printf("books before 2000, oldest first:\n");
    orm_select *q = orm_select_new(s, &books_model);
    orm_select_where(q, orm_lt("year", orm_int(2000)));
    orm_select_order_by(q, "year", ORM_ASC);
    orm_list found = ORM_LIST_INIT;
    check(orm_select_all(q, NULL, &found), "select");
    for (size_t i = 0; i < found.count; i++)
        print_book(orm_list_at(&found, i));
    orm_list_clear(&found);
    orm_select_free(q);

    /* Update one struct by its primary key. */
    shelf[1].rating = 4.4;
    shelf[1].has_rating = true;
    check(orm_update_one(s, NULL, &books_model, &shelf[1]), "update");
    printf("rated #%lld %s: %.1f\n", (long long)shelf[1].id, shelf[1].title, shelf[1].rating);

    /* Read it back by key into a fresh struct (liborm allocates its text; clear frees it). */
    books got = { 0 };
    orm_value key = orm_int(shelf[1].id);
    check(orm_get(s, NULL, &books_model, &got, &key), "get");
    printf("read back:\n");
    print_book(&got);
    books_clear(&got);

    /* Delete by key, then count what is left. */
    check(orm_delete_one(s, NULL, &books_model, &shelf[3]), "delete");
    printf("deleted #%lld %s\n", (long long)shelf[3].id, shelf[3].title);

    int64_t left = 0;
    q = orm_select_new(s, &books_model);
    check(orm_select_count(q, NULL, &left), "count");
    orm_select_free(q);
    printf("%lld books left in %s\n", (long long)left, path);

    orm_db_close(db);
    return 0;
}
