/* deployctl-local — the verbs of deployctl that read plans, databases or the journal, run by
 * deployctl with its own arguments (deployctl.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "deployctl.h"
#include "exit-code.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv, const CtlOptions *opts);
} local_verbs[] = {
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
	for (size_t i = 0; i < ELEMENTSOF(local_verbs); i++)
		if (strcmp(local_verbs[i].name, verb->name) == 0) {
			int verb_index = optind;
			optind = 0; /* re-initialise getopt for the verb's own options */
			return local_verbs[i].run(argc - verb_index, argv + verb_index, &opts);
		}
	fprintf(stderr, "deployctl-local: '%s' is run by deployctl itself\n", verb->name);
	return DEPLOY_EXIT_USAGE;
}
