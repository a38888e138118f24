/* The lock preflight and the after-stop check of the units' sessions
 * (deploy-preflight-locks.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "blocker-event.h"
#include "deploy-preflight-locks.h"
#include "forecast.h"
#include "idle-event.h"
#include "idle.h"
#include "lock-mode.h"
#include "pg.h"
#include "tcp-sockets.h"

/* How long the managers may take to say where a unit's cgroup is. */
#define CGROUP_QUERY_TIMEOUT (5 * USEC_PER_SEC)

int deploy_preflight_locks_set_requests(DeployPreflightLocks *p, const LockRequest *requests,
					size_t n)
{
	LockRequest *copy;

	if (n == 0) {
		free(p->requests);
		p->requests = NULL;
		p->n_requests = 0;
		return 0;
	}
	copy = calloc(n, sizeof(LockRequest));
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		LockMode m = lock_mode_from_string(requests[i].mode);
		if (m == LOCK_MODE_NONE) {
			free(copy);
			return -EINVAL;
		}
		copy[i] = (LockRequest){.relid = requests[i].relid, .mode = lock_mode_to_string(m)};
	}
	free(p->requests);
	p->requests = copy;
	p->n_requests = n;
	return 0;
}

void deploy_preflight_locks_done(DeployPreflightLocks *p)
{
	free(p->requests);
	for (size_t i = 0; i < p->n_units; i++)
		free((uint64_t *)p->units[i].cgroup_ids);
	free(p->units);
	free(p->unit_pids);
	*p = (DeployPreflightLocks){};
}

/* The cgroups of this machine's units, as their manager names them.  A unit that is not
 * running has none (its sessions are gone already); a manager that cannot say makes the
 * attribution of this machine's other sockets unknown rather than outside. */
static int load_unit_cgroups(DeployPreflightLocks *p, DeployContext *ctx, const DeployUnits *u)
{
	for (size_t h = 0; h < u->n_hosts; h++) {
		const DeployHost *host = &u->hosts[h];
		if (host->remote || !host->manager)
			continue;
		for (char *const *unit = host->units; unit && *unit; unit++) {
			_cleanup_free_ char *cgroup = NULL;
			uint64_t *ids = NULL;
			size_t n_ids = 0;
			int r;

			r = units_control_group(host->manager, *unit, CGROUP_QUERY_TIMEOUT,
						ctx->cancel_fd, &cgroup);
			if (r == -ECANCELED || r == -ENOMEM)
				return r;
			if (r >= 0)
				r = cgroup_ids_under(cgroup, &ids, &n_ids);
			if (r == -ENOMEM)
				return r;
			if (r < 0 && r != -ENOENT)
				p->units_incomplete = true;
			if (r < 0)
				continue;
			BlockerOwnerUnit *grown =
				reallocarray(p->units, p->n_units + 1, sizeof(BlockerOwnerUnit));
			if (!grown) {
				free(ids);
				return -ENOMEM;
			}
			p->units = grown;
			p->units[p->n_units++] = (BlockerOwnerUnit){
				.name = *unit, .cgroup_ids = ids, .n_cgroup_ids = n_ids};
		}
	}
	return 0;
}

/* One look: the blockers and the attribution of each. */
typedef struct Look {
	LockSnapshot *snapshot;
	BlockerAttribution *owners; /* one per blocker */
	size_t n_outside;
} Look;

static void look_done(Look *l)
{
	for (size_t i = 0; l->snapshot && i < l->snapshot->n_blockers; i++)
		blocker_attribution_done(&l->owners[i]);
	free(l->owners);
	lockwatch_snapshot_free(l->snapshot);
	*l = (Look){};
}

