/* Round trip through liborm with generated models: create the tables of roundtrip.sql,
 * register the generated descriptors, and insert, get, update and delete rows holding
 * every field type, NULLs included, fixed-capacity text (@orm:type=char[N]) too, on the
 * backend named by argv[1] ("sqlite" for a temporary file, or the name of an environment
 * variable holding a DSN). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orm/orm.h"
#include "roundtrip_models.h"

#ifndef ROUNDTRIP_SQL
#error "ROUNDTRIP_SQL must name tests/codegen/roundtrip.sql"
#endif

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, \
                    #cond, orm_error_last()->message);                                    \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Runs each ';'-terminated statement (the fixture has no ';' inside literals). */
static int run_script(orm_session *s, char *sql)
{
    for (char *stmt = strtok(sql, ";"); stmt; stmt = strtok(NULL, ";")) {
        char *p = stmt;
        while (*p == ' ' || *p == '\n')
            p++;
        while (strncmp(p, "--", 2) == 0) { /* comment lines */
            p = strchr(p, '\n');
            if (!p)
                break;
            while (*p == ' ' || *p == '\n')
                p++;
        }
        if (!p || !*p)
            continue;
        int rc = orm_exec_sql(s, NULL, p);
        if (rc != ORM_OK)
            return rc;
    }
    return ORM_OK;
}

static char *sdup(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    return d ? strcpy(d, s) : NULL;
}

