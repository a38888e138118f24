/* test-lockwatch.c — blocker sets, sentences and events, without a server. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "check-run.h"
#include "lockwatch-event.h"
#include "lockwatch.h"

/* The blocker of the example: an idle-in-transaction reader, root of the chain. */
static LockBlocker idle_reader(void)
{
	return (LockBlocker){
		.blocked_pid = 4242,
		.blocked_is_target = true,
		.wait_age_usec = 1200 * USEC_PER_MSEC,
		.mode_wanted = (char *)"AccessExclusiveLock",
		.lock_type = (char *)"relation",
		.relation = (char *)"public.accounts",
		.blocker_pid = 4100,
		.user = (char *)"app_user",
		.application = (char *)"api",
		.client = (char *)"10.0.0.7:51234",
		.state = (char *)"idle in transaction",
		.backend_type = (char *)"client backend",
		.xact_age_usec = 15 * USEC_PER_SEC + 300 * USEC_PER_MSEC,
		.state_age_usec = 12 * USEC_PER_SEC + 700 * USEC_PER_MSEC,
		.mode_held = (char *)"AccessShareLock",
		.query = (char *)"SELECT * FROM accounts WHERE id = $1",
		.is_root = true,
	};
}

static LockBlocker prepared(void)
{
	return (LockBlocker){
		.blocked_pid = 4242,
		.blocked_is_target = true,
		.wait_age_usec = USEC_INFINITY,
		.mode_wanted = (char *)"AccessExclusiveLock",
		.lock_type = (char *)"relation",
		.relation = (char *)"public.accounts",
		.blocker_pid = 0,
		.gid = (char *)"billing-run-17",
		.user = (char *)"app_user",
		.state = (char *)"prepared",
		.xact_age_usec = 3 * USEC_PER_MINUTE + 5 * USEC_PER_SEC,
		.state_age_usec = 3 * USEC_PER_MINUTE + 5 * USEC_PER_SEC,
		.mode_held = (char *)"RowExclusiveLock",
		.is_root = true,
	};
}

static LockSnapshot snapshot_of(LockBlocker *blockers, size_t n)
{
	return (LockSnapshot){.blockers = blockers, .n_blockers = n};
}

START_TEST(test_same_blockers_is_set_equality_of_edges_regardless_of_order)
{
	LockBlocker a[2] = {idle_reader(), idle_reader()}, b[2];
	LockSnapshot sa, sb;

	a[1].blocker_pid = 4101;
	b[0] = a[1];
	b[1] = a[0];
	sa = snapshot_of(a, 2);
	sb = snapshot_of(b, 2);
	ck_assert(lockwatch_snapshot_same_blockers(&sa, &sb));

	/* Details that change from check to check do not make a new set. */
	b[0].state_age_usec += 500 * USEC_PER_MSEC;
	b[0].state = (char *)"active";
	ck_assert(lockwatch_snapshot_same_blockers(&sa, &sb));
}
END_TEST

START_TEST(test_same_blockers_sees_a_blocker_added_removed_or_replaced)
{
	LockBlocker a[2] = {idle_reader(), idle_reader()}, b[2] = {idle_reader(), idle_reader()};
	LockSnapshot sa, sb;

	a[1].blocker_pid = 4101;
	sa = snapshot_of(a, 2);
	sb = snapshot_of(b, 1);
	ck_assert(!lockwatch_snapshot_same_blockers(&sa, &sb));
	ck_assert(!lockwatch_snapshot_same_blockers(&sb, &sa));

	b[1].blocker_pid = 4102;
	sb = snapshot_of(b, 2);
	ck_assert(!lockwatch_snapshot_same_blockers(&sa, &sb));

	/* The same blocker blocking another session is another edge. */
	b[1] = a[1];
	b[1].blocked_pid = 4243;
	ck_assert(!lockwatch_snapshot_same_blockers(&sa, &sb));
}
END_TEST

START_TEST(test_same_blockers_tells_prepared_transactions_apart_by_gid)
{
	LockBlocker a[1] = {prepared()}, b[1] = {prepared()};
	LockSnapshot sa = snapshot_of(a, 1), sb = snapshot_of(b, 1);

	ck_assert(lockwatch_snapshot_same_blockers(&sa, &sb));
	b[0].gid = (char *)"billing-run-18";
	ck_assert(!lockwatch_snapshot_same_blockers(&sa, &sb));
}
END_TEST

