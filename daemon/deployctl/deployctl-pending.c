/* deployctl pending FILE|PLAN — the migrations a deploy would apply, and the applied ones with
 * their checksum status.  Connects to the database read-only, without the deploy lock, and
 * touches nothing (a missing history table is not created). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "deployctl.h"
#include "exit-code.h"
#include "migrations.h"
#include "pg.h"
#include "plan.h"
#include "strv.h"

#define PENDING_APPLICATION_NAME "deployctl/pending"

static void help(FILE *f)
{
	fprintf(f, "Usage: deployctl [--plans DIR] pending FILE|PLAN\n"
		   "Lists the plan's migrations: applied ones with their checksum status\n"
		   "(applied, changed since applied, missing file) and pending ones, in version\n"
		   "order, with when and by whom each was applied (adopted: recorded from\n"
		   "another tool's history).  Connects to the database read-only and changes\n"
		   "nothing.\n\n"
		   "  -h, --help     show this help\n\n"
		   "Exit status: 0 listed, 1 error or an applied file was changed (a deploy\n"
		   "would refuse to run), 2 usage error, 3 plan invalid.\n");
}

static void print_status(const MigrationStatus *s, int version_width)
{
	const char *name = s->file ? s->file->name : s->entry->name;
	const char *by = s->entry && s->entry->applied_by ? s->entry->applied_by : "";

	printf("%*s  %-7s  %-30s  %-32s  %s", version_width, s->version,
	       migration_state_to_string(s->state), name, s->entry ? s->entry->applied_at : "", by);
	if (s->entry && s->entry->adopted)
		printf(" (adopted)");
	if (s->state == MIGRATION_CHANGED)
		printf("  (recorded %.12s…, file now %.12s…)", s->entry->checksum,
		       s->file->checksum);
	else if (s->state == MIGRATION_MISSING)
		printf("  (in the history, no file)");
	printf("\n");
}

/* Lists a directory plan's migrations; returns the exit code. */
static int list(const Plan *plan)
{
	_cleanup_free_ char *masked = NULL, *error = NULL;
	_cleanup_(PQfinishp) PGconn *conn = NULL;
	_cleanup_(migrations_history_done) MigrationHistory history = {};
	_cleanup_free_ MigrationStatus *status = NULL;
	Migration *files = NULL;
	size_t n_files = 0, n_status = 0, counts[MIGRATION_MISSING + 1] = {};
	PgError e = {};
	int r, version_width = 7;

	r = migrations_discover(plan->migrations.format, plan->migrations.directory, &files,
				&n_files, &error);
	if (r < 0) {
		fprintf(stderr, "%s\n", error ?: strerror(-r));
		return DEPLOY_EXIT_INTERNAL;
	}

	r = ctl_connect_plan_database(plan, PENDING_APPLICATION_NAME, true, &conn, &masked);
	if (r != DEPLOY_EXIT_OK) {
		migrations_free(files, n_files);
		return r;
	}
	r = migrations_history_read(conn, plan->migrations.table, NULL, &history, &e);
	if (r >= 0)
		r = migrations_status(files, n_files, &history, &status, &n_status);
	if (r < 0) {
		fprintf(stderr, "%s (%s): %s%s%s\n", plan->path, masked, e.sqlstate,
			e.sqlstate[0] ? " " : "", e.message ?: strerror(-r));
		pg_error_done(&e);
		migrations_free(files, n_files);
		return DEPLOY_EXIT_INTERNAL;
	}

	printf("%s: %s, history %s%s\n", plan->name, masked, plan->migrations.table,
	       history.exists ? "" : " (not created yet)");
	for (size_t i = 0; i < n_status; i++) {
		int w = (int)strlen(status[i].version);
		if (w > version_width)
			version_width = w;
	}
	if (n_status > 0)
		printf("%*s  %-7s  %-30s  %-32s  %s\n", version_width, "VERSION", "STATE", "NAME",
		       "APPLIED AT", "APPLIED BY");
	for (size_t i = 0; i < n_status; i++) {
		print_status(&status[i], version_width);
		counts[status[i].state]++;
	}
	printf("%zu applied, %zu pending, %zu changed, %zu missing\n", counts[MIGRATION_APPLIED],
	       counts[MIGRATION_PENDING], counts[MIGRATION_CHANGED], counts[MIGRATION_MISSING]);
	migrations_free(files, n_files);

	if (counts[MIGRATION_CHANGED] > 0) {
		fprintf(stderr,
			"deployctl pending: %zu applied migration%s changed since applied; a "
			"deploy "
			"would refuse to run\n",
			counts[MIGRATION_CHANGED],
			counts[MIGRATION_CHANGED] == 1 ? " was" : "s were");
		return DEPLOY_EXIT_INTERNAL;
	}
	return DEPLOY_EXIT_OK;
}

int verb_pending(int argc, char **argv, const CtlOptions *opts)
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_(plan_freep) Plan *plan = NULL;
	_cleanup_free_ char *command = NULL;
	int c, r;

	opterr = 0; /* getopt would name the verb as the program */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			help(stdout);
			return DEPLOY_EXIT_OK;
		default:
			fprintf(stderr, "deployctl pending: unknown option '%s' (see --help)\n",
				argv[optind - 1]);
			return DEPLOY_EXIT_USAGE;
		}
	if (argc - optind != 1) {
		fprintf(stderr, "deployctl pending: give one FILE or PLAN (see --help)\n");
		return DEPLOY_EXIT_USAGE;
	}

	r = ctl_load_plan(argv[optind], opts, &plan);
	if (r != DEPLOY_EXIT_OK)
		return r;

	if (plan->migrations.command) {
		if (strv_join(plan->migrations.command, " ", &command) < 0)
			return DEPLOY_EXIT_INTERNAL;
		printf("%s: migrations are applied by the command %s, which keeps its own "
		       "history; deployd cannot list them\n",
		       plan->name, command);
		return DEPLOY_EXIT_OK;
	}
	return list(plan);
}
