#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "deploy-units.h"
#include "strv.h"

/* " on " and a host as a plan may write it (remote-host.h), or this machine's name. */
#define WHERE_MAX 320

typedef struct UnitsReport {
	DeployContext *ctx;
	DeployUnits *units;
	EventType ok_type; /* unit-stopped or unit-started */
	const char *doing; /* "stop", "start", "stay active" */
	bool out_of_memory;
} UnitsReport;

/* " on HOST" in messages of a plan with remote hosts, "" otherwise (as before there were
 * any). */
static const char *on(const DeployUnits *u, const DeployHost *h, char buf[static WHERE_MAX])
{
	if (!u->name_hosts)
		return "";
	snprintf(buf, WHERE_MAX, " on %s", h->name);
	return buf;
}

static int add_host(Event *ev, const DeployHost *h)
{
	return event_add(ev, "DEPLOY_HOST", "%s", h->name);
}

static Event *failed_event(DeployContext *ctx, const DeployUnits *u, const DeployHost *h,
			   const UnitOutcome *o, const char *doing)
{
	_cleanup_free_ char *lines = NULL, *why = NULL;
	char where[WHERE_MAX];

	if (o->journal_lines && strv_join(o->journal_lines, "\n  ", &lines) < 0)
		return NULL;
	if (o->error == -ETIMEDOUT)
		why = strdup("it did not finish within the plan's timeout");
	else if (o->error_message)
		why = strdup(o->error_message); /* the manager refused the job, or was lost */
	else if (asprintf(&why, "%s%s%sunit %s%s%s%s", o->job_result ? "job " : "",
			  o->job_result ?: "", o->job_result ? ", " : "",
			  o->active_state ?: "unknown", o->service_result ? " (result " : "",
			  o->service_result ?: "", o->service_result ? ")" : "") < 0)
		why = NULL;

	Event *ev = deploy_event(ctx, EVENT_UNIT_FAILED, LOG_ERR, "Unit %s%s did not %s: %s.%s%s",
				 o->name, on(u, h, where), doing, why ?: "unknown",
				 lines ? " Its last journal lines:\n  " : "", lines ?: "");
	if (ev && (event_add(ev, "DEPLOY_UNIT", "%s", o->name) < 0 || add_host(ev, h) < 0 ||
		   event_add(ev, "JOB_RESULT", "%s", o->job_result ?: "") < 0 ||
		   event_add(ev, "UNIT_ACTIVE_STATE", "%s", o->active_state ?: "") < 0 ||
		   event_add(ev, "UNIT_RESULT", "%s", o->service_result ?: "") < 0 ||
		   (lines && event_add(ev, "UNIT_JOURNAL", "%s", lines) < 0)))
		ev = event_free(ev);
	return ev;
}

/* Adds "UNIT[ on HOST]" to the list of failed units. */
static int note_failed(DeployUnits *u, const DeployHost *h, const char *unit)
{
	char where[WHERE_MAX];
	char *grown;

	if (asprintf(&grown, "%s%s%s%s", u->failed ?: "", u->failed ? ", " : "", unit,
		     on(u, h, where)) < 0)
		return -ENOMEM;
	free(u->failed);
	u->failed = grown;
	return 0;
}

