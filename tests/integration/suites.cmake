# integration suites
# test_integration: one executable, written once against the public API; the backend comes
# from ORM_TEST_DSN ("sqlite": a fresh temporary file per test; "env:VAR": the DSN in $VAR,
# failing the run when unset or unreachable; anything else: a DSN used as is). A backend gets
# its own ctest entry that sets ORM_TEST_DSN, e.g. integration_sqlite below.
add_executable(test_integration
  integration/main.c
  integration/fixture.c
  integration/models.c
  integration/schema.c
  integration/test_crud.c
  integration/test_select.c
  integration/test_join.c
  integration/test_null.c
  integration/test_keys.c
  integration/test_injection.c
  integration/test_tx.c
  integration/test_tx_ctx.c
  integration/test_schema_it.c
  integration/test_atomic.c
  integration/test_portable.c)
target_link_libraries(test_integration PRIVATE orm_testutil orm_sqlite3 Threads::Threads m)
if(ORM_WITH_POSTGRES)
  target_link_libraries(test_integration PRIVATE PostgreSQL::PostgreSQL)
endif()
orm_target_flags(test_integration)
add_test(NAME integration_sqlite COMMAND test_integration)
set_tests_properties(integration_sqlite PROPERTIES
  ENVIRONMENT "ORM_TEST_DSN=sqlite;CK_DEFAULT_TIMEOUT=60" TIMEOUT 300)
# The same suite through the recording driver (tests/driver_record): a plug-in built against
# orm/sys/driver.h alone, over SQLite and over PostgreSQL; only the DSN differs.
add_test(NAME integration_record COMMAND test_integration)
set_tests_properties(integration_record PROPERTIES
  ENVIRONMENT "ORM_TEST_DSN=record+sqlite;CK_DEFAULT_TIMEOUT=60" TIMEOUT 300)
if(ORM_WITH_POSTGRES)
  add_test(NAME integration_record_postgres COMMAND test_integration)
  set_tests_properties(integration_record_postgres PROPERTIES
    ENVIRONMENT "ORM_TEST_DSN=record+env:ORM_TEST_PG_DSN;CK_DEFAULT_TIMEOUT=60" TIMEOUT 300
    RESOURCE_LOCK orm_pg_db)
endif()
if(ORM_WITH_POSTGRES)
  add_test(NAME integration_postgres COMMAND test_integration)
  set_tests_properties(integration_postgres PROPERTIES
    ENVIRONMENT "ORM_TEST_DSN=env:ORM_TEST_PG_DSN;CK_DEFAULT_TIMEOUT=60" TIMEOUT 300)
endif()
# Middleware and raw SQL suites: the same fixture and backends, their own executables.
# Every PostgreSQL suite recreates the same tables: they take the orm_pg_db lock in turn.
# Each also runs through the recording driver over SQLite (…_record), except those in
# ORM_IT_NO_RECORD (none now: the recorder wraps the change feed too, so the coherence suite
# runs through it as well).
set(ORM_IT_NO_RECORD)
function(orm_it_suite name)
  add_executable(${name} ${ARGN} integration/fixture.c integration/models.c integration/schema.c)
  target_link_libraries(${name} PRIVATE orm_testutil orm_sqlite3 Threads::Threads m)
  if(ORM_WITH_POSTGRES)
    target_link_libraries(${name} PRIVATE PostgreSQL::PostgreSQL)
  endif()
  orm_target_flags(${name})
  add_test(NAME ${name}_sqlite COMMAND ${name})
  set_tests_properties(${name}_sqlite PROPERTIES
    ENVIRONMENT "ORM_TEST_DSN=sqlite;CK_DEFAULT_TIMEOUT=60" TIMEOUT 300)
  if(NOT name IN_LIST ORM_IT_NO_RECORD)
    add_test(NAME ${name}_record COMMAND ${name})
    set_tests_properties(${name}_record PROPERTIES
      ENVIRONMENT "ORM_TEST_DSN=record+sqlite;CK_DEFAULT_TIMEOUT=60" TIMEOUT 300)
  endif()
  if(ORM_WITH_POSTGRES)
    add_test(NAME ${name}_postgres COMMAND ${name})
    set_tests_properties(${name}_postgres PROPERTIES
      ENVIRONMENT "ORM_TEST_DSN=env:ORM_TEST_PG_DSN;CK_DEFAULT_TIMEOUT=60" TIMEOUT 300
      RESOURCE_LOCK orm_pg_db)
  endif()
