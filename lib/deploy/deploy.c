/* The deploy pipeline: preflight, stop, idle, migrate, start (deploy.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "deploy-context.h"
#include "deploy-hooks.h"
#include "deploy-migrate.h"
#include "deploy-preflight-locks.h"
#include "deploy-units.h"
#include "strv.h"

typedef struct Deploy {
	DeployContext ctx;
	DeployMigrate *db;
	DeployUnits units; /* no hosts when the plan has no units */
	DeployPreflightLocks locks;
} Deploy;

static bool has_units(const Deploy *d)
{
	return d->units.n_hosts > 0;
}

static int preflight(Deploy *d)
{
	DeployContext *ctx = &d->ctx;
	const Plan *plan = ctx->plan;
	int r;

	r = deploy_migrate_new(ctx, &d->db);
	if (r < 0)
		return r;
	r = deploy_migrate_preflight(d->db);
	if (r < 0)
		return r;
	if (ctx->terminate_idle) {
		r = deploy_migrate_idle_preflight(d->db, plan->idle_transactions.older_than);
		if (r < 0)
			return r;
	}
	r = deploy_units_preflight(ctx, &d->units);
	if (r < 0)
		return r;
	/* Last, once the units' managers are reached: who would block the migrations' locks. */
	r = deploy_preflight_locks_check(&d->locks, ctx, d->db, &d->units);
	if (r < 0 || ctx->req->dry_run)
		return r;
	return deploy_hooks_run(ctx, "before_stop", &plan->hooks.before_stop);
}

/* "a.service, b.service on app2 (user manager); c.service on app3": what a dry run would stop,
 * host by host when the plan has remote hosts; "" for none. */
static int units_phrase(const DeployUnits *u, char **ret)
{
	_cleanup_free_ char *all = NULL;

	for (size_t i = 0; i < u->n_hosts; i++) {
		_cleanup_free_ char *units = NULL;
		char *grown;

		if (strv_join(u->hosts[i].units, ", ", &units) < 0 ||
		    asprintf(&grown, "%s%s%s%s%s%s", all ?: "", all ? "; " : "", units,
			     u->name_hosts ? " on " : "", u->name_hosts ? u->hosts[i].name : "",
			     u->name_hosts && u->hosts[i].bus == UNITS_BUS_USER ? " (user manager)"
										: "") < 0)
			return -ENOMEM;
		free(all);
		all = grown;
	}
	*ret = all ? TAKE_PTR(all) : strdup("");
	return *ret ? 0 : -ENOMEM;
}

/* "stopping a.service on app2 failed", naming the units that did. */
static int failed_units_phrase(const DeployUnits *u, const char *doing, char **ret)
{
	const char *failed = deploy_units_failed(u);

	if (failed)
		return asprintf(ret, "%s %s failed", doing, failed) < 0 ? -ENOMEM : 0;
	return asprintf(ret, "%s the units failed", doing) < 0 ? -ENOMEM : 0;
}

/* After a failure past preflight: the units stay stopped unless the plan says otherwise. */
static DeployExit fail(Deploy *d, DeployExit x, const char *what)
{
	DeployContext *ctx = &d->ctx;
	bool restart = x != DEPLOY_EXIT_CANCELLED && has_units(d) &&
		       ctx->plan->on_failure == PLAN_ON_FAILURE_START;
	_cleanup_free_ char *message = NULL;

	if (restart) {
		deploy_phase_begin(ctx, DEPLOY_PHASE_START);
		(void)deploy_phase_end(ctx, deploy_units_start(ctx, &d->units));
	}
	if (asprintf(&message, "Deploy %s of plan %s %s: %s; %s.", ctx->req->id, ctx->plan->name,
		     x == DEPLOY_EXIT_CANCELLED ? "was cancelled" : "failed", what,
		     !has_units(d) ? "no units were involved"
		     : restart	   ? "on_failure: start brought the units back"
				   : "the units are left stopped") < 0)
		message = NULL;
	return deploy_finish(ctx, x, message ?: "Deploy failed.");
}