static void on_unit_outcome(const UnitOutcome *o, void *userdata)
{
	UnitsReport *report = userdata;
	DeployContext *ctx = report->ctx;
	const DeployHost *h = &report->units->hosts[o->target];
	unsigned long long ms = (unsigned long long)(o->duration / USEC_PER_MSEC);
	char where[WHERE_MAX];
	Event *ev;

	if (o->error < 0) {
		if (note_failed(report->units, h, o->name) < 0)
			report->out_of_memory = true;
		deploy_emit(ctx, failed_event(ctx, report->units, h, o, report->doing));
		return;
	}
	if (report->ok_type == _EVENT_TYPE_MAX)
		return; /* settle reports only the units that fell */
	ev = deploy_event(ctx, report->ok_type, LOG_INFO, "Unit %s%s %s (job %s) in %llu ms.",
			  o->name, on(report->units, h, where),
			  report->ok_type == EVENT_UNIT_STOPPED ? "stopped" : "started",
			  o->job_result ?: "done", ms);
	if (ev && (event_add(ev, "DEPLOY_UNIT", "%s", o->name) < 0 || add_host(ev, h) < 0 ||
		   event_add(ev, "JOB_RESULT", "%s", o->job_result ?: "") < 0 ||
		   event_add(ev, "UNIT_ACTIVE_STATE", "%s", o->active_state ?: "") < 0 ||
		   event_add(ev, "DURATION_MS", "%llu", ms) < 0))
		ev = event_free(ev);
	deploy_emit(ctx, ev);
}

static int bus_failure(DeployContext *ctx, int r, const char *doing)
{
	if (r != -ECANCELED)
		deploy_emit(ctx, deploy_event(ctx, EVENT_DEPLOY_FAILED, LOG_ERR,
					      "Could not %s the units: the service manager did not "
					      "answer (%s).",
					      doing, strerror(-r)));
	return r;
}

/* A deploy-failed event about host h (and one of its units). */
static void host_failed(DeployContext *ctx, const DeployHost *h, const char *unit, const char *fmt,
			...) _printf_(4, 5);
