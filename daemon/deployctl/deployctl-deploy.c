/* deployctl deploy PLAN — ask deployd for a deploy and show it live. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "deployctl-client.h"
#include "deployctl.h"
#include "exit-code.h"
#include "plan.h"

/* Returned by the record handler to end the call once the deploy has started. */
#define CTL_DETACHED 256

typedef struct DeployView {
	CtlRender render;
	bool detach;
	char deploy_id[64];
} DeployView;

static int on_deploy_record(const ProtoRecord *rec, void *userdata)
{
	DeployView *v = userdata;
	_cleanup_(event_freep) Event *ev = NULL;

	if (proto_record_to_event(rec, &ev) < 0) {
		ctl_render_record(&v->render, rec);
		return 0;
	}
	ctl_render_event(&v->render, ev);
	if (ev->type == EVENT_DEPLOY_STARTED) {
		snprintf(v->deploy_id, sizeof(v->deploy_id), "%s",
			 event_get(ev, "DEPLOY_ID") ?: "");
		if (v->detach)
			return CTL_DETACHED;
	}
	if (ev->type == EVENT_DEPLOY_FINISHED)
		ctl_render_summary(&v->render, ev);
	return 0;
}

static void on_interrupt(int sig _unused_)
{
	/* Only interrupts recv(); the main flow prints how to follow or cancel. */
}

static void help(void)
{
	printf("Usage: deployctl deploy PLAN [OPTIONS]\n"
	       "Stops the plan's units, migrates, starts them again; shows each step.\n\n"
	       "  --terminate-idle      terminate sessions idle in a transaction first\n"
	       "  --no-terminate-idle   do not, whatever the plan says\n"
	       "  --dry-run             preflight only: say what would happen\n"
	       "  --release TEXT        the release being deployed (recorded)\n"
	       "  --json                one JSON object per event\n"
	       "  --detach              return once the deploy has started\n"
	       "Ctrl-C detaches; the deploy goes on ('deployctl cancel' stops it).\n");
}

int verb_deploy(int argc, char **argv, const CtlOptions *opts)
{
	enum {
		ARG_TERMINATE = 0x100,
		ARG_NO_TERMINATE,
		ARG_DRY_RUN,
		ARG_RELEASE,
		ARG_JSON,
		ARG_DETACH
	};
	static const struct option options[] = {
		{"terminate-idle", no_argument, NULL, ARG_TERMINATE},
		{"no-terminate-idle", no_argument, NULL, ARG_NO_TERMINATE},
		{"dry-run", no_argument, NULL, ARG_DRY_RUN},
		{"release", required_argument, NULL, ARG_RELEASE},
		{"json", no_argument, NULL, ARG_JSON},
		{"detach", no_argument, NULL, ARG_DETACH},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_(proto_record_freep) ProtoRecord *req = NULL;
	const char *terminate = NULL, *release = NULL;
	bool dry_run = false, json = false;
	DeployView view = {};
	int c, r;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case ARG_TERMINATE:
			terminate = "yes";
			break;
		case ARG_NO_TERMINATE:
			terminate = "no";
			break;
		case ARG_DRY_RUN:
			dry_run = true;
			break;
		case ARG_RELEASE:
			release = optarg;
			break;
		case ARG_JSON:
			json = true;
			break;
		case ARG_DETACH:
			view.detach = true;
			break;
		case 'h':
			help();
			return DEPLOY_EXIT_OK;
		default:
			return DEPLOY_EXIT_USAGE;
		}
	if (optind != argc - 1) {
		fprintf(stderr, "deployctl deploy: expected exactly one PLAN name\n");
		return DEPLOY_EXIT_USAGE;
	}
	const char *plan = argv[optind];
	if (!plan_name_is_valid(plan)) {
		fprintf(stderr,
			"deployctl deploy: '%s' is not a plan name; the daemon runs plans by name "
			"from its plan directory ([A-Za-z0-9_.-]+)\n",
			plan);
		return DEPLOY_EXIT_USAGE;
	}

	/* Asked over ssh: say from where (the client address, first word of SSH_CONNECTION);
	 * the daemon records it beside the user it knows from the socket. */
	_cleanup_free_ char *host = NULL;
	const char *ssh = getenv("SSH_CONNECTION");
	if (ssh && ssh[0] && ssh[0] != ' ')
		host = strndup(ssh, strcspn(ssh, " "));

	if ((r = proto_record_new(&req)) < 0 ||
	    (r = proto_record_add(req, "COMMAND", "deploy")) < 0 ||
	    (r = proto_record_add(req, "PLAN", plan)) < 0 ||
	    (r = proto_record_add(req, "DRY_RUN", dry_run ? "yes" : "no")) < 0 ||
	    (terminate && (r = proto_record_add(req, "TERMINATE_IDLE", terminate)) < 0) ||
	    (release && (r = proto_record_add(req, "RELEASE", release)) < 0) ||
	    (host && (r = proto_record_add(req, "REQUESTER_HOST", host)) < 0)) {
		fprintf(stderr, "deployctl deploy: bad request: %s\n",
			r == -EINVAL ? "the release text is not valid UTF-8" : strerror(-r));
		return DEPLOY_EXIT_USAGE;
	}

	struct sigaction sa = {.sa_handler = on_interrupt};
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: recv() returns EINTR */

	ctl_render_init(&view.render, stdout, json, plan);
	r = ctl_call(opts->socket_path, req, on_deploy_record, &view);
	ctl_render_done(&view.render);

	if (r == CTL_DETACHED || r == -EINTR) {
		fprintf(stderr,
			"%sDeploy %s goes on without this terminal.\n"
			"Follow it: deployctl status --follow    Cancel it: deployctl cancel\n",
			r == -EINTR ? "\nDetached. " : "", view.deploy_id[0] ? view.deploy_id : "");
		return r == -EINTR ? 128 + SIGINT : DEPLOY_EXIT_OK;
	}
	if (r < 0)
		return ctl_unreachable(opts->socket_path, r);
	return r;
}
