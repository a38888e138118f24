/* Unit tests of the pure parts of lib/units: the job-result mapping and unit-name validation.
 * Talking to a manager is tested in tests/integration/test-units.c. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check-run.h"
#include "unit-name.h"
#include "units.h"

START_TEST(test_done_and_skipped_job_results_are_success)
{
	ck_assert_int_eq(units_job_result_to_errno("done"), 0);
	ck_assert_int_eq(units_job_result_to_errno("skipped"), 0);
	ck_assert(units_job_result_is_success("done"));
	ck_assert(units_job_result_is_success("skipped"));
}
END_TEST

START_TEST(test_each_failing_job_result_maps_to_the_errno_systemctl_uses)
{
	static const struct {
		const char *result;
		int error;
	} cases[] = {
		{"canceled", -ECANCELED},     {"collected", -ECANCELED}, {"timeout", -ETIME},
		{"dependency", -EIO},	      {"invalid", -ENOEXEC},	 {"assert", -EPROTO},
		{"unsupported", -EOPNOTSUPP}, {"once", -ESTALE},	 {"failed", -EIO},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(units_job_result_to_errno(cases[i].result) == cases[i].error,
			      "job result %s", cases[i].result);
		ck_assert_msg(!units_job_result_is_success(cases[i].result), "job result %s",
			      cases[i].result);
	}
}
END_TEST

START_TEST(test_unknown_empty_or_missing_job_result_is_a_failure)
{
	ck_assert_int_eq(units_job_result_to_errno("exploded"), -EIO);
	ck_assert_int_eq(units_job_result_to_errno(""), -EIO);
	ck_assert_int_eq(units_job_result_to_errno("Done"), -EIO);
	ck_assert_int_eq(units_job_result_to_errno(NULL), -EIO);
	ck_assert(!units_job_result_is_success(NULL));
}
END_TEST

/* The one rule for deployable unit names (unit-name.h), which check and preflight share. */
static bool deployable(const char *name)
{
	return unit_name_check_deployable(name, NULL) == 0;
}

START_TEST(test_plain_and_instance_unit_names_are_valid)
{
	ck_assert(deployable("prosaas-api.service"));
	ck_assert(deployable("worker@2.service"));
	ck_assert(deployable("getty@tty1.service"));
	ck_assert(deployable("a:b_c.d\\x2d.socket"));
	ck_assert(deployable("x@a@b.service"));
	ck_assert(deployable("nightly.timer"));
	ck_assert(deployable("app.target"));
	ck_assert(deployable("srv-data.mount"));
}
END_TEST

START_TEST(test_template_without_instance_is_not_a_valid_unit_name)
{
	ck_assert(!deployable("worker@.service"));
}
END_TEST

START_TEST(test_unit_name_without_prefix_or_known_suffix_is_invalid)
{
	ck_assert(!deployable(NULL));
	ck_assert(!deployable(""));
	ck_assert(!deployable("api"));
	ck_assert(!deployable(".service"));
	ck_assert(!deployable("@x.service"));
	ck_assert(!deployable("api.servic"));
	ck_assert(!deployable("api.service."));
	ck_assert(!deployable("api.SERVICE"));
}
END_TEST

START_TEST(test_unit_name_with_forbidden_characters_is_invalid)
{
	static const char *const names[] = {
		"api/../x.service",   "my api.service", "api;reboot.service",
		"$(id).service",      "api\n.service",	"api\t.service",
		"ap\xc3\xa9.service", "api*.service",	"a'b.service",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_msg(!deployable(names[i]), "name %zu", i);
}
END_TEST

START_TEST(test_unit_name_may_have_255_characters_but_not_256)
{
	char name[300];
	size_t suffix = strlen(".service");

	memset(name, 'a', sizeof(name));
	strcpy(name + 255 - suffix, ".service");
	ck_assert_uint_eq(strlen(name), 255);
	ck_assert(deployable(name));

	memset(name, 'a', sizeof(name));
	strcpy(name + 256 - suffix, ".service");
	ck_assert_uint_eq(strlen(name), 256);
	ck_assert(!deployable(name));
}
END_TEST

START_TEST(test_device_and_scope_units_cannot_be_deployed)
{
	ck_assert(!deployable("dev-sda.device"));
	ck_assert(!deployable("session-1.scope"));
}
END_TEST

static Suite *units_suite(void)
{
	Suite *s = suite_create("units");
	TCase *results = tcase_create("job results");
	TCase *names = tcase_create("unit names");

	tcase_add_test(results, test_done_and_skipped_job_results_are_success);
	tcase_add_test(results, test_each_failing_job_result_maps_to_the_errno_systemctl_uses);
	tcase_add_test(results, test_unknown_empty_or_missing_job_result_is_a_failure);
	suite_add_tcase(s, results);

	tcase_add_test(names, test_plain_and_instance_unit_names_are_valid);
	tcase_add_test(names, test_template_without_instance_is_not_a_valid_unit_name);
	tcase_add_test(names, test_unit_name_without_prefix_or_known_suffix_is_invalid);
	tcase_add_test(names, test_unit_name_with_forbidden_characters_is_invalid);
	tcase_add_test(names, test_unit_name_may_have_255_characters_but_not_256);
	tcase_add_test(names, test_device_and_scope_units_cannot_be_deployed);
	suite_add_tcase(s, names);
	return s;
}

int main(void)
{
	return check_run_suite(units_suite());
}