static void host_failed(DeployContext *ctx, const DeployHost *h, const char *unit, const char *fmt,
			...)
{
	_cleanup_free_ char *message = NULL;
	va_list ap;

	va_start(ap, fmt);
	int n = vasprintf(&message, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	Event *ev = deploy_event(ctx, EVENT_DEPLOY_FAILED, LOG_ERR, "%s", message);
	if (ev && (add_host(ev, h) < 0 || (unit && event_add(ev, "DEPLOY_UNIT", "%s", unit) < 0)))
		ev = event_free(ev);
	deploy_emit(ctx, ev);
}

static int connect_host(DeployContext *ctx, DeployUnits *u, DeployHost *h)
{
	static const UnitsSshOptions ssh_defaults = {};
	_cleanup_free_ char *error = NULL;
	char where[WHERE_MAX];
	int r;

	if (!h->remote) {
		r = units_connect(h->bus, &h->manager);
		if (r < 0 && r != -ENOMEM)
			host_failed(ctx, h, NULL, "Cannot reach the %s service manager%s: %s.",
				    plan_bus_to_string(h->bus), on(u, h, where), strerror(-r));
		return r;
	}
	r = units_connect_remote(h->remote, h->bus, ctx->req->ssh ?: &ssh_defaults, ctx->cancel_fd,
				 &h->manager, &error);
	if (r < 0 && r != -ENOMEM && r != -ECANCELED)
		host_failed(ctx, h, NULL, "Cannot reach the %s service manager on %s: %s.",
			    plan_bus_to_string(h->bus), h->name, error ?: strerror(-r));
	return r;
}

/* Returns 1 (after an event saying so) when the manager reached could not say which kind it
 * is, or is not the kind the plan names: an authorized_keys line whose forced command ignores
 * the command deployd sends hands out whichever bus it names. */
static int report_manager_kind(DeployContext *ctx, DeployUnits *u, DeployHost *h,
			       const UnitsCheck *c)
{
	char where[WHERE_MAX];

	if (c->kind_error == -EPROTO) {
		host_failed(ctx, h, NULL,
			    "The service manager reached%s is neither a system nor a user manager "
			    "(its unit search path names neither /etc/systemd/system nor "
			    "/etc/systemd/user); the plan says bus: %s.",
			    on(u, h, where), plan_bus_to_string(h->bus));
		return 1;
	}
	if (c->kind_error < 0) {
		host_failed(ctx, h, NULL,
			    "Could not ask the service manager%s which it is: it did not answer "
			    "(%s).",
			    on(u, h, where), strerror(-c->kind_error));
		return 1;
	}
	if (c->kind == h->bus)
		return 0;
	if (!h->remote)
		host_failed(ctx, h, NULL,
			    "The service manager reached%s is the %s manager, but the plan says "
			    "bus: %s.",
			    on(u, h, where), plan_bus_to_string(c->kind),
			    plan_bus_to_string(h->bus));
	else
		host_failed(
			ctx, h, NULL,
			"The service manager reached on %s is the %s manager, but the plan says "
			"bus: %s. The key's line in authorized_keys there forces a command "
			"that picks the bus regardless of the one deployd asks for: for bus: "
			"%s it must be %s (deployd(8), REMOTE HOSTS).",
			h->name, plan_bus_to_string(c->kind), plan_bus_to_string(h->bus),
			plan_bus_to_string(h->bus),
			h->bus == UNITS_BUS_USER
				? "restrict,command=\"systemd-stdio-bridge "
				  "--bus-path=unix:path=/run/user/UID/bus\" with the user's UID"
				: "restrict,command=\"systemd-stdio-bridge\"");
	return 1;
}

/* Returns 1 when the host's check failed (one event for each thing in the way: the manager,
 * or each unit it lacks), 0 when all is there. */
static int report_host(DeployContext *ctx, DeployUnits *u, DeployHost *h, const UnitsCheck *c)
{
	char where[WHERE_MAX];
	int r = report_manager_kind(ctx, u, h, c);

	if (r != 0)
		return r;
	if (c->result < 0) {
		host_failed(ctx, h, NULL,
			    "Could not check the units%s: the service manager did not answer (%s).",
			    on(u, h, where), strerror(-c->result));
		return 1;
	}
	for (UnitProblem *p = c->problems; p && p->name; p++) {
		/* The manager's own sentence ends with its full stop. */
		size_t len = p->message ? strlen(p->message) : 0;
		host_failed(ctx, h, p->name, "Unit %s%s cannot be deployed: it is %s%s%s%s",
			    p->name, on(u, h, where), p->load_state ?: "unknown to the manager",
			    p->message ? ": " : "", p->message ?: "",
			    len > 0 && p->message[len - 1] == '.' ? "" : ".");
	}
	return c->result > 0;
}

/* Connects every remote host at once (units_connect_remote_all()): one connect timeout in
 * all, however many do not answer; one deploy-failed event for each that does not. */
static int connect_remotes(DeployContext *ctx, DeployUnits *u, bool *failed)
{
	static const UnitsSshOptions ssh_defaults = {};
	_cleanup_free_ UnitsRemote *remotes = calloc(u->n_hosts + 1, sizeof(UnitsRemote));
	_cleanup_free_ size_t *index = calloc(u->n_hosts + 1, sizeof(size_t));
	size_t n = 0;
	int r;

	if (!remotes || !index)
		return -ENOMEM;
	for (size_t i = 0; i < u->n_hosts; i++)
		if (u->hosts[i].remote) {
			index[n] = i;
			remotes[n++] =
				(UnitsRemote){.host = u->hosts[i].remote, .which = u->hosts[i].bus};
		}
	r = units_connect_remote_all(remotes, n, ctx->req->ssh ?: &ssh_defaults, ctx->cancel_fd);
	for (size_t k = 0; k < n; k++) {
		DeployHost *h = &u->hosts[index[k]];

		h->manager = TAKE_PTR(remotes[k].manager);
		if (r >= 0 && remotes[k].error < 0) {
			*failed = true;
			host_failed(ctx, h, NULL, "Cannot reach the %s service manager on %s: %s.",
				    plan_bus_to_string(h->bus), h->name,
				    remotes[k].error_message ?: strerror(-remotes[k].error));
		}
		free(remotes[k].error_message);
	}
	return r;
}

/* Checks every connected host at once (units_check_all()): which manager it is and that it
 * has the units, all within one start_timeout however many hosts there are; then one event
 * for each thing in the way, host by host in the plan's order. */
static int check_hosts(DeployContext *ctx, DeployUnits *u, bool *failed)
{
	_cleanup_free_ UnitsCheck *checks = calloc(u->n_hosts + 1, sizeof(UnitsCheck));
	_cleanup_free_ size_t *index = calloc(u->n_hosts + 1, sizeof(size_t));
	UnitsOptions o = {.timeout = ctx->plan->services.start_timeout,
			  .cancel_fd = ctx->cancel_fd};
	size_t n = 0;
	int r;

	if (!checks || !index)
		return -ENOMEM;
	for (size_t i = 0; i < u->n_hosts; i++)
		if (u->hosts[i].manager) {
			index[n] = i;
			checks[n++] = (UnitsCheck){.manager = u->hosts[i].manager,
						   .units = u->hosts[i].units,
						   .ask_kind = true};
		}
	r = units_check_all(checks, n, &o);
	for (size_t k = 0; k < n; k++) {
		if (r >= 0 && report_host(ctx, u, &u->hosts[index[k]], &checks[k]) != 0)
			*failed = true;
		units_problems_free(checks[k].problems);
	}
	return r;
}

int deploy_units_preflight(DeployContext *ctx, DeployUnits *u)
{
	bool failed = false;
	int r;

	/* Every host is tried, so that one deploy names every host and unit in the way. */
	r = connect_remotes(ctx, u, &failed);
	if (r < 0)
		return r;
	for (size_t i = 0; i < u->n_hosts; i++) {
		DeployHost *h = &u->hosts[i];

		if (h->remote)
			continue; /* connected above, or named as unreachable */
		r = connect_host(ctx, u, h);
		if (r == -ENOMEM)
			return r;
		failed = failed || r < 0;
	}
	r = check_hosts(ctx, u, &failed);
	if (r < 0)
		return r;
	return failed ? -ENOENT : 0;
}

/* A remote host's connection may have gone since the preflight (a long migration, a network
 * blip): such a host is reached again before its units are stopped or started.  When that
 * fails (and says so), the old connection stays, and its units fail as lost. */
static int reconnect_lost(DeployContext *ctx, DeployUnits *u)
{
	for (size_t i = 0; i < u->n_hosts; i++) {
		DeployHost *h = &u->hosts[i];
		UnitsManager *lost = h->manager;

		if (!h->remote || !lost || units_manager_is_connected(lost))
			continue;
		h->manager = NULL;
		int r = connect_host(ctx, u, h);
		if (r == -ENOMEM || r == -ECANCELED) {
			h->manager = lost;
			return r;
		}
		if (r < 0)
			h->manager = lost;
		else
			units_manager_free(lost);
	}
	return 0;
}

/* The connected hosts as targets of units_*_all(): all of them after a good preflight. */
static int targets(const DeployUnits *u, UnitsTarget **ret)
{
	UnitsTarget *t = calloc(u->n_hosts + 1, sizeof(UnitsTarget));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < u->n_hosts; i++) {
		if (!u->hosts[i].manager) {
			free(t);
			return -ENOTCONN;
		}
		t[i] = (UnitsTarget){u->hosts[i].manager, u->hosts[i].units};
	}
	*ret = t;
	return 0;
}

