/* plan-trust: a plan is opened once and trusted by its descriptor and its real path, the way
 * sshd's StrictModes judges its files.  Runs as root (it changes owners). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-run.h"
#include "cleanup.h"
#include "plan-trust.h"
#include "plan.h"

#define DAEMON_UID 4242
#define STRANGER_UID 5555

static char *root_dir;

static char *path_in(const char *dir, const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

static char *make_dir(const char *name, mode_t mode, uid_t owner)
{
	char *p = path_in(root_dir, name);

	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(chown(p, owner, 0), 0);
	ck_assert_int_eq(chmod(p, mode), 0);
	return p;
}

static char *make_plan(const char *dir, const char *name, mode_t mode, uid_t owner)
{
	char *p = path_in(dir, name);
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	static const char yaml[] = "version: 1\n"
				   "database:\n"
				   "  conninfo: \"dbname=x\"\n"
				   "services:\n"
				   "  units: [app.service]\n"
				   "migrations:\n"
				   "  directory: /srv/m\n";

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, yaml, sizeof(yaml) - 1), (ssize_t)sizeof(yaml) - 1);
	ck_assert_int_eq(fchown(fd, owner, 0), 0);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	return p;
}

static void assert_trusted(const char *path)
{
	_cleanup_free_ char *error = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r = plan_open_trusted(path, DAEMON_UID, &fd, &error);

	ck_assert_msg(r == 0, "%s refused (%d): %s", path, r, error);
	ck_assert_int_ge(fd, 0);
}

static void assert_refused(const char *path, const char *reason)
{
	_cleanup_free_ char *error = NULL, *prefix = NULL;
	int fd = -EBADF;
	int r = plan_open_trusted(path, DAEMON_UID, &fd, &error);

	ck_assert_msg(r == -EPERM, "%s: %d, expected -EPERM", path, r);
	ck_assert_int_lt(fd, 0);
	ck_assert_ptr_nonnull(error);
	ck_assert_int_ge(asprintf(&prefix, "%s: refused: ", path), 0);
	ck_assert_msg(strncmp(error, prefix, strlen(prefix)) == 0, "%s", error);
	ck_assert_msg(strstr(error, reason), "'%s' does not say '%s'", error, reason);
}

static void setup(void)
{
	/* Under /tmp (sticky, others may write): the entry is ours, root's. */
	root_dir = strdup("/tmp/test-plan-trust-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root_dir));
	ck_assert_int_eq(chmod(root_dir, 0755), 0);
}

static void teardown(void)
{
	_cleanup_free_ char *cmd = NULL;

	ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", root_dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(root_dir);
}

START_TEST(test_a_plan_owned_by_root_or_the_daemon_in_safe_directories_is_trusted)
{
	_cleanup_free_ char *dir = make_dir("plans", 0755, 0), *by_root = NULL, *by_daemon = NULL;

	by_root = make_plan(dir, "a.yaml", 0644, 0);
	by_daemon = make_plan(dir, "b.yaml", 0600, DAEMON_UID);
	assert_trusted(by_root);
	assert_trusted(by_daemon);
}
END_TEST

START_TEST(test_a_plan_writable_by_group_or_others_is_refused)
{
	_cleanup_free_ char *dir = make_dir("plans", 0755, 0), *group = NULL, *others = NULL;

	group = make_plan(dir, "g.yaml", 0664, 0);
	others = make_plan(dir, "o.yaml", 0646, 0);
	assert_refused(group, "writable by group or others (mode 0664)");
	assert_refused(others, "writable by group or others (mode 0646)");
}
END_TEST

START_TEST(test_a_plan_owned_by_another_user_is_refused)
{
	_cleanup_free_ char *dir = make_dir("plans", 0755, 0), *plan = NULL;

	plan = make_plan(dir, "a.yaml", 0644, STRANGER_UID);
	assert_refused(plan, "owned by uid 5555, not root or the daemon's uid 4242");
}
END_TEST

START_TEST(test_a_directory_on_the_path_writable_by_others_or_owned_by_another_is_refused)
{
	_cleanup_free_ char *open_dir = make_dir("open", 0777, 0),
			    *group_dir = make_dir("group", 0775, 0),
			    *theirs = make_dir("theirs", 0755, STRANGER_UID), *a = NULL, *b = NULL,
			    *c = NULL, *reason = NULL;

	a = make_plan(open_dir, "a.yaml", 0644, 0);
	b = make_plan(group_dir, "b.yaml", 0644, 0);
	c = make_plan(theirs, "c.yaml", 0644, 0);
	ck_assert_int_ge(asprintf(&reason,
				  "directory %s on its path is writable by group or "
				  "others (mode 0777) and not sticky",
				  open_dir),
			 0);
	assert_refused(a, reason);
	assert_refused(b, "(mode 0775) and not sticky");
	assert_refused(c, "is owned by uid 5555, not root or the daemon's uid 4242");
}
END_TEST

