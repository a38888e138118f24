/* deployctl — the deployd client: global options, then one verb; the verbs that do not talk
 * to the daemon run in deployctl-local (deployctl.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "deployctl.h"
#include "exit-code.h"

static const CtlVerbRun daemon_verbs[] = {
	{"deploy", verb_deploy},
	{"status", verb_status},
	{"cancel", verb_cancel},
	{"plans", verb_plans},
};

/* Beside this program (a build tree, where nothing is installed), else where it is installed. */
static void local_program(char ret[static PATH_MAX])
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash &&
		    snprintf(ret, PATH_MAX, "%.*s/deployctl-local", (int)(slash - self), self) <
			    PATH_MAX &&
		    access(ret, X_OK) == 0)
			return;
	}
	snprintf(ret, PATH_MAX, "%s", DEPLOYCTL_LOCAL_PATH);
}

/* The local verbs run in deployctl-local, with the same arguments. */
static int run_local(const CtlVerb *verb, char **argv)
{
	char path[PATH_MAX];

	if (!verb->local)
		return DEPLOY_EXIT_INTERNAL;
	local_program(path);
	execv(path, argv);
	fprintf(stderr, "deployctl: cannot run %s for '%s': %s\n", path, verb->name,
		strerror(errno));
	return DEPLOY_EXIT_INTERNAL;
}

int main(int argc, char **argv)
{
	return ctl_main(argc, argv, daemon_verbs, ELEMENTSOF(daemon_verbs), run_local);
}
