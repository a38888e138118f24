/* deploy-units.h — the stop and start phases: units' outcomes as events, on every host.
 *
 * A plan's units live on hosts: this machine (services.units) and each entry of
 * services.remote, one service manager each.  deploy_units_preflight() connects to every
 * manager (remote ones over ssh) and checks that each has every unit it is to stop: one
 * deploy-failed event per host it cannot reach and per unit its manager does not have, all
 * hosts tried before it fails.  deploy_units_stop()/deploy_units_start() stop or start the
 * units of all hosts at once (one wait serves every connection; see units_stop_all()) and
 * report each as it is decided: unit-stopped/unit-started, or unit-failed with the job result,
 * ActiveState, the service's Result and, for this machine's units, its last journal lines
 * (a remote host whose connection went since the preflight is reached again first);
 * deploy_units_start() then watches that they stay active for `settle`.  Every unit event and
 * every host's deploy-failed event carries DEPLOY_HOST: this machine's host name, or the
 * remote host as the plan writes it.  Each returns 0 when every unit is where it should be,
 * -ECANCELED when cancelled, else a negative errno; deploy_units_failed() then names the units
 * (and hosts) that failed. */
#pragma once

#include "deploy-context.h"
#include "units.h"

/* One manager and its units. */
typedef struct DeployHost {
	char *name;	    /* DEPLOY_HOST */
	const char *remote; /* the plan's host; NULL for this machine */
	UnitsBus bus;
	char *const *units;
	UnitsManager *manager; /* NULL until connected */
} DeployHost;

typedef struct DeployUnits {
	DeployHost *hosts; /* this machine first when it has units, then services.remote */
	size_t n_hosts;
	bool name_hosts; /* messages say "on HOST" (the plan has remote hosts) */
	char *failed;	 /* "api.service on app2, …" of the last phase that failed */
} DeployUnits;

/* The hosts of plan, not connected yet; none when the plan has no units. */
int deploy_units_init(DeployUnits *u, const Plan *plan);
void deploy_units_done(DeployUnits *u);

int deploy_units_preflight(DeployContext *ctx, DeployUnits *u);
int deploy_units_stop(DeployContext *ctx, DeployUnits *u);
int deploy_units_start(DeployContext *ctx, DeployUnits *u);

/* "a.service on app2, b.service": the units the last failed phase reported failing; NULL when
 * none was (the phase failed as a whole). */
const char *deploy_units_failed(const DeployUnits *u);
