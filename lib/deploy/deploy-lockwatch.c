#include <stdlib.h>
#include <syslog.h>

#include "deploy-lockwatch.h"
#include "lockwatch-event.h"
#include "lockwatch.h"

struct DeployLockwatch {
	PGconn *conn;
	LockWatch *watch;
	DeployLockwatchSend send;
	void *userdata;
	LockSnapshot *reported; /* the set last reported for this migration, or NULL */
	LockSnapshot *last;	/* a fresher snapshot of that same set, or NULL */
	bool waiting;		/* the last check saw a wait */
	bool live;		/* that wait was reported: the same set is no news */
	bool broken;		/* the watch failed and said so */
};

int deploy_lockwatch_new(const char *conninfo, const PgSessionSettings *settings,
			 const PgWaitHooks *connect_hooks, DeployLockwatchSend send, void *userdata,
			 DeployLockwatch **ret)
{
	DeployLockwatch *w = calloc(1, sizeof(DeployLockwatch));
	PgError e = {};

	if (!w)
		return -ENOMEM;
	w->send = send;
	w->userdata = userdata;
	/* The watch's own queries must never wait on a lock themselves. */
	PgSessionSettings s = *settings;
	s.lock_timeout = 100 * USEC_PER_MSEC;
	s.read_only = true;
	int r = pg_connect(conninfo, &s, connect_hooks, &w->conn, &e);
	if (r < 0) {
		Event *ev = NULL;
		if (event_new(EVENT_DEPLOY_FAILED, DEPLOY_PHASE_MIGRATE, LOG_WARNING, &ev) >= 0 &&
		    event_set_message(
			    ev,
			    "The lock watch could not connect (%s); lock waits will not be "
			    "reported while migrating.",
			    e.message ?: "out of memory") >= 0)
			send(ev, userdata);
		else
			event_free(ev);
		pg_error_done(&e);
		w->broken = true;
	}
	*ret = w;
	return 0;
}

DeployLockwatch *deploy_lockwatch_free(DeployLockwatch *w)
{
	if (!w)
		return NULL;
	lockwatch_free(w->watch);
	lockwatch_snapshot_free(w->reported);
	lockwatch_snapshot_free(w->last);
	if (w->conn)
		PQfinish(w->conn);
	free(w);
	return NULL;
}

void deploy_lockwatch_forget(DeployLockwatch *w)
{
	w->reported = lockwatch_snapshot_free(w->reported);
	w->last = lockwatch_snapshot_free(w->last);
	w->waiting = w->live = false;
}

static void reset_target(DeployLockwatch *w)
{
	w->watch = lockwatch_free(w->watch);
	deploy_lockwatch_forget(w);
}

int deploy_lockwatch_watch_pid(DeployLockwatch *w, int pid)
{
	reset_target(w);
	return w->conn ? lockwatch_new_for_pids(w->conn, &pid, 1, &w->watch) : 0;
}

int deploy_lockwatch_watch_application(DeployLockwatch *w, const char *application_name)
{
	reset_target(w);
	return w->conn ? lockwatch_new_for_application(w->conn, application_name, &w->watch) : 0;
}

static void send_blockers(DeployLockwatch *w, const LockSnapshot *s, EventType type)
{
	for (size_t i = 0; i < s->n_blockers; i++) {
		Event *ev = NULL;
		if (lockwatch_blocker_to_event(&s->blockers[i], type, DEPLOY_PHASE_MIGRATE, &ev) >=
		    0)
			w->send(ev, w->userdata);
	}
}

int deploy_lockwatch_tick(void *userdata)
{
	DeployLockwatch *w = userdata;
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *s = NULL;
	_cleanup_free_ char *error = NULL;

	if (w->broken || !w->watch)
		return 0;
	if (lockwatch_check(w->watch, &s, &error) < 0) {
		Event *ev = NULL;
		w->broken = true;
		if (event_new(EVENT_DEPLOY_FAILED, DEPLOY_PHASE_MIGRATE, LOG_WARNING, &ev) >= 0 &&
		    event_set_message(ev,
				      "The lock watch failed (%s); lock waits will not be reported "
				      "for the rest of this deploy.",
				      error ?: "out of memory") >= 0)
			w->send(ev, w->userdata);
		else
			event_free(ev);
		return 0;
	}

	w->waiting = s->n_blockers > 0;
	if (!w->waiting) {
		/* The wait is over — or the server already ended it with the lock timeout and we
		 * have not read the error yet: keep the snapshot for the lock-timeout report, but
		 * a later wait on the same blockers is news again. */
		w->live = false;
		return 0;
	}
	if (!w->live || !lockwatch_snapshot_same_blockers(w->reported, s)) {
		send_blockers(w, s, EVENT_LOCK_WAIT);
		lockwatch_snapshot_free(w->reported);
		w->reported = TAKE_PTR(s);
		w->last = lockwatch_snapshot_free(w->last);
		w->live = true;
		return 0;
	}
	/* The same blockers: nothing to say, but keep the freshest ages for a timeout. */
	lockwatch_snapshot_free(w->last);
	w->last = TAKE_PTR(s);
	return 0;
}

int deploy_lockwatch_waiting(const DeployLockwatch *w)
{
	return w->waiting;
}

void deploy_lockwatch_report_timeout(DeployLockwatch *w)
{
	const LockSnapshot *s = w->last ?: w->reported;

	if (s && s->n_blockers > 0)
		send_blockers(w, s, EVENT_LOCK_TIMEOUT);
}
