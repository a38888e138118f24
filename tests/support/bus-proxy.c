/* bus-proxy.c — see bus-proxy.h. */
#include "bus-proxy.h"

#include <check.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUS_PROXY_MAX 4

static int unix_address(const char *path, struct sockaddr_un *ret)
{
	*ret = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(ret->sun_path))
		return -ENAMETOOLONG;
	strcpy(ret->sun_path, path);
	return 0;
}

/* Copies what is readable on from to to; false at EOF or on an error. */
static bool pump(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n <= 0)
		return n < 0 && errno == EINTR;
	for (ssize_t done = 0; done < n;) {
		ssize_t w = write(to, buf + done, (size_t)(n - done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		done += w;
	}
	return true;
}

/* One connection: forwards both ways until either side closes. */
_Noreturn static void forward(int client, const char *target)
{
	struct sockaddr_un sa;
	int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (server < 0 || unix_address(target, &sa) < 0 ||
	    connect(server, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		_exit(1);
	for (;;) {
		struct pollfd p[2] = {{.fd = client, .events = POLLIN},
				      {.fd = server, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if ((p[0].revents && !pump(client, server)) ||
		    (p[1].revents && !pump(server, client)))
			_exit(0);
	}
}

_Noreturn static void proxy_main(const char *const *listen_paths, const char *const *target,
				 size_t n)
{
	struct pollfd p[BUS_PROXY_MAX];

	for (size_t i = 0; i < n; i++) {
		struct sockaddr_un sa;

		p[i] = (struct pollfd){.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
				       .events = POLLIN};
		unlink(listen_paths[i]);
		if (p[i].fd < 0 || unix_address(listen_paths[i], &sa) < 0 ||
		    bind(p[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(p[i].fd, 16) < 0)
			_exit(1);
	}
	/* Ready: the parent waits for this byte. */
	if (write(STDOUT_FILENO, "r", 1) != 1)
		_exit(1);
	for (;;) {
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (size_t i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			int c = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			pid_t pid = fork();
			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				forward(c, target[i]);
			}
			close(c);
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

void bus_proxy_start(BusProxy *p, const char *const *listen_paths, const char *const *target,
		     size_t n, uid_t uid, gid_t gid)
{
	int ready[2];
	char byte;

	ck_assert_uint_le(n, BUS_PROXY_MAX);
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* One process group: killing it takes every forwarded connection along. */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(ready[1], STDOUT_FILENO) < 0 || setgroups(0, NULL) < 0 ||
		    setgid(gid) < 0 || setuid(uid) < 0)
			_exit(1);
		proxy_main(listen_paths, target, n);
	}
	setpgid(pid, pid);
	close(ready[1]);
	ck_assert_msg(read(ready[0], &byte, 1) == 1, "the bus proxy did not start");
	close(ready[0]);
	p->pid = pid;
}

void bus_proxy_kill(BusProxy *p)
{
	if (p->pid <= 0)
		return;
	kill(-p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
}
