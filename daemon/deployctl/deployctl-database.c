/* What the verbs that look at a plan's database (locks, idle) share: the plan and a session
 * on its database, and reports as JSON lines. */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "deployctl.h"
#include "exit-code.h"
#include "pg.h"

int ctl_connect_plan_database(const Plan *plan, const char *application_name, bool read_only,
			      PGconn **ret_conn, char **ret_masked)
{
	_cleanup_free_ char *conninfo = NULL, *masked = NULL, *error = NULL;
	PgError e = {};
	int r;

	r = pg_conninfo_resolve(plan->database.conninfo_source, plan->database.conninfo, &conninfo,
				&error);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", plan->path, error ?: strerror(-r));
		return DEPLOY_EXIT_INTERNAL;
	}
	if (pg_conninfo_mask(conninfo, &masked) < 0) {
		fprintf(stderr,
			"%s: the conninfo is neither key=value pairs nor a postgresql:// URI\n",
			plan->path);
		return DEPLOY_EXIT_INTERNAL;
	}
	PgSessionSettings settings =
		plan_database_session_settings(&plan->database, application_name);
	settings.read_only = read_only;
	r = pg_connect(conninfo, &settings, NULL, ret_conn, &e);
	if (r < 0) {
		fprintf(stderr, "%s (%s): %s\n", plan->path, masked, e.message ?: strerror(-r));
		pg_error_done(&e);
		return DEPLOY_EXIT_INTERNAL;
	}
	if (ret_masked)
		*ret_masked = TAKE_PTR(masked);
	return DEPLOY_EXIT_OK;
}

int ctl_open_plan_database(const char *arg, const CtlOptions *opts, const char *application_name,
			   Plan **ret_plan, PGconn **ret_conn)
{
	_cleanup_(plan_freep) Plan *plan = NULL;
	int r;

	r = ctl_load_plan(arg, opts, &plan);
	if (r == DEPLOY_EXIT_OK)
		r = ctl_connect_plan_database(plan, application_name, false, ret_conn, NULL);
	if (r == DEPLOY_EXIT_OK)
		*ret_plan = TAKE_PTR(plan);
	return r;
}