endfunction()
orm_it_suite(test_integration_raw integration/test_raw_it.c)
orm_it_suite(test_integration_mw integration/test_middleware_it.c)
orm_it_suite(test_integration_migrate integration/test_migrate_it.c)
orm_it_suite(test_integration_row_cache integration/test_row_cache_it.c)
# Fixed-capacity text fields (char name[N]) on every read and write path.
orm_it_suite(test_integration_fixed_text integration/test_fixed_text_it.c)
# Cross-process coherence: forks a writer; the listener and poller are threads (tsan label).
# Also through the recording driver over PostgreSQL (…_record_postgres): the feed's triggers
# and LISTEN connection reached through a plug-in's orm_driver_feed.
orm_it_suite(test_integration_coherence integration/test_coherence_it.c)
set_tests_properties(test_integration_coherence_sqlite test_integration_coherence_record
                     PROPERTIES LABELS "tsan")
if(ORM_WITH_POSTGRES)
  add_test(NAME test_integration_coherence_record_postgres COMMAND test_integration_coherence)
  set_tests_properties(test_integration_coherence_record_postgres PROPERTIES
    ENVIRONMENT "ORM_TEST_DSN=record+env:ORM_TEST_PG_DSN;CK_DEFAULT_TIMEOUT=60" TIMEOUT 300
    RESOURCE_LOCK orm_pg_db)
  set_tests_properties(test_integration_coherence_postgres test_integration_coherence_record_postgres
                       PROPERTIES LABELS "tsan")
endif()
# The row cache's randomized coherence test (threads: tsan label).
orm_it_suite(test_integration_row_cache_race integration/test_row_cache_race_it.c)
if(ORM_WITH_REDIS) # its random test also runs over Redis and two levels
  target_compile_definitions(test_integration_row_cache_race PRIVATE ORM_WITH_REDIS=1)
  target_link_libraries(test_integration_row_cache_race PRIVATE orm_hiredis)
endif()
set_tests_properties(test_integration_row_cache_race_sqlite test_integration_row_cache_race_record
                     PROPERTIES LABELS "tsan")
if(ORM_WITH_POSTGRES)
  set_tests_properties(test_integration_row_cache_race_postgres PROPERTIES LABELS "tsan")
endif()
if(ORM_WITH_POSTGRES)
  set_tests_properties(integration_postgres PROPERTIES RESOURCE_LOCK orm_pg_db)
endif()
# The db's connection pool through the public API (8 threads x 2,000 queries: tsan label).
orm_it_suite(test_integration_pool integration/test_pool_it.c)
set_tests_properties(test_integration_pool_sqlite test_integration_pool_record PROPERTIES LABELS "tsan")
if(ORM_WITH_POSTGRES)
  set_tests_properties(test_integration_pool_postgres PROPERTIES LABELS "tsan")
endif()
# The row cache over Redis and over two levels (ORM_TEST_REDIS_URL: scripts/with-redis.sh).
if(ORM_WITH_REDIS)
  orm_it_suite(test_integration_row_cache_redis integration/test_row_cache_redis_it.c)
  target_link_libraries(test_integration_row_cache_redis PRIVATE orm_hiredis)
  # its race cases run threads over Redis and two levels: under TSan on every backend
  set_tests_properties(test_integration_row_cache_redis_sqlite test_integration_row_cache_redis_record
                       PROPERTIES LABELS "tsan")
  if(ORM_WITH_POSTGRES)
    set_tests_properties(test_integration_row_cache_redis_postgres PROPERTIES LABELS "tsan")
  endif()
endif()