static bool pid_in(const int *pids, size_t n, int pid)
{
	for (size_t i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

static int look(const DeployPreflightLocks *p, const Plan *plan, DeployMigrate *db, Look *ret,
		char **ret_error)
{
	_cleanup_(tcp_sockets_freep) TcpSockets *sockets = NULL;
	PGconn *conn = deploy_migrate_connection(db);
	Look l = {};
	int own[2], r;
	size_t n_own = deploy_migrate_own_pids(db, own);

	r = blockers_find(conn, p->requests, p->n_requests, PQbackendPID(conn), own, n_own,
			  &l.snapshot, ret_error);
	if (r < 0)
		return r;
	/* A sandbox without AF_NETLINK leaves TCP clients unknown, never outside. */
	r = tcp_sockets_load(&sockets);
	if (r == -ENOMEM) {
		look_done(&l);
		return r;
	}
	l.owners = calloc(l.snapshot->n_blockers ?: 1, sizeof(BlockerAttribution));
	if (!l.owners) {
		look_done(&l);
		return -ENOMEM;
	}
	const char *port = PQport(conn);
	BlockerOwnerRules rules = {
		.units = p->units,
		.n_units = p->n_units,
		.units_incomplete = p->units_incomplete,
		.sockets = sockets,
		.server_port = port ? (uint16_t)atoi(port) : 0,
		.users = plan->services.sessions.users,
		.applications = plan->services.sessions.applications,
	};
	for (size_t i = 0; i < l.snapshot->n_blockers; i++) {
		r = blocker_owner_attribute(&l.snapshot->blockers[i], &rules, &l.owners[i]);
		if (r < 0) {
			look_done(&l);
			return r;
		}
		if (l.owners[i].owner == BLOCKER_OWNER_OUTSIDE)
			l.n_outside++;
	}
	*ret = l;
	return 0;
}

static BlockerVerdict verdict_for(BlockerOwner o, BlockerVerdict outside)
{
	return o == BLOCKER_OWNER_UNITS	    ? BLOCKER_VERDICT_STOPS_WITH_UNITS
	       : o == BLOCKER_OWNER_UNKNOWN ? BLOCKER_VERDICT_MAY_WAIT
					    : outside;
}

/* One preflight-blocker event per blocker of the look, the outside ones with the given
 * verdict; only_outside leaves the others out. */
static int report(DeployContext *ctx, const Look *l, BlockerVerdict outside, bool only_outside,
		  usec_t wait)
{
	for (size_t i = 0; i < l->snapshot->n_blockers; i++) {
		Event *ev = NULL;
		BlockerOwner o = l->owners[i].owner;
		if (only_outside && o != BLOCKER_OWNER_OUTSIDE)
			continue;
		int r = blocker_event_new(&l->snapshot->blockers[i], &l->owners[i],
					  verdict_for(o, outside), ctx->phase, wait, &ev);
		if (r < 0)
			return r;
		deploy_emit(ctx, ev);
	}
	return 0;
}

/* Reports a failure the events explain; returns r. */
static int failed(DeployContext *ctx, int r, const char *what, const char *detail)
{
	deploy_emitf(ctx, EVENT_DEPLOY_FAILED, LOG_ERR, NULL,
		     "Preflight failed, nothing was touched: %s%s.", what, detail);
	return r;
}

/* Waits until usec passed (0) or cancel_fd is readable (-ECANCELED). */
static int sleep_or_cancel(int cancel_fd, usec_t usec)
{
	struct pollfd pfd = {.fd = cancel_fd, .events = POLLIN};
	int ms = (int)((usec + USEC_PER_MSEC - 1) / USEC_PER_MSEC);

	if (cancel_fd < 0) {
		poll(NULL, 0, ms);
		return 0;
	}
	int r = poll(&pfd, 1, ms);
	return r > 0 ? -ECANCELED : 0;
}

/* --terminate-idle: the outside blockers idle in a transaction for longer than older_than,
 * terminated as the idle phase does it (the same re-check, the same events).  Returns how
 * many were terminated. */
static int terminate_idle_outside(DeployContext *ctx, DeployMigrate *db, const Look *l,
				  char **ret_error)
{
	_cleanup_(idle_sessions_freep) IdleSessions *done = NULL;
	_cleanup_free_ int *pids = NULL;
	size_t n = 0;
	int own[2];
	size_t n_own = deploy_migrate_own_pids(db, own);

	pids = calloc(l->snapshot->n_blockers ?: 1, sizeof(int));
	if (!pids)
		return -ENOMEM;
	for (size_t i = 0; i < l->snapshot->n_blockers; i++)
		if (l->owners[i].owner == BLOCKER_OWNER_OUTSIDE &&
		    l->snapshot->blockers[i].blocker_pid > 0)
			pids[n++] = l->snapshot->blockers[i].blocker_pid;
	if (n == 0)
		return 0;
	IdleFilter filter = {
		.older_than = ctx->plan->idle_transactions.older_than,
		.exclude_pids = own,
		.n_exclude_pids = n_own,
		.only_pids = pids,
		.n_only_pids = n,
	};
	int r = idle_terminate(deploy_migrate_connection(db), &filter, &done, ret_error);
	if (r < 0)
		return r;
	for (size_t i = 0; i < done->n_sessions; i++) {
		Event *ev = NULL;
		r = idle_session_to_event(&done->sessions[i], EVENT_IDLE_TERMINATED, ctx->phase,
					  &ev);
		if (r < 0)
			return r;
		deploy_emit(ctx, ev);
	}
	return (int)done->n_sessions;
}

static int remember_unit_sessions(DeployPreflightLocks *p, const Look *l)
{
	for (size_t i = 0; i < l->snapshot->n_blockers; i++) {
		int pid = l->snapshot->blockers[i].blocker_pid;
		if (l->owners[i].owner != BLOCKER_OWNER_UNITS || pid <= 0 ||
		    pid_in(p->unit_pids, p->n_unit_pids, pid))
			continue;
		int *grown = reallocarray(p->unit_pids, p->n_unit_pids + 1, sizeof(int));
		if (!grown)
			return -ENOMEM;
		p->unit_pids = grown;
		p->unit_pids[p->n_unit_pids++] = pid;
	}
	return 0;
}

/* The requests: every lock the forecast says the pending migrations take on a relation that
 * exists now.  A migration command has no SQL to read: no requests. */
static int forecast_requests(DeployPreflightLocks *p, DeployContext *ctx, DeployMigrate *db)
{
	_cleanup_(forecast_freep) Forecast *f = NULL;
	_cleanup_free_ char *error = NULL;
	_cleanup_free_ LockRequest *requests = NULL;
	size_t n = 0;
	int r;

	if (ctx->plan->migrations.command || deploy_migrate_n_pending(db) == 0)
		return 0;
	r = forecast_pending(deploy_migrate_connection(db), deploy_migrate_pending(db),
			     deploy_migrate_n_pending(db), FORECAST_EXISTING_RELATIONS, &f, &error);
	if (r == -ENOMEM)
		return -ENOMEM;
	if (r < 0)
		return failed(ctx, -EIO,
			      "the locks of the pending migrations could not be forecast: ",
			      error ?: strerror(-r));
	requests = calloc(f->n_locks ?: 1, sizeof(LockRequest));
	if (!requests)
		return -ENOMEM;
	for (size_t i = 0; i < f->n_locks; i++)
		if (f->locks[i].relid != 0 && lock_mode_to_string(f->locks[i].mode))
			requests[n++] = (LockRequest){
				.relid = f->locks[i].relid,
				.mode = lock_mode_to_string(f->locks[i].mode),
			};
	r = deploy_preflight_locks_set_requests(p, requests, n);
	return r < 0 ? -ENOMEM : 0;
}

int deploy_preflight_locks_check(DeployPreflightLocks *p, DeployContext *ctx, DeployMigrate *db,
				 const DeployUnits *u)
{
	const usec_t wait = ctx->plan->database.preflight_wait;
	const usec_t deadline = now_usec(CLOCK_MONOTONIC) + wait;
	bool reported = false, terminated = false;
	int r;

	r = forecast_requests(p, ctx, db);
	if (r < 0 || p->n_requests == 0)
		return r;
	r = load_unit_cgroups(p, ctx, u);
	if (r == -ECANCELED)
		return -ECANCELED;
	if (r < 0)
		return -ENOMEM;

	for (;;) {
		_cleanup_(look_done) Look l = {};
		_cleanup_free_ char *error = NULL;

		r = look(p, ctx->plan, db, &l, &error);
		if (r == -ENOMEM)
			return -ENOMEM;
		if (r < 0)
			return failed(
				ctx, -EIO,
				"the sessions in the way of the migrations' locks could not be "
				"read: ",
				error ?: strerror(-r));

		if (l.n_outside > 0 && ctx->terminate_idle && !ctx->req->dry_run && !terminated) {
			terminated = true;
			r = terminate_idle_outside(ctx, db, &l, &error);
			if (r == -ENOMEM)
				return -ENOMEM;
			if (r < 0)
				return failed(
					ctx, -EIO,
					"idle transactions in the way could not be terminated: ",
					error ?: strerror(-r));
			if (r > 0)
				continue; /* look again: their locks are gone */
		}

		usec_t now = now_usec(CLOCK_MONOTONIC);
		if (l.n_outside == 0 || now >= deadline) {
			bool refuse = l.n_outside > 0;
			if (report(ctx, &l, BLOCKER_VERDICT_REFUSED, false, 0) < 0 ||
			    remember_unit_sessions(p, &l) < 0)
				return -ENOMEM;
			if (!refuse)
				return 0;
			deploy_emitf(
				ctx, EVENT_DEPLOY_FAILED, LOG_ERR, NULL,
				"Preflight failed, nothing was touched: %zu session%s outside the "
				"plan's units would block the migrations' locks, and stopping the "
				"units would not end %s (see the preflight-blocker entries).",
				l.n_outside, l.n_outside == 1 ? "" : "s",
				l.n_outside == 1 ? "it" : "them");
			return -ENOLCK;
		}
		if (!reported) {
			reported = true;
			if (report(ctx, &l, BLOCKER_VERDICT_WAITING, true, wait) < 0)
				return -ENOMEM;
		}
		usec_t left = deadline - now;
		if (sleep_or_cancel(ctx->cancel_fd, left < DEPLOY_PREFLIGHT_POLL_USEC
							    ? left
							    : DEPLOY_PREFLIGHT_POLL_USEC) < 0)
			return -ECANCELED;
	}
}

int deploy_preflight_locks_after_stop(DeployPreflightLocks *p, DeployContext *ctx,
				      DeployMigrate *db)
{
	const usec_t deadline = now_usec(CLOCK_MONOTONIC) + DEPLOY_LEFTOVER_GRACE_USEC;
	int r;

	if (p->n_requests == 0)
		return 0;
	for (;;) {
		_cleanup_(look_done) Look l = {};
		_cleanup_free_ char *error = NULL;
		_cleanup_free_ bool *leftover = NULL;
		size_t n_left = 0;

		r = look(p, ctx->plan, db, &l, &error);
		if (r == -ENOMEM)
			return -ENOMEM;
		/* The lock watch will say who is in the way if this cannot. */
		if (r < 0)
			return 0;
		leftover = calloc(l.snapshot->n_blockers ?: 1, sizeof(bool));
		if (!leftover)
			return -ENOMEM;
		for (size_t i = 0; i < l.snapshot->n_blockers; i++) {
			leftover[i] = l.owners[i].owner == BLOCKER_OWNER_UNITS ||
				      pid_in(p->unit_pids, p->n_unit_pids,
					     l.snapshot->blockers[i].blocker_pid);
			n_left += leftover[i];
		}
		if (n_left == 0)
			return 0;
		/* A stopped unit's backends notice the closed connection within moments. */
		if (now_usec(CLOCK_MONOTONIC) < deadline) {
			if (sleep_or_cancel(ctx->cancel_fd, DEPLOY_PREFLIGHT_POLL_USEC) < 0)
				return -ECANCELED;
			continue;
		}
		for (size_t i = 0; i < l.snapshot->n_blockers; i++) {
			const LockBlocker *b = &l.snapshot->blockers[i];
			BlockerAttribution *a = &l.owners[i];
			BlockerVerdict v = BLOCKER_VERDICT_LEFTOVER;
			Event *ev = NULL;
			PgError e = {};

			if (!leftover[i])
				continue;
			if (a->owner != BLOCKER_OWNER_UNITS) {
				char *reason = strdup("the preflight found it to be the units'");
				if (!reason)
					return -ENOMEM;
				free(a->reason);
				a->reason = reason;
				a->owner = BLOCKER_OWNER_UNITS;
			}
			if (ctx->terminate_idle && b->blocker_pid > 0 &&
			    pg_terminate_backend(deploy_migrate_connection(db), b->blocker_pid,
						 &e) > 0)
				v = BLOCKER_VERDICT_TERMINATED;
			pg_error_done(&e);
			if (blocker_event_new(b, a, v, ctx->phase, 0, &ev) < 0)
				return -ENOMEM;
			deploy_emit(ctx, ev);
		}
		return 0;
	}
}