static int roundtrip(orm_db *db)
{
    orm_session *s = orm_db_session(db);
    char *script = slurp(ROUNDTRIP_SQL);
    CHECK(script != NULL);
    CHECK(run_script(s, script) == ORM_OK);
    CHECK(roundtrip_models_register_all(db) == ORM_OK);
    /* generated descriptors carry their DDL's fingerprint and match the tables that DDL made */
    for (size_t i = 0; i < ROUNDTRIP_MODELS_NMODELS; i++) {
        CHECK(roundtrip_models_all[i]->fingerprint && strlen(roundtrip_models_all[i]->fingerprint) == 16);
        CHECK(orm_db_verify(db, NULL, roundtrip_models_all[i]) == ORM_OK);
    }
    /* the table without a key: registered, inserts and queries; by-key calls refuse it */
    CHECK(orm_db_is_registered(db, &rt_log_model) && orm_db_is_registered(db, &rt_tag_model));
    rt_log lg = { 1, (char *)"started" };
    CHECK(orm_insert_one(s, NULL, &rt_log_model, &lg) == ORM_OK);
    CHECK(orm_insert_one(s, NULL, &rt_log_model, &lg) == ORM_OK);
    orm_select *lq = orm_select_new(s, &rt_log_model);
    orm_select_where(lq, orm_eq("line", orm_text("started")));
    int64_t nlog = 0;
    CHECK(orm_select_count(lq, NULL, &nlog) == ORM_OK && nlog == 2);
    orm_select_free(lq);
    rt_log lgot;
    memset(&lgot, 0, sizeof lgot);
    CHECK(orm_get(s, NULL, &rt_log_model, &lgot, (orm_value[]){ orm_int(1) }) == ORM_EINVAL);
    CHECK(strstr(orm_error_last()->message, "no primary key") != NULL);
    CHECK(orm_delete_one(s, NULL, &rt_log_model, &lg) == ORM_EINVAL);

    rt_note n;
    memset(&n, 0, sizeof n);
    n.id = 1;
    n.small = -7;
    n.medium = 123456;
    n.has_medium = true;
    n.ratio = 0.25;
    n.has_ratio = true;
    n.done = true;
    n.title = sdup("first");
    n.body = sdup("body text");
    n.data.data = sdup("\x01\x02\x03");
    n.data.len = 3;
    n.due = INT64_C(1767225600000000); /* 2026-01-01 00:00:00 UTC */
    n.has_due = true;
    CHECK(sizeof n.code == 8 && sizeof n.city == 12); /* char code[8], char city[12] */
    strcpy(n.code, "ABCDEFG");                        /* capacity - 1 bytes */
    strcpy(n.city, "Montr\xc3\xa9" "al");              /* 10 bytes of UTF-8 */
    n.has_city = true;
    CHECK(orm_insert_one(s, NULL, &rt_note_model, &n) == ORM_OK);

    rt_note all_null;
    memset(&all_null, 0, sizeof all_null);
    all_null.id = 2;
    all_null.title = sdup("second");
    CHECK(orm_insert_one(s, NULL, &rt_note_model, &all_null) == ORM_OK);

    rt_note got;
    memset(&got, 0, sizeof got);
    orm_value key = orm_int(1);
    CHECK(orm_get(s, NULL, &rt_note_model, &got, &key) == ORM_OK);
    CHECK(got.id == 1 && got.small == -7 && got.has_medium && got.medium == 123456);
    CHECK(got.has_ratio && got.ratio == 0.25 && got.done);
    CHECK(strcmp(got.title, "first") == 0 && strcmp(got.body, "body text") == 0);
    CHECK(got.data.len == 3 && memcmp(got.data.data, "\x01\x02\x03", 3) == 0);
    CHECK(got.has_due && got.due == n.due);
    CHECK(strcmp(got.code, "ABCDEFG") == 0 && got.has_city && strcmp(got.city, n.city) == 0);
    rt_note_clear(&got);

    key = orm_int(2);
    CHECK(orm_get(s, NULL, &rt_note_model, &got, &key) == ORM_OK);
    CHECK(!got.has_medium && !got.has_ratio && !got.has_due && !got.done);
    CHECK(got.body == NULL && got.data.data == NULL && strcmp(got.title, "second") == 0);
    CHECK(!got.has_city && got.code[0] == '\0');
    rt_note_clear(&got);

    /* a code longer than the generated char[8] holds: refused when written, ORM_ERANGE when
     * read, never cut */
    orm_update *uq = orm_update_new(s, &rt_note_model);
    CHECK(orm_update_set(uq, orm_model_field_name(&rt_note_model, RT_NOTE_FIELD_CODE), orm_text("12345678")) ==
          ORM_ERANGE);
    orm_update_free(uq);
    CHECK(orm_raw_exec(s, NULL, "UPDATE cg_rt_notes SET code = ? WHERE id = 2", (orm_value[]){ orm_text("12345678") },
                       1, NULL) == ORM_OK);
    CHECK(orm_get(s, NULL, &rt_note_model, &got, &key) == ORM_ERANGE);
    CHECK(strstr(orm_error_last()->message, "cg_rt_notes.code: a text of 8 bytes") != NULL);
    CHECK(orm_raw_exec(s, NULL, "UPDATE cg_rt_notes SET code = 'x' WHERE id = 2", NULL, 0, NULL) == ORM_OK);

    /* update through a copy, composite keys, delete */
    rt_note upd;
    CHECK(rt_note_copy(&upd, &n) == ORM_OK);
    free(upd.title);
    upd.title = sdup("renamed");
    upd.has_medium = false;
    strcpy(upd.code, "Z");
    CHECK(orm_update_one(s, NULL, &rt_note_model, &upd) == ORM_OK);
    key = orm_int(1);
    CHECK(orm_get(s, NULL, &rt_note_model, &got, &key) == ORM_OK);
    CHECK(strcmp(got.title, "renamed") == 0 && !got.has_medium && strcmp(got.code, "Z") == 0);
    rt_note_clear(&got);
    rt_note_clear(&upd);

    rt_tag t;
    memset(&t, 0, sizeof t);
    t.note_id = 1;
    t.tag = sdup("red");
    t.weight = 0.5;
    t.has_weight = true;
    CHECK(orm_insert_one(s, NULL, &rt_tag_model, &t) == ORM_OK);
    rt_tag tg;
    memset(&tg, 0, sizeof tg);
    orm_value tkey[2] = { orm_int(1), orm_text("red") };
    CHECK(orm_get(s, NULL, &rt_tag_model, &tg, tkey) == ORM_OK);
    CHECK(tg.has_weight && tg.weight == 0.5 && strcmp(tg.tag, "red") == 0);
    CHECK(orm_delete_one(s, NULL, &rt_tag_model, &tg) == ORM_OK);
    CHECK(orm_get(s, NULL, &rt_tag_model, &tg, tkey) == ORM_ENOTFOUND);
    rt_tag_clear(&tg);
    rt_tag_clear(&t);

    CHECK(orm_delete_one(s, NULL, &rt_note_model, &n) == ORM_OK);
    CHECK(orm_delete_one(s, NULL, &rt_note_model, &all_null) == ORM_OK);
    rt_note_clear(&n);
    rt_note_clear(&all_null);
    CHECK(orm_exec_sql(s, NULL, "DROP TABLE cg_rt_tags") == ORM_OK);
    CHECK(orm_exec_sql(s, NULL, "DROP TABLE cg_rt_notes") == ORM_OK);
    return 0;
}

int main(int argc, char **argv)
{
    const char *backend = argc > 1 ? argv[1] : "sqlite";
    char dsn[512], path[256] = "";
    if (strcmp(backend, "sqlite") == 0) {
        snprintf(path, sizeof path, "/tmp/orm-codegen-rt-%ld.db", (long)getpid());
        snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    } else {
        const char *v = getenv(backend);
        if (!v || !*v) {
            fprintf(stderr, "roundtrip: %s is not set (no database to run on)\n", backend);
            return 1;
        }
        snprintf(dsn, sizeof dsn, "%s", v);
    }
    orm_db *db = NULL;
    if (orm_db_open(&db, dsn, NULL) != ORM_OK) {
        fprintf(stderr, "roundtrip: open %s: %s\n", backend, orm_error_last()->message);
        return 1;
    }
    int rc = roundtrip(db);
    orm_db_close(db);
    if (*path)
        unlink(path);
    if (rc == 0)
        printf("codegen roundtrip on %s: ok\n", backend);
    return rc;
}
