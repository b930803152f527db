# migrations/: versioned migrations (folder or compiled in), the statement splitter, the runner.
set(ORM_MIGRATIONS_SOURCES
  migrations/split.c
  migrations/source.c
  migrations/state.c
  migrations/migrate.c
)
