#include <check.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "tick-schedule.h"
#include "watched-statement.h"

static void take_result(PGresult *res, WatchedStatement *w)
{
	const char *sqlstate, *message;

	if (PQresultStatus(res) != PGRES_FATAL_ERROR || w->sqlstate[0] != '\0')
		return;
	sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	snprintf(w->sqlstate, sizeof(w->sqlstate), "%s", sqlstate ? sqlstate : "?????");
	w->error = strdup(message ? message : "");
}

static void check_once(LockWatch *watch, WatchedStatement *w)
{
	const LockSnapshot *previous = w->n_checks > 0 ? w->snapshots[w->n_checks - 1] : NULL;
	_cleanup_free_ char *error = NULL;
	usec_t start = now_usec(CLOCK_REALTIME);
	LockSnapshot *s = NULL;
	int r;

	r = lockwatch_check(watch, &s, &error);
	if (r < 0)
		ck_abort_msg("lockwatch_check: %s (%d)", error ? error : "?", r);

	w->snapshots = realloc(w->snapshots, (w->n_checks + 1) * sizeof(LockSnapshot *));
	ck_assert_ptr_nonnull(w->snapshots);
	w->snapshots[w->n_checks++] = s;
	if (s->n_blockers == 0)
		return;

	if (!lockwatch_snapshot_same_blockers(previous, s))
		w->n_reports++;
	w->last = s;
	if (w->first)
		return;
	w->first = s;
	w->first_report_usec = now_usec(CLOCK_REALTIME);
	for (size_t i = 0; i < s->n_blockers; i++)
		if (s->blockers[i].blocked_is_target &&
		    s->blockers[i].wait_age_usec != USEC_INFINITY) {
			w->wait_start_usec = start - s->blockers[i].wait_age_usec;
			break;
		}
}

void watched_statement_run(PGconn *conn, const char *sql, LockWatch *watch, usec_t interval,
			   usec_t bound, WatchedStatementHook hook, void *userdata,
			   WatchedStatement *ret)
{
	watched_statement_run_scheduled(conn, sql, watch, 0, interval, bound, hook, userdata, ret);
}

void watched_statement_run_scheduled(PGconn *conn, const char *sql, LockWatch *watch, usec_t first,
				     usec_t interval, usec_t bound, WatchedStatementHook hook,
				     void *userdata, WatchedStatement *ret)
{
	WatchedStatement w = {};
	TickSchedule ticks;

	w.sent_usec = now_usec(CLOCK_REALTIME);
	if (!PQsendQuery(conn, sql))
		ck_abort_msg("PQsendQuery: %s", PQerrorMessage(conn));
	tick_schedule_start(&ticks, first, interval, w.sent_usec);

	for (;;) {
		usec_t now = now_usec(CLOCK_REALTIME);
		struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
		int r;

		if (now - w.sent_usec > bound)
			ck_abort_msg("statement still running after %llu ms: %s",
				     (unsigned long long)(bound / USEC_PER_MSEC), sql);
		if (now >= ticks.next) {
			check_once(watch, &w);
			if (hook)
				hook(w.n_checks, userdata);
			tick_schedule_advance(&ticks, now_usec(CLOCK_REALTIME));
			continue;
		}
		r = poll(&pfd, 1, (int)((ticks.next - now + 999) / 1000));
		if (r < 0)
			ck_abort_msg("poll: %m");
		if (r == 0)
			continue;
		if (!PQconsumeInput(conn))
			ck_abort_msg("PQconsumeInput: %s", PQerrorMessage(conn));
		while (!PQisBusy(conn)) {
			PGresult *res = PQgetResult(conn);
			if (!res) {
				w.done_usec = now_usec(CLOCK_REALTIME);
				*ret = w;
				return;
			}
			take_result(res, &w);
			PQclear(res);
		}
	}
}

void watched_statement_done(WatchedStatement *w)
{
	for (size_t i = 0; i < w->n_checks; i++)
		lockwatch_snapshot_free(w->snapshots[i]);
	free(w->snapshots);
	free(w->error);
	*w = (WatchedStatement){};
}
