/* deployctl-local — the verbs of deployctl that read plans, databases or the journal, run by
 * deployctl with its own arguments (deployctl.h). */
#include <stdio.h>

#include "cleanup.h"
#include "deployctl.h"
#include "exit-code.h"

static const CtlVerbRun local_verbs[] = {
	{"check", verb_check}, {"pending", verb_pending}, {"forecast", verb_forecast},
	{"locks", verb_locks}, {"idle", verb_idle},	  {"log", verb_log},
};

static int run_by_deployctl(const CtlVerb *verb, char **argv _unused_)
{
	fprintf(stderr, "deployctl-local: '%s' is run by deployctl itself\n", verb->name);
	return DEPLOY_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	return ctl_main(argc, argv, local_verbs, ELEMENTSOF(local_verbs), run_by_deployctl);
}
