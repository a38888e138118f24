/* deployctl — the deployd client: global options, then one verb. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "deployctl.h"
#include "exit-code.h"
#include "plan.h"

static const CtlVerb verbs[] = {
	{"deploy",
	 "deploy PLAN [--terminate-idle|--no-terminate-idle] [--dry-run]\n"
	 "              [--release TEXT] [--json] [--detach]",
	 verb_deploy},
	{"status", "status [--follow] [--json]   current deploy, else the last one", verb_status},
	{"cancel", "cancel                       cancel the running deploy", verb_cancel},
	{"plans", "plans [--json]               plans the daemon can run", verb_plans},
	{"check", "check FILE|PLAN…             validate plans locally (no daemon)", verb_check},
	{"pending",
	 "pending FILE|PLAN            list pending migrations (connects to the database)",
	 verb_pending},
	{"forecast",
	 "forecast FILE|PLAN [--json]  the locks pending migrations will take, and who is in the\n"
	 "                               way right now (connects to the database)",
	 verb_forecast},
	{"locks", "locks FILE|PLAN [--json]     show lock waits and their blockers right now",
	 verb_locks},
	{"idle",
	 "idle FILE|PLAN [--older-than DURATION] [--terminate] [--json]\n"
	 "                               list (or terminate) idle-in-transaction sessions",
	 verb_idle},
	{"log",
	 "log [DEPLOY_ID|--last] [--json|--timeline]\n"
	 "                               the journal entries of one deploy, or its timeline",
	 verb_log},
};

static void help(FILE *f)
{
	fprintf(f, "Usage: deployctl [--socket PATH] [--plans DIR] COMMAND …\n"
		   "Talks to deployd, which stops services, migrates PostgreSQL fail-fast and\n"
		   "starts the services again.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		fprintf(f, "  %s\n", verbs[i].synopsis);
	fprintf(f, "\nOptions:\n"
		   "  --socket PATH   daemon socket (default /run/deployd.sock)\n"
		   "  --plans DIR     plan directory (default /etc/deployd/plans)\n"
		   "  -h, --help      show this help; COMMAND --help shows a command's\n"
		   "  --version       show the version\n");
}

int ctl_resolve_plan_path(const char *arg, const CtlOptions *opts, char **ret)
{
	size_t len = strlen(arg);

	if (strchr(arg, '/') || (len > 5 && strcmp(arg + len - 5, ".yaml") == 0)) {
		char *copy = strdup(arg);
		if (!copy)
			return -ENOMEM;
		*ret = copy;
		return 0;
	}
	return plan_path_for_name(opts->plans_dir, arg, ret);
}

int ctl_load_plan(const char *arg, const CtlOptions *opts, Plan **ret)
{
	_cleanup_free_ char *path = NULL, *error = NULL;
	int r;

	r = ctl_resolve_plan_path(arg, opts, &path);
	if (r == -EINVAL) {
		fprintf(stderr,
			"%s: not a plan name ([A-Za-z0-9_.-]+, no leading dot) nor a file "
			"(a path with '/' or ending in .yaml)\n",
			arg);
		return DEPLOY_EXIT_PLAN_INVALID;
	}
	if (r >= 0)
		r = plan_load(path, ret, &error);
	if (r == -ENOMEM || (r < 0 && !error)) {
		fprintf(stderr, "%s: %s\n", arg, strerror(-r));
		return DEPLOY_EXIT_INTERNAL;
	}
	if (r < 0) {
		fprintf(stderr, "%s\n", error);
		return DEPLOY_EXIT_PLAN_INVALID;
	}
	return DEPLOY_EXIT_OK;
}

int main(int argc, char **argv)
{
	enum { ARG_SOCKET = 0x100, ARG_PLANS, ARG_VERSION };
	static const struct option options[] = {
		{"socket", required_argument, NULL, ARG_SOCKET},
		{"plans", required_argument, NULL, ARG_PLANS},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, ARG_VERSION},
		{},
	};
	CtlOptions opts = {
		.socket_path = "/run/deployd.sock",
		.plans_dir = "/etc/deployd/plans",
	};
	int c;

	/* '+': stop at the verb, whose own options follow it. */
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
		switch (c) {
		case ARG_SOCKET:
			opts.socket_path = optarg;
			break;
		case ARG_PLANS:
			opts.plans_dir = optarg;
			break;
		case 'h':
			help(stdout);
			return DEPLOY_EXIT_OK;
		case ARG_VERSION:
			printf("deployctl %s\n", DEPLOYD_VERSION);
			return DEPLOY_EXIT_OK;
		default:
			return DEPLOY_EXIT_USAGE;
		}

	if (optind >= argc) {
		help(stderr);
		return DEPLOY_EXIT_USAGE;
	}
	int verb_argc = argc - optind;
	char **verb_argv = argv + optind;

	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (strcmp(verbs[i].name, verb_argv[0]) == 0) {
			optind = 0; /* re-initialise getopt for the verb's own options */
			return verbs[i].run(verb_argc, verb_argv, &opts);
		}
	fprintf(stderr, "deployctl: unknown command '%s' (see deployctl --help)\n", verb_argv[0]);
	return DEPLOY_EXIT_USAGE;
}
