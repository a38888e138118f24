/* deployctl.h — the client's verbs.  Each verb lives in its own
 * deployctl-VERB.c, parses its own options from argv (argv[0] is the verb)
 * and returns the process exit code (exit-code.h).
 *
 * Two programs share them: deployctl runs the verbs that talk to the daemon (deploy, status,
 * cancel, plans) and links nothing else (no libpq, libsystemd or libyaml: a `deployctl
 * deploy` starts in a few milliseconds); it hands the local verbs, which read plans,
 * databases or the journal, to deployctl-local with the same arguments
 * (DEPLOYCTL_LOCAL_PATH, or the deployctl-local beside it in a build tree). */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <libpq-fe.h>

#include "event.h"
#include "plan.h"

typedef struct CtlOptions {
	const char *socket_path; /* --socket, default /run/deployd.sock */
	const char *plans_dir;	 /* --plans, default /etc/deployd/plans */
} CtlOptions;

typedef struct CtlVerb {
	const char *name;
	const char *synopsis; /* one line for --help */
	bool local;	      /* run by deployctl-local */
} CtlVerb;

/* Every verb, in --help's order, ended by an empty entry. */
extern const CtlVerb ctl_verbs[];
const CtlVerb *ctl_verb_find(const char *name);
/* What runs a verb, in one of the two programs. */
typedef struct CtlVerbRun {
	const char *name;
	int (*run)(int argc, char **argv, const CtlOptions *opts);
} CtlVerbRun;
/* The main() of both programs: parses the global options up to the verb and runs it with the
 * entry of runs[0…n) of its name; a verb none of them has goes to elsewhere (argv whole).
 * The process's exit code (--help, --version and usage errors included). */
int ctl_main(int argc, char **argv, const CtlVerbRun *runs, size_t n,
	     int (*elsewhere)(const CtlVerb *verb, char **argv));

int verb_check(int argc, char **argv, const CtlOptions *opts);
int verb_deploy(int argc, char **argv, const CtlOptions *opts);
int verb_status(int argc, char **argv, const CtlOptions *opts);
int verb_cancel(int argc, char **argv, const CtlOptions *opts);
int verb_plans(int argc, char **argv, const CtlOptions *opts);
int verb_log(int argc, char **argv, const CtlOptions *opts);
int verb_locks(int argc, char **argv, const CtlOptions *opts);
int verb_idle(int argc, char **argv, const CtlOptions *opts);
int verb_pending(int argc, char **argv, const CtlOptions *opts);
int verb_forecast(int argc, char **argv, const CtlOptions *opts);

/* Resolves FILE|PLAN: an argument containing '/' or ending in ".yaml" is a
 * file, anything else a plan name looked up in opts->plans_dir. */
int ctl_resolve_plan_path(const char *arg, const CtlOptions *opts, char **ret);
/* Loads FILE|PLAN.  Returns DEPLOY_EXIT_OK, else the exit code (3 for a plan that is not
 * valid or not found, 1 otherwise) after saying why on stderr. */
int ctl_load_plan(const char *arg, const CtlOptions *opts, Plan **ret);

/* Resolves the plan's conninfo and opens a session with its timeouts as application_name;
 * hands back the masked conninfo for messages (ret_masked may be NULL).  Returns
 * DEPLOY_EXIT_OK, else the exit code after saying why on stderr. */
int ctl_connect_plan_database(const Plan *plan, const char *application_name, bool read_only,
			      PGconn **ret_conn, char **ret_masked);
/* For the verbs that look at a plan's database (locks, idle): loads FILE|PLAN, resolves its
 * conninfo and opens a session with the plan's timeouts as application_name.  Returns
 * DEPLOY_EXIT_OK, else the exit code after saying why on stderr (the conninfo masked). */
int ctl_open_plan_database(const char *arg, const CtlOptions *opts, const char *application_name,
			   Plan **ret_plan, PGconn **ret_conn);