START_TEST(test_a_sticky_directory_is_safe_only_for_entries_of_root_or_the_daemon)
{
	_cleanup_free_ char *sticky = make_dir("sticky", 01777, 0), *mine = NULL, *rooted = NULL,
			    *theirs_dir = NULL, *theirs = NULL, *plan = NULL;

	rooted = make_plan(sticky, "r.yaml", 0644, 0);
	mine = make_plan(sticky, "d.yaml", 0644, DAEMON_UID);
	assert_trusted(rooted);
	assert_trusted(mine);
	/* A directory in it that a stranger owns: they may swap what it holds. */
	theirs_dir = path_in(sticky, "theirs");
	ck_assert_int_eq(mkdir(theirs_dir, 0755), 0);
	ck_assert_int_eq(chown(theirs_dir, STRANGER_UID, 0), 0);
	plan = make_plan(theirs_dir, "p.yaml", 0644, 0);
	assert_refused(plan, "its entry theirs is owned by uid 5555");
}
END_TEST

START_TEST(test_a_symlinked_plan_is_judged_where_it_really_lives)
{
	_cleanup_free_ char *plans = make_dir("plans", 0755, 0), *safe = make_dir("safe", 0755, 0),
			    *open_dir = make_dir("open", 0777, 0), *good = NULL, *bad = NULL,
			    *link_good = NULL, *link_bad = NULL, *reason = NULL;

	good = make_plan(safe, "good.yaml", 0644, 0);
	bad = make_plan(open_dir, "bad.yaml", 0644, 0);
	link_good = path_in(plans, "good.yaml");
	link_bad = path_in(plans, "bad.yaml");
	ck_assert_int_eq(symlink(good, link_good), 0);
	ck_assert_int_eq(symlink(bad, link_bad), 0);
	assert_trusted(link_good);
	ck_assert_int_ge(asprintf(&reason, "directory %s on its path", open_dir), 0);
	assert_refused(link_bad, reason);
}
END_TEST

START_TEST(test_the_descriptor_that_was_judged_is_the_one_parsed)
{
	_cleanup_free_ char *dir = make_dir("plans", 0755, 0), *plan = NULL, *other = NULL,
			    *error = NULL;
	_cleanup_close_ int fd = -EBADF;
	_cleanup_(plan_freep) Plan *p = NULL;

	plan = make_plan(dir, "a.yaml", 0644, 0);
	ck_assert_int_eq(plan_open_trusted(plan, DAEMON_UID, &fd, &error), 0);
	/* The path now names something else: what is parsed is still what was judged. */
	other = path_in(dir, "other");
	ck_assert_int_eq(symlink("/nonexistent", other), 0);
	ck_assert_int_eq(rename(other, plan), 0);
	ck_assert_msg(plan_load_fd(fd, plan, &p, &error) == 0, "%s", error);
	ck_assert_str_eq(p->services.units[0], "app.service");
}
END_TEST

START_TEST(test_a_missing_plan_is_enoent_and_a_directory_is_no_plan)
{
	_cleanup_free_ char *dir = make_dir("plans", 0755, 0), *missing = path_in(dir, "x.yaml"),
			    *error = NULL;
	int fd = -EBADF;

	ck_assert_int_eq(plan_open_trusted(missing, DAEMON_UID, &fd, &error), -ENOENT);
	assert_refused(dir, "not a regular file");
}
END_TEST

static Suite *plan_trust_suite(void)
{
	Suite *s = suite_create("plan-trust");
	TCase *tc = tcase_create("trust");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_a_plan_owned_by_root_or_the_daemon_in_safe_directories_is_trusted);
	tcase_add_test(tc, test_a_plan_writable_by_group_or_others_is_refused);
	tcase_add_test(tc, test_a_plan_owned_by_another_user_is_refused);
	tcase_add_test(
		tc, test_a_directory_on_the_path_writable_by_others_or_owned_by_another_is_refused);
	tcase_add_test(tc, test_a_sticky_directory_is_safe_only_for_entries_of_root_or_the_daemon);
	tcase_add_test(tc, test_a_symlinked_plan_is_judged_where_it_really_lives);
	tcase_add_test(tc, test_the_descriptor_that_was_judged_is_the_one_parsed);
	tcase_add_test(tc, test_a_missing_plan_is_enoent_and_a_directory_is_no_plan);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(plan_trust_suite());
}
