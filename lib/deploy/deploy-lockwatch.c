/* The watch of a running migration: lock waits and progress as events (deploy-lockwatch.h). */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "deploy-lockwatch.h"
#include "lockwatch-event.h"
#include "lockwatch.h"
#include "progress-event.h"
#include "progress.h"
#include "watch-session.h"

/* The statement whose progress is being reported, and what was last said about it. */
typedef struct Followed {
	int pid; /* 0: none */
	int64_t statement_start;
	unsigned n_sent;	  /* progress and heartbeat events sent for it */
	EventType last_type;	  /* of the last one */
	int last_priority;	  /* of the last one */
	ProgressSession last;	  /* what the last one said (owned copies) */
	double last_percent;	  /* -1: unknown */
	usec_t last_sent_elapsed; /* the statement's run time when the last one was sent */
} Followed;

struct DeployLockwatch {
	PGconn *conn;
	LockWatch *watch;
	ProgressWatch *progress;
	DeployLockwatchSend send;
	void *userdata;
	LockSnapshot *reported; /* the set last reported for this migration, or NULL */
	LockSnapshot *last;	/* a fresher snapshot of that same set, or NULL */
	bool waiting;		/* the last check saw a wait */
	bool live;		/* that wait was reported: the same set is no news */
	bool broken;		/* the watch failed and said so */
	bool preparing;		/* the session's preparation was sent, its results not taken */

	char *version; /* the running migration's, or NULL (a command) */
	char *name;
	Followed followed;
	usec_t progress_read_at; /* CLOCK_MONOTONIC of the last read of the progress views */
};

static void session_copy_done(ProgressSession *s)
{
	free(s->wait_event_type);
	free(s->wait_event);
	free(s->command);
	free(s->phase);
	free(s->unit);
	*s = (ProgressSession){};
}

static int strdup_or_null(const char *s, char **ret)
{
	*ret = s ? strdup(s) : NULL;
	return !s || *ret ? 0 : -ENOMEM;
}

static int session_copy(const ProgressSession *from, ProgressSession *to)
{
	session_copy_done(to);
	*to = (ProgressSession){
		.pid = from->pid,
		.statement_start = from->statement_start,
		.elapsed_usec = from->elapsed_usec,
		.done = from->done,
		.total = from->total,
	};
	if (strdup_or_null(from->wait_event_type, &to->wait_event_type) < 0 ||
	    strdup_or_null(from->wait_event, &to->wait_event) < 0 ||
	    strdup_or_null(from->command, &to->command) < 0 ||
	    strdup_or_null(from->phase, &to->phase) < 0 ||
	    strdup_or_null(from->unit, &to->unit) < 0) {
		session_copy_done(to);
		return -ENOMEM;
	}
	return 0;
}

static void followed_done(Followed *f)
{
	session_copy_done(&f->last);
	*f = (Followed){};
}

static void fail(DeployLockwatch *w, const char *error)
{
	Event *ev = NULL;

	w->broken = true;
	if (event_new(EVENT_DEPLOY_FAILED, DEPLOY_PHASE_MIGRATE, LOG_WARNING, &ev) >= 0 &&
	    event_set_message(ev,
			      "The lock watch failed (%s); lock waits and progress will not be "
			      "reported for the rest of this deploy.",
			      error ?: "out of memory") >= 0)
		w->send(ev, w->userdata);
	else
		event_free(ev);
}

int deploy_lockwatch_new(PGconn *conn, DeployLockwatchSend send, void *userdata,
			 DeployLockwatch **ret)
{
	_cleanup_free_ char *error = NULL;
	DeployLockwatch *w = calloc(1, sizeof(DeployLockwatch));

	if (!w)
		return -ENOMEM;
	w->conn = conn;
	w->send = send;
	w->userdata = userdata;
	if (watch_session_prepare_send(w->conn, &error) < 0)
		fail(w, error);
	else
		w->preparing = true;
	*ret = w;
	return 0;
}

void deploy_lockwatch_settle(DeployLockwatch *w)
{
	_cleanup_free_ char *error = NULL;

	if (!w->preparing)
		return;
	w->preparing = false;
	if (watch_session_prepare_finish(w->conn, &error) < 0)
		fail(w, error);
}