static int finish(UnitsReport *report, int r, const char *doing)
{
	if (report->out_of_memory)
		return -ENOMEM;
	if (r < 0)
		return bus_failure(report->ctx, r, doing);
	return r > 0 ? -EIO : 0;
}

int deploy_units_stop(DeployContext *ctx, DeployUnits *u)
{
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	_cleanup_free_ UnitsTarget *t = NULL;
	UnitsReport report = {
		.ctx = ctx, .units = u, .ok_type = EVENT_UNIT_STOPPED, .doing = "stop"};
	UnitsOptions o = {.timeout = ctx->plan->services.stop_timeout,
			  .cancel_fd = ctx->cancel_fd,
			  .on_outcome = on_unit_outcome,
			  .userdata = &report};
	int r = reconnect_lost(ctx, u);

	if (r >= 0)
		r = targets(u, &t);
	if (r < 0)
		return bus_failure(ctx, r, "stop");
	free(u->failed);
	u->failed = NULL;
	r = units_stop_all(t, u->n_hosts, &o, &outcomes);
	return finish(&report, r, "stop");
}

int deploy_units_start(DeployContext *ctx, DeployUnits *u)
{
	_cleanup_(units_outcomes_freep) UnitOutcome *started = NULL, *settled = NULL;
	_cleanup_free_ UnitsTarget *t = NULL;
	UnitsReport report = {
		.ctx = ctx, .units = u, .ok_type = EVENT_UNIT_STARTED, .doing = "start"};
	UnitsOptions o = {.timeout = ctx->plan->services.start_timeout,
			  .cancel_fd = ctx->cancel_fd,
			  .on_outcome = on_unit_outcome,
			  .userdata = &report};
	int r = reconnect_lost(ctx, u);

	if (r >= 0)
		r = targets(u, &t);
	if (r < 0)
		return bus_failure(ctx, r, "start");
	free(u->failed);
	u->failed = NULL;
	o.journal_since = now_usec(CLOCK_REALTIME);
	r = units_start_all(t, u->n_hosts, &o, &started);
	r = finish(&report, r, "start");
	if (r < 0 || ctx->plan->services.settle == 0)
		return r;

	/* A crash loop of the new code shows here, after the start jobs succeeded. */
	report = (UnitsReport){
		.ctx = ctx, .units = u, .ok_type = _EVENT_TYPE_MAX, .doing = "stay active"};
	o.timeout = ctx->plan->services.settle;
	r = units_settle_all(t, u->n_hosts, &o, &settled);
	return finish(&report, r, "watch");
}

