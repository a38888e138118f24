/* deploy-lock: the key every host derives, and how a holder is described (no server). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "deploy-lock.h"

START_TEST(test_the_key_is_the_first_8_bytes_of_sha256_big_endian)
{
	/* Fixed values: every host (and every version of deployd) must agree on them. */
	ck_assert_int_eq(deploy_lock_key("deployd_schema_migrations"), 1238401320227972113LL);
	ck_assert_int_eq(deploy_lock_key("ops.history"), -3845980100159962044LL);
	ck_assert_int_ne(deploy_lock_key("ops.history"), deploy_lock_key("ops.History"));
}
END_TEST

START_TEST(test_a_holder_is_described_with_what_is_visible)
{
	_cleanup_free_ char *full = NULL, *partial = NULL, *gone = NULL;
	DeployLockHolder h = {
		.pid = 4242,
		.user = "deployer",
		.application_name = "deployd/0123",
		.client_addr = "10.0.0.7",
		.since = "2026-01-02T03:04:05+00",
	};
	DeployLockHolder p = {.pid = 7, .application_name = "deployd/abc"};
	DeployLockHolder none = {};

	ck_assert_int_eq(deploy_lock_holder_describe(&h, &full), 0);
	ck_assert_str_eq(full, "pid 4242 (application deployd/0123, user deployer, client "
			       "10.0.0.7, session since 2026-01-02T03:04:05+00)");
	ck_assert_int_eq(deploy_lock_holder_describe(&p, &partial), 0);
	ck_assert_str_eq(partial, "pid 7 (application deployd/abc, user not visible, client local "
				  "or not visible, session since not visible)");
	ck_assert_int_eq(deploy_lock_holder_describe(&none, &gone), 0);
	ck_assert_ptr_nonnull(strstr(gone, "let go"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deploy-lock");
	TCase *tc = tcase_create("deploy-lock");

	tcase_add_test(tc, test_the_key_is_the_first_8_bytes_of_sha256_big_endian);
	tcase_add_test(tc, test_a_holder_is_described_with_what_is_visible);
	suite_add_tcase(s, tc);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
