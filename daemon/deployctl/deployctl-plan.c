/* FILE|PLAN arguments of the local verbs (deployctl.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "deployctl.h"
#include "exit-code.h"
#include "plan.h"

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
