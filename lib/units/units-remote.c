/* A service manager on another machine, the way systemctl -H reaches one: ssh to the host,
 * systemd-stdio-bridge there, sd-bus over the pipe (units.h). */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "remote-host.h"
#include "spawn-command.h"
#include "strv.h"
#include "text-sanitize.h"
#include "units-internal.h"

extern char **environ;

/* What ssh runs on the remote host, through the login shell there (ssh always hands the
 * command to it).  systemd-stdio-bridge of systemd 252 ignores --user and always reaches the
 * system bus, so the user bus is named by its path: the login's XDG_RUNTIME_DIR, else the
 * runtime directory systemd makes for the user (a lingering user's, without a PAM session). */
#define BRIDGE_SYSTEM "systemd-stdio-bridge"
#define BRIDGE_USER                                                                                \
	"systemd-stdio-bridge --bus-path=unix:path=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bus"

/* How much of ssh's stderr a message quotes, in bytes (its end). */
#define SSH_MESSAGE_MAX 300

/* ssh gives up on a host that stops answering after ServerAliveInterval * CountMax. */
#define SSH_ALIVE_INTERVAL "10"
#define SSH_ALIVE_COUNT "3"

/* -o NAME=VALUE */
static int add_option(char ***argv, const char *name, const char *value)
{
	_cleanup_free_ char *option = NULL;

	if (asprintf(&option, "%s=%s", name, value) < 0)
		return -ENOMEM;
	if (strv_extend(argv, "-o") < 0 || strv_extend(argv, option) < 0)
		return -ENOMEM;
	return 0;
}

/* ssh [options] -- HOST COMMAND, never prompting, trusting only the configured key and
 * known hosts, reading no ssh_config (a ProxyCommand there would run whatever it says). */
