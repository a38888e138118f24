#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "deployctl-client.h"
#include "exit-code.h"

int ctl_connect(const char *socket_path, int *ret_fd)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (fd < 0)
		return -errno;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int ctl_unreachable(const char *socket_path, int error)
{
	if (error == -EACCES || error == -EPERM) {
		/* The socket's permissions refused the caller before the daemon could. */
		fprintf(stderr,
			"deployctl: not allowed to talk to deployd at %s: %s (it admits root and "
			"the members of its group, deploy unless deployd --allow-group says "
			"otherwise)\n",
			socket_path, strerror(-error));
		return DEPLOY_EXIT_PERMISSION;
	}
	fprintf(stderr, "deployctl: cannot reach deployd at %s: %s\n", socket_path,
		strerror(-error));
	return DEPLOY_EXIT_INTERNAL;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int ctl_call(const char *socket_path, const ProtoRecord *request, CtlRecordHandler on_record,
	     void *userdata)
{
	_cleanup_(proto_decoder_freep) ProtoDecoder *dec = NULL;
	_cleanup_free_ char *wire = NULL;
	_cleanup_close_ int fd = -EBADF;
	char buf[65536];
	size_t len;
	int r;

	if ((r = ctl_connect(socket_path, &fd)) < 0 ||
	    (r = proto_encode(request, &wire, &len)) < 0 || (r = send_all(fd, wire, len)) < 0 ||
	    (r = proto_decoder_new(PROTO_RECORD_MAX, &dec)) < 0)
		return r;

	for (;;) {
		/* What the records so far printed goes out before waiting for more: a line per
		 * chunk of records, not a write per record (a 500-migration deploy sends 1,000). */
		fflush(NULL);
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			return -EINTR; /* Ctrl-C: the caller detaches */
		if (n <= 0)
			return DEPLOY_EXIT_INTERNAL; /* the daemon went away without a final record
						      */
		if ((r = proto_decoder_feed(dec, buf, (size_t)n)) < 0)
			return DEPLOY_EXIT_INTERNAL;
		for (;;) {
			_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
			r = proto_decoder_next(dec, &rec);
			if (r < 0)
				return DEPLOY_EXIT_INTERNAL;
			if (r == 0)
				break;
			const char *exit_code = proto_record_get(rec, "EXIT");
			if (exit_code) {
				const char *error = proto_record_get(rec, "ERROR");
				if (error)
					fprintf(stderr, "deployctl: %s\n", error);
				return atoi(exit_code);
			}
			r = on_record(rec, userdata);
			if (r != 0)
				return r; /* the handler ends the call, e.g. --detach */
		}
	}
}

void ctl_render_init(CtlRender *r, FILE *out, bool json, const char *plan)
{
	*r = (CtlRender){.out = out, .json = json, .plan = plan};
	r->color = !json && isatty(fileno(out)) && !getenv("NO_COLOR");
	ctl_progress_init(&r->progress, out);
}

void ctl_render_done(CtlRender *r)
{
	free(r->last_failure);
	free(r->blocker);
	ctl_progress_close(&r->progress, r->out);
	ctl_progress_done(&r->progress);
}

static void print_json_object(FILE *f, json_object *o, const EventField *fields, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_object_object_add(o, fields[i].key, json_object_new_string(fields[i].value));
	fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

int ctl_print_event_json(FILE *f, const Event *ev)
{
	json_object *o = json_object_new_object();

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "DEPLOY_EVENT",
			       json_object_new_string(event_type_to_string(ev->type)));
	json_object_object_add(o, "DEPLOY_PHASE",
			       json_object_new_string(deploy_phase_to_string(ev->phase)));
	json_object_object_add(o, "PRIORITY", json_object_new_int(ev->priority));
	json_object_object_add(o, "MESSAGE", json_object_new_string(ev->message ?: ""));
	print_json_object(f, o, ev->fields, ev->n_fields);
	json_object_put(o);
	return 0;
}

static void remember(char **slot, const char *value)
{
	free(*slot);
	*slot = value ? strdup(value) : NULL;
}

void ctl_render_event(CtlRender *r, const Event *ev)
{
	if (ev->type == EVENT_LOCK_WAIT || ev->type == EVENT_LOCK_TIMEOUT) {
		const char *root = event_get(ev, "BLOCKER_ROOT");
		if (!r->blocker || (root && strcmp(root, "yes") == 0)) {
			char *b = NULL;
			if (asprintf(&b, "pid %s (user %s, application %s, %s)",
				     event_get(ev, "BLOCKER_PID") ?: "?",
				     event_get(ev, "BLOCKER_USER") ?: "?",
				     event_get(ev, "BLOCKER_APPLICATION") ?: "?",
				     event_get(ev, "BLOCKER_STATE") ?: "?") >= 0) {
				free(r->blocker);
				r->blocker = b;
			}
		}
		if (ev->type == EVENT_LOCK_TIMEOUT)
			r->lock_timed_out = true;
	}
	if (ev->priority <= LOG_ERR && ev->type != EVENT_DEPLOY_FINISHED &&
	    ev->type != EVENT_PHASE_FINISHED)
		remember(&r->last_failure, ev->message);

	if (r->json) {
		ctl_print_event_json(r->out, ev);
		return;
	}

	const char *on = "", *off = "";
	if (r->color && ev->priority <= LOG_ERR)
		on = "\033[1;31m", off = "\033[0m";
	else if (r->color && ev->priority == LOG_WARNING)
		on = "\033[1;33m", off = "\033[0m";

	char stamp[16], prefix[32];
	time_t t = r->timestamp_usec ? (time_t)(r->timestamp_usec / 1000000) : time(NULL);
	struct tm tm;
	strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime_r(&t, &tm));
	snprintf(prefix, sizeof(prefix), "%s %-9s ", stamp, deploy_phase_to_string(ev->phase));
	if (ctl_progress_show(&r->progress, r->out, prefix, ev))
		return;
	ctl_progress_close(&r->progress, r->out);
	fprintf(r->out, "%s%s%s%s\n", prefix, on, ev->message ?: "", off);
}

