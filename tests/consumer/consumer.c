/* Downstream check: open an in-memory database through an installed liborm, create a table,
 * insert a row and read it back. Exits 0 only when the row round-trips. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <orm/orm.h>

typedef struct note {
    int64_t id;
    char *body;
} note;

static const orm_field note_fields[] = {
    ORM_FIELD(note, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(note, body, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
};
static const size_t note_pk[] = { 0 };
static const orm_model note_model = ORM_MODEL(note, "notes", note_fields, note_pk);

int main(void)
{
    orm_db *db = NULL;
    int rc = orm_db_open(&db, "sqlite::memory:", NULL);
    if (rc == ORM_OK)
        rc = orm_db_register(db, &note_model);
    orm_session *s = rc == ORM_OK ? orm_db_session(db) : NULL;
    if (rc == ORM_OK)
        rc = orm_exec_sql(s, NULL, "CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)");
    note n = { 0, "installed" };
    if (rc == ORM_OK)
        rc = orm_insert_one(s, NULL, &note_model, &n);
    note back = { 0, NULL };
    orm_value key = orm_int(n.id);
    if (rc == ORM_OK)
        rc = orm_get(s, NULL, &note_model, &back, &key);
    if (rc == ORM_OK && (back.id != 1 || strcmp(back.body, "installed") != 0))
        rc = ORM_ERROR;
    if (rc != ORM_OK)
        fprintf(stderr, "consumer: %s: %s\n", orm_strerror(rc), orm_error_last()->message);
    else
        printf("consumer: ok (liborm %s)\n", ORM_VERSION);
    orm_model_clear(&note_model, &back);
    orm_db_close(db);
    return rc == ORM_OK ? 0 : 1;
}
