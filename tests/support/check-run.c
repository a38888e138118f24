/* Running a suite for its program's exit status (check-run.h). */
#include <stdlib.h>

#include "check-run.h"

static int run(Suite *s, enum fork_status fork)
{
	SRunner *sr = srunner_create(s);

	srunner_set_fork_status(sr, fork);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int check_run_suite(Suite *s)
{
	return run(s, CK_FORK_GETENV);
}

int check_run_suite_unforked(Suite *s)
{
	return run(s, CK_NOFORK);
}
