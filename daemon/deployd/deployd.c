/* deployd — the deploy daemon: options, then the server loop (lib/server.h). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "exit-code.h"
#include "server.h"
#include "units.h"

#define DEPLOYD_SSH_IDENTITY "/etc/deployd/ssh/id_ed25519"
#define DEPLOYD_SSH_KNOWN_HOSTS "/etc/deployd/ssh/known_hosts"

static void help(FILE *f)
{
	fprintf(f,
		"Usage: deployd [OPTIONS]\n"
		"Runs deploys requested on its socket: stops the plan's units, migrates\n"
		"PostgreSQL fail-fast with lock debugging, starts the units again.\n\n"
		"  --socket PATH          socket to bind when systemd passes none\n"
		"                         (default /run/deployd.sock)\n"
		"  --plans DIR            where plans NAME.yaml live (default /etc/deployd/plans)\n"
		"  --state-dir DIR        state (default $STATE_DIRECTORY, else /var/lib/deployd)\n"
		"  --idle-exit SECONDS    exit when idle this long (default 60; 0 = never)\n"
		"  --allow-group NAME     group whose members may deploy (default deploy)\n"
		"  --log-target TARGET    auto, journal or stderr (default auto)\n"
		"  --ssh-identity PATH    key for the hosts of services.remote\n"
		"                         (default " DEPLOYD_SSH_IDENTITY ")\n"
		"  --ssh-known-hosts PATH their host keys (default " DEPLOYD_SSH_KNOWN_HOSTS ")\n"
		"  --ssh-connect-timeout SECONDS\n"
		"                         how long to wait for a remote host (default 10)\n"
		"  -h, --help             show this help\n"
		"  --version              show the version\n");
}

static int parse_seconds(const char *s, usec_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > UINT_MAX)
		return -EINVAL;
	*ret = v * USEC_PER_SEC;
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		ARG_SOCKET = 0x100,
		ARG_PLANS,
		ARG_STATE_DIR,
		ARG_IDLE_EXIT,
		ARG_ALLOW_GROUP,
		ARG_LOG_TARGET,
		ARG_SSH_IDENTITY,
		ARG_SSH_KNOWN_HOSTS,
		ARG_SSH_CONNECT_TIMEOUT,
		ARG_VERSION
	};
	static const struct option options[] = {
		{"socket", required_argument, NULL, ARG_SOCKET},
		{"plans", required_argument, NULL, ARG_PLANS},
		{"state-dir", required_argument, NULL, ARG_STATE_DIR},
		{"idle-exit", required_argument, NULL, ARG_IDLE_EXIT},
		{"allow-group", required_argument, NULL, ARG_ALLOW_GROUP},
		{"log-target", required_argument, NULL, ARG_LOG_TARGET},
		{"ssh-identity", required_argument, NULL, ARG_SSH_IDENTITY},
		{"ssh-known-hosts", required_argument, NULL, ARG_SSH_KNOWN_HOSTS},
		{"ssh-connect-timeout", required_argument, NULL, ARG_SSH_CONNECT_TIMEOUT},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, ARG_VERSION},
		{},
	};
	ServerConfig config = {
		.socket_path = "/run/deployd.sock",
		.plans_dir = "/etc/deployd/plans",
		.state_dir = getenv("STATE_DIRECTORY") ?: "/var/lib/deployd",
		.idle_exit = 60 * USEC_PER_SEC,
		.allow_group = "deploy",
		.log_target = SERVER_LOG_AUTO,
		.ssh =
			{
				.identity = DEPLOYD_SSH_IDENTITY,
				.known_hosts = DEPLOYD_SSH_KNOWN_HOSTS,
				.connect_timeout = UNITS_SSH_CONNECT_TIMEOUT,
			},
	};
	int c;

	/* systemd may pass several state directories, separated by ':'; the first is ours. */
	_cleanup_free_ char *state_dir = strndup(config.state_dir, strcspn(config.state_dir, ":"));
	if (!state_dir)
		return DEPLOY_EXIT_INTERNAL;
	config.state_dir = state_dir;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case ARG_SOCKET:
			config.socket_path = optarg;
			break;
		case ARG_PLANS:
			config.plans_dir = optarg;
			break;
		case ARG_STATE_DIR:
			config.state_dir = optarg;
			break;
		case ARG_IDLE_EXIT:
			if (parse_seconds(optarg, &config.idle_exit) < 0) {
				fprintf(stderr,
					"deployd: --idle-exit takes whole seconds, not '%s'\n",
					optarg);
				return DEPLOY_EXIT_USAGE;
			}
			break;
		case ARG_ALLOW_GROUP:
			config.allow_group = optarg;
			break;
		case ARG_LOG_TARGET:
			if (strcmp(optarg, "auto") == 0)
				config.log_target = SERVER_LOG_AUTO;
			else if (strcmp(optarg, "journal") == 0)
				config.log_target = SERVER_LOG_JOURNAL;
			else if (strcmp(optarg, "stderr") == 0)
				config.log_target = SERVER_LOG_STDERR;
			else {
				fprintf(stderr,
					"deployd: --log-target is auto, journal or stderr\n");
				return DEPLOY_EXIT_USAGE;
			}
			break;
		case ARG_SSH_IDENTITY:
		case ARG_SSH_KNOWN_HOSTS:
			if (!units_ssh_path_is_valid(optarg)) {
				fprintf(stderr,
					"deployd: --%s takes an absolute path without white space, "
					"quotes, '%%' or a backslash, not '%s'\n",
					c == ARG_SSH_IDENTITY ? "ssh-identity" : "ssh-known-hosts",
					optarg);
				return DEPLOY_EXIT_USAGE;
			}
			if (c == ARG_SSH_IDENTITY)
				config.ssh.identity = optarg;
			else
				config.ssh.known_hosts = optarg;
			break;
		case ARG_SSH_CONNECT_TIMEOUT:
			if (parse_seconds(optarg, &config.ssh.connect_timeout) < 0 ||
			    config.ssh.connect_timeout == 0) {
				fprintf(stderr,
					"deployd: --ssh-connect-timeout takes whole seconds (at "
					"least 1), not '%s'\n",
					optarg);
				return DEPLOY_EXIT_USAGE;
			}
			break;
		case 'h':
			help(stdout);
			return DEPLOY_EXIT_OK;
		case ARG_VERSION:
			printf("deployd %s\n", DEPLOYD_VERSION);
			return DEPLOY_EXIT_OK;
		default:
			return DEPLOY_EXIT_USAGE;
		}
	if (optind < argc) {
		fprintf(stderr, "deployd: unexpected argument '%s'\n", argv[optind]);
		return DEPLOY_EXIT_USAGE;
	}
	if (mkdir(config.state_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "deployd: cannot create state directory %s: %m\n",
			config.state_dir);
		return DEPLOY_EXIT_INTERNAL;
	}
	return server_run(&config);
}
