/* Running a program with its output streamed line by line (spawn-command.h). */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include "cleanup.h"
#include "spawn-command.h"
#include "text-redact.h"
#include "tick-schedule.h"
#include "text-sanitize.h"

/* After the program ended, how long output of strays still holding its pipes is awaited. */
#define SPAWN_DRAIN_USEC (1 * USEC_PER_SEC)
/* Without a pidfd (kernels before 5.3, valgrind) the child's exit is polled for this often. */
#define SPAWN_EXIT_POLL_USEC (20 * USEC_PER_MSEC)

typedef struct LineBuffer {
	int fd;
	SpawnStream stream;
	char data[SPAWN_LINE_MAX];
	size_t len;
} LineBuffer;

const char *spawn_stream_to_string(SpawnStream s)
{
	return s == SPAWN_STDOUT ? "stdout" : s == SPAWN_STDERR ? "stderr" : NULL;
}

int spawn_find_program(const char *argv0, const char *path_list, char **ret)
{
	char *path;

	if (argv0[0] == '\0')
		return -ENOENT;
	if (strchr(argv0, '/')) {
		path = strdup(argv0);
		if (!path)
			return -ENOMEM;
		*ret = path;
		return 0;
	}
	for (const char *p = path_list ?: ""; *p;) {
		size_t len = strcspn(p, ":");
		if (len > 0) {
			if (asprintf(&path, "%.*s/%s", (int)len, p, argv0) < 0)
				return -ENOMEM;
			if (access(path, X_OK) == 0) {
				*ret = path;
				return 0;
			}
			free(path);
		}
		p += len;
		if (*p == ':')
			p++;
	}
	return -ENOENT;
}

/* Hands text over as one line, its secrets redacted, made safe by text_sanitize().  A NUL
 * would end the string early: it goes in as a byte that is never UTF-8, so it too comes out as
 * U+FFFD.  Redaction comes before sanitizing, which could change a secret's bytes. */
static void emit(const SpawnOptions *o, SpawnStream stream, const char *text, size_t len)
{
	char raw[SPAWN_LINE_MAX];
	_cleanup_free_ char *redacted = NULL, *line = NULL;

	if (!o->output)
		return;
	if (len > 0 && text[len - 1] == '\r')
		len--;
	memcpy(raw, text, len);
	for (size_t i = 0; i < len; i++)
		if (raw[i] == '\0')
			raw[i] = (char)0xFF;
	/* Out of memory, the line cannot be handed over (and a line whose secrets could not be
	 * taken out must not be); the program's outcome still is. */
	if (text_redact(raw, len, o->redact, &redacted) < 0 ||
	    text_sanitize(redacted, 0, 0, &line) < 0)
		return;
	o->output(stream, line, o->userdata);
}

/* Hands over every complete line; a full buffer without a line break goes as one piece, cut
 * before an incomplete character at its end. */
static void emit_lines(const SpawnOptions *o, LineBuffer *b, bool eof)
{
	for (;;) {
		char *nl = memchr(b->data, '\n', b->len);
		size_t take, drop;

		if (nl) {
			take = (size_t)(nl - b->data);
			drop = take + 1;
		} else if (b->len == sizeof(b->data) || (eof && b->len > 0)) {
			take = b->len;
			if (!eof) {
				/* Cut before the last character when it may be incomplete: back
				 * over continuation bytes (at most 3) to its lead byte. */
				size_t k = take;
				while (k > 0 && take - k < 3 &&
				       ((unsigned char)b->data[k - 1] & 0xC0) == 0x80)
					k--;
				if (k > 0 && ((unsigned char)b->data[k - 1] & 0xC0) == 0xC0)
					take = k - 1;
				/* Nor may a secret be cut in two, each half escaping redaction. */
				size_t cut = text_redact_cut(b->data, take, o->redact);
				if (cut > 0)
					take = cut;
			}
			drop = take;
		} else
			return;
		emit(o, b->stream, b->data, take);
		memmove(b->data, b->data + drop, b->len - drop);
		b->len -= drop;
	}
}

/* Reads what is there; closes the fd at EOF (or error) after handing over the rest. */
static void read_stream(const SpawnOptions *o, LineBuffer *b)
{
	ssize_t n = read(b->fd, b->data + b->len, sizeof(b->data) - b->len);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		emit_lines(o, b, true);
		close(b->fd);
		b->fd = -EBADF;
		return;
	}
	b->len += (size_t)n;
	emit_lines(o, b, false);
}

