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

int main(int argc, char **argv)
{
	const CtlVerb *verb = NULL;
	CtlOptions opts;
	int x = ctl_parse_global(argc, argv, &opts, &verb);

	if (x >= 0)
		return x;
	x = ctl_run_verb(local_verbs, ELEMENTSOF(local_verbs), verb, argc, argv, &opts);
	if (x >= 0)
		return x;
	fprintf(stderr, "deployctl-local: '%s' is run by deployctl itself\n", verb->name);
	return DEPLOY_EXIT_USAGE;
}