static int ssh_argv(const RemoteHost *host, UnitsBus which, const UnitsSshOptions *ssh, char ***ret)
{
	_cleanup_strv_free_ char **argv = NULL;
	char timeout[32], port[8];
	usec_t connect_timeout = ssh->connect_timeout ?: UNITS_SSH_CONNECT_TIMEOUT;

	/* ssh's ConnectTimeout is in whole seconds, at least 1. */
	snprintf(timeout, sizeof(timeout), "%llu",
		 (unsigned long long)((connect_timeout + USEC_PER_SEC - 1) / USEC_PER_SEC));
	if (strv_extend(&argv, "ssh") < 0 || strv_extend(&argv, "-F") < 0 ||
	    strv_extend(&argv, "none") < 0 || strv_extend(&argv, "-xT") < 0 ||
	    add_option(&argv, "BatchMode", "yes") < 0 ||
	    add_option(&argv, "StrictHostKeyChecking", "yes") < 0 ||
	    add_option(&argv, "ConnectTimeout", timeout) < 0 ||
	    add_option(&argv, "ServerAliveInterval", SSH_ALIVE_INTERVAL) < 0 ||
	    add_option(&argv, "ServerAliveCountMax", SSH_ALIVE_COUNT) < 0)
		return -ENOMEM;
	if (ssh->identity && (add_option(&argv, "IdentityFile", ssh->identity) < 0 ||
			      add_option(&argv, "IdentitiesOnly", "yes") < 0 ||
			      add_option(&argv, "IdentityAgent", "none") < 0))
		return -ENOMEM;
	if (ssh->known_hosts && (add_option(&argv, "UserKnownHostsFile", ssh->known_hosts) < 0 ||
				 add_option(&argv, "GlobalKnownHostsFile", "none") < 0))
		return -ENOMEM;
	if (host->user[0] && (strv_extend(&argv, "-l") < 0 || strv_extend(&argv, host->user) < 0))
		return -ENOMEM;
	if (host->port) {
		snprintf(port, sizeof(port), "%u", (unsigned)host->port);
		if (strv_extend(&argv, "-p") < 0 || strv_extend(&argv, port) < 0)
			return -ENOMEM;
	}
	if (strv_extend(&argv, "--") < 0 || strv_extend(&argv, host->name) < 0 ||
	    strv_extend(&argv, which == UNITS_BUS_USER ? BRIDGE_USER : BRIDGE_SYSTEM) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(argv);
	return 0;
}

/* Starts ssh with the socket as its stdin and stdout and stderr_fd as its stderr, with
 * default signal handling (the deploy worker blocks SIGTERM, which ssh must not inherit). */
static int spawn_ssh(char *const *argv, int socket_fd, int stderr_fd, pid_t *ret_pid)
{
	_cleanup_free_ char *path = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int r;

	r = spawn_find_program(argv[0], getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin", &path);
	if (r < 0)
		return r;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -ENOMEM;
	}
	sigemptyset(&none);
	sigfillset(&all);
	if ((r = posix_spawn_file_actions_adddup2(&fa, socket_fd, STDIN_FILENO)) == 0 &&
	    (r = posix_spawn_file_actions_adddup2(&fa, socket_fd, STDOUT_FILENO)) == 0 &&
	    (r = posix_spawn_file_actions_adddup2(&fa, stderr_fd, STDERR_FILENO)) == 0 &&
	    (r = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1)) == 0 &&
	    (r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) ==
		    0 &&
	    (r = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
	    (r = posix_spawnattr_setsigdefault(&attr, &all)) == 0)
		r = posix_spawn(ret_pid, path, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return -r;
}

bool units_ssh_path_is_valid(const char *path)
{
	return path[0] == '/' && !path[strcspn(path, " \t\n\r\v\f\"'%\\")];
}

int units_manager_ssh_message(const UnitsManager *m, char **ret)
{
	_cleanup_free_ char *text = NULL;
	char buf[4096];
	struct stat st;
	ssize_t n;
	int r;

	*ret = NULL;
	if (m->ssh_stderr < 0)
		return 0;
	/* The file offset is shared with ssh's stderr: read by position, never seek. */
	if (fstat(m->ssh_stderr, &st) < 0)
		return -errno;
	n = pread(m->ssh_stderr, buf, sizeof(buf) - 1,
		  st.st_size > (off_t)sizeof(buf) - 1 ? st.st_size - (off_t)sizeof(buf) + 1 : 0);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	if (strspn(buf, " \t\r\n") == (size_t)n)
		return 0;
	r = text_sanitize(buf, 0, TEXT_SANITIZE_SQUEEZE_SPACE, &text);
	if (r < 0)
		return r;

	/* The last words are the ones that explain: keep the end of a long text. */
	size_t len = strlen(text);
	if (len <= SSH_MESSAGE_MAX) {
		*ret = TAKE_PTR(text);
		return 0;
	}
	const char *tail = text + len - SSH_MESSAGE_MAX;
	while ((*tail & 0xc0) == 0x80) /* to a character's first byte */
		tail++;
	return asprintf(ret, "…%s", tail) < 0 ? -ENOMEM : 0;
}

/* Why the manager on the host did not answer, in ssh's own words when it said something. */
static int connect_failed(UnitsManager *m, int error, char **ret_error)
{
	_cleanup_free_ char *said = NULL;
	int r = units_manager_ssh_message(m, &said);

	if (r == -ENOMEM)
		return r;
	if (error == -ETIMEDOUT)
		r = asprintf(ret_error, "no answer within the connect timeout%s%s%s",
			     said ? " (" : "", said ?: "", said ? ")" : "");
	else if (said)
		r = asprintf(ret_error, "%s", said);
	else
		r = asprintf(ret_error,
			     "the connection closed before the service manager answered (%s); is "
			     "systemd-stdio-bridge installed there, and does the journal there say "
			     "why it failed?",
			     strerror(-error));
	return r < 0 ? -ENOMEM : error;
}

/* Starts ssh and the bus over it; the manager's first answer (Subscribe) is still to come. */
static int connect_begin(const char *host, UnitsBus which, const UnitsSshOptions *ssh,
			 UnitsManager **ret, char **ret_error)
{
	_cleanup_(units_manager_freep) UnitsManager *m = NULL;
	_cleanup_strv_free_ char **argv = NULL;
	_cleanup_close_ int ours = -EBADF, theirs = -EBADF;
	RemoteHost parsed;
	int pair[2], r;

	r = remote_host_parse(host, &parsed, NULL);
	if (r < 0)
		return r;
	if ((ssh->identity && !units_ssh_path_is_valid(ssh->identity)) ||
	    (ssh->known_hosts && !units_ssh_path_is_valid(ssh->known_hosts))) {
		if (asprintf(ret_error,
			     "the ssh identity and known-hosts file must be absolute "
			     "paths without white space, quotes, '%%' or a backslash") < 0)
			return -ENOMEM;
		return -EINVAL;
	}
	r = ssh_argv(&parsed, which, ssh, &argv);
	if (r < 0)
		return r;
	r = units_manager_new(which, &m);
	if (r < 0)
		return r;
	m->host = strdup(host);
	if (!m->host)
		return -ENOMEM;
	/* A file rather than a pipe: ssh never blocks on it, however much the remote side
	 * writes to stderr, and what it wrote can be read whenever a failure needs it. */
	m->ssh_stderr = memfd_create("deployd-ssh-stderr", MFD_CLOEXEC);
	if (m->ssh_stderr < 0)
		return -errno;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
		return -errno;
	ours = pair[0];
	theirs = pair[1];

	r = spawn_ssh(argv, theirs, m->ssh_stderr, &m->ssh_pid);
	if (r < 0) {
		if (asprintf(ret_error, "cannot run ssh: %s",
			     r == -ENOENT ? "not found in PATH" : strerror(-r)) < 0)
			return -ENOMEM;
		return r;
	}
	close(TAKE_FD(theirs));

	r = sd_bus_new(&m->bus);
	if (r < 0)
		return r;
	(void)sd_bus_set_description(m->bus, host);
	r = sd_bus_set_fd(m->bus, ours, ours);
	if (r < 0)
		return r;
	TAKE_FD(ours);
	/* A bus client through the bridge: Hello, matches and signals go through the remote bus
	 * daemon, which sends the manager's signals only to subscribers.  No fd passing over
	 * ssh. */
	if ((r = sd_bus_set_bus_client(m->bus, true)) < 0 ||
	    (r = sd_bus_negotiate_fds(m->bus, false)) < 0 ||
	    (r = sd_bus_set_trusted(m->bus, false)) < 0)
		return r;
	m->bus_client = true;
	r = sd_bus_start(m->bus);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return connect_failed(m, r, ret_error);
	*ret = TAKE_PTR(m);
	return 0;
}

static usec_t connect_deadline(const UnitsSshOptions *ssh)
{
	return units_deadline((ssh->connect_timeout ?: UNITS_SSH_CONNECT_TIMEOUT) +
			      UNITS_QUERY_TIMEOUT);
}

static int connect_remote(const char *host, UnitsBus which, const UnitsSshOptions *ssh,
			  int cancel_fd, UnitsManager **ret, char **ret_error)
{
	_cleanup_(units_manager_freep) UnitsManager *m = NULL;
	int r;

	r = connect_begin(host, which, ssh, &m, ret_error);
	if (r < 0)
		return r;
	r = units_subscribe(m, connect_deadline(ssh), cancel_fd);
	if (r == -ECANCELED || r == -ENOMEM)
		return r;
	if (r < 0)
		return connect_failed(m, r, ret_error);
	*ret = TAKE_PTR(m);
	return 0;
}

int units_connect_remote(const char *host, UnitsBus which, const UnitsSshOptions *ssh,
			 int cancel_fd, UnitsManager **ret, char **ret_error)
{
	_cleanup_free_ char *error = NULL;
	int r = connect_remote(host, which, ssh, cancel_fd, ret, &error);

	if (r >= 0 || r == -ENOMEM || r == -ECANCELED)
		return r;
	if (!error &&
	    asprintf(&error, "cannot reach the service manager on %s: %s", host,
		     r == -EINVAL ? "not an ssh destination [user@]host[:port]" : strerror(-r)) < 0)
		return -ENOMEM;
	*ret_error = TAKE_PTR(error);
	return r;
}

/* Records that rm failed with error, worded as units_connect_remote() words it: said (taken)
 * when the failure was explained already, else from the manager's ssh when there is one. */
static int remote_failed(UnitsRemote *rm, UnitsManager *m, int error, char *said)
{
	_cleanup_free_ char *message = said;
	int r = m && !message ? connect_failed(m, error, &message) : error;

	if (r == -ENOMEM)
		return r;
	if (!message && asprintf(&message, "cannot reach the service manager on %s: %s", rm->host,
				 error == -EINVAL ? "not an ssh destination [user@]host[:port]"
						  : strerror(-error)) < 0)
		return -ENOMEM;
	free(rm->error_message);
	rm->error_message = TAKE_PTR(message);
	rm->error = error;
	return 0;
}

typedef struct Subscribing {
	sd_bus_message **replies;
	const int *errors;
	const bool *waiting;
	size_t n;
} Subscribing;

static int on_subscribed(sd_bus_message *reply, void *userdata, sd_bus_error *error _unused_)
{
	*(sd_bus_message **)userdata = sd_bus_message_ref(reply);
	return 0;
}

static bool all_subscribed(void *userdata)
{
	const Subscribing *s = userdata;

	for (size_t i = 0; i < s->n; i++)
		if (s->waiting[i] && !s->replies[i] && s->errors[i] >= 0)
			return false;
	return true;
}

int units_connect_remote_all(UnitsRemote *remotes, size_t n, const UnitsSshOptions *ssh,
			     int cancel_fd)
{
	_cleanup_free_ UnitsManager **managers = calloc(n + 1, sizeof(UnitsManager *));
	_cleanup_free_ sd_bus **buses = calloc(n + 1, sizeof(sd_bus *));
	_cleanup_free_ sd_bus_message **replies = calloc(n + 1, sizeof(sd_bus_message *));
	_cleanup_free_ sd_bus_slot **slots = calloc(n + 1, sizeof(sd_bus_slot *));
	_cleanup_free_ int *errors = calloc(n + 1, sizeof(int));
	_cleanup_free_ bool *waiting = calloc(n + 1, sizeof(bool));
	usec_t deadline = connect_deadline(ssh);
	int r = 0;

	if (!managers || !buses || !replies || !slots || !errors || !waiting)
		return -ENOMEM;

	/* Every ssh first: the handshakes overlap, so n hosts cost about one. */
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
		_cleanup_free_ char *message = NULL;
		UnitsRemote *rm = &remotes[i];

		rm->manager = NULL;
		rm->error = 0;
		int k = connect_begin(rm->host, rm->which, ssh, &managers[i], &message);
		if (k == -ENOMEM) {
			r = k;
			break;
		}
		if (k < 0) {
			r = remote_failed(rm, NULL, k, TAKE_PTR(message));
			continue;
		}
		k = sd_bus_message_new_method_call(managers[i]->bus, &call, UNITS_DESTINATION,
						   UNITS_MANAGER_PATH, UNITS_MANAGER_INTERFACE,
						   "Subscribe");
		if (k >= 0)
			k = sd_bus_call_async(managers[i]->bus, &slots[i], call, on_subscribed,
					      &replies[i], units_call_timeout(deadline));
		if (k == -ENOMEM) {
			r = k;
			break;
		}
		if (k < 0) {
			r = remote_failed(rm, managers[i], k, NULL);
			continue;
		}
		buses[i] = managers[i]->bus;
		waiting[i] = true;
	}

	/* One wait for all their answers; a host that does not answer in time fails alone. */
	if (r >= 0) {
		for (size_t i = 0; i < n; i++)
			if (!waiting[i])
				errors[i] = -ENOTCONN; /* not waited on */
		Subscribing s = {.replies = replies, .errors = errors, .waiting = waiting, .n = n};
		r = units_wait_many(buses, errors, n, deadline, cancel_fd, all_subscribed, &s);
		if (r == -ETIMEDOUT)
			r = 0;
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		UnitsRemote *rm = &remotes[i];
		int k = 0;

		if (!waiting[i])
			continue;
		if (errors[i] < 0)
			k = errors[i];
		else if (!replies[i])
			k = -ETIMEDOUT;
		else if (units_reply_is_connection_lost(replies[i]))
			k = -ECONNRESET;
		else if (sd_bus_message_is_method_error(replies[i], NULL))
			k = -sd_bus_message_get_errno(replies[i]);
		if (k < 0) {
			r = remote_failed(rm, managers[i], k, NULL);
			continue;
		}
		rm->manager = TAKE_PTR(managers[i]);
	}
	for (size_t i = 0; i < n; i++) {
		sd_bus_slot_unref(slots[i]);
		sd_bus_message_unref(replies[i]);
	}
	units_managers_free(managers, n); /* those that failed */
	return r;
}
