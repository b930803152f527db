/* The integration suite's tables, as DDL per backend. */
#ifndef ORM_IT_SCHEMA_H
#define ORM_IT_SCHEMA_H

#include "orm/orm.h"

/* Drop (if they exist) and create every table models.h maps, with the DDL of s's backend
 * (orm_db_backend). Runs through orm_exec_sql, the only place the suite sends raw SQL.
 * ORM_OK, ORM_EUNSUPPORTED for a backend the suite has no DDL for, or the database's error. */
int it_schema_create(orm_session *s);

#endif
