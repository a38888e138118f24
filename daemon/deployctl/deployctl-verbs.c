/* The verbs and the global options, shared by deployctl and deployctl-local (deployctl.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "deployctl.h"
#include "exit-code.h"

const CtlVerb ctl_verbs[] = {
	{"deploy",
	 "deploy PLAN [--terminate-idle|--no-terminate-idle] [--dry-run]\n"
	 "              [--release TEXT] [--json] [--detach]",
	 false},
	{"status", "status [--follow] [--json]   current deploy, else the last one", false},
	{"cancel", "cancel                       cancel the running deploy", false},
	{"plans", "plans [--json]               plans the daemon can run", false},
	{"check", "check FILE|PLAN…             validate plans locally (no daemon)", true},
	{"pending",
	 "pending FILE|PLAN            list pending migrations (connects to the database)", true},
	{"forecast",
	 "forecast FILE|PLAN [--json]  the locks pending migrations will take, and who is in the\n"
	 "                               way right now (connects to the database)",
	 true},
	{"locks", "locks FILE|PLAN [--json]     show lock waits and their blockers right now",
	 true},
	{"idle",
	 "idle FILE|PLAN [--older-than DURATION] [--terminate] [--json]\n"
	 "                               list (or terminate) idle-in-transaction sessions",
	 true},
	{"log",
	 "log [DEPLOY_ID|--last] [--json|--timeline]\n"
	 "                               the journal entries of one deploy, or its timeline",
	 true},
	{},
};

const CtlVerb *ctl_verb_find(const char *name)
{
	for (const CtlVerb *v = ctl_verbs; v->name; v++)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

static void help(FILE *f)
{
	fprintf(f, "Usage: deployctl [--socket PATH] [--plans DIR] COMMAND …\n"
		   "Talks to deployd, which stops services, migrates PostgreSQL fail-fast and\n"
		   "starts the services again.\n\n"
		   "Commands:\n");
	for (const CtlVerb *v = ctl_verbs; v->name; v++)
		fprintf(f, "  %s\n", v->synopsis);
	fprintf(f, "\nOptions:\n"
		   "  --socket PATH   daemon socket (default /run/deployd.sock)\n"
		   "  --plans DIR     plan directory (default /etc/deployd/plans)\n"
		   "  -h, --help      show this help; COMMAND --help shows a command's\n"
		   "  --version       show the version\n");
}

/* Parses the global options up to the verb.  Returns -1 with *ret_opts and *ret_verb (the verb
 * is argv[optind]) when the verb is to run, else the exit code (--help, --version, a usage
 * error, said on stderr). */
static int parse_global(int argc, char **argv, CtlOptions *ret_opts, const CtlVerb **ret_verb)
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
	const CtlVerb *verb = ctl_verb_find(argv[optind]);
	if (!verb) {
		fprintf(stderr, "deployctl: unknown command '%s' (see deployctl --help)\n",
			argv[optind]);
		return DEPLOY_EXIT_USAGE;
	}
	*ret_opts = opts;
	*ret_verb = verb;
	return -1;
}

int ctl_main(int argc, char **argv, const CtlVerbRun *runs, size_t n,
	     int (*elsewhere)(const CtlVerb *verb, char **argv))
{
	const CtlVerb *verb = NULL;
	CtlOptions opts;
	int x = parse_global(argc, argv, &opts, &verb);

	if (x >= 0)
		return x;
	for (size_t i = 0; i < n; i++)
		if (strcmp(runs[i].name, verb->name) == 0) {
			int verb_index = optind;
			optind = 0; /* re-initialise getopt for the verb's own options */
			return runs[i].run(argc - verb_index, argv + verb_index, &opts);
		}
	return elsewhere(verb, argv);
}