bool deploy_lockwatch_preparing(DeployLockwatch *w)
{
	if (!w->preparing)
		return false;
	/* The server sends the preparation's results together, with the end of its message. */
	if (PQconsumeInput(w->conn) && PQisBusy(w->conn))
		return true;
	deploy_lockwatch_settle(w);
	return false;
}

DeployLockwatch *deploy_lockwatch_free(DeployLockwatch *w)
{
	if (!w)
		return NULL;
	lockwatch_free(w->watch);
	progress_watch_free(w->progress);
	lockwatch_snapshot_free(w->reported);
	lockwatch_snapshot_free(w->last);
	followed_done(&w->followed);
	free(w->version);
	free(w->name);
	free(w);
	return NULL;
}

static void forget_blockers(DeployLockwatch *w)
{
	w->reported = lockwatch_snapshot_free(w->reported);
	w->last = lockwatch_snapshot_free(w->last);
	w->waiting = w->live = false;
}

static ProgressMigration migration_of(const DeployLockwatch *w)
{
	return (ProgressMigration){.version = w->version, .name = w->name};
}

static void send_progress(DeployLockwatch *w, EventType type, const ProgressSession *s,
			  double percent, int priority)
{
	ProgressMigration m = migration_of(w);
	Event *ev = NULL;
	int r = type == EVENT_MIGRATION_PROGRESS ? progress_to_event(s, &m, percent, priority, &ev)
						 : progress_running_to_event(s, &m, priority, &ev);
	if (r >= 0)
		w->send(ev, w->userdata);
}

/* The followed statement ended: its last event once more at info, unless it went out so. */
static void finish_statement(DeployLockwatch *w)
{
	Followed *f = &w->followed;

	if (f->n_sent > 0 && f->last_priority != LOG_INFO)
		send_progress(w, f->last_type, &f->last, f->last_percent, LOG_INFO);
	followed_done(f);
}

int deploy_lockwatch_begin(DeployLockwatch *w, const char *version, const char *name)
{
	_cleanup_free_ char *v = NULL, *n = NULL;

	finish_statement(w);
	forget_blockers(w);
	if (strdup_or_null(version, &v) < 0 || strdup_or_null(name, &n) < 0)
		return -ENOMEM;
	free(w->version);
	free(w->name);
	w->version = TAKE_PTR(v);
	w->name = TAKE_PTR(n);
	return 0;
}

void deploy_lockwatch_end(DeployLockwatch *w)
{
	finish_statement(w);
}

static void reset_target(DeployLockwatch *w)
{
	w->watch = lockwatch_free(w->watch);
	w->progress = progress_watch_free(w->progress);
	finish_statement(w);
	forget_blockers(w);
}

int deploy_lockwatch_watch_pid(DeployLockwatch *w, int pid)
{
	int r;

	reset_target(w);
	r = lockwatch_new_for_pids(w->conn, &pid, 1, &w->watch);
	return r < 0 ? r : progress_watch_new_for_pids(w->conn, &pid, 1, &w->progress);
}

