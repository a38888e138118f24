/* name-rules: each kind of name is judged by one rule, and the paths that take it from a user
 * (`deployctl check`, i.e. the plan parser, and the preflight or the program that uses it)
 * agree on every case.  Unit names are run through both in tests/integration/test-units.c,
 * because the preflight's side needs a manager. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "check-run.h"
#include "deploy.h"
#include "migrations.h"
#include "name-rules.h"
#include "pg.h"
#include "plan.h"

/* Whether `deployctl check` (the plan parser) accepts a plan with this database section and
 * migrations table (NULL: none). */
static bool check_accepts(const char *database, const char *table)
{
	_cleanup_(plan_freep) Plan *p = NULL;
	_cleanup_free_ char *yaml = NULL, *error = NULL;

	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\ndatabase: {%s}\nservices: {units: [a.service]}\n"
				  "migrations:\n  directory: /m\n%s%s%s",
				  database, table ? "  table: \"" : "", table ?: "",
				  table ? "\"\n" : ""),
			 0);
	return plan_parse("t.yaml", yaml, strlen(yaml), &p, &error) == 0;
}

START_TEST(test_credential_names_are_judged_alike_by_check_and_the_preflight)
{
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
		{"prosaas-db", true}, {"a.b", true}, {"..x", true},  {"", false},
		{".", false},	      {"..", false}, {"a/b", false}, {"/etc/x", false},
	};
	char long_name[NAME_MAX + 2];

	/* The preflight resolves the name in $CREDENTIALS_DIRECTORY: a valid name that is not
	 * there is "not found", an invalid one is refused before. */
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", "/nonexistent-credentials", 1), 0);
	for (size_t i = 0; i <= ELEMENTSOF(cases); i++) {
		const char *name = i < ELEMENTSOF(cases) ? cases[i].name : long_name;
		bool valid = i < ELEMENTSOF(cases) ? cases[i].valid : false;
		_cleanup_free_ char *database = NULL, *conninfo = NULL, *error = NULL;

		if (i == ELEMENTSOF(cases)) {
			memset(long_name, 'c', NAME_MAX + 1);
			long_name[NAME_MAX + 1] = '\0';
		}
		ck_assert_int_ge(asprintf(&database, "credential: \"%s\"", name), 0);
		ck_assert_msg(check_accepts(database, NULL) == valid, "check of '%s'", name);
		int r = pg_conninfo_resolve(PG_CONNINFO_CREDENTIAL, name, &conninfo, &error);
		ck_assert_msg(valid ? r != -EINVAL : r == -EINVAL, "preflight of '%s': %d %s", name,
			      r, error);
		ck_assert_int_eq(credential_name_is_valid(name), valid);
	}
}
END_TEST

START_TEST(test_table_names_are_judged_alike_by_check_and_the_migrations)
{
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
		{"history", true},
		{"deployd.schema_migrations", true},
		{"_a9", true},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"9a", false},
		{"a.b.c", false},
		{".a", false},
		{"a.", false},
		{"a-b", false},
		{"a\\\"b", false},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *quoted = NULL;
		ck_assert_msg(check_accepts("conninfo: \"dbname=x\"", cases[i].name) ==
				      cases[i].valid,
			      "check of '%s'", cases[i].name);
		ck_assert_msg((migrations_quote_table(cases[i].name, &quoted) == 0) ==
				      cases[i].valid,
			      "migrations of '%s'", cases[i].name);
	}
}
END_TEST

/* The exit code of `build/deployctl log ID` (2: refused as no deploy id). */
static int deployctl_log(const char *id)
{
	_cleanup_free_ char *cmd = NULL;

	ck_assert_int_ge(asprintf(&cmd, "build/deployctl log '%s' >/dev/null 2>&1", id), 0);
	int status = system(cmd);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(test_deploy_ids_the_pipeline_makes_pass_the_rule_deployctl_log_applies)
{
	static const struct {
		const char *id;
		bool valid;
	} cases[] = {
		{"0123456789abcdef0123456789abcdef", true},
		{"0123456789ABCDEF0123456789abcdef", false},
		{"0123456789abcdef0123456789abcde", false},
		{"0123456789abcdef0123456789abcdef0", false},
		{"0123456789abcdef0123456789abcdeg", false},
		{"", false},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		ck_assert_int_eq(deploy_id_is_valid(cases[i].id), cases[i].valid);
		/* Refused as a usage error (2) or looked up (a valid id not in the journal: 1). */
		ck_assert_msg((deployctl_log(cases[i].id) != 2) == cases[i].valid,
			      "deployctl log '%s'", cases[i].id);
	}
	ck_assert(!deploy_id_is_valid(NULL));
	for (int i = 0; i < 100; i++) {
		char id[DEPLOY_ID_LENGTH + 1];
		ck_assert_int_eq(deploy_id_new(id), 0);
		ck_assert_msg(deploy_id_is_valid(id), "%s", id);
	}
}
END_TEST

/* What a plan may be called: the daemon refuses any other name, so that a name never reaches
 * outside the plan directory. */
START_TEST(test_plan_names_are_portable_file_names_without_a_leading_dot)
{
	char long_name[PLAN_NAME_MAX + 2];

	ck_assert(plan_name_is_valid("prosaas"));
	ck_assert(plan_name_is_valid("prosaas-staging_2.eu"));
	ck_assert(!plan_name_is_valid(""));
	ck_assert(!plan_name_is_valid(".hidden"));
	ck_assert(!plan_name_is_valid("a/b"));
	ck_assert(!plan_name_is_valid(".."));
	ck_assert(!plan_name_is_valid("a b"));
	ck_assert(!plan_name_is_valid("caf\xc3\xa9"));
	memset(long_name, 'a', PLAN_NAME_MAX);
	long_name[PLAN_NAME_MAX] = '\0';
	ck_assert(plan_name_is_valid(long_name));
	long_name[PLAN_NAME_MAX] = 'a';
	long_name[PLAN_NAME_MAX + 1] = '\0';
	ck_assert(!plan_name_is_valid(long_name));
}
END_TEST

START_TEST(test_enum_names_are_read_back_from_the_one_table)
{
	ck_assert_int_eq(plan_bus_from_string(plan_bus_to_string(UNITS_BUS_USER)), UNITS_BUS_USER);
	ck_assert_int_eq(plan_bus_from_string(plan_bus_to_string(UNITS_BUS_SYSTEM)),
			 UNITS_BUS_SYSTEM);
	ck_assert_int_eq(
		plan_on_failure_from_string(plan_on_failure_to_string(PLAN_ON_FAILURE_START)),
		PLAN_ON_FAILURE_START);
	ck_assert_int_eq(plan_on_failure_from_string(
				 plan_on_failure_to_string(PLAN_ON_FAILURE_LEAVE_STOPPED)),
			 PLAN_ON_FAILURE_LEAVE_STOPPED);
	ck_assert_int_eq(plan_bus_from_string("session"), -EINVAL);
	ck_assert_int_eq(plan_on_failure_from_string(NULL), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("name-rules");
	TCase *tc = tcase_create("one rule");

	tcase_add_test(tc, test_credential_names_are_judged_alike_by_check_and_the_preflight);
	tcase_add_test(tc, test_table_names_are_judged_alike_by_check_and_the_migrations);
	tcase_add_test(tc, test_deploy_ids_the_pipeline_makes_pass_the_rule_deployctl_log_applies);
	tcase_add_test(tc, test_plan_names_are_portable_file_names_without_a_leading_dot);
	tcase_add_test(tc, test_enum_names_are_read_back_from_the_one_table);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
