/* bench-2-lockdiag.c — lock diagnosis end to end: a migration (ALTER TABLE) queued behind a
 * transaction left idle by the application, through a real deploy, against what dbmate and a
 * psql loop do in the same spot.
 *
 * The wait starts when the server says so (pg_locks.waitstart of the waiting backend, read by
 * an observer while it waits); events are timed when the --json line reaches the client.
 * Peers get lock_timeout through PGOPTIONS, and once without it (bounded by a 10 s timeout)
 * to show that they wait forever.  Run by tests/bench/run. */
#include <check.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pg-cleanup.h"
#include "sessions.h"
#include "support.h"
#include "test-daemon.h"

#define ROUNDS 5
#define DB "bench_lock"
#define INTERVAL_MS 500
#define HANG_TIMEOUT_SEC 10

typedef struct Watched {
	usec_t wait_start; /* CLOCK_REALTIME; 0: never seen */
	usec_t exited;
	usec_t lock_wait_at, failed_at; /* deployd --json only; 0: never */
	int status;
	bool killed;
	char *output;
	char *lock_wait_message, *failed_message, *blocker_pid;
} Watched;

static void watched_done(Watched *w)
{
	free(w->output);
	free(w->lock_wait_message);
	free(w->failed_message);
	free(w->blocker_pid);
	*w = (Watched){};
}