START_TEST(test_same_blockers_treats_null_as_the_empty_snapshot)
{
	LockBlocker a[1] = {idle_reader()};
	LockSnapshot empty = snapshot_of(NULL, 0), sa = snapshot_of(a, 1);

	ck_assert(lockwatch_snapshot_same_blockers(NULL, NULL));
	ck_assert(lockwatch_snapshot_same_blockers(NULL, &empty));
	ck_assert(!lockwatch_snapshot_same_blockers(NULL, &sa));
	ck_assert(!lockwatch_snapshot_same_blockers(&sa, NULL));
}
END_TEST

START_TEST(test_message_names_pid_user_application_and_state_of_a_root_holder)
{
	LockBlocker b = idle_reader();
	_cleanup_free_ char *m = NULL;

	ck_assert_int_eq(lockwatch_blocker_message(&b, "Migration", false, &m), 0);
	ck_assert_str_eq(m, "Migration (pid 4242) has waited 1.2 s for AccessExclusiveLock on "
			    "public.accounts; pid 4100 holds AccessShareLock on it (user app_user, "
			    "application api, client 10.0.0.7:51234, idle in transaction for 12 s, "
			    "transaction open for 15 s) and is the root of the chain.");
}
END_TEST

START_TEST(test_message_for_a_lock_timeout_is_in_the_past_tense)
{
	LockBlocker b = idle_reader();
	_cleanup_free_ char *m = NULL;

	ck_assert_int_eq(lockwatch_blocker_message(&b, "Migration", true, &m), 0);
	ck_assert_str_eq(m, "Migration (pid 4242) gave up waiting for AccessExclusiveLock on "
			    "public.accounts (lock timeout); pid 4100 held AccessShareLock on it "
			    "(user app_user, application api, client 10.0.0.7:51234, idle in "
			    "transaction for 12 s, transaction open for 15 s) and was the root of "
			    "the chain.");
}
END_TEST

START_TEST(test_message_for_a_queued_blocker_says_it_is_ahead_and_waits_itself)
{
	LockBlocker b = idle_reader();
	_cleanup_free_ char *m = NULL;

	b.blocked_is_target = false;
	b.wait_age_usec = USEC_INFINITY;
	b.mode_wanted = (char *)"RowExclusiveLock";
	b.mode_held = (char *)"AccessExclusiveLock";
	b.queued = true;
	b.is_root = false;
	b.application = NULL;
	b.client = (char *)"[local]";
	b.state = (char *)"active";
	b.state_age_usec = 3 * USEC_PER_SEC;
	b.xact_age_usec = USEC_INFINITY;
	ck_assert_int_eq(lockwatch_blocker_message(&b, "Migration", false, &m), 0);
	ck_assert_str_eq(m,
			 "Session (pid 4242) waits for RowExclusiveLock on public.accounts; "
			 "pid 4100 is queued ahead of it for AccessExclusiveLock (user app_user, "
			 "no application, client [local], active for 3.0 s) and itself waits "
			 "for another session.");
}
END_TEST

START_TEST(test_message_for_a_prepared_transaction_gives_pid_0_gid_and_the_way_out)
{
	LockBlocker b = prepared();
	_cleanup_free_ char *m = NULL;

	ck_assert_int_eq(lockwatch_blocker_message(&b, "Migration", false, &m), 0);
	ck_assert_str_eq(m,
			 "Migration (pid 4242) waits for AccessExclusiveLock on public.accounts; "
			 "prepared transaction 'billing-run-17' (pid 0) holds RowExclusiveLock "
			 "on it (user app_user, no application, no client, prepared for 3 min 5 "
			 "s) and is the root of the chain; only COMMIT PREPARED or ROLLBACK "
			 "PREPARED ends it.");
}
END_TEST

