#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>

#include "peer.h"
#include "server-internal.h"

static int on_idle_timeout(sd_event_source *source _unused_, uint64_t usec _unused_, void *userdata)
{
	Server *s = userdata;

	server_log(s, LOG_INFO, "Idle for %llu s, exiting.",
		   (unsigned long long)(s->config.idle_exit / USEC_PER_SEC));
	/* STOPPING=1 first, so that systemd queues new connections for the next activation. */
	sd_notify(false, "STOPPING=1");
	return sd_event_exit(s->event, 0);
}

static int on_terminate(sd_event_source *source _unused_, const struct signalfd_siginfo *si,
			void *userdata)
{
	Server *s = userdata;

	sd_notify(false, "STOPPING=1");
	s->exiting = true;
	if (s->deploy) {
		server_log(s, LOG_NOTICE, "Signal %u received: cancelling deploy %s, then exiting.",
			   si->ssi_signo, s->deploy->request.id);
		deploy_cancel(s);
		return 0;
	}
	return sd_event_exit(s->event, 0);
}

static int on_listen(sd_event_source *source _unused_, int fd, uint32_t revents _unused_,
		     void *userdata)
{
	Server *s = userdata;
	int r = client_accept(s, fd);

	if (r < 0 && r != -EAGAIN && r != -EINTR)
		server_log(s, LOG_WARNING, "Accepting a connection failed: %s", strerror(-r));
	return 0;
}

static int bind_socket(Server *s, int *ret_fd)
{
	_cleanup_close_ int fd = -EBADF;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	if (strlen(s->config.socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, s->config.socket_path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Only a stale socket is replaced, never another kind of file. */
	if (lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (chmod(sa.sun_path, 0660) < 0)
		return -errno;
	if (s->allow_gid != PEER_NO_GROUP && s->own_uid == 0 &&
	    chown(sa.sun_path, (uid_t)-1, s->allow_gid) < 0)
		return -errno;
	if (listen(fd, SOMAXCONN) < 0)
		return -errno;
	s->bound_socket = true;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int setup_listening(Server *s)
{
	int n = sd_listen_fds(1), r;

	if (n < 0)
		return n;
	if (n == 0) {
		int fd = -EBADF;
		r = bind_socket(s, &fd);
		if (r < 0) {
			server_log(s, LOG_ERR, "Cannot listen on %s: %s", s->config.socket_path,
				   strerror(-r));
			return r;
		}
		n = 1;
		s->listen_sources = calloc(1, sizeof(sd_event_source *));
		if (!s->listen_sources)
			return -ENOMEM;
		r = sd_event_add_io(s->event, &s->listen_sources[0], fd, EPOLLIN, on_listen, s);
		if (r < 0)
			return r;
		sd_event_source_set_io_fd_own(s->listen_sources[0], true);
		s->n_listen = 1;
		return 0;
	}

	s->listen_sources = calloc((size_t)n, sizeof(sd_event_source *));
	if (!s->listen_sources)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			server_log(s, LOG_ERR,
				   "Passed fd %d is not a listening unix stream socket.", fd);
			return -EINVAL;
		}
		r = sd_event_add_io(s->event, &s->listen_sources[s->n_listen], fd, EPOLLIN,
				    on_listen, s);
		if (r < 0)
			return r;
		sd_event_source_set_io_fd_own(s->listen_sources[s->n_listen++], true);
	}
	return 0;
}

static bool journal_available(void)
{
	return access("/run/systemd/journal/socket", W_OK) == 0;
}

static void server_done(Server *s)
{
	while (s->clients) {
		client_flush_before_exit(s->clients);
		client_free(s->clients);
	}
	running_deploy_free(s->deploy);
	while (s->ending) {
		RunningDeploy *d = s->ending;
		s->ending = d->next_ending;
		running_deploy_free(d);
	}
	for (size_t i = 0; i < s->n_listen; i++)
		sd_event_source_disable_unref(s->listen_sources[i]);
	free(s->listen_sources);
	if (s->bound_socket)
		unlink(s->config.socket_path);
	sd_event_source_disable_unref(s->idle_source);
	sd_event_unref(s->event);
}

int server_run(const ServerConfig *config)
{
	Server s = {
		.config = *config,
		.own_uid = geteuid(),
		.allow_gid = PEER_NO_GROUP,
		.followers = {.send = clients_send_following,
			      .finish = clients_finish_following,
			      .flush = clients_flush},
	};
	sigset_t mask;
	int r;

	switch (config->log_target) {
	case SERVER_LOG_JOURNAL:
		s.log_to_journal = true;
		break;
	case SERVER_LOG_STDERR:
		s.log_to_journal = false;
		break;
	default:
		s.log_to_journal = journal_available();
	}

	if (config->allow_group && *config->allow_group) {
		struct group *g = getgrnam(config->allow_group);
		if (g)
			s.allow_gid = g->gr_gid;
		else
			server_log(&s, LOG_WARNING,
				   "Group '%s' does not exist; only root and uid %u may deploy.",
				   config->allow_group, (unsigned)s.own_uid);
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* A client that goes away mid-write must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);

	r = sd_event_default(&s.event);
	if (r < 0)
		goto finish;
	if ((r = sd_event_add_signal(s.event, NULL, SIGTERM, on_terminate, &s)) < 0 ||
	    (r = sd_event_add_signal(s.event, NULL, SIGINT, on_terminate, &s)) < 0)
		goto finish;
	(void)sd_event_set_watchdog(s.event, true);

	r = setup_listening(&s);
	if (r < 0)
		goto finish;

	if (config->idle_exit > 0) {
		r = sd_event_add_time_relative(s.event, &s.idle_source, CLOCK_MONOTONIC,
					       config->idle_exit, 0, on_idle_timeout, &s);
		if (r < 0)
			goto finish;
	}

	deploy_report_interrupted(&s);
	server_update_idle(&s);
	sd_notify(false, "READY=1");
	server_notify_status(&s);

	r = sd_event_loop(s.event);

finish:
	if (r < 0)
		server_log(&s, LOG_ERR, "deployd failed: %s", strerror(-r));
	server_done(&s);
	return r < 0 ? 1 : 0;
}