static DeployExit run(Deploy *d)
{
	DeployContext *ctx = &d->ctx;
	const Plan *plan = ctx->plan;
	DeployExit x;
	int r;

	deploy_phase_begin(ctx, DEPLOY_PHASE_PREFLIGHT);
	x = deploy_exit_for(deploy_phase_end(ctx, preflight(d)), DEPLOY_EXIT_PREFLIGHT);
	if (x != DEPLOY_EXIT_OK)
		return deploy_finish(ctx, x,
				     x == DEPLOY_EXIT_BUSY
					     ? "Another deploy holds the deploy lock; nothing was "
					       "touched."
				     : x == DEPLOY_EXIT_CANCELLED
					     ? "The deploy was cancelled in preflight; nothing was "
					       "touched."
					     : "Preflight failed; nothing was touched and the "
					       "services are still running.");
	if (ctx->req->dry_run) {
		_cleanup_free_ char *units = NULL, *message = NULL;
		if (units_phrase(&d->units, &units) < 0 ||
		    asprintf(&message,
			     "Dry run of plan %s: would stop %s, %sapply %zu pending migration%s, "
			     "then start the units again. Nothing was changed.",
			     plan->name, units[0] ? units : "no units",
			     ctx->terminate_idle ? "terminate idle transactions, " : "",
			     deploy_migrate_n_pending(d->db),
			     deploy_migrate_n_pending(d->db) == 1 ? "" : "s") < 0)
			message = NULL;
		return deploy_finish(ctx, DEPLOY_EXIT_OK, message ?: "Dry run finished.");
	}

	if (has_units(d)) {
		_cleanup_free_ char *what = NULL;

		deploy_phase_begin(ctx, DEPLOY_PHASE_STOP);
		r = deploy_phase_end(ctx, deploy_units_stop(ctx, &d->units));
		if (r < 0 && failed_units_phrase(&d->units, "stopping", &what) < 0)
			return fail(d, DEPLOY_EXIT_INTERNAL, "stopping the units failed");
		if (r < 0)
			return fail(d, deploy_exit_for(r, DEPLOY_EXIT_STOP), what);
		r = deploy_preflight_locks_after_stop(&d->locks, ctx, d->db);
		if (r < 0)
			return fail(d, deploy_exit_for(r, DEPLOY_EXIT_STOP),
				    "checking that the units' sessions are gone failed");
	}

	if (ctx->terminate_idle) {
		deploy_phase_begin(ctx, DEPLOY_PHASE_IDLE);
		r = deploy_migrate_idle_terminate(d->db, plan->idle_transactions.older_than);
		x = deploy_exit_for(deploy_phase_end(ctx, r), DEPLOY_EXIT_MIGRATE);
		if (x != DEPLOY_EXIT_OK)
			return fail(d, x, "terminating idle transactions failed");
	}

	deploy_phase_begin(ctx, DEPLOY_PHASE_MIGRATE);
	r = deploy_migrate_apply(d->db);
	if (r >= 0)
		r = deploy_hooks_run(ctx, "after_migrate", &plan->hooks.after_migrate);
	x = deploy_exit_for(deploy_phase_end(ctx, r), DEPLOY_EXIT_MIGRATE);
	if (x != DEPLOY_EXIT_OK)
		return fail(d, x, "migrating failed");

	if (has_units(d)) {
		_cleanup_free_ char *message = NULL;

		deploy_phase_begin(ctx, DEPLOY_PHASE_START);
		r = deploy_phase_end(ctx, deploy_units_start(ctx, &d->units));
		if (r < 0 && deploy_units_failed(&d->units) &&
		    asprintf(&message,
			     "The migrations are applied, but %s did not come up; see the "
			     "unit-failed entries.",
			     deploy_units_failed(&d->units)) < 0)
			message = NULL;
		if (r < 0)
			return deploy_finish(ctx, deploy_exit_for(r, DEPLOY_EXIT_START),
					     message
						     ?: "The migrations are applied, but a unit "
							"did not come up; see its unit-failed "
							"entry.");
	}
	r = deploy_hooks_run(ctx, "after_start", &plan->hooks.after_start);
	if (r < 0)
		return deploy_finish(ctx, deploy_exit_for(r, DEPLOY_EXIT_START),
				     "The deploy is in place, but the after_start hook failed.");

	_cleanup_free_ char *message = NULL;
	size_t n_units = plan_n_units(plan);
	char hosts[32] = "";
	if (d->units.name_hosts)
		snprintf(hosts, sizeof(hosts), " on %zu hosts", d->units.n_hosts);
	if (asprintf(&message,
		     "Deploy %s of plan %s succeeded: %zu migration%s applied, %zu unit%s "
		     "restarted%s.",
		     ctx->req->id, plan->name, deploy_migrate_n_pending(d->db),
		     deploy_migrate_n_pending(d->db) == 1 ? "" : "s", n_units,
		     n_units == 1 ? "" : "s", hosts) < 0)
		message = NULL;
	return deploy_finish(ctx, DEPLOY_EXIT_OK, message ?: "Deploy succeeded.");
}

DeployExit deploy_run(const Plan *plan, const DeployRequest *req, int cancel_fd, EventSink sink,
		      void *userdata)
{
	Deploy d = {};

	deploy_context_init(&d.ctx, plan, req, cancel_fd, sink, userdata);
	Event *ev = deploy_event(
		&d.ctx, EVENT_DEPLOY_STARTED, LOG_NOTICE, "Deploy %s of plan %s started%s%s%s%s%s.",
		req->id, plan->name, req->release ? " (release " : "", req->release ?: "",
		req->release ? ")" : "", req->requester ? ", asked by " : "", req->requester ?: "");

	if (ev && (event_add(ev, "DEPLOY_RELEASE", "%s", req->release ?: "") < 0 ||
		   event_add(ev, "REQUESTER_UID", "%u", (unsigned)req->requester_uid) < 0 ||
		   (req->requester && event_add(ev, "REQUESTER", "%s", req->requester) < 0) ||
		   event_add(ev, "DEPLOY_DRY_RUN", "%s", req->dry_run ? "yes" : "no") < 0))
		ev = event_free(ev);
	deploy_emit(&d.ctx, ev);

	DeployExit x = deploy_units_init(&d.units, plan) < 0
			       ? deploy_finish(&d.ctx, DEPLOY_EXIT_INTERNAL, "Out of memory.")
			       : run(&d);
	/* Closing the sessions frees the deploy lock: only then may another deploy begin, and
	 * only then is the end told. */
	deploy_migrate_free(d.db);
	deploy_units_done(&d.units);
	deploy_preflight_locks_done(&d.locks);
	deploy_finish_send(&d.ctx);
	return x;
}
