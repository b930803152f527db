# unit suites: orm_unit_suite(test_<module> unit/test_<module>.c)
if(ORM_WITH_POSTGRES)
  orm_unit_suite(test_pg_driver unit/test_pg_driver.c)
endif()
