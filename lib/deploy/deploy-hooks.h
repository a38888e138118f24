/* deploy-hooks.h — a plan's hook commands (before_stop, after_migrate,
 * after_start), run as argv without a shell, one after another, each bounded
 * by hooks.timeout; every output line becomes a hook-output event.  Returns
 * 0 when all succeeded, -ECANCELED when cancelled, else a negative errno
 * after a deploy-failed event that says which command failed and how. */
#pragma once

#include "deploy-context.h"

int deploy_hooks_run(DeployContext *ctx, const char *which, const PlanHookList *hooks);
