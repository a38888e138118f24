/* deployctl status | cancel | plans — short questions to deployd. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "deployctl-client.h"
#include "deployctl.h"
#include "exit-code.h"

static int on_record(const ProtoRecord *rec, void *userdata)
{
	CtlRender *render = userdata;
	_cleanup_(event_freep) Event *ev = NULL;

	if (proto_record_to_event(rec, &ev) < 0) {
		ctl_render_record(render, rec);
		return 0;
	}
	ctl_render_event(render, ev);
	if (ev->type == EVENT_DEPLOY_FINISHED)
		ctl_render_summary(render, ev);
	return 0;
}

static int call_simple(const CtlOptions *opts, const char *command, bool follow, bool json)
{
	_cleanup_(proto_record_freep) ProtoRecord *req = NULL;
	CtlRender render;
	int r;

	if ((r = proto_record_new(&req)) < 0 ||
	    (r = proto_record_add(req, "COMMAND", command)) < 0 ||
	    (follow && (r = proto_record_add(req, "FOLLOW", "yes")) < 0))
		return DEPLOY_EXIT_INTERNAL;
	ctl_render_init(&render, stdout, json, NULL);
	r = ctl_call(opts->socket_path, req, on_record, &render);
	ctl_render_done(&render);
	if (r < 0)
		return ctl_unreachable(opts->socket_path, r);
	return r;
}

static int parse_flags(int argc, char **argv, const char *usage, bool *follow, bool *json)
{
	static const struct option options[] = {
		{"follow", no_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'f':
			if (!follow)
				return -EINVAL;
			*follow = true;
			break;
		case 'j':
			if (!json)
				return -EINVAL;
			*json = true;
			break;
		case 'h':
			printf("%s\n", usage);
			return 1;
		default:
			return -EINVAL;
		}
	if (optind != argc) {
		fprintf(stderr, "deployctl %s: unexpected argument '%s'\n", argv[0], argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int verb_status(int argc, char **argv, const CtlOptions *opts)
{
	bool follow = false, json = false;
	int r = parse_flags(argc, argv,
			    "Usage: deployctl status [--follow] [--json]\n"
			    "Shows the running deploy, else the last one; --follow streams it.",
			    &follow, &json);

	if (r != 0)
		return r > 0 ? DEPLOY_EXIT_OK : DEPLOY_EXIT_USAGE;
	return call_simple(opts, "status", follow, json);
}

int verb_cancel(int argc, char **argv, const CtlOptions *opts)
{
	int r = parse_flags(
		argc, argv,
		"Usage: deployctl cancel\n"
		"Cancels the running deploy: its statement is cancelled and rolled back.",
		NULL, NULL);

	if (r != 0)
		return r > 0 ? DEPLOY_EXIT_OK : DEPLOY_EXIT_USAGE;
	return call_simple(opts, "cancel", false, false);
}

int verb_plans(int argc, char **argv, const CtlOptions *opts)
{
	bool json = false;
	int r = parse_flags(argc, argv,
			    "Usage: deployctl plans [--json]\nLists the plans the daemon can run.",
			    NULL, &json);

	if (r != 0)
		return r > 0 ? DEPLOY_EXIT_OK : DEPLOY_EXIT_USAGE;
	return call_simple(opts, "plans", false, json);
}
