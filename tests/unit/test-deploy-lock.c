/* deploy-lock: the key every host derives, and how a holder is described (no server). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check-run.h"
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

START_TEST(test_a_holder_named_with_its_host_is_described_on_that_host)
{
	_cleanup_free_ char *text = NULL, *other = NULL;
	DeployLockHolder h = {.pid = 4242,
			      .application_name = "deployd/0123456789abcdef0123456789abcdef@app1"};
	DeployLockHolder not_ours = {.pid = 9, .application_name = "psql@laptop"};

	ck_assert_int_eq(deploy_lock_holder_describe(&h, &text), 0);
	ck_assert_msg(strncmp(text, "pid 4242 on host app1 (application deployd/", 43) == 0, "%s",
		      text);
	ck_assert_int_eq(deploy_lock_holder_describe(&not_ours, &other), 0);
	ck_assert_ptr_null(strstr(other, "on host"));
}
END_TEST

START_TEST(test_the_lock_session_name_carries_the_host_within_63_bytes)
{
	static const char name[] = "deployd/0123456789abcdef0123456789abcdef"; /* 40 bytes */
	_cleanup_free_ char *plain = NULL, *fqdn = NULL, *cut = NULL, *odd = NULL, *none = NULL;

	ck_assert_int_eq(deploy_lock_application_name(name, "app1.internal", &plain), 0);
	ck_assert_str_eq(plain, "deployd/0123456789abcdef0123456789abcdef@app1.internal");
	/* A name too long for the 22 bytes left keeps its first label... */
	ck_assert_int_eq(
		deploy_lock_application_name(name, "ip-10-0-0-7.eu-west-1.compute.internal", &fqdn),
		0);
	ck_assert_str_eq(fqdn, "deployd/0123456789abcdef0123456789abcdef@ip-10-0-0-7");
	/* ...and a label too long is cut. */
	ck_assert_int_eq(
		deploy_lock_application_name(name, "a-very-long-host-name-indeed-yes", &cut), 0);
	ck_assert_uint_eq(strlen(cut), DEPLOY_LOCK_APPLICATION_MAX);
	ck_assert_str_eq(cut, "deployd/0123456789abcdef0123456789abcdef@a-very-long-host-name-");
	ck_assert_int_eq(deploy_lock_application_name(name, "h\xc3\xa9 st", &odd), 0);
	ck_assert_str_eq(odd, "deployd/0123456789abcdef0123456789abcdef@h___st");
	ck_assert_int_eq(deploy_lock_application_name(name, "", &none), 0);
	ck_assert_str_eq(none, "deployd/0123456789abcdef0123456789abcdef@unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deploy-lock");
	TCase *tc = tcase_create("deploy-lock");

	tcase_add_test(tc, test_the_key_is_the_first_8_bytes_of_sha256_big_endian);
	tcase_add_test(tc, test_a_holder_is_described_with_what_is_visible);
	tcase_add_test(tc, test_a_holder_named_with_its_host_is_described_on_that_host);
	tcase_add_test(tc, test_the_lock_session_name_carries_the_host_within_63_bytes);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
