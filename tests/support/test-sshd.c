/* test-sshd.c — see test-sshd.h. */
#include "test-sshd.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "harness.h"

/* Runs SCRIPT ARG from the harness directory with stdout to /dev/null; aborts unless it
 * exits 0 (its stderr says why). */
static void run_script(const char *script, const char *arg)
{
	_cleanup_free_ char *path = NULL;
	int status;

	ck_assert_int_ge(asprintf(&path, "%s/%s", harness_dir(), script), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, STDOUT_FILENO) < 0)
			_exit(127);
		execl(path, path, arg, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s %s failed (status %d)",
		      path, arg, status);
}

static char *env_value(const char *line, const char *key)
{
	size_t len = strlen(key);

	if (strncmp(line, key, len) != 0 || line[len] != '=')
		return NULL;
	char *value = strndup(line + len + 1, strcspn(line + len + 1, "\n"));
	ck_assert_ptr_nonnull(value);
	return value;
}

void test_sshd_up(TestSshd *s)
{
	_cleanup_free_ char *env = NULL, *port = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	char line[4096];

	*s = (TestSshd){.dir = harness_tmpdir()};
	run_script("up-sshd", s->dir);
	ck_assert_int_ge(asprintf(&env, "%s/sshd.env", s->dir), 0);
	f = fopen(env, "re");
	ck_assert_msg(f, "%s: %s", env, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *v;
		if ((v = env_value(line, "DEPLOYD_TEST_SSH_HOST")))
			s->host = v;
		else if ((v = env_value(line, "DEPLOYD_TEST_SSH_IDENTITY")))
			s->identity = v;
		else if ((v = env_value(line, "DEPLOYD_TEST_SSH_KNOWN_HOSTS")))
			s->known_hosts = v;
		else if ((v = env_value(line, "DEPLOYD_TEST_SSH_PORT")))
			port = v;
	}
	ck_assert_msg(s->host && s->identity && s->known_hosts && port, "%s is incomplete", env);
	s->port = (unsigned)strtoul(port, NULL, 10);
}

void test_sshd_down(TestSshd *s)
{
	if (s->dir)
		run_script("down-sshd", s->dir);
	free(s->dir);
	free(s->host);
	free(s->identity);
	free(s->known_hosts);
	*s = (TestSshd){};
}

/* Kills every descendant of pid (children first found, then theirs); returns how many. */
static int kill_descendants(int pid)
{
	_cleanup_free_ char *tasks = NULL;
	DIR *dir;
	struct dirent *de;
	int n = 0;

	ck_assert_int_ge(asprintf(&tasks, "/proc/%d/task", pid), 0);
	dir = opendir(tasks);
	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		_cleanup_free_ char *children = NULL;
		_cleanup_fclose_ FILE *c = NULL;
		int child;

		if (de->d_name[0] == '.')
			continue;
		ck_assert_int_ge(asprintf(&children, "%s/%s/children", tasks, de->d_name), 0);
		c = fopen(children, "re");
		while (c && fscanf(c, "%d", &child) == 1) {
			/* Stopped first, so that none of them can fork or be reparented. */
			kill(child, SIGSTOP);
			n += kill_descendants(child);
			if (kill(child, SIGKILL) == 0)
				n++;
		}
	}
	closedir(dir);
	return n;
}

int test_sshd_drop_sessions(TestSshd *s)
{
	_cleanup_free_ char *pidfile = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	int listener = 0;

	ck_assert_int_ge(asprintf(&pidfile, "%s/sshd.pid", s->dir), 0);
	f = fopen(pidfile, "re");
	ck_assert_msg(f && fscanf(f, "%d", &listener) == 1, "%s: no pid", pidfile);
	/* A session is sshd's monitor, its unprivileged child holding the connection, and the
	 * login's processes: all of them go, as with a host that vanished. */
	return kill_descendants(listener);
}

int test_sshd_logins(TestSshd *s)
{
	_cleanup_free_ char *log = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	char line[4096];
	int n = 0;

	ck_assert_int_ge(asprintf(&log, "%s/sshd.log", s->dir), 0);
	f = fopen(log, "re");
	ck_assert_msg(f, "%s: %s", log, strerror(errno));
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "Accepted publickey") != NULL;
	return n;
}

void test_sshd_force_command(TestSshd *s, const char *command)
{
	_cleanup_free_ char *pub_path = NULL, *keys_path = NULL, *tmp = NULL, *key = NULL;
	_cleanup_fclose_ FILE *pub = NULL, *keys = NULL;
	size_t size = 0;

	ck_assert_int_ge(asprintf(&pub_path, "%s/id_ed25519.pub", s->dir), 0);
	ck_assert_int_ge(asprintf(&keys_path, "%s/authorized_keys", s->dir), 0);
	ck_assert_int_ge(asprintf(&tmp, "%s/authorized_keys.tmp", s->dir), 0);
	pub = fopen(pub_path, "re");
	ck_assert_msg(pub, "%s: %s", pub_path, strerror(errno));
	ck_assert_int_gt(getline(&key, &size, pub), 0);
	keys = fopen(tmp, "we");
	ck_assert_msg(keys, "%s: %s", tmp, strerror(errno));
	/* sshd reads the file at each login: the next connection gets the forced command. */
	if (command)
		ck_assert_int_ge(fprintf(keys, "restrict,command=\"%s\" %s", command, key), 0);
	else
		ck_assert_int_ge(fputs(key, keys), 0);
	ck_assert_int_eq(fchmod(fileno(keys), 0644), 0);
	ck_assert_int_eq(fclose(TAKE_PTR(keys)), 0);
	ck_assert_int_eq(rename(tmp, keys_path), 0);
}
