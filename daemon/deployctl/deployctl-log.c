/* deployctl log [DEPLOY_ID|--last] — one deploy's journal entries, read with sd-journal. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "deploy.h"
#include "deployctl-client.h"
#include "deployctl-timeline.h"
#include "deployctl.h"
#include "exit-code.h"

/* Journal fields that are the journal's own, not the event's. */
static bool field_is_journal_own(const char *key)
{
	return key[0] == '_' || strcmp(key, "MESSAGE_ID") == 0 || strncmp(key, "CODE_", 5) == 0 ||
	       strcmp(key, "SYSLOG_IDENTIFIER") == 0;
}

static int entry_to_record(sd_journal *j, ProtoRecord **ret)
{
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	const void *data;
	size_t len;
	int r;

	r = proto_record_new(&rec);
	if (r < 0)
		return r;
	SD_JOURNAL_FOREACH_DATA(j, data, len)
	{
		const char *eq = memchr(data, '=', len);
		if (!eq)
			continue;
		_cleanup_free_ char *key = strndup(data, (size_t)(eq - (const char *)data));
		_cleanup_free_ char *value =
			strndup(eq + 1, len - (size_t)(eq + 1 - (const char *)data));
		if (!key || !value)
			return -ENOMEM;
		if (field_is_journal_own(key))
			continue;
		/* A field that does not fit a record (binary data) is left out, not fatal. */
		(void)proto_record_add(rec, key, value);
	}
	*ret = TAKE_PTR(rec);
	return 0;
}

static int find_last_deploy(sd_journal *j, char ret[DEPLOY_ID_LENGTH + 1])
{
	const void *data;
	size_t len;
	int r;

	r = sd_journal_add_match(j, "DEPLOY_EVENT=deploy-started", 0);
	if (r < 0)
		return r;
	r = sd_journal_seek_tail(j);
	if (r >= 0)
		r = sd_journal_previous(j);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	r = sd_journal_get_data(j, "DEPLOY_ID", &data, &len);
	if (r < 0)
		return r;
	if (len != strlen("DEPLOY_ID=") + DEPLOY_ID_LENGTH)
		return -EBADMSG;
	memcpy(ret, (const char *)data + strlen("DEPLOY_ID="), DEPLOY_ID_LENGTH);
	ret[DEPLOY_ID_LENGTH] = '\0';
	sd_journal_flush_matches(j);
	return 0;
}

int verb_log(int argc, char **argv, const CtlOptions *opts _unused_)
{
	static const struct option options[] = {
		{"last", no_argument, NULL, 'l'},
		{"json", no_argument, NULL, 'j'},
		{"timeline", no_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_(sd_journal_closep) sd_journal *j = NULL;
	char id[DEPLOY_ID_LENGTH + 1] = "", match[64];
	_cleanup_(ctl_timeline_done) CtlTimeline timeline = {};
	bool json = false, last = false, as_timeline = false;
	CtlRender render;
	size_t shown = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'l':
			last = true;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			as_timeline = true;
			break;
		case 'h':
			printf("Usage: deployctl log [DEPLOY_ID|--last] [--json|--timeline]\n"
			       "Shows the journal entries of one deploy (default: the last); with\n"
			       "--timeline one line per phase and per migration instead, with bars "
			       "in\n"
			       "proportion to their duration.\n");
			return DEPLOY_EXIT_OK;
		default:
			return DEPLOY_EXIT_USAGE;
		}
	if (json && as_timeline) {
		fprintf(stderr, "deployctl log: --json and --timeline exclude each other\n");
		return DEPLOY_EXIT_USAGE;
	}
	if (argc - optind > 1 || (last && optind < argc)) {
		fprintf(stderr, "deployctl log: give one DEPLOY_ID or --last\n");
		return DEPLOY_EXIT_USAGE;
	}
	if (optind < argc) {
		if (!deploy_id_is_valid(argv[optind])) {
			fprintf(stderr, "deployctl log: '%s' is not a deploy id (32 hex digits)\n",
				argv[optind]);
			return DEPLOY_EXIT_USAGE;
		}
		snprintf(id, sizeof(id), "%s", argv[optind]);
	}

	r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0) {
		fprintf(stderr, "deployctl log: cannot open the journal: %s\n", strerror(-r));
		return DEPLOY_EXIT_INTERNAL;
	}
	if (!id[0]) {
		r = find_last_deploy(j, id);
		if (r < 0) {
			fprintf(stderr, "deployctl log: no deploy found in the journal%s\n",
				r == -ENOENT ? "" : " (cannot read it)");
			return DEPLOY_EXIT_INTERNAL;
		}
	}

	snprintf(match, sizeof(match), "DEPLOY_ID=%s", id);
	if ((r = sd_journal_add_match(j, match, 0)) < 0 || (r = sd_journal_seek_head(j)) < 0) {
		fprintf(stderr, "deployctl log: cannot read the journal: %s\n", strerror(-r));
		return DEPLOY_EXIT_INTERNAL;
	}
	ctl_render_init(&render, stdout, json, NULL);
	while ((r = sd_journal_next(j)) > 0) {
		_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
		_cleanup_(event_freep) Event *ev = NULL;
		uint64_t when = 0;

		if (entry_to_record(j, &rec) < 0 || proto_record_to_event(rec, &ev) < 0)
			continue;
		shown++;
		if (as_timeline) {
			if (ctl_timeline_add(&timeline, ev) < 0) {
				fprintf(stderr, "deployctl log: out of memory\n");
				return DEPLOY_EXIT_INTERNAL;
			}
			continue;
		}
		(void)sd_journal_get_realtime_usec(j, &when);
		render.timestamp_usec = when;
		ctl_render_event(&render, ev);
		if (ev->type == EVENT_DEPLOY_FINISHED)
			ctl_render_summary(&render, ev);
	}
	ctl_render_done(&render);
	if (as_timeline && shown > 0)
		ctl_timeline_print(&timeline, stdout, id);
	if (shown == 0) {
		fprintf(stderr, "deployctl log: no journal entries for deploy %s\n", id);
		return DEPLOY_EXIT_INTERNAL;
	}
	return DEPLOY_EXIT_OK;
}