int deploy_lockwatch_watch_application(DeployLockwatch *w, const char *application_name)
{
	int r;

	reset_target(w);
	r = lockwatch_new_for_application(w->conn, application_name, &w->watch);
	return r < 0 ? r
		     : progress_watch_new_for_application(w->conn, application_name, &w->progress);
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

/* Lock waits: only a session that waits on a lock can have blockers, so the lock check runs
 * only then; otherwise this check saw no wait. */
static int check_locks(DeployLockwatch *w, bool waiting_on_lock)
{
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *s = NULL;
	_cleanup_free_ char *error = NULL;

	if (waiting_on_lock && lockwatch_check(w->watch, &s, &error) < 0) {
		fail(w, error);
		return -EIO;
	}
	w->waiting = s && s->n_blockers > 0;
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

static bool texts_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* The session to report on: one in a progress view (the followed one if it still is),
 * else the followed one, else the one that has run longest. */
static const ProgressSession *pick(const DeployLockwatch *w, const ProgressSnapshot *snap)
{
	const ProgressSession *best = NULL;

	for (size_t i = 0; i < snap->n_sessions; i++) {
		const ProgressSession *s = &snap->sessions[i];
		bool followed = s->pid == w->followed.pid &&
				s->statement_start == w->followed.statement_start;
		if (!best || (s->command && !best->command) ||
		    (!s->command == !best->command &&
		     (followed || s->elapsed_usec > best->elapsed_usec)))
			best = s;
		if (followed && s->command)
			return s;
	}
	return best;
}

static void report_progress(DeployLockwatch *w, const ProgressSnapshot *snap)
{
	const ProgressSession *s = pick(w, snap);
	Followed *f = &w->followed;

	if (!s || s->pid != f->pid || s->statement_start != f->statement_start) {
		finish_statement(w);
		if (!s)
			return;
		f->pid = s->pid;
		f->statement_start = s->statement_start;
	}
	if (s->elapsed_usec == USEC_INFINITY)
		return;

	EventType type;
	double percent = -1;
	if (s->command) {
		if (s->elapsed_usec < DEPLOY_LOCKWATCH_PROGRESS_AFTER)
			return;
		bool same_count = f->last_type == EVENT_MIGRATION_PROGRESS && f->n_sent > 0 &&
				  !texts_differ(s->command, f->last.command) &&
				  !texts_differ(s->phase, f->last.phase) &&
				  !texts_differ(s->unit, f->last.unit) && s->total == f->last.total;
		if (same_count && s->done == f->last.done)
			return; /* nothing changed */
		if (f->n_sent > 0 &&
		    s->elapsed_usec < f->last_sent_elapsed + DEPLOY_LOCKWATCH_PROGRESS_EVERY)
			return;
		type = EVENT_MIGRATION_PROGRESS;
		percent = progress_percent(s->done, s->total);
		/* Within one phase's count the percentage only rises (a view may briefly show
		 * a smaller count, e.g. when a parallel worker's share is added late). */
		if (same_count && percent >= 0 && percent < f->last_percent)
			percent = f->last_percent;
	} else {
		usec_t due = (usec_t)(f->n_sent + 1) * DEPLOY_LOCKWATCH_HEARTBEAT_EVERY;
		if (f->last_type == EVENT_MIGRATION_PROGRESS && f->n_sent > 0)
			due = f->last_sent_elapsed + DEPLOY_LOCKWATCH_HEARTBEAT_EVERY;
		if (s->elapsed_usec < due)
			return;
		type = EVENT_MIGRATION_RUNNING;
	}

	int priority = f->n_sent == 0 ? LOG_INFO : LOG_DEBUG;
	send_progress(w, type, s, percent, priority);
	if (session_copy(s, &f->last) < 0) {
		/* Without a copy there is nothing to repeat at the end. */
		f->n_sent = 0;
		return;
	}
	f->n_sent++;
	f->last_type = type;
	f->last_priority = priority;
	f->last_percent = percent;
	f->last_sent_elapsed = s->elapsed_usec;
}

int deploy_lockwatch_tick(void *userdata)
{
	DeployLockwatch *w = userdata;
	_cleanup_(progress_snapshot_freep) ProgressSnapshot *snap = NULL;
	_cleanup_free_ char *error = NULL;

	deploy_lockwatch_settle(w);
	if (w->broken || !w->watch || !w->progress)
		return 0;
	/* The progress views are read at most once per DEPLOY_LOCKWATCH_PROGRESS_EVERY, and only
	 * for statements that have run DEPLOY_LOCKWATCH_PROGRESS_AFTER: the early checks and a
	 * fast migration cost one cheap look each. */
	usec_t now = now_usec(CLOCK_MONOTONIC);
	bool read_progress = w->progress_read_at == 0 ||
			     now >= w->progress_read_at + DEPLOY_LOCKWATCH_PROGRESS_EVERY;
	if (progress_check(w->progress,
			   read_progress ? DEPLOY_LOCKWATCH_PROGRESS_AFTER : USEC_INFINITY, &snap,
			   &error) < 0) {
		fail(w, error);
		return 0;
	}
	if (check_locks(w, snap->waiting_on_lock) < 0)
		return 0;
	if (!read_progress)
		return 0;
	bool long_enough = false;
	for (size_t i = 0; i < snap->n_sessions; i++)
		long_enough = long_enough ||
			      (snap->sessions[i].elapsed_usec != USEC_INFINITY &&
			       snap->sessions[i].elapsed_usec >= DEPLOY_LOCKWATCH_PROGRESS_AFTER);
	if (long_enough)
		w->progress_read_at = now;
	/* A statement that has not run long enough is not reported on yet (its views were not
	 * read): only its end matters, and only when one was followed. */
	if (long_enough || snap->n_sessions == 0)
		report_progress(w, snap);
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
