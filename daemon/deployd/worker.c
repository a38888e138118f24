#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>

#include "event-journal.h"
#include "peer.h"
#include "plan.h"
#include "server-internal.h"
#include "state.h"
#include "strv.h"

/* Status replay keeps at most this much; a deploy is far smaller unless a
 * command migration is very chatty, and then the journal has the rest. */
#define HISTORY_MAX_BYTES (16 * 1024 * 1024)

RunningDeploy *running_deploy_free(RunningDeploy *d)
{
	if (!d)
		return NULL;
	sd_event_source_disable_unref(d->pipe_source);
	sd_event_source_disable_unref(d->child_source);
	if (d->pipe_fd >= 0)
		close(d->pipe_fd);
	proto_decoder_free(d->decoder);
	strv_free(d->history);
	free(d->plan_name);
	free((char *)d->request.release);
	free((char *)d->request.requester);
	free(d);
	return NULL;
}

static int state_record_for(const RunningDeploy *d, const char *result, ProtoRecord **ret)
{
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	char uid[16], started[32], code[12];
	int r;

	r = proto_record_new(&rec);
	if (r < 0)
		return r;
	snprintf(uid, sizeof(uid), "%u", (unsigned)d->request.requester_uid);
	snprintf(started, sizeof(started), "%llu", (unsigned long long)d->started_usec);
	if ((r = proto_record_add(rec, "DEPLOY_ID", d->request.id)) < 0 ||
	    (r = proto_record_add(rec, "DEPLOY_PLAN", d->plan_name)) < 0 ||
	    (r = proto_record_add(rec, "DEPLOY_RELEASE", d->request.release ?: "")) < 0 ||
	    (r = proto_record_add(rec, "REQUESTER_UID", uid)) < 0 ||
	    (r = proto_record_add(rec, "DEPLOY_PHASE", deploy_phase_to_string(d->phase))) < 0 ||
	    (r = proto_record_add(rec, "STARTED_USEC", started)) < 0 ||
	    (r = proto_record_add(rec, "DEPLOY_RESULT", result)) < 0)
		return r;
	if (strcmp(result, "running") != 0) {
		char finished[32];
		snprintf(code, sizeof(code), "%d", d->exit_code);
		snprintf(finished, sizeof(finished), "%llu",
			 (unsigned long long)now_usec(CLOCK_REALTIME));
		if ((r = proto_record_add(rec, "DEPLOY_EXIT", code)) < 0 ||
		    (r = proto_record_add(rec, "FINISHED_USEC", finished)) < 0)
			return r;
	}
	*ret = TAKE_PTR(rec);
	return 0;
}

static void save_state(RunningDeploy *d, const char *result)
{
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	Server *s = d->server;
	int r = state_record_for(d, result, &rec);

	if (r >= 0)
		r = state_write(s->config.state_dir, rec);
	if (r < 0)
		/* The deploy's outcome still reaches the journal and the clients. */
		server_log(s, LOG_ERR, "Cannot write the state file in %s: %s", s->config.state_dir,
			   strerror(-r));
}

/* What the events so far owe the clients and the state file: the clients' records go out
 * first (a state file write waits for the disk), then the state, once per phase and at the
 * end. */
static void catch_up(RunningDeploy *d)
{
	d->server->followers.flush(d->server);
	if (d->state_due) {
		d->state_due = false;
		save_state(d, d->state_result);
	}
}

static void fan_out(Server *s, const Event *ev)
{
	RunningDeploy *d = s->deploy;
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	_cleanup_free_ char *wire = NULL;
	size_t len;

	if (s->log_to_journal)
		event_journal_send(ev);
	else
		fprintf(stderr, "deployd: [%s] %s\n", deploy_phase_to_string(ev->phase),
			ev->message ?: "");

	if (proto_record_from_event(ev, &rec) < 0 || proto_encode(rec, &wire, &len) < 0)
		return;
	s->followers.send(s, wire, len);
	if (d->history_bytes + len <= HISTORY_MAX_BYTES && strv_push(&d->history, wire) >= 0) {
		d->history_bytes += len;
		wire = NULL;
	}

	if (ev->phase != d->phase) {
		d->phase = ev->phase;
		server_notify_status(s);
		d->state_due = true;
		snprintf(d->state_result, sizeof(d->state_result), "running");
	}
	if (ev->type == EVENT_DEPLOY_FINISHED) {
		const char *code = event_get(ev, "DEPLOY_EXIT");
		d->finished_seen = true;
		d->exit_code = code ? atoi(code) : DEPLOY_EXIT_INTERNAL;
		d->state_due = true;
		snprintf(d->state_result, sizeof(d->state_result), "%s",
			 event_get(ev, "DEPLOY_RESULT") ?: "failed");
	}
}

