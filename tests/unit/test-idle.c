/* test-idle.c — sentences and events about idle sessions, without a server. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "check-run.h"
#include "idle-event.h"
#include "idle.h"

static IdleSession old_reader(void)
{
	return (IdleSession){
		.pid = 4100,
		.user = (char *)"app_user",
		.application = (char *)"api",
		.client = (char *)"10.0.0.7:51234",
		.state = (char *)"idle in transaction",
		.idle_age_usec = 75 * USEC_PER_SEC + 400 * USEC_PER_MSEC,
		.xact_age_usec = 80 * USEC_PER_SEC,
		.query = (char *)"SELECT * FROM accounts",
		.terminated = true,
	};
}

START_TEST(test_found_session_message_names_who_and_for_how_long)
{
	IdleSession s = old_reader();
	_cleanup_free_ char *m = NULL;

	s.terminated = false;
	ck_assert_int_eq(idle_session_message(&s, false, &m), 0);
	ck_assert_str_eq(m, "Session pid 4100 (user app_user, application api, client "
			    "10.0.0.7:51234) has been idle in transaction for 75 s; last query: "
			    "\"SELECT * FROM accounts\".");
}
END_TEST

START_TEST(test_terminated_session_message_says_so)
{
	IdleSession s = old_reader();
	_cleanup_free_ char *m = NULL;

	s.state = (char *)"idle in transaction (aborted)";
	s.application = (char *)"";
	s.client = NULL;
	ck_assert_int_eq(idle_session_message(&s, true, &m), 0);
	ck_assert_str_eq(m, "Terminated session pid 4100 (user app_user, no application, no "
			    "client), idle in transaction (aborted) for 75 s; last query: \"SELECT "
			    "* FROM accounts\".");
}
END_TEST

START_TEST(test_session_that_outlived_the_wait_is_reported_as_signalled)
{
	IdleSession s = old_reader();
	_cleanup_free_ char *m = NULL;

	s.terminated = false;
	s.query = NULL;
	ck_assert_int_eq(idle_session_message(&s, true, &m), 0);
	ck_assert_str_eq(m,
			 "Signalled session pid 4100 (user app_user, application api, client "
			 "10.0.0.7:51234) to terminate, idle in transaction for 75 s, but it had "
			 "not exited after 5000 ms.");
}
END_TEST

START_TEST(test_idle_terminated_event_carries_every_contract_field)
{
	IdleSession s = old_reader();
	_cleanup_(event_freep) Event *ev = NULL;

	ck_assert_int_eq(idle_session_to_event(&s, EVENT_IDLE_TERMINATED, DEPLOY_PHASE_IDLE, &ev),
			 0);
	ck_assert_int_eq(ev->type, EVENT_IDLE_TERMINATED);
	ck_assert_int_eq(ev->phase, DEPLOY_PHASE_IDLE);
	ck_assert_int_eq(ev->priority, LOG_NOTICE);
	ck_assert_ptr_nonnull(strstr(ev->message, "Terminated session pid 4100"));
	ck_assert_uint_eq(ev->n_fields, 6);
	ck_assert_str_eq(event_get(ev, "IDLE_PID"), "4100");
	ck_assert_str_eq(event_get(ev, "IDLE_USER"), "app_user");
	ck_assert_str_eq(event_get(ev, "IDLE_APPLICATION"), "api");
	ck_assert_str_eq(event_get(ev, "IDLE_CLIENT"), "10.0.0.7:51234");
	ck_assert_str_eq(event_get(ev, "IDLE_AGE_MS"), "75400");
	ck_assert_str_eq(event_get(ev, "IDLE_QUERY"), "SELECT * FROM accounts");
}
END_TEST

START_TEST(test_idle_found_event_is_informational_with_empty_unknowns)
{
	IdleSession s = old_reader();
	_cleanup_(event_freep) Event *ev = NULL;

	s.terminated = false;
	s.user = NULL;
	s.client = NULL;
	s.idle_age_usec = USEC_INFINITY;
	ck_assert_int_eq(idle_session_to_event(&s, EVENT_IDLE_FOUND, DEPLOY_PHASE_IDLE, &ev), 0);
	ck_assert_int_eq(ev->priority, LOG_INFO);
	ck_assert_ptr_nonnull(strstr(ev->message, "has been idle in transaction"));
	ck_assert_str_eq(event_get(ev, "IDLE_USER"), "");
	ck_assert_str_eq(event_get(ev, "IDLE_CLIENT"), "");
	ck_assert_str_eq(event_get(ev, "IDLE_AGE_MS"), "");
}
END_TEST

START_TEST(test_idle_event_helper_refuses_other_event_types)
{
	IdleSession s = old_reader();
	Event *ev = NULL;

	ck_assert_int_eq(idle_session_to_event(&s, EVENT_LOCK_WAIT, DEPLOY_PHASE_IDLE, &ev),
			 -EINVAL);
	ck_assert_ptr_null(ev);
}
END_TEST

static Suite *idle_suite(void)
{
	Suite *s = suite_create("idle");
	TCase *tc = tcase_create("messages");

	tcase_add_test(tc, test_found_session_message_names_who_and_for_how_long);
	tcase_add_test(tc, test_terminated_session_message_says_so);
	tcase_add_test(tc, test_session_that_outlived_the_wait_is_reported_as_signalled);
	suite_add_tcase(s, tc);

	tc = tcase_create("events");
	tcase_add_test(tc, test_idle_terminated_event_carries_every_contract_field);
	tcase_add_test(tc, test_idle_found_event_is_informational_with_empty_unknowns);
	tcase_add_test(tc, test_idle_event_helper_refuses_other_event_types);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(idle_suite());
}
