/* systemd unit names: plain, instance, template, and what systemd refuses. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check-run.h"
#include "unit-name.h"

static void assert_invalid(const char *name, const char *reason_words)
{
	const char *reason = NULL;
	int r = unit_name_classify(name, &reason);

	ck_assert_msg(r == -EINVAL, "'%s' was accepted as kind %d", name, r);
	ck_assert_ptr_nonnull(reason);
	ck_assert_msg(strstr(reason, reason_words), "'%s': reason '%s' lacks '%s'", name, reason,
		      reason_words);
}

START_TEST(test_plain_instance_and_template_names_are_told_apart)
{
	ck_assert_int_eq(unit_name_classify("prosaas-api.service", NULL), UNIT_NAME_PLAIN);
	ck_assert_int_eq(unit_name_classify("getty@tty1.service", NULL), UNIT_NAME_INSTANCE);
	ck_assert_int_eq(unit_name_classify("getty@.service", NULL), UNIT_NAME_TEMPLATE);
	/* Only the first '@' splits; the instance may hold more. */
	ck_assert_int_eq(unit_name_classify("a@b@c.service", NULL), UNIT_NAME_INSTANCE);
	ck_assert_int_eq(unit_name_classify("a@@.service", NULL), UNIT_NAME_INSTANCE);
}
END_TEST

START_TEST(test_every_systemd_unit_type_is_a_valid_suffix)
{
	const char *types[] = {"service", "socket", "target", "timer", "mount",	   "path",
			       "slice",	  "scope",  "device", "swap",  "automount"};
	char name[64];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		snprintf(name, sizeof(name), "x.%s", types[i]);
		ck_assert_msg(unit_name_classify(name, NULL) == UNIT_NAME_PLAIN, "%s", name);
		ck_assert(unit_name_type_is_valid(types[i]));
	}
	ck_assert(!unit_name_type_is_valid("Service"));
	ck_assert(!unit_name_type_is_valid(""));
}
END_TEST

START_TEST(test_escapes_dots_colons_and_dashes_are_allowed)
{
	ck_assert_int_eq(unit_name_classify("dev-disk-by\\x2duuid-1234.device", NULL),
			 UNIT_NAME_PLAIN);
	ck_assert_int_eq(unit_name_classify("a.b:c_d-e.service", NULL), UNIT_NAME_PLAIN);
	ck_assert_int_eq(unit_name_classify("srv-data.mount", NULL), UNIT_NAME_PLAIN);
}
END_TEST

START_TEST(test_names_systemd_refuses_are_invalid_with_a_reason)
{
	assert_invalid("", "empty");
	assert_invalid("api", "no unit type suffix");
	assert_invalid("api.servic", "unknown unit type suffix");
	assert_invalid("api.Service", "unknown unit type suffix");
	assert_invalid("api.service.", "unknown unit type suffix");
	assert_invalid(".service", "no name before the unit type suffix");
	assert_invalid("@foo.service", "no name before '@'");
	assert_invalid("@.service", "no name before '@'");
	assert_invalid("my api.service", "character");
	assert_invalid("a/b.service", "character");
	assert_invalid("caf\xc3\xa9.service", "character");
	assert_invalid("a*.service", "character");
}
END_TEST

START_TEST(test_names_up_to_255_characters_are_valid_and_longer_ones_are_not)
{
	char name[300];

	memset(name, 'a', sizeof(name));
	strcpy(name + 255 - strlen(".service"), ".service");
	ck_assert_uint_eq(strlen(name), 255);
	ck_assert_int_eq(unit_name_classify(name, NULL), UNIT_NAME_PLAIN);

	memset(name, 'a', sizeof(name));
	strcpy(name + 256 - strlen(".service"), ".service");
	assert_invalid(name, "longer than 255");
}
END_TEST

START_TEST(test_is_valid_honours_the_kind_mask)
{
	ck_assert(unit_name_is_valid("a.service", UNIT_NAME_PLAIN));
	ck_assert(!unit_name_is_valid("a.service", UNIT_NAME_INSTANCE | UNIT_NAME_TEMPLATE));
	ck_assert(unit_name_is_valid("a@b.service", UNIT_NAME_PLAIN | UNIT_NAME_INSTANCE));
	ck_assert(!unit_name_is_valid("a@.service", UNIT_NAME_PLAIN | UNIT_NAME_INSTANCE));
	ck_assert(unit_name_is_valid("a@.service", UNIT_NAME_TEMPLATE));
	ck_assert(!unit_name_is_valid("a",
				      UNIT_NAME_PLAIN | UNIT_NAME_INSTANCE | UNIT_NAME_TEMPLATE));
	ck_assert(!unit_name_is_valid(NULL, UNIT_NAME_PLAIN));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("unit-name");
	TCase *tc = tcase_create("unit-name");

	tcase_add_test(tc, test_plain_instance_and_template_names_are_told_apart);
	tcase_add_test(tc, test_every_systemd_unit_type_is_a_valid_suffix);
	tcase_add_test(tc, test_escapes_dots_colons_and_dashes_are_allowed);
	tcase_add_test(tc, test_names_systemd_refuses_are_invalid_with_a_reason);
	tcase_add_test(tc, test_names_up_to_255_characters_are_valid_and_longer_ones_are_not);
	tcase_add_test(tc, test_is_valid_honours_the_kind_mask);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
