/* deployctl check FILE|PLAN… — validates plans locally: no daemon, no database. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "deployctl.h"
#include "duration.h"
#include "exit-code.h"
#include "plan.h"
#include "strv.h"

static void help(FILE *f)
{
	fprintf(f, "Usage: deployctl [--plans DIR] check FILE|PLAN…\n"
		   "Validates plans without the daemon or the database and prints a one-line\n"
		   "summary of each valid plan; errors go to stderr as FILE:LINE:COLUMN: message.\n"
		   "A PLAN name is looked up as DIR/PLAN.yaml.\n\n"
		   "  -h, --help     show this help\n\n"
		   "Exit status: 0 all plans valid, 3 a plan is invalid, 2 usage error.\n");
}

static int print_summary(const char *arg, const Plan *p)
{
	_cleanup_free_ char *migrations = NULL;
	char lock[DURATION_FORMAT_MAX], statement[DURATION_FORMAT_MAX];
	size_t n_units = strv_length(p->services.units);

	if (p->migrations.directory)
		migrations = strdup(p->migrations.directory);
	else if (strv_join(p->migrations.command, " ", &migrations) < 0)
		return -ENOMEM;
	if (!migrations)
		return -ENOMEM;

	size_t n_remote_units = plan_n_units(p) - n_units;
	char remote[64] = "";
	if (p->services.n_remote > 0)
		snprintf(remote, sizeof(remote), " and %zu on %zu remote host%s", n_remote_units,
			 p->services.n_remote, p->services.n_remote == 1 ? "" : "s");

	printf("%s: ok — plan \"%s\": %zu unit%s (%s bus)%s, migrations %s %s, lock_timeout %s, "
	       "statement_timeout %s\n",
	       arg, p->name, n_units, n_units == 1 ? "" : "s", plan_bus_to_string(p->services.bus),
	       remote, p->migrations.directory ? "from" : "by", migrations,
	       duration_format(p->database.lock_timeout, lock),
	       p->database.statement_timeout
		       ? duration_format(p->database.statement_timeout, statement)
		       : "off");
	return 0;
}

/* Returns the exit code for one argument. */
static int check_one(const char *arg, const CtlOptions *opts)
{
	_cleanup_(plan_freep) Plan *plan = NULL;
	int r = ctl_load_plan(arg, opts, &plan);

	if (r != DEPLOY_EXIT_OK)
		return r;
	r = print_summary(plan->path, plan);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", arg, strerror(-r));
		return DEPLOY_EXIT_INTERNAL;
	}
	return DEPLOY_EXIT_OK;
}

int verb_check(int argc, char **argv, const CtlOptions *opts)
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c, result = DEPLOY_EXIT_OK;

	opterr = 0; /* getopt would name the verb as the program */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			help(stdout);
			return DEPLOY_EXIT_OK;
		default:
			fprintf(stderr, "deployctl check: unknown option '%s' (see --help)\n",
				argv[optind - 1]);
			return DEPLOY_EXIT_USAGE;
		}
	if (optind >= argc) {
		fprintf(stderr, "deployctl check: give at least one FILE or PLAN (see --help)\n");
		return DEPLOY_EXIT_USAGE;
	}

	for (int i = optind; i < argc; i++) {
		int r = check_one(argv[i], opts);
		/* An internal error outranks an invalid plan: the check itself failed. */
		if (r == DEPLOY_EXIT_INTERNAL || result == DEPLOY_EXIT_OK)
			result = r;
	}
	return result;
}
