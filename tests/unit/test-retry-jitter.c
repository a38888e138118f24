/* The jitter of lock-timeout retries comes from the kernel: workers forked from one daemon
 * (which share its memory, a PRNG's state included) draw different delays. */
#include <check.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check-run.h"
#include "deploy-migrate.h"
#include "random-util.h"

/* What a worker forked now would wait before its first retry. */
static usec_t delay_in_a_forked_worker(const PlanMigrations *pm)
{
	int p[2];
	usec_t delay = 0;
	int status;

	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		usec_t d = deploy_migrate_retry_delay(pm, 1);
		_exit(write(p[1], &d, sizeof(d)) == sizeof(d) ? 0 : 1);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &delay, sizeof(delay)), (ssize_t)sizeof(delay));
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	return delay;
}

START_TEST(test_two_workers_draw_different_delays)
{
	PlanMigrations pm = {.lock_retry_delay = 10 * USEC_PER_SEC};
	usec_t a = delay_in_a_forked_worker(&pm), b = delay_in_a_forked_worker(&pm);

	/* Up to a tenth of jitter: 1 000 001 possible values, a collision one in a million. */
	ck_assert_uint_ge(a, 10 * USEC_PER_SEC);
	ck_assert_uint_le(a, 11 * USEC_PER_SEC);
	ck_assert_uint_ge(b, 10 * USEC_PER_SEC);
	ck_assert_uint_le(b, 11 * USEC_PER_SEC);
	ck_assert_msg(a != b, "both workers wait %llu us", (unsigned long long)a);
}
END_TEST

START_TEST(test_the_delay_doubles_per_attempt_and_zero_stays_zero)
{
	PlanMigrations pm = {.lock_retry_delay = USEC_PER_SEC}, none = {};
	usec_t third = deploy_migrate_retry_delay(&pm, 3);

	ck_assert_uint_ge(third, 4 * USEC_PER_SEC);
	ck_assert_uint_le(third, 4 * USEC_PER_SEC + 4 * USEC_PER_SEC / 10);
	ck_assert_uint_eq(deploy_migrate_retry_delay(&none, 1), 0);
}
END_TEST

START_TEST(test_random_below_stays_below_and_covers_a_small_range)
{
	bool seen[4] = {};

	ck_assert_uint_eq(random_below(0), 0);
	ck_assert_uint_eq(random_below(1), 0);
	for (int i = 0; i < 1000; i++) {
		uint64_t v = random_below(4);
		ck_assert_uint_lt(v, 4);
		seen[v] = true;
	}
	/* Each value has a chance of (3/4)^1000 of not showing: never, in practice. */
	ck_assert(seen[0] && seen[1] && seen[2] && seen[3]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("retry-jitter");
	TCase *tc = tcase_create("jitter");

	tcase_add_test(tc, test_two_workers_draw_different_delays);
	tcase_add_test(tc, test_the_delay_doubles_per_attempt_and_zero_stays_zero);
	tcase_add_test(tc, test_random_below_stays_below_and_covers_a_small_range);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