START_TEST(test_message_for_a_row_lock_names_the_table_of_the_row)
{
	LockBlocker b = idle_reader();
	_cleanup_free_ char *m = NULL;

	b.lock_type = (char *)"transactionid";
	b.mode_wanted = (char *)"ShareLock";
	b.mode_held = (char *)"ExclusiveLock";
	ck_assert_int_eq(lockwatch_blocker_message(&b, "Migration", false, &m), 0);
	ck_assert_ptr_nonnull(strstr(m, "has waited 1.2 s for ShareLock on a row of "
					"public.accounts; pid 4100 holds ExclusiveLock on it"));
}
END_TEST

START_TEST(test_message_for_a_background_process_names_its_kind)
{
	LockBlocker b = idle_reader();
	_cleanup_free_ char *m = NULL;

	b.user = NULL;
	b.application = (char *)"";
	b.client = NULL;
	b.backend_type = (char *)"autovacuum worker";
	b.state = NULL;
	b.lock_type = (char *)"advisory";
	b.relation = NULL;
	ck_assert_int_eq(lockwatch_blocker_message(&b, "Session", false, &m), 0);
	ck_assert_ptr_nonnull(strstr(m, "for AccessExclusiveLock on an advisory lock; pid 4100"));
	ck_assert_ptr_nonnull(
		strstr(m, "(no user, autovacuum worker, no client, state not visible, "));
}
END_TEST

START_TEST(test_lock_wait_event_carries_every_contract_field)
{
	LockBlocker b = idle_reader();
	_cleanup_(event_freep) Event *ev = NULL;
	static const struct {
		const char *key, *value;
	} expected[] = {
		{"BLOCKED_PID", "4242"},
		{"LOCK_WAIT_MS", "1200"},
		{"BLOCKER_PID", "4100"},
		{"BLOCKER_USER", "app_user"},
		{"BLOCKER_APPLICATION", "api"},
		{"BLOCKER_CLIENT", "10.0.0.7:51234"},
		{"BLOCKER_STATE", "idle in transaction"},
		{"BLOCKER_XACT_AGE_MS", "15300"},
		{"BLOCKER_STATE_AGE_MS", "12700"},
		{"BLOCKER_MODE", "AccessShareLock"},
		{"BLOCKER_QUEUED", "no"},
		{"LOCK_MODE", "AccessExclusiveLock"},
		{"LOCK_RELATION", "public.accounts"},
		{"BLOCKER_QUERY", "SELECT * FROM accounts WHERE id = $1"},
		{"BLOCKER_ROOT", "yes"},
		{"BLOCKER_GID", ""},
	};

	ck_assert_int_eq(lockwatch_blocker_to_event(&b, EVENT_LOCK_WAIT, DEPLOY_PHASE_MIGRATE, &ev),
			 0);
	ck_assert_int_eq(ev->type, EVENT_LOCK_WAIT);
	ck_assert_int_eq(ev->phase, DEPLOY_PHASE_MIGRATE);
	ck_assert_int_eq(ev->priority, LOG_WARNING);
	ck_assert_ptr_nonnull(strstr(ev->message, "pid 4100 holds AccessShareLock"));
	ck_assert_uint_eq(ev->n_fields, ELEMENTSOF(expected));
	for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
		const char *v = event_get(ev, expected[i].key);
		ck_assert_msg(v, "field %s missing", expected[i].key);
		ck_assert_str_eq(v, expected[i].value);
	}
}
END_TEST

START_TEST(test_lock_timeout_event_is_an_error_about_a_prepared_transaction)
{
	LockBlocker b = prepared();
	_cleanup_(event_freep) Event *ev = NULL;

	ck_assert_int_eq(
		lockwatch_blocker_to_event(&b, EVENT_LOCK_TIMEOUT, DEPLOY_PHASE_MIGRATE, &ev), 0);
	ck_assert_int_eq(ev->type, EVENT_LOCK_TIMEOUT);
	ck_assert_int_eq(ev->priority, LOG_ERR);
	ck_assert_str_eq(event_get(ev, "BLOCKER_PID"), "0");
	ck_assert_str_eq(event_get(ev, "BLOCKER_GID"), "billing-run-17");
	ck_assert_str_eq(event_get(ev, "BLOCKER_APPLICATION"), "");
	ck_assert_str_eq(event_get(ev, "BLOCKER_CLIENT"), "");
	ck_assert_str_eq(event_get(ev, "BLOCKER_QUERY"), "");
	ck_assert_str_eq(event_get(ev, "BLOCKER_STATE"), "prepared");
	ck_assert_str_eq(event_get(ev, "BLOCKER_XACT_AGE_MS"), "185000");
	ck_assert_ptr_nonnull(strstr(ev->message, "gave up waiting"));
}
END_TEST

