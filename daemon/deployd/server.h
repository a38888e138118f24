/* server.h — deployd's event loop: sockets, clients, the deploy worker.
 *
 * server_run() serves requests (deployd(8), SOCKET PROTOCOL) on the
 * sockets systemd passed, or on one it binds, until SIGTERM or until it has
 * been idle (no deploy, no client) for idle_exit.  A deploy runs in a forked
 * worker that sends its events over a pipe; the loop fans them out to the
 * journal, to every attached client and to the state file, so the loop and
 * its watchdog are never blocked by a deploy.  One deploy at a time.
 * Returns the daemon's exit status. */
#pragma once

#include <sys/types.h>

#include "time-util.h"
#include "units.h"

typedef enum ServerLogTarget {
	SERVER_LOG_AUTO,
	SERVER_LOG_JOURNAL,
	SERVER_LOG_STDERR,
} ServerLogTarget;

typedef struct ServerConfig {
	const char *socket_path; /* bound when systemd passed no socket */
	const char *plans_dir;
	const char *state_dir;
	usec_t idle_exit; /* 0 = never */
	const char *allow_group;
	ServerLogTarget log_target;
	UnitsSshOptions ssh; /* how deploys reach the managers of services.remote */
} ServerConfig;

int server_run(const ServerConfig *config);
