/* A downstream backend: the recording driver (tests/driver_record), compiled here against the
 * installed headers and the shared library only, registered, and used through a DSN. Proves
 * that orm/sys/driver.h is installed and its calls are exported. Exit 0 on success. */
#include <stdio.h>
#include <string.h>

#include "orm/orm.h"
#include "record.h"

int main(void)
{
    orm_db *db = NULL;
    if (orm_record_register("sqlite") != ORM_OK ||
        orm_db_open(&db, "record+sqlite::memory:", NULL) != ORM_OK) {
        fprintf(stderr, "consumer_driver: %s\n", orm_error_last()->message);
        return 1;
    }
    orm_session *s = orm_db_session(db);
    int rc = orm_exec_sql(s, NULL, "CREATE TABLE t (x INTEGER)");
    orm_value v = orm_int(7);
    if (rc == ORM_OK)
        rc = orm_raw_exec(s, NULL, "INSERT INTO t (x) VALUES (?)", &v, 1, NULL);
    int ok = rc == ORM_OK && strcmp(orm_db_backend(db), "record+sqlite") == 0 &&
             orm_record_count(ORM_RECORD_EXEC) >= 1 && orm_record_count(ORM_RECORD_OPEN) == 1;
    orm_db_close(db);
    if (!ok) {
        fprintf(stderr, "consumer_driver: failed (%s)\n", orm_error_last()->message);
        return 1;
    }
    puts("consumer_driver: a third driver, built downstream, ran through liborm");
    return 0;
}