/* The worker sends deploy-finished once its sessions and connections are closed: its clients
 * get their answer now, and the next deploy may begin while it exits. */
static void deploy_end_for_clients(RunningDeploy *d)
{
	Server *s = d->server;

	s->followers.finish(s, d->exit_code);
	s->deploy = NULL;
	d->next_ending = s->ending;
	s->ending = d;
	server_notify_status(s);
	server_update_idle(s);
}

static void on_worker_record(RunningDeploy *d, const ProtoRecord *rec)
{
	_cleanup_(event_freep) Event *ev = NULL;
	Server *s = d->server;

	/* Nothing comes after deploy-finished; should it, it belongs to no one. */
	if (d->finished_seen)
		return;
	if (proto_record_to_event(rec, &ev) < 0) {
		server_log(s, LOG_WARNING, "Deploy worker sent a record that is not an event.");
		return;
	}
	fan_out(s, ev);
	if (d->finished_seen)
		deploy_end_for_clients(d);
}

static void drain_pipe(RunningDeploy *d)
{
	Server *s = d->server;
	char buf[65536];
	ssize_t n;

	while (d->pipe_fd >= 0 && (n = read(d->pipe_fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			break;
		}
		if (proto_decoder_feed(d->decoder, buf, (size_t)n) < 0)
			break;
		for (;;) {
			_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
			int r = proto_decoder_next(d->decoder, &rec);
			if (r <= 0) {
				if (r < 0)
					server_log(s, LOG_ERR, "Deploy worker stream is corrupt.");
				break;
			}
			on_worker_record(d, rec);
		}
		catch_up(d);
	}
	/* EOF or a broken stream: the worker's exit ends the deploy. */
	sd_event_source_disable_unref(d->pipe_source);
	d->pipe_source = NULL;
	close(d->pipe_fd);
	d->pipe_fd = -1;
}

static int on_worker_pipe(sd_event_source *source _unused_, int fd _unused_,
			  uint32_t revents _unused_, void *userdata)
{
	RunningDeploy *d = userdata;

	drain_pipe(d);
	return 0;
}

static void emit_parent_event(Server *s, EventType type, int priority, const char *result,
			      int exit_code, const char *message)
{
	_cleanup_(event_freep) Event *ev = NULL;
	RunningDeploy *d = s->deploy;

	if (event_new(type, DEPLOY_PHASE_DONE, priority, &ev) < 0 ||
	    event_set_message(ev, "%s", message) < 0 ||
	    event_add(ev, "DEPLOY_ID", "%s", d->request.id) < 0 ||
	    event_add(ev, "DEPLOY_PLAN", "%s", d->plan_name) < 0 ||
	    event_add(ev, "DEPLOY_RESULT", "%s", result) < 0 ||
	    event_add(ev, "DEPLOY_EXIT", "%d", exit_code) < 0 ||
	    event_add(ev, "DURATION_MS", "%llu",
		      (unsigned long long)((now_usec(CLOCK_REALTIME) - d->started_usec) /
					   USEC_PER_MSEC)) < 0)
		return;
	fan_out(s, ev);
}

static int on_worker_exit(sd_event_source *source _unused_, const siginfo_t *si, void *userdata)
{
	RunningDeploy *d = userdata;
	Server *s = d->server;

	if (d->pipe_fd >= 0)
		drain_pipe(d);

	if (!d->finished_seen) {
		_cleanup_free_ char *msg = NULL;
		bool cancelled = d->cancel_requested;

		if (asprintf(&msg, "The deploy worker %s %d before it finished; the deploy is %s.",
			     si->si_code == CLD_EXITED ? "exited with status"
						       : "was killed by signal",
			     si->si_status, cancelled ? "cancelled" : "failed") < 0)
			msg = NULL;
		emit_parent_event(s, EVENT_DEPLOY_FINISHED, LOG_ERR,
				  cancelled ? "cancelled" : "failed",
				  cancelled ? DEPLOY_EXIT_CANCELLED : DEPLOY_EXIT_INTERNAL,
				  msg ?: "The deploy worker died.");
		deploy_end_for_clients(d);
		catch_up(d);
	}

	for (RunningDeploy **p = &s->ending; *p; p = &(*p)->next_ending)
		if (*p == d) {
			*p = d->next_ending;
			break;
		}
	running_deploy_free(d);
	server_update_idle(s);
	return 0;
}

/* Sends one event from the worker to the daemon, whole or not at all. */
static void worker_sink(const Event *ev, void *userdata)
{
	int fd = *(int *)userdata;
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	_cleanup_free_ char *wire = NULL;
	size_t len, done = 0;

	if (proto_record_from_event(ev, &rec) < 0 || proto_encode(rec, &wire, &len) < 0)
		return;
	while (done < len) {
		ssize_t n = write(fd, wire + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		done += (size_t)n;
	}
}

_Noreturn static void worker_main(Plan *plan, RunningDeploy *d, int pipe_fd)
{
	sigset_t mask;

	/* The daemon's listening socket, its clients' connections and its event loop are not the
	 * worker's: holding them would keep a client's connection open after the daemon closed
	 * it, and hand them to every program the deploy runs.  The worker keeps stdio and its
	 * event pipe, moved to fd 3. */
	if (pipe_fd != 3) {
		if (dup3(pipe_fd, 3, O_CLOEXEC) < 0)
			_exit(DEPLOY_EXIT_INTERNAL);
		pipe_fd = 3;
	}
	if (close_range(4, ~0U, 0) < 0)
		_exit(DEPLOY_EXIT_INTERNAL);

	/* If the daemon dies, the deploy is cancelled rather than left running unobserved. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	int cancel_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (cancel_fd < 0)
		_exit(DEPLOY_EXIT_INTERNAL);
	if (getppid() == 1)
		_exit(DEPLOY_EXIT_CANCELLED);

	DeployExit x = deploy_run(plan, &d->request, cancel_fd, worker_sink, &pipe_fd);
	/* The worker's copies of what the daemon allocated for it end with it (a leak checker
	 * following the fork sees them freed, not lost). */
	running_deploy_free(d);
	plan_free(plan);
	_exit(x);
}

/* Sets *ret_message and returns exit_code, the refusal's exit code. */
static int refuse(char **ret_message, int exit_code, const char *fmt, ...) _printf_(3, 4);
static int refuse(char **ret_message, int exit_code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(ret_message, fmt, ap) < 0)
		*ret_message = NULL;
	va_end(ap);
	return exit_code;
}

int deploy_start(Server *s, uid_t requester_uid, const ProtoRecord *request, char **ret_refusal)
{
	const char *name = proto_record_get(request, "PLAN");
	const char *release = proto_record_get(request, "RELEASE");
	const char *dry = proto_record_get(request, "DRY_RUN");
	const char *idle = proto_record_get(request, "TERMINATE_IDLE");
	const char *host = proto_record_get(request, "REQUESTER_HOST");
	_cleanup_free_ char *path = NULL, *error = NULL;
	_cleanup_(plan_freep) Plan *plan = NULL;
	int pipefd[2], r;

	if (s->deploy)
		return refuse(ret_refusal, DEPLOY_EXIT_BUSY,
			      "busy: deploy %s of plan %s is running (phase %s)",
			      s->deploy->request.id, s->deploy->plan_name,
			      deploy_phase_to_string(s->deploy->phase));
	if (s->exiting)
		return refuse(ret_refusal, DEPLOY_EXIT_BUSY, "busy: deployd is shutting down");
	if (!name || !plan_name_is_valid(name))
		return refuse(ret_refusal, DEPLOY_EXIT_USAGE,
			      "PLAN must be a plan name ([A-Za-z0-9_.-]+, no leading dot)");
	if ((dry && strcmp(dry, "yes") && strcmp(dry, "no")) ||
	    (idle && strcmp(idle, "yes") && strcmp(idle, "no")))
		return refuse(ret_refusal, DEPLOY_EXIT_USAGE,
			      "DRY_RUN and TERMINATE_IDLE take yes or no");
	if (release && strlen(release) > 1024)
		return refuse(ret_refusal, DEPLOY_EXIT_USAGE, "RELEASE is longer than 1024 bytes");
	r = plan_path_for_name(s->config.plans_dir, name, &path);
	if (r < 0)
		return r;
	r = server_load_plan(s, path, &plan, &error);
	if (r == -ENOENT)
		return refuse(ret_refusal, DEPLOY_EXIT_PLAN_INVALID, "no plan named '%s' in %s",
			      name, s->config.plans_dir);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return refuse(ret_refusal, DEPLOY_EXIT_PLAN_INVALID, "%s", error ?: strerror(-r));

	RunningDeploy *d = calloc(1, sizeof(RunningDeploy));
	if (!d)
		return -ENOMEM;
	d->server = s;
	d->pipe_fd = -1;
	d->plan_name = strdup(name);
	d->request.release = release ? strdup(release) : NULL;
	d->request.requester_uid = requester_uid;
	r = peer_requester_name(requester_uid, host, (char **)&d->request.requester);
	if (r < 0) {
		running_deploy_free(d);
		return r;
	}
	d->request.dry_run = dry && strcmp(dry, "yes") == 0;
	d->request.terminate_idle = idle ? strcmp(idle, "yes") == 0 : -1;
	d->request.ssh = &s->config.ssh;
	d->started_usec = now_usec(CLOCK_REALTIME);
	if (!d->plan_name || (release && !d->request.release) ||
	    (r = deploy_id_new(d->request.id)) < 0 ||
	    (r = proto_decoder_new(PROTO_RECORD_MAX, &d->decoder)) < 0) {
		running_deploy_free(d);
		return r < 0 ? r : -ENOMEM;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = -errno;
		running_deploy_free(d);
		return r;
	}

	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		running_deploy_free(d);
		return r;
	}
	if (pid == 0) {
		close(pipefd[0]);
		worker_main(TAKE_PTR(plan), d, pipefd[1]);
	}

	close(pipefd[1]);
	d->pid = pid;
	d->pipe_fd = pipefd[0];
	fcntl(d->pipe_fd, F_SETFL, O_NONBLOCK);
	s->deploy = d;
	if ((r = sd_event_add_io(s->event, &d->pipe_source, d->pipe_fd, EPOLLIN, on_worker_pipe,
				 d)) < 0 ||
	    (r = sd_event_add_child(s->event, &d->child_source, pid, WEXITED, on_worker_exit, d)) <
		    0) {
		/* Without a way to watch it, the worker must not run on unobserved. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		s->deploy = running_deploy_free(d);
		return r;
	}
	save_state(d, "running");
	server_notify_status(s);
	server_update_idle(s);
	return 0;
}

void deploy_cancel(Server *s)
{
	if (!s->deploy || s->deploy->cancel_requested)
		return;
	s->deploy->cancel_requested = true;
	kill(s->deploy->pid, SIGTERM);
}

int deploy_status_record(Server *s, ProtoRecord **ret)
{
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	int r;

	if (s->deploy) {
		r = state_record_for(s->deploy, "running", &rec);
		if (r < 0)
			return r;
		r = proto_record_add(rec, "STATUS", "running");
	} else {
		r = state_read(s->config.state_dir, &rec);
		if (r == -ENOENT) {
			r = proto_record_new(&rec);
			if (r >= 0)
				r = proto_record_add(rec, "STATUS", "none");
		} else if (r >= 0)
			r = proto_record_add(rec, "STATUS", "finished");
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(rec);
	return 0;
}

void deploy_report_interrupted(Server *s)
{
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	const char *result, *id, *plan;

	if (state_read(s->config.state_dir, &rec) < 0)
		return;
	result = proto_record_get(rec, "DEPLOY_RESULT");
	id = proto_record_get(rec, "DEPLOY_ID");
	plan = proto_record_get(rec, "DEPLOY_PLAN");
	if (!result || strcmp(result, "running") != 0 || !id || !plan)
		return;

	/* No worker of ours survives the daemon (PDEATHSIG), so "running" means it was cut off. */
	RunningDeploy interrupted = {
		.server = s,
		.pipe_fd = -1,
		.plan_name = (char *)plan,
		.exit_code = DEPLOY_EXIT_INTERNAL,
	};
	snprintf(interrupted.request.id, sizeof(interrupted.request.id), "%s", id);
	interrupted.started_usec = strtoull(proto_record_get(rec, "STARTED_USEC") ?: "0", NULL, 10);
	int phase = deploy_phase_from_string(proto_record_get(rec, "DEPLOY_PHASE"));
	interrupted.phase = phase >= 0 ? phase : DEPLOY_PHASE_PREFLIGHT;

	RunningDeploy *saved = s->deploy;
	s->deploy = &interrupted;
	_cleanup_free_ char *msg = NULL;
	if (asprintf(&msg,
		     "Deploy %s of plan %s was interrupted in phase %s (the daemon stopped or "
		     "crashed); check the units and run the deploy again.",
		     id, plan, deploy_phase_to_string(interrupted.phase)) >= 0)
		emit_parent_event(s, EVENT_DEPLOY_FINISHED, LOG_ERR, "interrupted",
				  DEPLOY_EXIT_INTERNAL, msg);
	catch_up(&interrupted);
	strv_free(interrupted.history);
	s->deploy = saved;
}