const char *deploy_units_failed(const DeployUnits *u)
{
	return u->failed;
}

static int this_host_name(char **ret)
{
	char name[HOST_NAME_MAX + 1] = "";

	/* The journal's _HOSTNAME, which names this machine in a multi-host deploy's events. */
	if (gethostname(name, sizeof(name) - 1) < 0 || !name[0])
		snprintf(name, sizeof(name), "localhost");
	*ret = strdup(name);
	return *ret ? 0 : -ENOMEM;
}

int deploy_units_init(DeployUnits *u, const Plan *plan)
{
	const PlanServices *s = &plan->services;
	bool local = s->units && s->units[0];
	size_t n = (local ? 1 : 0) + s->n_remote, i = 0;
	int r;

	*u = (DeployUnits){.name_hosts = s->n_remote > 0};
	if (n == 0)
		return 0;
	u->hosts = calloc(n, sizeof(DeployHost));
	if (!u->hosts)
		return -ENOMEM;
	u->n_hosts = n;
	if (local) {
		u->hosts[i] = (DeployHost){.bus = s->bus, .units = s->units};
		r = this_host_name(&u->hosts[i++].name);
		if (r < 0)
			return r;
	}
	for (size_t k = 0; k < s->n_remote; k++, i++) {
		u->hosts[i] = (DeployHost){.remote = s->remote[k].host,
					   .bus = s->remote[k].bus,
					   .units = s->remote[k].units,
					   .name = strdup(s->remote[k].host)};
		if (!u->hosts[i].name)
			return -ENOMEM;
	}
	return 0;
}

void deploy_units_done(DeployUnits *u)
{
	_cleanup_free_ UnitsManager **managers = calloc(u->n_hosts + 1, sizeof(UnitsManager *));

	/* All at once: with many hosts, their ssh processes end together. */
	for (size_t i = 0; u->hosts && i < u->n_hosts; i++) {
		free(u->hosts[i].name);
		if (managers)
			managers[i] = TAKE_PTR(u->hosts[i].manager);
		else
			units_manager_free(u->hosts[i].manager);
	}
	if (managers)
		units_managers_free(managers, u->n_hosts);
	free(u->hosts);
	free(u->failed);
	*u = (DeployUnits){};
}
