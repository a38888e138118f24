/* server-internal.h — the state the server's files share (not a public API).
 *
 * server.c owns the loop, the listening sockets and idle exit; client.c one connection each;
 * worker.c the deploy worker; server-state.c the log, the STATUS= and the idle timer;
 * server-plans.c loading a trusted plan.  Calls go one way: server.c → client.c → worker.c →
 * server-state.c, server-plans.c.  The worker reaches the clients that follow a deploy only
 * through Server.followers, which server.c fills with client.c's functions. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "deploy.h"
#include "proto.h"
#include "server.h"

typedef struct Server Server;
typedef struct Client Client;

typedef struct RunningDeploy RunningDeploy;
struct RunningDeploy {
	Server *server;
	RunningDeploy *next_ending; /* in Server.ending */
	DeployRequest request;
	char *plan_name;
	pid_t pid;
	int pipe_fd;
	sd_event_source *pipe_source;
	sd_event_source *child_source;
	ProtoDecoder *decoder;
	DeployPhase phase;
	usec_t started_usec; /* realtime */
	char **history;	     /* every encoded event record so far, for status --follow */
	size_t history_bytes;
	bool finished_seen; /* the worker sent its deploy-finished event */
	int exit_code;	    /* from deploy-finished, or from the worker's death */
	bool cancel_requested;
	bool state_due;	       /* the state file is to be written with state_result */
	char state_result[32]; /* "running", or deploy-finished's DEPLOY_RESULT */
};

struct Client {
	Server *server;
	Client *next;
	int fd;
	struct ucred peer;
	sd_event_source *io_source;
	sd_event_source *timeout_source;
	ProtoDecoder *decoder;
	char *out; /* bytes not yet written */
	size_t out_len;
	bool request_done; /* a request was read; no more input is parsed */
	bool following;	   /* receives the running deploy's events */
	bool cancelling;   /* asked for the cancel: told whether it took effect */
	bool close_when_flushed;
};

struct Server {
	ServerConfig config;
	sd_event *event;
	uid_t own_uid;
	gid_t allow_gid;
	bool log_to_journal;
	sd_event_source **listen_sources;
	size_t n_listen;
	bool bound_socket; /* we created config.socket_path and remove it at exit */
	Client *clients;
	RunningDeploy *deploy;
	/* Workers that sent deploy-finished (their sessions and connections closed by then) and
	 * have yet to exit: the deploy is over for its clients, and the next one may begin. */
	RunningDeploy *ending;
	sd_event_source *idle_source;
	bool exiting;
	/* The clients following the running deploy, as the worker reaches them. */
	struct {
		/* Queues an encoded record for every follower. */
		void (*send)(Server *s, const char *wire, size_t len);
		/* Ends every follower's request: the deploy ended with exit_code. */
		void (*finish)(Server *s, int exit_code);
		/* Sends what is queued for every client now, as far as its socket takes it. */
		void (*flush)(Server *s);
	} followers;
};

void server_log(Server *s, int priority, const char *fmt, ...) _printf_(3, 4);
void server_update_idle(Server *s);
void server_notify_status(Server *s);

int client_accept(Server *s, int listen_fd);
Client *client_free(Client *c);
/* Queues bytes; a client whose backlog passes the limit is dropped (the deploy goes on). */
void client_send(Client *c, const char *bytes, size_t len);
/* Writes what is queued, blocking briefly: for the loop's last breath. */
void client_flush_before_exit(Client *c);
void client_send_record(Client *c, const ProtoRecord *rec);
/* Sends the final record EXIT=N (and ERROR= text) and closes once flushed. */
void client_finish(Client *c, int exit_code, const char *error);
/* Server.followers: what the running deploy sends its followers, and its end. */
void clients_send_following(Server *s, const char *wire, size_t len);
void clients_finish_following(Server *s, int exit_code);
void clients_flush(Server *s);

/* Opens the plan at path once, trusts it only as plan_open_trusted() says and parses that
 * descriptor.  -ENOENT: no such plan; else on failure *ret_error (when set) says why. */
int server_load_plan(Server *s, const char *path, Plan **ret, char **ret_error);
/* Starts the deploy a client asked for: 0, or a positive exit code with *ret_refusal saying
 * why it was refused (busy, bad request, no or untrusted plan), or -errno. */
int deploy_start(Server *s, uid_t requester_uid, const ProtoRecord *request, char **ret_refusal);
void deploy_cancel(Server *s);
int deploy_status_record(Server *s, ProtoRecord **ret);
void deploy_report_interrupted(Server *s);
RunningDeploy *running_deploy_free(RunningDeploy *d);
