/* test-blocker-event.c — a preflight-blocker event carries every lock-wait field, the
 * attribution and the verdict, with the verdict's priority and sentence. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "blocker-event.h"
#include "check-run.h"

static const char *const lock_wait_fields[] = {
	"BLOCKED_PID",	  "BLOCKER_PID",    "BLOCKER_USER",	   "BLOCKER_APPLICATION",
	"BLOCKER_CLIENT", "BLOCKER_STATE",  "BLOCKER_XACT_AGE_MS", "BLOCKER_STATE_AGE_MS",
	"BLOCKER_MODE",	  "BLOCKER_QUEUED", "LOCK_MODE",	   "LOCK_RELATION",
	"BLOCKER_QUERY",  "BLOCKER_ROOT",   "BLOCKER_GID",	   "BLOCKER_OWNER",
	"BLOCKER_UNIT",	  "BLOCKER_REASON", "PREFLIGHT_VERDICT",
};

START_TEST(test_a_refused_prepared_transaction_names_its_gid_and_every_field_is_there)
{
	LockBlocker b = {
		.blocked_pid = 4242,
		.blocker_pid = 0,
		.gid = "nightly-batch",
		.user = "app_user",
		.state = "prepared",
		.xact_age_usec = 12 * USEC_PER_SEC,
		.state_age_usec = 12 * USEC_PER_SEC,
		.mode_held = "AccessShareLock",
		.mode_wanted = "AccessExclusiveLock",
		.lock_type = "relation",
		.relation = "public.accounts",
		.is_root = true,
	};
	BlockerAttribution a = {
		.owner = BLOCKER_OWNER_OUTSIDE,
		.reason = "it is a prepared transaction, which no stop of a unit ends"};
	Event *ev = NULL;

	ck_assert_int_eq(
		blocker_event_new(&b, &a, BLOCKER_VERDICT_REFUSED, DEPLOY_PHASE_PREFLIGHT, 0, &ev),
		0);
	ck_assert_int_eq(ev->type, EVENT_PREFLIGHT_BLOCKER);
	ck_assert_int_eq(ev->priority, LOG_ERR);
	for (size_t i = 0; i < sizeof(lock_wait_fields) / sizeof(lock_wait_fields[0]); i++)
		ck_assert_msg(event_get(ev, lock_wait_fields[i]), "%s missing",
			      lock_wait_fields[i]);
	ck_assert_str_eq(event_get(ev, "BLOCKER_GID"), "nightly-batch");
	ck_assert_str_eq(event_get(ev, "BLOCKER_PID"), "0");
	ck_assert_str_eq(event_get(ev, "BLOCKER_OWNER"), "outside");
	ck_assert_str_eq(event_get(ev, "PREFLIGHT_VERDICT"), "refused");
	ck_assert_str_eq(event_get(ev, "LOCK_RELATION"), "public.accounts");
	ck_assert_msg(strstr(ev->message, "nightly-batch") && strstr(ev->message, "refused") &&
			      strstr(ev->message, "ROLLBACK PREPARED"),
		      "%s", ev->message);
	ck_assert_str_eq(event_type_to_string(ev->type), "preflight-blocker");
	event_free(ev);
}
END_TEST

START_TEST(test_the_units_own_session_is_info_and_an_unknown_one_a_warning)
{
	LockBlocker b = {.blocker_pid = 100,
			 .user = "app_user",
			 .application = "api",
			 .client = "127.0.0.1:40000",
			 .state = "idle in transaction",
			 .xact_age_usec = USEC_INFINITY,
			 .state_age_usec = USEC_PER_SEC,
			 .mode_held = "AccessShareLock",
			 .mode_wanted = "AccessExclusiveLock",
			 .relation = "public.accounts"};
	BlockerAttribution units = {
		.owner = BLOCKER_OWNER_UNITS,
		.unit = "api.service",
		.reason = "its client 127.0.0.1:40000 is a socket of unit api.service"};
	BlockerAttribution unknown = {.owner = BLOCKER_OWNER_UNKNOWN,
				      .reason = "over a Unix socket"};
	Event *ev = NULL;

	ck_assert_int_eq(blocker_event_new(&b, &units, BLOCKER_VERDICT_STOPS_WITH_UNITS,
					   DEPLOY_PHASE_PREFLIGHT, 0, &ev),
			 0);
	ck_assert_int_eq(ev->priority, LOG_INFO);
	ck_assert_str_eq(event_get(ev, "BLOCKER_UNIT"), "api.service");
	ck_assert_str_eq(event_get(ev, "BLOCKER_XACT_AGE_MS"), "");
	event_free(ev);
	ck_assert_int_eq(blocker_event_new(&b, &unknown, BLOCKER_VERDICT_MAY_WAIT,
					   DEPLOY_PHASE_PREFLIGHT, 0, &ev),
			 0);
	ck_assert_int_eq(ev->priority, LOG_WARNING);
	ck_assert_msg(strstr(ev->message, "may") || strstr(ev->message, "will wait"), "%s",
		      ev->message);
	ck_assert_str_eq(event_get(ev, "BLOCKER_UNIT"), "");
	event_free(ev);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("blocker-event");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc,
		       test_a_refused_prepared_transaction_names_its_gid_and_every_field_is_there);
	tcase_add_test(tc, test_the_units_own_session_is_info_and_an_unknown_one_a_warning);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(suite());
}
