/* deploy-units.h — the stop and start phases: units' outcomes as events.
 *
 * deploy_units_check() is the preflight part (one deploy-failed event per
 * unit the manager does not have).  deploy_units_stop()/deploy_units_start()
 * stop or start every unit of the plan at once and report each as it is
 * decided: unit-stopped/unit-started, or unit-failed with the job result,
 * ActiveState, the service's Result and its last journal lines;
 * deploy_units_start() then watches that they stay active for `settle`.
 * Each returns 0 when every unit is where it should be, -ECANCELED when
 * cancelled, else a negative errno. */
#pragma once

#include "deploy-context.h"
#include "units.h"

int deploy_units_check(DeployContext *ctx, UnitsManager *m);
int deploy_units_stop(DeployContext *ctx, UnitsManager *m);
int deploy_units_start(DeployContext *ctx, UnitsManager *m);
