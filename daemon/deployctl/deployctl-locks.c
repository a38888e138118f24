/* deployctl locks FILE|PLAN — every lock wait in the plan's database right now, with who
 * blocks it: the lock watch's report for every waiting session. */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "deployctl-client.h"
#include "pg-cleanup.h"
#include "deployctl.h"
#include "exit-code.h"
#include "lockwatch-event.h"
#include "lockwatch.h"
#include "watch-session.h"

#define LOCKS_APPLICATION_NAME "deployctl/locks"

static void help(FILE *f)
{
	fprintf(f,
		"Usage: deployctl [--plans DIR] locks FILE|PLAN [--json]\n"
		"Shows every session of the plan's database that waits on a lock, and who\n"
		"blocks it: pid, user, application, client, state, the lock modes, the\n"
		"relation and the start of the blocker's query; blockers that are blocked\n"
		"themselves are followed to the root of the chain.  A prepared transaction\n"
		"shows as pid 0 with its gid.  Needs pg_read_all_stats to see other roles'\n"
		"sessions.\n\n"
		"  --json         one JSON object per blocker, with the fields of a\n"
		"                 lock-wait event\n"
		"  -h, --help     show this help\n\n"
		"Exit status: 0 shown (waits or none), 1 error, 2 usage error, 3 plan invalid.\n");
}

static int print_json(const LockSnapshot *s)
{
	for (size_t i = 0; i < s->n_blockers; i++) {
		_cleanup_(event_freep) Event *ev = NULL;
		_cleanup_free_ char *message = NULL;
		int r;

		r = lockwatch_blocker_to_event(&s->blockers[i], EVENT_LOCK_WAIT,
					       DEPLOY_PHASE_MIGRATE, &ev);
		if (r < 0)
			return r;
		/* Not only migrations wait here. */
		r = lockwatch_blocker_message(&s->blockers[i], "Session", false, &message);
		if (r >= 0)
			r = event_set_message(ev, "%s", message);
		if (r >= 0)
			r = ctl_print_event_json(stdout, ev);
		if (r < 0)
			return r;
	}
	return 0;
}

static int print_human(const LockSnapshot *s, const char *database)
{
	size_t n_waiting = 0;

	for (size_t i = 0; i < s->n_blockers; i++)
		if (i == 0 || s->blockers[i].blocked_pid != s->blockers[i - 1].blocked_pid)
			n_waiting++;
	if (n_waiting == 0) {
		printf("No session of database %s waits on a lock.\n", database);
		return 0;
	}
	printf("%zu session%s of database %s wait%s on a lock:\n", n_waiting,
	       n_waiting == 1 ? "" : "s", database, n_waiting == 1 ? "s" : "");
	for (size_t i = 0; i < s->n_blockers; i++) {
		const LockBlocker *b = &s->blockers[i];
		_cleanup_free_ char *message = NULL;
		int r = lockwatch_blocker_message(b, "Session", false, &message);

		if (r < 0)
			return r;
		printf("\n%s\n", message);
		if (b->query && b->query[0])
			printf("  pid %d's query: %s\n", b->blocker_pid, b->query);
	}
	return 0;
}

int verb_locks(int argc, char **argv, const CtlOptions *opts)
{
	enum { ARG_JSON = 0x100 };
	static const struct option options[] = {
		{"json", no_argument, NULL, ARG_JSON},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_(plan_freep) Plan *plan = NULL;
	_cleanup_(PQfinishp) PGconn *conn = NULL;
	_cleanup_(lockwatch_freep) LockWatch *watch = NULL;
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *snapshot = NULL;
	_cleanup_free_ char *error = NULL;
	bool json = false;
	int c, r;

	opterr = 0; /* getopt would name the verb as the program */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case ARG_JSON:
			json = true;
			break;
		case 'h':
			help(stdout);
			return DEPLOY_EXIT_OK;
		default:
			fprintf(stderr, "deployctl locks: unknown option '%s' (see --help)\n",
				argv[optind - 1]);
			return DEPLOY_EXIT_USAGE;
		}
	if (argc - optind != 1) {
		fprintf(stderr, "deployctl locks: give one FILE or PLAN (see --help)\n");
		return DEPLOY_EXIT_USAGE;
	}

	r = ctl_open_plan_database(argv[optind], opts, LOCKS_APPLICATION_NAME, &plan, &conn);
	if (r != DEPLOY_EXIT_OK)
		return r;
	r = watch_session_prepare(conn, &error);
	if (r >= 0)
		r = lockwatch_new_for_database(conn, &watch);
	if (r >= 0)
		r = lockwatch_check(watch, &snapshot, &error);
	if (r < 0) {
		fprintf(stderr, "%s: reading the lock waits of database %s failed: %s\n",
			plan->path, PQdb(conn), error ?: strerror(-r));
		return DEPLOY_EXIT_INTERNAL;
	}

	r = json ? print_json(snapshot) : print_human(snapshot, PQdb(conn));
	if (r < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "deployctl locks: %s\n", strerror(r < 0 ? -r : errno));
		return DEPLOY_EXIT_INTERNAL;
	}
	return DEPLOY_EXIT_OK;
}
