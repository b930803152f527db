/* orm-demo — liborm in one page: a model generated from the schema, then create, insert, query
 * with a where, update and delete on an embedded SQLite file, saying what it does at each step;
 * then the row cache: reads by key answered from memory, a write-back counter, and a service's
 * graceful shutdown (SIGTERM / SIGINT: stop taking work, flush, close).
 *
 *     ./orm-demo demo.db            # runs the "service" for 2 seconds
 *     ./orm-demo demo.db --serve    # runs until SIGTERM or SIGINT (Ctrl-C)
 *
 * Re-runnable: it migrates the file's schema at start (a no-op once done) and empties the table,
 * so an existing file is fine.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction, nanosleep */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Set by SIGTERM / SIGINT: the service loop stops taking work. */
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
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

    /* The row cache, attached before the db's first statement: books are cached by key and
     * written back (saves are kept in memory and written in batches: every 500 ms here, on a
     * query of books, and at close). */
    orm_cache *local;
    check(orm_cache_local_new(&local, NULL), "cache");
    orm_row_cache_options ro = ORM_ROW_CACHE_OPTIONS_INIT;
    ro.flush_interval_ms = 500;
    orm_row_cache *rc;
    check(orm_row_cache_attach(&rc, db, local, &ro), "row cache"); /* takes local */
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_WRITE_BACK;
    mo.ttl_ms = 60000;
    check(orm_row_cache_model(rc, &books_model, &mo), "row cache model");

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
    check(orm_select_count(q, NULL, &left), "count"); /* a query: the saved delete goes first */
    orm_select_free(q);
    printf("%lld books left in %s\n", (long long)left, path);

    /* Cached reads: the first get of a key loads it, the next ones never reach the file. */
    orm_row_cache_stats st;
    for (int i = 0; i < 1000; i++) {
        books b = { 0 };
        check(orm_get(s, NULL, &books_model, &b, &key), "cached get");
        books_clear(&b);
    }
    check(orm_row_cache_stats_get(rc, &books_model, &st), "stats");
    printf("1000 gets of #%lld: %llu from the cache, %llu from the database\n", (long long)shelf[1].id,
           (unsigned long long)st.hits, (unsigned long long)st.loads);

    /* A small service: a counter (the book's year, as a page-view count) bumped by every
     * request and written back in batches, until SIGTERM / SIGINT or two seconds pass. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int serve = argc > 2 && strcmp(argv[2], "--serve") == 0;
    printf("serving: a write-back counter on #%lld (%s)\n", (long long)shelf[0].id,
           serve ? "until SIGTERM or Ctrl-C" : "for 2 seconds; --serve runs until a signal");
    struct timespec t0, now, pause = { 0, 2000000 };
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long requests = 0;
    while (!stopping) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!serve && now.tv_sec - t0.tv_sec >= 2)
            break;
        books b = { 0 };
        orm_value k0 = orm_int(shelf[0].id);
        check(orm_get(s, NULL, &books_model, &b, &k0), "get counter");
        b.year++;
        check(orm_update_one(s, NULL, &books_model, &b), "save counter"); /* into the buffer */
        books_clear(&b);
        requests++;
        nanosleep(&pause, NULL);
    }
    check(orm_row_cache_stats_get(rc, &books_model, &st), "stats");
    printf("%s: stopped taking work after %ld requests; %llu rows waiting, %llu batches written so far\n",
           stopping ? "signal" : "time", requests, (unsigned long long)st.dirty,
           (unsigned long long)st.flushes);

    /* Graceful shutdown: flush what is waiting, then close (which would flush too, and report
     * by key any row it could not write). */
    check(orm_row_cache_flush(rc), "flush");
    books last = { 0 };
    orm_value k0 = orm_int(shelf[0].id);
    check(orm_get(s, NULL, &books_model, &last, &k0), "get");
    printf("flushed; the counter reads %d in %s\n", (int)last.year, path);
    books_clear(&last);
    orm_db_close(db);
    printf("closed cleanly\n");
    return 0;
}