START_TEST(test_unknown_ages_are_empty_fields)
{
	LockBlocker b = idle_reader();
	_cleanup_(event_freep) Event *ev = NULL;

	b.xact_age_usec = USEC_INFINITY;
	b.state_age_usec = USEC_INFINITY;
	ck_assert_int_eq(lockwatch_blocker_to_event(&b, EVENT_LOCK_WAIT, DEPLOY_PHASE_MIGRATE, &ev),
			 0);
	ck_assert_str_eq(event_get(ev, "BLOCKER_XACT_AGE_MS"), "");
	ck_assert_str_eq(event_get(ev, "BLOCKER_STATE_AGE_MS"), "");
}
END_TEST

START_TEST(test_event_helper_refuses_other_event_types)
{
	LockBlocker b = idle_reader();
	Event *ev = NULL;

	ck_assert_int_eq(
		lockwatch_blocker_to_event(&b, EVENT_IDLE_TERMINATED, DEPLOY_PHASE_MIGRATE, &ev),
		-EINVAL);
	ck_assert_ptr_null(ev);
}
END_TEST

START_TEST(test_format_age_rounds_to_what_a_person_needs)
{
	char buf[FORMAT_AGE_MAX];

	ck_assert_str_eq(format_age(0, buf), "0.0 s");
	ck_assert_str_eq(format_age(1234 * USEC_PER_MSEC, buf), "1.2 s");
	ck_assert_str_eq(format_age(9999 * USEC_PER_MSEC, buf), "9.9 s");
	ck_assert_str_eq(format_age(10 * USEC_PER_SEC, buf), "10 s");
	ck_assert_str_eq(format_age(119 * USEC_PER_SEC, buf), "119 s");
	ck_assert_str_eq(format_age(125 * USEC_PER_SEC, buf), "2 min 5 s");
	ck_assert_str_eq(format_age(26 * USEC_PER_HOUR + 10 * USEC_PER_MINUTE, buf), "26 h 10 min");
	ck_assert_str_eq(format_age(USEC_INFINITY, buf), "an unknown time");
}
END_TEST

static Suite *lockwatch_suite(void)
{
	Suite *s = suite_create("lockwatch");
	TCase *tc = tcase_create("sets");

	tcase_add_test(tc, test_same_blockers_is_set_equality_of_edges_regardless_of_order);
	tcase_add_test(tc, test_same_blockers_sees_a_blocker_added_removed_or_replaced);
	tcase_add_test(tc, test_same_blockers_tells_prepared_transactions_apart_by_gid);
	tcase_add_test(tc, test_same_blockers_treats_null_as_the_empty_snapshot);
	suite_add_tcase(s, tc);

	tc = tcase_create("messages");
	tcase_add_test(tc, test_message_names_pid_user_application_and_state_of_a_root_holder);
	tcase_add_test(tc, test_message_for_a_lock_timeout_is_in_the_past_tense);
	tcase_add_test(tc, test_message_for_a_queued_blocker_says_it_is_ahead_and_waits_itself);
	tcase_add_test(tc, test_message_for_a_prepared_transaction_gives_pid_0_gid_and_the_way_out);
	tcase_add_test(tc, test_message_for_a_row_lock_names_the_table_of_the_row);
	tcase_add_test(tc, test_message_for_a_background_process_names_its_kind);
	tcase_add_test(tc, test_format_age_rounds_to_what_a_person_needs);
	suite_add_tcase(s, tc);

	tc = tcase_create("events");
	tcase_add_test(tc, test_lock_wait_event_carries_every_contract_field);
	tcase_add_test(tc, test_lock_timeout_event_is_an_error_about_a_prepared_transaction);
	tcase_add_test(tc, test_unknown_ages_are_empty_fields);
	tcase_add_test(tc, test_event_helper_refuses_other_event_types);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(lockwatch_suite());
}