void ctl_render_record(CtlRender *r, const ProtoRecord *rec)
{
	if (r->json) {
		json_object *o = json_object_new_object();
		if (o) {
			print_json_object(r->out, o, rec->fields, rec->n_fields);
			json_object_put(o);
		}
		return;
	}
	ctl_progress_close(&r->progress, r->out);
	for (size_t i = 0; i < rec->n_fields; i++)
		fprintf(r->out, "%s: %s\n", rec->fields[i].key, rec->fields[i].value);
	fputc('\n', r->out);
}

void ctl_render_summary(CtlRender *r, const Event *finished)
{
	const char *result = event_get(finished, "DEPLOY_RESULT") ?: "failed";
	const char *id = event_get(finished, "DEPLOY_ID") ?: "?";
	const char *ms = event_get(finished, "DURATION_MS") ?: "?";
	int code = atoi(event_get(finished, "DEPLOY_EXIT") ?: "1");

	if (r->json)
		return;
	ctl_progress_close(&r->progress, r->out);
	fputc('\n', r->out);
	if (strcmp(result, "ok") == 0 || strcmp(result, "dry-run") == 0) {
		fprintf(r->out, "Deploy %s %s in %s ms.\n", id,
			strcmp(result, "ok") == 0 ? "succeeded" : "dry run finished", ms);
		return;
	}
	fprintf(r->out, "Deploy %s %s (exit %d) after %s ms.\n", id, result, code, ms);
	if (r->last_failure)
		fprintf(r->out, "Why: %s\n", r->last_failure);
	if (r->lock_timed_out && r->blocker)
		/* After the timeout nothing waits any more, so `locks` would show nothing:
		 * `idle` is where an idle-in-transaction blocker still shows. */
		fprintf(r->out,
			"Blocked by: %s\n"
			"Next: see such sessions with 'deployctl idle %s', end them with\n"
			"      'deployctl idle %s --terminate', or deploy again with "
			"--terminate-idle.\n",
			r->blocker, r->plan ?: "PLAN", r->plan ?: "PLAN");
	else if (code == DEPLOY_EXIT_PREFLIGHT)
		fprintf(r->out, "Nothing was touched; the services are still running.\n");
	else if (code == DEPLOY_EXIT_MIGRATE || code == DEPLOY_EXIT_STOP)
		fprintf(r->out,
			"The units are left stopped. Fix the cause and deploy again; "
			"'deployctl log %s' shows every step.\n",
			id);
	else if (code == DEPLOY_EXIT_START)
		fprintf(r->out,
			"The migrations are applied; a unit did not come up. "
			"'deployctl log %s' shows its journal lines.\n",
			id);
}
