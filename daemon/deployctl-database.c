/* What the verbs that look at a plan's database (locks, idle) share: the plan and a session
 * on its database, and reports as JSON lines. */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "deployctl.h"
#include "exit-code.h"
#include "pg.h"

int ctl_open_plan_database(const char *arg, const CtlOptions *opts, const char *application_name,
			   Plan **ret_plan, PGconn **ret_conn)
{
	_cleanup_(plan_freep) Plan *plan = NULL;
	_cleanup_free_ char *path = NULL, *error = NULL, *conninfo = NULL, *masked = NULL;
	_cleanup_(PQfinishp) PGconn *conn = NULL;
	PgError e = {};
	int r;

	r = ctl_resolve_plan_path(arg, opts, &path);
	if (r == -EINVAL) {
		fprintf(stderr,
			"%s: not a plan name ([A-Za-z0-9_.-]+, no leading dot) nor a file "
			"(a path with '/' or ending in .yaml)\n",
			arg);
		return DEPLOY_EXIT_PLAN_INVALID;
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", arg, strerror(-r));
		return DEPLOY_EXIT_INTERNAL;
	}
	r = plan_load(path, &plan, &error);
	if (r == -ENOMEM) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return DEPLOY_EXIT_INTERNAL;
	}
	if (r < 0) {
		fprintf(stderr, "%s\n", error);
		return DEPLOY_EXIT_PLAN_INVALID;
	}

	r = pg_conninfo_resolve(&plan->database, &conninfo, &error);
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
		pg_session_settings_from_plan(&plan->database, application_name);
	r = pg_connect(conninfo, &settings, NULL, &conn, &e);
	if (r < 0) {
		fprintf(stderr, "%s (%s): %s\n", plan->path, masked, e.message ?: strerror(-r));
		pg_error_done(&e);
		return DEPLOY_EXIT_INTERNAL;
	}

	*ret_plan = TAKE_PTR(plan);
	*ret_conn = TAKE_PTR(conn);
	return DEPLOY_EXIT_OK;
}

int ctl_print_event_json(FILE *f, const Event *ev)
{
	json_object *o = json_object_new_object();
	int r = 0;

	if (!o)
		return -ENOMEM;
	if (json_object_object_add(o, "MESSAGE", json_object_new_string(ev->message ?: "")) < 0)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < ev->n_fields; i++)
		if (json_object_object_add(o, ev->fields[i].key,
					   json_object_new_string(ev->fields[i].value)) < 0)
			r = -ENOMEM;
	if (r == 0)
		fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return r;
}
