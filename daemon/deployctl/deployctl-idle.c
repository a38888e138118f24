/* deployctl idle FILE|PLAN [--older-than DURATION] [--terminate] — the sessions of the plan's
 * database that sit idle in a transaction, listed or terminated. */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "deployctl-client.h"
#include "pg-cleanup.h"
#include "deployctl.h"
#include "duration.h"
#include "exit-code.h"
#include "idle-event.h"
#include "idle.h"

#define IDLE_APPLICATION_NAME "deployctl/idle"

static void help(FILE *f)
{
	fprintf(f, "Usage: deployctl [--plans DIR] idle FILE|PLAN [--older-than DURATION]\n"
		   "                 [--terminate] [--json]\n"
		   "Lists the sessions of the plan's database that have been idle in a\n"
		   "transaction (or in an aborted one) for longer than DURATION, or terminates\n"
		   "them.  Superusers' sessions are left alone unless the plan's role is\n"
		   "superuser.  Seeing other roles' sessions needs pg_read_all_stats,\n"
		   "terminating them pg_signal_backend.\n\n"
		   "  --older-than DURATION  e.g. 30s, 2min (default: the plan's\n"
		   "                         idle_transactions.older_than, 60s unless set)\n"
		   "  --terminate            terminate them (pg_terminate_backend)\n"
		   "  --json                 one JSON object per session, with the fields of an\n"
		   "                         idle-found (idle-terminated) event\n"
		   "  -h, --help             show this help\n\n"
		   "Exit status: 0 listed or terminated (or none found), 1 error (a missing\n"
		   "privilege among them), 2 usage error, 3 plan invalid.\n");
}

static int print_sessions(const IdleSessions *s, bool terminate, bool json, const char *database,
			  usec_t older_than)
{
	char age[DURATION_FORMAT_MAX];

	duration_format(older_than, age);
	if (!json && s->n_sessions == 0)
		printf("No session of database %s has been idle in a transaction for more than "
		       "%s.\n",
		       database, age);
	else if (!json)
		printf("%s %zu session%s of database %s idle in a transaction for more than "
		       "%s:\n",
		       terminate ? "Terminated" : "Found", s->n_sessions,
		       s->n_sessions == 1 ? "" : "s", database, age);

	for (size_t i = 0; i < s->n_sessions; i++) {
		_cleanup_(event_freep) Event *ev = NULL;
		int r;

		r = idle_session_to_event(&s->sessions[i],
					  terminate ? EVENT_IDLE_TERMINATED : EVENT_IDLE_FOUND,
					  DEPLOY_PHASE_IDLE, &ev);
		if (r < 0)
			return r;
		if (json) {
			r = ctl_print_event_json(stdout, ev);
			if (r < 0)
				return r;
		} else
			printf("  %s\n", ev->message);
	}
	return 0;
}

int verb_idle(int argc, char **argv, const CtlOptions *opts)
{
	enum { ARG_OLDER_THAN = 0x100, ARG_TERMINATE, ARG_JSON };
	static const struct option options[] = {
		{"older-than", required_argument, NULL, ARG_OLDER_THAN},
		{"terminate", no_argument, NULL, ARG_TERMINATE},
		{"json", no_argument, NULL, ARG_JSON},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_(plan_freep) Plan *plan = NULL;
	_cleanup_(PQfinishp) PGconn *conn = NULL;
	_cleanup_(idle_sessions_freep) IdleSessions *sessions = NULL;
	_cleanup_free_ char *error = NULL;
	const char *older_than_arg = NULL, *reason = NULL;
	bool terminate = false, json = false;
	usec_t older_than = 0;
	int c, r;

	opterr = 0; /* getopt would name the verb as the program */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case ARG_OLDER_THAN:
			older_than_arg = optarg;
			break;
		case ARG_TERMINATE:
			terminate = true;
			break;
		case ARG_JSON:
			json = true;
			break;
		case 'h':
			help(stdout);
			return DEPLOY_EXIT_OK;
		default:
			fprintf(stderr,
				"deployctl idle: unknown option or missing value '%s' (see "
				"--help)\n",
				argv[optind - 1]);
			return DEPLOY_EXIT_USAGE;
		}
	if (argc - optind != 1) {
		fprintf(stderr, "deployctl idle: give one FILE or PLAN (see --help)\n");
		return DEPLOY_EXIT_USAGE;
	}
	if (older_than_arg && duration_parse(older_than_arg, &older_than, &reason) < 0) {
		fprintf(stderr, "deployctl idle: --older-than %s: %s\n", older_than_arg,
			reason ?: "not a duration");
		return DEPLOY_EXIT_USAGE;
	}

	r = ctl_open_plan_database(argv[optind], opts, IDLE_APPLICATION_NAME, &plan, &conn);
	if (r != DEPLOY_EXIT_OK)
		return r;
	if (!older_than_arg)
		older_than = plan->idle_transactions.older_than;

	IdleFilter filter = {.older_than = older_than};
	r = terminate ? idle_terminate(conn, &filter, &sessions, &error)
		      : idle_list(conn, &filter, &sessions, &error);
	if (r < 0) {
		fprintf(stderr, "%s: %s idle sessions of database %s failed: %s\n", plan->path,
			terminate ? "terminating" : "listing", PQdb(conn), error ?: strerror(-r));
		return DEPLOY_EXIT_INTERNAL;
	}

	r = print_sessions(sessions, terminate, json, PQdb(conn), older_than);
	if (r < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "deployctl idle: %s\n", strerror(r < 0 ? -r : errno));
		return DEPLOY_EXIT_INTERNAL;
	}
	return DEPLOY_EXIT_OK;
}
