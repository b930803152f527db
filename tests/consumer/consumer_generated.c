/* Downstream check with generated models: the struct and descriptor for `notes` come from
 * schema.sql through the installed ormctl (orm_generate). Exits 0 only on a round trip. */
#include <stdio.h>
#include <string.h>

#include <orm/orm.h>

#include "models.h"

int main(void)
{
    orm_db *db = NULL;
    int rc = orm_db_open(&db, "sqlite::memory:", NULL);
    if (rc == ORM_OK)
        rc = models_register_all(db);
    orm_session *s = rc == ORM_OK ? orm_db_session(db) : NULL;
    if (rc == ORM_OK)
        rc = orm_exec_sql(s, NULL, "CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)");
    notes n = { 0 };
    n.body = "generated";
    if (rc == ORM_OK)
        rc = orm_insert_one(s, NULL, &notes_model, &n);
    notes back = { 0 };
    orm_value key = orm_int(n.id);
    if (rc == ORM_OK)
        rc = orm_get(s, NULL, &notes_model, &back, &key);
    if (rc == ORM_OK && strcmp(back.body, "generated") != 0)
        rc = ORM_ERROR;
    if (rc != ORM_OK)
        fprintf(stderr, "consumer_generated: %s: %s\n", orm_strerror(rc), orm_error_last()->message);
    else
        printf("consumer_generated: ok\n");
    orm_model_clear(&notes_model, &back);
    orm_db_close(db);
    return rc == ORM_OK ? 0 : 1;
}