static void spawn_file_actions_destroyp(posix_spawn_file_actions_t **fa)
{
	if (*fa)
		posix_spawn_file_actions_destroy(*fa);
}

static void spawnattr_destroyp(posix_spawnattr_t **a)
{
	if (*a)
		posix_spawnattr_destroy(*a);
}

static int start(const SpawnOptions *o, const char *path, int out_fd, int err_fd, pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa_storage;
	posix_spawnattr_t attr_storage;
	_cleanup_(spawn_file_actions_destroyp) posix_spawn_file_actions_t *fa = NULL;
	_cleanup_(spawnattr_destroyp) posix_spawnattr_t *attr = NULL;
	sigset_t none, all;
	int r;

	if (posix_spawn_file_actions_init(&fa_storage) != 0)
		return -ENOMEM;
	fa = &fa_storage;
	if (posix_spawnattr_init(&attr_storage) != 0)
		return -ENOMEM;
	attr = &attr_storage;

	sigemptyset(&none);
	sigfillset(&all);
	if ((r = posix_spawn_file_actions_addopen(fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0)) ||
	    (r = posix_spawn_file_actions_adddup2(fa, out_fd, STDOUT_FILENO)) ||
	    (r = posix_spawn_file_actions_adddup2(fa, err_fd, STDERR_FILENO)) ||
	    (r = posix_spawn_file_actions_addclosefrom_np(fa, STDERR_FILENO + 1)) ||
	    (o->working_directory &&
	     (r = posix_spawn_file_actions_addchdir_np(fa, o->working_directory))) ||
	    (r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
							POSIX_SPAWN_SETSIGDEF)) ||
	    (r = posix_spawnattr_setpgroup(attr, 0)) ||
	    (r = posix_spawnattr_setsigmask(attr, &none)) ||
	    (r = posix_spawnattr_setsigdefault(attr, &all)))
		return -r;
	r = posix_spawn(ret_pid, path, fa, attr, o->argv, o->envp);
	return -r;
}

static const char *envp_get(char *const *envp, const char *key)
{
	size_t len = strlen(key);

	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], key, len) == 0 && envp[i][len] == '=')
			return envp[i] + len + 1;
	return NULL;
}

static void set_error(char **ret_error, const char *argv0, const char *what)
{
	if (ret_error && asprintf(ret_error, "cannot run %s: %s", argv0, what) < 0)
		*ret_error = NULL;
}

static void stop(pid_t pid, SpawnResult *result, SpawnOutcome why, usec_t *kill_at)
{
	result->outcome = why;
	kill(-pid, SIGTERM);
	*kill_at = now_usec(CLOCK_MONOTONIC) + SPAWN_KILL_GRACE_USEC;
}

