/* deploy-forecast.h — the dry run's lock forecast as events.
 *
 * deploy_forecast_events() forecasts the pending migrations on conn (forecast.h) and builds
 * one lock-forecast event per statement and one forecast-holder event per session or
 * prepared transaction that holds or waits for a conflicting lock right now; for a
 * migration command, one lock-forecast event saying there is no SQL to read.  The events
 * are of phase; the caller sends them (deploy_emit() adds DEPLOY_ID and DEPLOY_PLAN). */
#pragma once

#include <stddef.h>
#include <libpq-fe.h>

#include "event.h"
#include "migrations.h"

typedef struct DeployForecastEvents {
	Event **events;
	size_t n;
} DeployForecastEvents;

void deploy_forecast_events_done(DeployForecastEvents *e);

/* command: the migration command line, or NULL for directory migrations.  On failure
 * *ret_error (if given) says why; -ENOMEM leaves it NULL. */
int deploy_forecast_events(PGconn *conn, Migration *const *pending, size_t n_pending,
			   const char *command, DeployPhase phase, DeployForecastEvents *ret,
			   char **ret_error);
