#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "peer.h"
#include "plan.h"
#include "server-internal.h"
#include "strv.h"

/* A client that reads slower than the deploy writes is dropped past this. */
#define CLIENT_BACKLOG_MAX (8 * 1024 * 1024)
#define CLIENT_REQUEST_TIMEOUT (30 * USEC_PER_SEC)

Client *client_free(Client *c)
{
	if (!c)
		return NULL;
	Server *s = c->server;
	for (Client **p = &s->clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	sd_event_source_disable_unref(c->io_source);
	sd_event_source_disable_unref(c->timeout_source);
	proto_decoder_free(c->decoder);
	free(c->out);
	free(c);
	server_update_idle(s);
	return NULL;
}

static void client_update_events(Client *c)
{
	uint32_t events = c->request_done ? 0 : EPOLLIN;

	if (c->out_len > 0)
		events |= EPOLLOUT;
	/* EPOLLIN stays armed while following, so a hang-up is noticed. */
	if (c->following)
		events |= EPOLLIN;
	sd_event_source_set_io_events(c->io_source, events);
}

/* Sends what is queued, as far as the socket takes it without waiting. */
static int send_queued(Client *c)
{
	while (c->out_len > 0) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -errno;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	return 0;
}

static int client_flush(Client *c)
{
	int r = send_queued(c);

	if (r < 0)
		return r;
	if (c->out_len == 0 && c->close_when_flushed)
		return -ECONNRESET;
	client_update_events(c);
	return 0;
}

void client_flush_before_exit(Client *c)
{
	/* The daemon is going away: a follower still gets its final record, but a client that
	 * does not read does not hold the exit up for long. */
	struct timeval tv = {.tv_sec = 2};
	int flags = fcntl(c->fd, F_GETFL);

	if (flags < 0 || fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return;
	while (c->out_len > 0) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
}

void client_send(Client *c, const char *bytes, size_t len)
{
	if (c->out_len + len > CLIENT_BACKLOG_MAX) {
		server_log(c->server, LOG_WARNING,
			   "Client uid %u reads too slowly; dropping it (the deploy goes on).",
			   (unsigned)c->peer.uid);
		c->out_len = 0;
		c->close_when_flushed = true;
		c->following = false;
		return;
	}
	char *grown = realloc(c->out, c->out_len + len);
	if (!grown) {
		c->close_when_flushed = true;
		return;
	}
	memcpy(grown + c->out_len, bytes, len);
	c->out = grown;
	c->out_len += len;
	client_update_events(c);
}

void client_send_record(Client *c, const ProtoRecord *rec)
{
	_cleanup_free_ char *wire = NULL;
	size_t len;

	if (proto_encode(rec, &wire, &len) >= 0)
		client_send(c, wire, len);
}

void client_finish(Client *c, int exit_code, const char *error)
{
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	char code[12];

	snprintf(code, sizeof(code), "%d", exit_code);
	if (proto_record_new(&rec) >= 0) {
		proto_record_add(rec, "EXIT", code);
		/* An error text from a hostile file may not be UTF-8; the code still goes out. */
		if (error && proto_record_add(rec, "ERROR", error) < 0)
			proto_record_add(rec, "ERROR", "(message not valid UTF-8)");
		client_send_record(c, rec);
	}
	c->following = false;
	c->request_done = true;
	c->close_when_flushed = true;
	client_update_events(c);
}

static int yes_no(const ProtoRecord *req, const char *key, int unset, int *ret)
{
	const char *v = proto_record_get(req, key);

	if (!v)
		*ret = unset;
	else if (strcmp(v, "yes") == 0)
		*ret = 1;
	else if (strcmp(v, "no") == 0)
		*ret = 0;
	else
		return -EINVAL;
	return 0;
}

static void handle_plans(Client *c)
{
	_cleanup_(closedirp) DIR *d = opendir(c->server->config.plans_dir);
	struct dirent *de;

	if (!d) {
		_cleanup_free_ char *msg = NULL;
		if (asprintf(&msg, "cannot open plan directory %s: %s", c->server->config.plans_dir,
			     strerror(errno)) < 0)
			msg = NULL;
		client_finish(c, DEPLOY_EXIT_INTERNAL, msg ?: "cannot open plan directory");
		return;
	}
	while ((de = readdir(d))) {
		_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
		_cleanup_(plan_freep) Plan *plan = NULL;
		_cleanup_free_ char *name = NULL, *path = NULL, *error = NULL;
		size_t len = strlen(de->d_name);

		if (len <= 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		name = strndup(de->d_name, len - 5);
		if (!name || !plan_name_is_valid(name) ||
		    plan_path_for_name(c->server->config.plans_dir, name, &path) < 0 ||
		    proto_record_new(&rec) < 0)
			continue;
		proto_record_add(rec, "PLAN", name);
		/* Listed as the daemon would judge it when asked to deploy it. */
		if (server_load_plan(c->server, path, &plan, &error) >= 0) {
			proto_record_add(rec, "PLAN_VALID", "yes");
			if (plan->description)
				proto_record_add(rec, "DESCRIPTION", plan->description);
		} else {
			proto_record_add(rec, "PLAN_VALID", "no");
			if (error)
				proto_record_add(rec, "PLAN_ERROR", error);
		}
		client_send_record(c, rec);
	}
	client_finish(c, DEPLOY_EXIT_OK, NULL);
}

static void handle_status(Client *c, const ProtoRecord *req)
{
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	int follow;

	if (yes_no(req, "FOLLOW", 0, &follow) < 0) {
		client_finish(c, DEPLOY_EXIT_USAGE, "FOLLOW must be yes or no");
		return;
	}
	if (deploy_status_record(c->server, &rec) < 0) {
		client_finish(c, DEPLOY_EXIT_INTERNAL, "cannot read the deploy state");
		return;
	}
	client_send_record(c, rec);

	RunningDeploy *d = c->server->deploy;
	if (!follow || !d) {
		client_finish(c, DEPLOY_EXIT_OK, NULL);
		return;
	}
	STRV_FOREACH (r, d->history)
		client_send(c, *r, strlen(*r));
	c->following = true;
	client_update_events(c);
}

void clients_send_following(Server *s, const char *wire, size_t len)
{
	for (Client *c = s->clients; c; c = c->next)
		if (c->following)
			client_send(c, wire, len);
}

void clients_flush(Server *s)
{
	/* Closing a client that is done, or that failed, stays with its own handler: EPOLLOUT
	 * stays armed for it. */
	for (Client *c = s->clients; c; c = c->next) {
		if (c->out_len == 0)
			continue;
		if (send_queued(c) >= 0 && !(c->out_len == 0 && c->close_when_flushed))
			client_update_events(c);
	}
}

void clients_finish_following(Server *s, int exit_code)
{
	for (Client *c = s->clients, *next; c; c = next) {
		next = c->next;
		if (!c->following)
			continue;
		if (!c->cancelling)
			client_finish(c, exit_code, NULL);
		else if (exit_code == DEPLOY_EXIT_CANCELLED)
			client_finish(c, DEPLOY_EXIT_OK, NULL);
		else
			client_finish(c, DEPLOY_EXIT_INTERNAL,
				      "the deploy ended before the cancel took effect");
	}
}

static void handle_request(Client *c, const ProtoRecord *req)
{
	Server *s = c->server;
	const char *command = proto_record_get(req, "COMMAND");

	if (!command) {
		client_finish(c, DEPLOY_EXIT_USAGE, "request without COMMAND");
		return;
	}
	if (strcmp(command, "deploy") == 0) {
		_cleanup_free_ char *refusal = NULL;
		int r = deploy_start(s, c->peer.uid, req, &refusal);
		if (r < 0)
			client_finish(c, DEPLOY_EXIT_INTERNAL, strerror(-r));
		else if (r > 0)
			client_finish(c, r, refusal ?: "refused");
		else
			c->following = true;
	} else if (strcmp(command, "status") == 0)
		handle_status(c, req);
	else if (strcmp(command, "cancel") == 0) {
		if (!s->deploy) {
			client_finish(c, DEPLOY_EXIT_OK, NULL);
			return;
		}
		server_log(s, LOG_NOTICE, "Deploy %s cancelled by uid %u.", s->deploy->request.id,
			   (unsigned)c->peer.uid);
		deploy_cancel(s);
		/* The canceller sees the deploy end, like a follower, and learns whether the
		 * cancel took effect. */
		c->following = true;
		c->cancelling = true;
		client_update_events(c);
	} else if (strcmp(command, "plans") == 0)
		handle_plans(c);
	else
		client_finish(c, DEPLOY_EXIT_USAGE, "unknown COMMAND");
}

static int on_client_io(sd_event_source *source _unused_, int fd _unused_, uint32_t revents,
			void *userdata)
{
	Client *c = userdata;
	char buf[4096];

	if (revents & EPOLLOUT) {
		if (client_flush(c) < 0) {
			client_free(c);
			return 0;
		}
	}
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return 0;

	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* A follower that hangs up only detaches: the deploy goes on. */
		client_free(c);
		return 0;
	}
	if (c->request_done)
		return 0; /* one request per connection; the rest is ignored */

	int r = proto_decoder_feed(c->decoder, buf, (size_t)n);
	_cleanup_(proto_record_freep) ProtoRecord *req = NULL;
	if (r >= 0)
		r = proto_decoder_next(c->decoder, &req);
	if (r == -EMSGSIZE) {
		client_finish(c, DEPLOY_EXIT_USAGE, "request over 16 KiB");
		return 0;
	}
	if (r < 0) {
		client_finish(c, DEPLOY_EXIT_USAGE, "malformed request");
		return 0;
	}
	if (r == 0)
		return 0;

	c->request_done = true;
	sd_event_source_set_enabled(c->timeout_source, SD_EVENT_OFF);
	client_update_events(c);
	handle_request(c, req);
	return 0;
}

static int on_client_timeout(sd_event_source *source _unused_, uint64_t usec _unused_,
			     void *userdata)
{
	client_finish(userdata, DEPLOY_EXIT_USAGE, "no complete request within 30 s");
	return 0;
}

int client_accept(Server *s, int listen_fd)
{
	_cleanup_close_ int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int r;

	if (fd < 0)
		return -errno;

	Client *c = calloc(1, sizeof(Client));
	if (!c)
		return -ENOMEM;
	c->server = s;
	c->fd = fd;
	c->next = s->clients;
	s->clients = c;

	if ((r = proto_decoder_new(PROTO_REQUEST_MAX, &c->decoder)) < 0 ||
	    (r = sd_event_add_io(s->event, &c->io_source, fd, EPOLLIN, on_client_io, c)) < 0) {
		client_free(c);
		return r;
	}
	sd_event_source_set_io_fd_own(c->io_source, true);
	TAKE_FD(fd);
	r = sd_event_add_time_relative(s->event, &c->timeout_source, CLOCK_MONOTONIC,
				       CLIENT_REQUEST_TIMEOUT, 0, on_client_timeout, c);
	if (r < 0) {
		client_free(c);
		return r;
	}
	server_update_idle(s);

	r = peer_get_credentials(c->fd, &c->peer);
	if (r < 0) {
		client_finish(c, DEPLOY_EXIT_PERMISSION, "cannot identify the peer");
		return 0;
	}
	r = peer_is_authorized(&c->peer, s->own_uid, s->allow_gid);
	if (r <= 0) {
		server_log(s, LOG_WARNING, "Refused request from uid %u (pid %d): not authorized.",
			   (unsigned)c->peer.uid, (int)c->peer.pid);
		client_finish(c, DEPLOY_EXIT_PERMISSION,
			      "permission denied: only root, the daemon's user and members of the "
			      "allowed group may talk to deployd");
	}
	return 0;
}
