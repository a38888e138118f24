#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "deploy-hooks.h"
#include "spawn-command.h"
#include "strv.h"

typedef struct HookOutput {
	DeployContext *ctx;
	const char *which;
} HookOutput;

static void on_hook_line(SpawnStream stream, const char *line, void *userdata)
{
	HookOutput *h = userdata;
	Event *ev = deploy_event(h->ctx, EVENT_HOOK_OUTPUT,
				 stream == SPAWN_STDERR ? LOG_WARNING : LOG_INFO, "%s: %s",
				 h->which, line);

	if (ev && event_add(ev, "OUTPUT_STREAM", "%s", spawn_stream_to_string(stream)) < 0)
		ev = event_free(ev);
	deploy_emit(h->ctx, ev);
}

/* Hooks get the deploy's identity, like a migration command, and a minimal PATH. */
static int hook_environment(const DeployContext *ctx, char ***ret)
{
	_cleanup_strv_free_ char **env = NULL;
	char *entry;

	if (asprintf(&entry, "DEPLOY_ID=%s", ctx->req->id) < 0 || strv_push(&env, entry) < 0 ||
	    asprintf(&entry, "DEPLOY_PLAN=%s", ctx->plan->name) < 0 || strv_push(&env, entry) < 0 ||
	    asprintf(&entry, "DEPLOY_RELEASE=%s", ctx->req->release ?: "") < 0 ||
	    strv_push(&env, entry) < 0 ||
	    strv_extend(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") <
		    0)
		return -ENOMEM;
	*ret = TAKE_PTR(env);
	return 0;
}

int deploy_hooks_run(DeployContext *ctx, const char *which, const PlanHookList *hooks)
{
	_cleanup_strv_free_ char **env = NULL;
	HookOutput out = {.ctx = ctx, .which = which};
	int r;

	if (hooks->n_commands == 0)
		return 0;
	r = hook_environment(ctx, &env);
	if (r < 0)
		return r;

	for (size_t i = 0; i < hooks->n_commands; i++) {
		_cleanup_free_ char *error = NULL, *cmdline = NULL;
		SpawnOptions o = {
			.argv = hooks->commands[i],
			.envp = env,
			.timeout = ctx->plan->hooks.timeout,
			.cancel_fd = ctx->cancel_fd,
			.output = on_hook_line,
			.userdata = &out,
			.redact = ctx->secrets,
		};
		SpawnResult result;

		if (strv_join(hooks->commands[i], " ", &cmdline) < 0)
			return -ENOMEM;
		r = spawn_run(&o, &result, &error);
		if (r < 0) {
			deploy_emit(ctx, deploy_event(ctx, EVENT_DEPLOY_FAILED, LOG_ERR,
						      "Hook %s could not run '%s': %s", which,
						      cmdline, error ?: strerror(-r)));
			return r;
		}
		switch (result.outcome) {
		case SPAWN_EXITED:
			if (result.status == 0)
				continue;
			deploy_emit(ctx, deploy_event(ctx, EVENT_DEPLOY_FAILED, LOG_ERR,
						      "Hook %s '%s' exited with status %d.", which,
						      cmdline, result.status));
			return -EIO;
		case SPAWN_SIGNALED:
			deploy_emit(ctx,
				    deploy_event(ctx, EVENT_DEPLOY_FAILED, LOG_ERR,
						 "Hook %s '%s' was killed by signal %s.", which,
						 cmdline, sigabbrev_np(result.status) ?: "?"));
			return -EIO;
		case SPAWN_TIMED_OUT:
			deploy_emit(ctx,
				    deploy_event(ctx, EVENT_DEPLOY_FAILED, LOG_ERR,
						 "Hook %s '%s' did not finish within its timeout "
						 "and was killed.",
						 which, cmdline));
			return -ETIMEDOUT;
		case SPAWN_CANCELLED:
			return -ECANCELED;
		}
	}
	return 0;
}