/* Whether pid has exited, leaving it to be reaped (for when there is no pidfd). */
static bool child_has_exited(pid_t pid)
{
	siginfo_t si = {};

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

static struct timespec *timeout_until(usec_t wake, struct timespec *ts)
{
	usec_t now = now_usec(CLOCK_MONOTONIC), left;

	if (wake == USEC_INFINITY)
		return NULL;
	left = wake > now ? wake - now : 0;
	*ts = (struct timespec){.tv_sec = (time_t)(left / USEC_PER_SEC),
				.tv_nsec = (long)(left % USEC_PER_SEC) * 1000};
	return ts;
}

int spawn_run(const SpawnOptions *o, SpawnResult *ret, char **ret_error)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int pidfd = -EBADF, out_read = -EBADF, err_read = -EBADF;
	LineBuffer buffers[2] = {{.stream = SPAWN_STDOUT}, {.stream = SPAWN_STDERR}};
	SpawnResult result = {};
	usec_t deadline = o->timeout > 0 ? now_usec(CLOCK_MONOTONIC) + o->timeout : USEC_INFINITY;
	usec_t kill_at = USEC_INFINITY, drain_until = USEC_INFINITY;
	TickSchedule ticks;
	bool exited = false, stopping = false;
	pid_t pid;
	int r;

	r = spawn_find_program(o->argv[0], envp_get(o->envp, "PATH"), &path);
	if (r < 0) {
		set_error(ret_error, o->argv[0], r == -ENOENT ? "command not found" : strerror(-r));
		return r;
	}
	{
		int out[2], err[2];
		if (pipe2(out, O_CLOEXEC) < 0) {
			r = -errno;
			set_error(ret_error, o->argv[0], strerror(-r));
			return r;
		}
		if (pipe2(err, O_CLOEXEC) < 0) {
			r = -errno;
			close(out[0]);
			close(out[1]);
			set_error(ret_error, o->argv[0], strerror(-r));
			return r;
		}
		out_read = out[0];
		err_read = err[0];
		r = start(o, path, out[1], err[1], &pid);
		close(out[1]);
		close(err[1]);
	}
	if (r < 0) {
		set_error(ret_error, o->argv[0], strerror(-r));
		return r;
	}
	pidfd = pidfd_open(pid, 0);
	if (pidfd < 0 && errno != ENOSYS) {
		/* Without a pidfd there is no clean wait: do not leave it running. */
		r = -errno;
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		set_error(ret_error, o->argv[0], strerror(-r));
		return r;
	}
	tick_schedule_start(&ticks, o->tick_first, o->tick ? o->tick_interval : 0,
			    now_usec(CLOCK_MONOTONIC));
	buffers[0].fd = TAKE_FD(out_read);
	buffers[1].fd = TAKE_FD(err_read);

	for (;;) {
		struct pollfd p[4];
		struct timespec ts;
		int n = 0, i_pid = -1, i_cancel = -1;
		usec_t now = now_usec(CLOCK_MONOTONIC);

		if (exited && ((buffers[0].fd < 0 && buffers[1].fd < 0) || now >= drain_until))
			break;
		if (!exited && !stopping && now >= deadline) {
			stop(pid, &result, SPAWN_TIMED_OUT, &kill_at);
			stopping = true;
		}
		if (!exited && stopping && now >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = USEC_INFINITY;
		}

		for (int i = 0; i < 2; i++)
			p[n++] = (struct pollfd){.fd = buffers[i].fd, .events = POLLIN};
		if (!exited) {
			i_pid = n;
			p[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		}
		if (!exited && !stopping && o->cancel_fd >= 0) {
			i_cancel = n;
			p[n++] = (struct pollfd){.fd = o->cancel_fd, .events = POLLIN};
		}
		usec_t wake = exited ? drain_until : stopping ? kill_at : deadline;
		if (!exited && ticks.next < wake)
			wake = ticks.next;
		if (!exited && pidfd < 0 && now + SPAWN_EXIT_POLL_USEC < wake)
			wake = now + SPAWN_EXIT_POLL_USEC;
		/* Closed buffers have fd < 0, which poll() skips. */
		if (ppoll(p, (nfds_t)n, timeout_until(wake, &ts), NULL) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			kill(-pid, SIGKILL);
			if (!exited)
				waitpid(pid, NULL, 0);
			break;
		}
		for (int i = 0; i < 2; i++)
			if (buffers[i].fd >= 0 && p[i].revents)
				read_stream(o, &buffers[i]);
		if (i_cancel >= 0 && p[i_cancel].revents) {
			stop(pid, &result, SPAWN_CANCELLED, &kill_at);
			stopping = true;
		}
		if (!exited && now_usec(CLOCK_MONOTONIC) >= ticks.next) {
			if (o->tick(o->userdata) < 0 && !stopping) {
				stop(pid, &result, SPAWN_CANCELLED, &kill_at);
				stopping = true;
			}
			tick_schedule_advance(&ticks, now_usec(CLOCK_MONOTONIC));
		}
		if (i_pid >= 0 && (pidfd >= 0 ? p[i_pid].revents != 0 : child_has_exited(pid))) {
			int status;
			/* Strays of its process group die with it; the zombie keeps the group id
			 * reserved until it is reaped. */
			kill(-pid, SIGKILL);
			if (waitpid(pid, &status, 0) == pid) {
				exited = true;
				drain_until = now_usec(CLOCK_MONOTONIC) + SPAWN_DRAIN_USEC;
				if (!stopping)
					result = WIFEXITED(status)
							 ? (SpawnResult){SPAWN_EXITED,
									 WEXITSTATUS(status)}
							 : (SpawnResult){SPAWN_SIGNALED,
									 WTERMSIG(status)};
				else if (WIFSIGNALED(status))
					result.status = WTERMSIG(status);
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (buffers[i].fd >= 0) {
			emit_lines(o, &buffers[i], true);
			close(buffers[i].fd);
		}
	if (r < 0) {
		set_error(ret_error, o->argv[0], strerror(-r));
		return r;
	}
	*ret = result;
	return 0;
}
