# orm/: errors, values, models, db handle, registry, sessions, mapping, the SQLite driver.
set(ORM_CORE_SOURCES
  orm/error.c
  orm/alloc.c
  orm/value.c
  orm/model.c
  orm/db.c
  orm/session.c
  orm/rows.c
  orm/mapper.c
  orm/stmt_cache.c
  orm/driver_sqlite.c
)
set(ORM_POSTGRES_SOURCES
  orm/driver_postgres.c
  orm/pg_codec.c
  orm/pg_error.c
)
