# builder/: expressions, select/insert/update/delete, dialects.
set(ORM_BUILDER_SOURCES
  builder/sql_buf.c
  builder/common.c
  builder/dialect.c
  builder/expr.c
  builder/render.c
  builder/typecheck.c
  builder/iter.c
  builder/select.c
  builder/insert.c
  builder/update.c
  builder/delete.c
  builder/crud.c
  builder/get_many.c
)
