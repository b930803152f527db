# unit suites: orm_unit_suite(test_<module> unit/test_<module>.c)
