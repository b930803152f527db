/* test_integration: every area's suite in one runner, against the backend ORM_TEST_DSN names
 * (see it.h). Exit status 0 only when every test passed. */
#include <stdio.h>
#include <stdlib.h>

#include "it.h"

int main(void)
{
    if (it_config_init() != 0)
        return EXIT_FAILURE;
    SRunner *sr = srunner_create(it_crud_suite());
    srunner_add_suite(sr, it_select_suite());
    srunner_add_suite(sr, it_join_suite());
    srunner_add_suite(sr, it_null_suite());
    srunner_add_suite(sr, it_keys_suite());
    srunner_add_suite(sr, it_injection_suite());
    srunner_add_suite(sr, it_tx_suite());
    srunner_add_suite(sr, it_tx_ctx_suite());
    srunner_add_suite(sr, it_schema_suite());
    srunner_add_suite(sr, it_atomic_suite());
    srunner_add_suite(sr, it_portable_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