static const char *json_string(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static void on_json_line(Watched *w, const char *line, usec_t at)
{
	json_object *o = json_tokener_parse(line);
	const char *event = o ? json_string(o, "DEPLOY_EVENT") : NULL;

	if (event && strcmp(event, "lock-wait") == 0 && w->lock_wait_at == 0) {
		w->lock_wait_at = at;
		w->lock_wait_message = strdup(json_string(o, "MESSAGE") ?: "");
		w->blocker_pid = strdup(json_string(o, "BLOCKER_PID") ?: "");
	} else if (event && strcmp(event, "migration-failed") == 0 && w->failed_at == 0) {
		w->failed_at = at;
		w->failed_message = strdup(json_string(o, "MESSAGE") ?: "");
	}
	json_object_put(o);
}

/* The server's wait start of a backend of DB other than the blocker's waiting on a lock. */
static usec_t wait_start(PGconn *observer, int blocker_pid)
{
	char sql[512];
	_cleanup_(PQclearp) PGresult *res = NULL;

	snprintf(sql, sizeof(sql),
		 "SELECT (extract(epoch FROM l.waitstart) * 1000000)::bigint FROM pg_locks l "
		 "JOIN pg_stat_activity a ON a.pid = l.pid WHERE a.datname = '" DB "' AND "
		 "NOT l.granted AND l.waitstart IS NOT NULL AND l.pid <> %d LIMIT 1",
		 blocker_pid);
	res = harness_pg_query(observer, sql);
	return PQntuples(res) == 1 ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
}

/* Runs argv, reading its output as it comes and asking the server for the wait start until it
 * is known.  json: argv prints deployctl --json lines. */
static void watch_run(PGconn *observer, int blocker_pid, char *const argv[],
		      const char *const env[], unsigned timeout_sec, bool json, Watched *w)
{
	_cleanup_free_ char *line = NULL;
	size_t len = 0, line_len = 0;
	usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_sec * USEC_PER_SEC;
	int pipefd[2], status;
	pid_t pid;

	*w = (Watched){.output = strdup("")};
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		for (const char *const *e = env; e && *e; e++)
			putenv((char *)*e);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
		char buf[4096];

		if (poll(&p, 1, 10) > 0) {
			ssize_t n = read(pipefd[0], buf, sizeof(buf));
			usec_t at = now_usec(CLOCK_REALTIME);
			if (n <= 0)
				break;
			for (ssize_t i = 0; i < n; i++) {
				char *grown = realloc(w->output, len + 2);
				ck_assert_ptr_nonnull(grown);
				w->output = grown;
				w->output[len++] = buf[i];
				w->output[len] = '\0';
				if (!json)
					continue;
				grown = realloc(line, line_len + 2);
				ck_assert_ptr_nonnull(grown);
				line = grown;
				if (buf[i] != '\n') {
					line[line_len++] = buf[i];
					continue;
				}
				line[line_len] = '\0';
				on_json_line(w, line, at);
				line_len = 0;
			}
		}
		if (w->wait_start == 0)
			w->wait_start = wait_start(observer, blocker_pid);
		if (!w->killed && timeout_sec > 0 && now_usec(CLOCK_MONOTONIC) >= deadline) {
			kill(-pid, SIGTERM);
			w->killed = true;
		}
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	w->exited = now_usec(CLOCK_REALTIME);
	w->status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static PGconn *idle_blocker(void)
{
	_cleanup_free_ char *conninfo = bench_conninfo("app_user", DB);
	PGconn *blocker = test_session(conninfo, "api");

	test_exec(blocker, "BEGIN");
	test_exec(blocker, "SELECT count(*) FROM locked");
	return blocker;
}

/* Ends every session of DB but the observer's: what a peer left waiting on the server. */
static int end_leftovers(PGconn *observer, int blocker_pid)
{
	char sql[512];
	_cleanup_(PQclearp) PGresult *waiting = NULL, *ended = NULL;

	/* A killed client's backend notices only when it next writes, or at the connection
	 * check: give the server a moment first. */
	usleep(200 * 1000);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
		 "WHERE a.datname = '" DB "' AND NOT l.granted AND l.pid <> %d",
		 blocker_pid);
	waiting = harness_pg_query(observer, sql);
	ended = harness_pg_query(observer, "SELECT pg_terminate_backend(pid, 5000) FROM "
					   "pg_stat_activity WHERE datname = '" DB "' AND "
					   "pid <> pg_backend_pid()");
	return atoi(PQgetvalue(waiting, 0, 0));
}

typedef struct Setup {
	TestDaemon daemon;
	char *dir, *migrations, *dbmate_migrations, *psql;
	char *unit; /* the app every plan names */
	PGconn *observer;
} Setup;

static void setup(Setup *s)
{
	_cleanup_free_ char *owner = bench_conninfo("deployer", DB),
			    *super = bench_conninfo("postgres", DB);

	bench_fresh_database(DB);
	harness_pg_exec(owner, "CREATE TABLE locked (id int); GRANT SELECT ON locked TO app_user");
	s->observer = harness_pg_connect(super);
	/* Terminating a backend that just went away warns; that is expected here. */
	test_exec(s->observer, "SET client_min_messages TO error");
	s->dir = harness_tmpdir();
	s->migrations = bench_path(s->dir, "migrations");
	s->dbmate_migrations = bench_path(s->dir, "dbmate");
	s->psql = bench_psql();
	ck_assert_int_eq(mkdir(s->migrations, 0755), 0);
	ck_assert_int_eq(mkdir(s->dbmate_migrations, 0755), 0);
	bench_write_file(s->migrations, "1_add_c.sql", "ALTER TABLE locked ADD COLUMN c int;\n");
	bench_write_file(
		s->dbmate_migrations, "1_add_c.sql",
		"-- migrate:up\nALTER TABLE locked ADD COLUMN c int;\n\n-- migrate:down\n");
	test_daemon_setup(&s->daemon, 0);
	s->unit = bench_app_unit("lockdiag");
	for (int seconds = 1; seconds <= 5; seconds += 4) {
		_cleanup_free_ char *conninfo = bench_conninfo("deployer", DB), *yaml = NULL;
		char name[16];

		snprintf(name, sizeof(name), "lock%ds", seconds);
		ck_assert_int_ge(asprintf(&yaml,
					  "version: 1\n"
					  "database:\n  conninfo: \"%s\"\n  lock_timeout: %ds\n"
					  "services:\n  bus: user\n  units: [%s]\n"
					  "migrations:\n  directory: %s\n"
					  "  lock_watch_interval: %dms\n",
					  conninfo, seconds, s->unit, s->migrations, INTERVAL_MS),
				 0);
		test_daemon_write_plan(&s->daemon, name, yaml);
	}
}

static double ms(usec_t from, usec_t to)
{
	return from && to ? ((double)to - (double)from) / 1000.0 : -1;
}

typedef struct DeploydFigures {
	double named[ROUNDS], failed[ROUNDS];
	char *lock_wait_message, *failed_message;
} DeploydFigures;

static void bench_deployd(Setup *s, int seconds, DeploydFigures *ret)
{
	char plan[16];

	snprintf(plan, sizeof(plan), "lock%ds", seconds);
	for (int i = 0; i < ROUNDS; i++) {
		_cleanup_(PQfinishp) PGconn *blocker = idle_blocker();
		int blocker_pid = PQbackendPID(blocker);
		Watched w;
		char pid[16];

		watch_run(s->observer, blocker_pid,
			  (char *[]){s->daemon.deployctl, "--socket", s->daemon.socket_path,
				     "--plans", s->daemon.plans_dir, "deploy", plan, "--json",
				     NULL},
			  NULL, 60, true, &w);
		ck_assert_msg(w.status == 7, "deploy exited %d, expected 7:\n%s", w.status,
			      w.output);
		ck_assert_msg(w.wait_start && w.lock_wait_at && w.failed_at,
			      "wait start, lock-wait or migration-failed not seen:\n%s", w.output);
		snprintf(pid, sizeof(pid), "%d", blocker_pid);
		ck_assert_msg(strcmp(w.blocker_pid, pid) == 0,
			      "lock-wait names pid %s, the blocker is %s", w.blocker_pid, pid);
		ret->named[i] = ms(w.wait_start, w.lock_wait_at);
		ret->failed[i] = ms(w.wait_start, w.failed_at);
		if (i == 0) {
			ret->lock_wait_message = strdup(w.lock_wait_message);
			ret->failed_message = strdup(w.failed_message);
		}
		watched_done(&w);
		end_leftovers(s->observer, blocker_pid);
	}
}

typedef struct PeerFigure {
	const char *tool;
	const char *lock_timeout;
	double failed; /* ms from wait start to exit; -1 when killed */
	int status;
	int left_waiting;
	char *output;
} PeerFigure;

static void bench_peer(Setup *s, const char *tool, bool with_timeout, PeerFigure *ret)
{
	_cleanup_(PQfinishp) PGconn *blocker = idle_blocker();
	_cleanup_free_ char *url = bench_database_url("deployer", DB), *env_url = NULL,
			    *conninfo = bench_conninfo("deployer", DB);
	int blocker_pid = PQbackendPID(blocker);
	const char *env[] = {NULL, NULL, NULL};
	Watched w;

	ck_assert_int_ge(asprintf(&env_url, "DATABASE_URL=%s", url), 0);
	env[0] = env_url;
	if (with_timeout)
		env[1] = "PGOPTIONS=-c lock_timeout=5s";
	if (strcmp(tool, "dbmate") == 0)
		watch_run(s->observer, blocker_pid,
			  (char *[]){(char *)bench_dbmate(), "--migrations-dir",
				     s->dbmate_migrations, "--no-dump-schema", "migrate", NULL},
			  env, HANG_TIMEOUT_SEC, false, &w);
	else
		watch_run(s->observer, blocker_pid,
			  (char *[]){"/bin/sh", "-c",
				     "for f in \"$1\"/*.sql; do \"$2\" -X -q -1 -v ON_ERROR_STOP=1 "
				     "-f \"$f\" \"$3\" || exit 1; done",
				     "sh", s->migrations, s->psql, conninfo, NULL},
			  env, HANG_TIMEOUT_SEC, false, &w);
	ck_assert_msg(w.wait_start, "%s never waited on the lock:\n%s", tool, w.output);
	*ret = (PeerFigure){
		.tool = tool,
		.lock_timeout = with_timeout ? "5 s (PGOPTIONS)" : "none",
		.failed = w.killed ? -1 : ms(w.wait_start, w.exited),
		.status = w.status,
		.output = TAKE_PTR(w.output),
	};
	watched_done(&w);
	ret->left_waiting = end_leftovers(s->observer, blocker_pid);
}

static void print_deployd_row(int seconds, DeploydFigures *f)
{
	double named = bench_median(f->named, ROUNDS), failed = bench_median(f->failed, ROUNDS);
	double named_target = INTERVAL_MS + 50, failed_target = seconds * 1000 + 50;

	printf("| deployd | %d s | %.0f (%.0f–%.0f) | ≤ %.0f: %s | %.0f (%.0f–%.0f) | ≤ %.0f: %s "
	       "|\n",
	       seconds, named, f->named[0], f->named[ROUNDS - 1], named_target,
	       named <= named_target ? "met" : "MISSED", failed, f->failed[0],
	       f->failed[ROUNDS - 1], failed_target, failed <= failed_target ? "met" : "MISSED");
}

static void bench_lockdiag(void)
{
	Setup s = {};
	DeploydFigures one = {}, five = {};
	PeerFigure peers[4];

	setup(&s);
	bench_deployd(&s, 1, &one);
	bench_deployd(&s, 5, &five);
	bench_peer(&s, "dbmate", true, &peers[0]);
	bench_peer(&s, "psql loop", true, &peers[1]);
	bench_peer(&s, "dbmate", false, &peers[2]);
	bench_peer(&s, "psql loop", false, &peers[3]);

	printf("\n### 2. Lock diagnosis: `ALTER TABLE locked ADD COLUMN c int` behind a "
	       "transaction "
	       "left idle by the application (median of %d rounds; ms from the server's "
	       "pg_locks.waitstart; lock watch interval %d ms)\n\n",
	       ROUNDS, INTERVAL_MS);
	printf("| tool | lock_timeout | wait start → blocker named, ms | target | wait start → "
	       "failure, ms | target |\n|---|---|---:|---|---:|---|\n");
	print_deployd_row(1, &one);
	print_deployd_row(5, &five);
	for (int i = 0; i < 4; i++) {
		char failed[96];

		if (peers[i].failed < 0)
			snprintf(failed, sizeof(failed), "still waiting after %d s (killed)",
				 HANG_TIMEOUT_SEC);
		else
			snprintf(failed, sizeof(failed), "%.0f (exit %d)", peers[i].failed,
				 peers[i].status);
		printf("| %s | %s | never | – | %s | – |\n", peers[i].tool, peers[i].lock_timeout,
		       failed);
	}

	printf("\nWhat each prints (lock_timeout 5 s unless said):\n\n");
	printf("- deployd, lock-wait: %s\n", five.lock_wait_message);
	printf("- deployd, migration-failed: %s\n", five.failed_message);
	for (int i = 0; i < 4; i++) {
		printf("- %s, lock_timeout %s%s:\n\n", peers[i].tool, peers[i].lock_timeout,
		       peers[i].left_waiting ? "; after it was killed its statement was still "
					       "waiting on the server"
					     : "");
		bench_print_lines("      ", peers[i].output, 6);
		printf("\n");
		free(peers[i].output);
	}
	free(one.lock_wait_message);
	free(one.failed_message);
	free(five.lock_wait_message);
	free(five.failed_message);
	test_daemon_teardown(&s.daemon);
	PQfinish(s.observer);
}

int main(void)
{
	return bench_main("bench-2-lockdiag", bench_lockdiag);
}
