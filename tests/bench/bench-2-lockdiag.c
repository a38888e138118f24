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

#define ROUNDS 10
#define DB "bench_lock"
#define INTERVAL_MS 500
#define HANG_TIMEOUT_SEC 10
/* The watch's own cost: a migration that sleeps this long, measured over its middle. */
#define LONG_SLEEP_SEC 14
#define COST_WINDOW_SEC 10

typedef struct Watched {
	usec_t wait_start; /* CLOCK_REALTIME; 0: never seen */
	usec_t exited;
	usec_t lock_wait_at, failed_at; /* deployd --json only; 0: never */
	int status;
	bool killed;
	char *output;
	char *lock_wait_message, *failed_message, *blocker_pid;
	double seen_after_ms; /* lock-wait's LOCK_WAIT_MS: the wait's age when the check saw it */
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
		w->seen_after_ms = strtod(json_string(o, "LOCK_WAIT_MS") ?: "-1", NULL);
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
	char *dir, *migrations, *dbmate_migrations, *psql, *sleep_migrations;
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
	s->sleep_migrations = bench_path(s->dir, "sleep");
	ck_assert_int_eq(mkdir(s->sleep_migrations, 0755), 0);
	char sleep_sql[64];
	snprintf(sleep_sql, sizeof(sleep_sql), "SELECT pg_sleep(%d);\n", LONG_SLEEP_SEC);
	bench_write_file(s->sleep_migrations, "1_sleep.sql", sleep_sql);
	_cleanup_free_ char *conninfo = bench_conninfo("deployer", DB), *yaml = NULL;
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n  conninfo: \"%s\"\n"
				  "services:\n  bus: user\n  units: [%s]\n"
				  "migrations:\n  directory: %s\n"
				  "  table: sleep_history\n"
				  "  lock_watch_interval: %dms\n",
				  conninfo, s->unit, s->sleep_migrations, INTERVAL_MS),
			 0);
	test_daemon_write_plan(&s->daemon, "sleep", yaml);
}

static double ms(usec_t from, usec_t to)
{
	return from && to ? ((double)to - (double)from) / 1000.0 : -1;
}

typedef struct DeploydFigures {
	double named[ROUNDS], seen[ROUNDS], failed[ROUNDS];
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
		ret->seen[i] = w.seen_after_ms;
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

/* The 95th percentile of n sorted values (the largest but one of 20, the largest of 10). */
static double p95(const double *sorted, size_t n)
{
	size_t i = (n * 95 + 99) / 100;
	return sorted[i > 0 ? i - 1 : 0];
}

static void print_deployd_row(int seconds, DeploydFigures *f)
{
	double named = bench_median(f->named, ROUNDS), failed = bench_median(f->failed, ROUNDS);
	double seen = bench_median(f->seen, ROUNDS);
	double named_p95 = p95(f->named, ROUNDS), seen_p95 = p95(f->seen, ROUNDS);
	double failed_target = seconds * 1000 + 50;

	printf("| deployd | %d s | %.0f / %.0f | %.1f / %.1f (%.1f–%.1f) | ≤ 50, p95 ≤ 100: %s | "
	       "%.0f (%.0f–%.0f) | ≤ %.0f: %s |\n",
	       seconds, seen, seen_p95, named, named_p95, f->named[0], f->named[ROUNDS - 1],
	       named <= 50 && named_p95 <= 100 ? "met" : "MISSED", failed, f->failed[0],
	       f->failed[ROUNDS - 1], failed_target, failed <= failed_target ? "met" : "MISSED");
}

/* Time on a CPU of pid so far (/proc/PID/schedstat, ns), in µs; 0 when it is gone. */
static usec_t cpu_time(int pid)
{
	char path[64];
	unsigned long long ns = 0;
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "re");
	if (!f || fscanf(f, "%llu", &ns) != 1)
		return 0;
	return ns / 1000;
}

/* The processes of the daemon's service, then the deploy's sessions but the migration's own
 * (the watch's and the deploy lock's backends): their pids, at most max. */
static size_t cost_pids(Setup *s, int *pids, size_t max, size_t *ret_n_backends)
{
	static const char *const roots[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd",
					    "/sys/fs/cgroup"};
	_cleanup_free_ char *group = NULL;
	_cleanup_(PQclearp) PGresult *res = NULL;
	size_t n = 0;
	int pid;

	ck_assert_int_eq(harness_systemctl_output(&group, "show -p ControlGroup --value %s",
						  s->daemon.service_unit),
			 0);
	for (size_t i = 0; i < ELEMENTSOF(roots); i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s%s/cgroup.procs", roots[i], group);
		_cleanup_fclose_ FILE *f = fopen(path, "re");
		if (!f)
			continue;
		while (n < max && fscanf(f, "%d", &pid) == 1)
			pids[n++] = pid;
		break;
	}
	res = harness_pg_query(s->observer,
			       "SELECT pid FROM pg_stat_activity WHERE datname = '" DB "' AND "
			       "application_name LIKE 'deployd/%' AND "
			       "query NOT LIKE '%pg_sleep%'");
	*ret_n_backends = 0;
	for (int i = 0; i < PQntuples(res) && n < max; i++) {
		pids[n++] = atoi(PQgetvalue(res, i, 0));
		(*ret_n_backends)++;
	}
	return n;
}

typedef struct WatchCost {
	usec_t cpu; /* over COST_WINDOW_SEC */
	size_t n_pids, n_backends;
	unsigned n_heartbeats;
} WatchCost;

/* CPU time of the daemon and the deploy's other sessions while a migration sleeps. */
static void bench_watch_cost(Setup *s, const char *plan, WatchCost *ret)
{
	char *argv[] = {s->daemon.deployctl,
			"--socket",
			s->daemon.socket_path,
			"--plans",
			s->daemon.plans_dir,
			"deploy",
			(char *)plan,
			"--json",
			NULL};
	_cleanup_free_ char *output = NULL;
	int pipefd[2], status, pids[64];
	size_t len = 0, n = 0;
	usec_t before[64], window_start = 0, window_end = 0;
	bool measured = false;
	pid_t child;

	*ret = (WatchCost){};
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
		char buf[4096];
		usec_t now = now_usec(CLOCK_MONOTONIC);

		if (poll(&p, 1, 20) > 0) {
			ssize_t got = read(pipefd[0], buf, sizeof(buf));
			if (got <= 0)
				break;
			char *grown = realloc(output, len + (size_t)got + 1);
			ck_assert_ptr_nonnull(grown);
			output = grown;
			memcpy(output + len, buf, (size_t)got);
			len += (size_t)got;
			output[len] = '\0';
		}
		/* The window opens a second into the migration, when every session is up. */
		if (window_start == 0 && output && strstr(output, "\"migration-started\"")) {
			window_start = now + USEC_PER_SEC;
			window_end = window_start + COST_WINDOW_SEC * USEC_PER_SEC;
		}
		if (window_start && n == 0 && now >= window_start) {
			n = cost_pids(s, pids, ELEMENTSOF(pids), &ret->n_backends);
			for (size_t i = 0; i < n; i++)
				before[i] = cpu_time(pids[i]);
		}
		if (n > 0 && !measured && now >= window_end) {
			for (size_t i = 0; i < n; i++) {
				usec_t after = cpu_time(pids[i]);
				ret->cpu += after > before[i] ? after - before[i] : 0;
			}
			ret->n_pids = n;
			measured = true;
		}
	}
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "deploy %s failed:\n%s", plan,
		      output ?: "");
	ck_assert_msg(measured, "the migration ended before the window closed:\n%s", output);
	for (const char *p = strstr(output, "\"migration-running\""); p;
	     p = strstr(p + 1, "\"migration-running\""))
		ret->n_heartbeats++;
}

static void bench_lockdiag(void)
{
	Setup s = {};
	DeploydFigures one = {}, five = {};
	PeerFigure peers[4];

	WatchCost cost = {};

	setup(&s);
	bench_deployd(&s, 1, &one);
	bench_deployd(&s, 5, &five);
	bench_watch_cost(&s, "sleep", &cost);
	bench_peer(&s, "dbmate", true, &peers[0]);
	bench_peer(&s, "psql loop", true, &peers[1]);
	bench_peer(&s, "dbmate", false, &peers[2]);
	bench_peer(&s, "psql loop", false, &peers[3]);

	printf("\n### 2. Lock diagnosis: `ALTER TABLE locked ADD COLUMN c int` behind a "
	       "transaction "
	       "left idle by the application (median of %d rounds; ms from the server's "
	       "pg_locks.waitstart; lock watch interval %d ms)\n\n",
	       ROUNDS, INTERVAL_MS);
	printf("| tool | lock_timeout | wait start → seen by the check (LOCK_WAIT_MS), median / "
	       "p95 "
	       "ms | wait start → blocker named at the client, median / p95 (min–max) ms | target "
	       "| wait start → failure, ms | target |\n|---|---|---:|---:|---|---:|---|\n");
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
		printf("| %s | %s | never | never | – | %s | – |\n", peers[i].tool,
		       peers[i].lock_timeout, failed);
	}

	/* Nothing but the watch works during the sleep: the daemon waits on its worker, the
	 * worker on the migration's statement, between the watch's looks. */
	double cost_pct = (double)cost.cpu / (COST_WINDOW_SEC * 10000.0);
	printf("\n**The watch's cost** during a long unblocked migration (`SELECT pg_sleep(%d)`, "
	       "lock_watch_interval %d ms): CPU time over %d s of it of everything the deploy runs "
	       "but the migration's own backend, i.e. the daemon's %zu processes and the %zu "
	       "backend(s) of its deploy-lock session, which the watch reads over "
	       "(/proc/PID/schedstat); %u "
	       "migration-running heartbeats were sent meanwhile.\n\n",
	       LONG_SLEEP_SEC, INTERVAL_MS, COST_WINDOW_SEC, cost.n_pids - cost.n_backends,
	       cost.n_backends, cost.n_heartbeats);
	printf("| what | CPU ms in %d s | %% of one core | target |\n|---|---:|---:|---|\n",
	       COST_WINDOW_SEC);
	printf("| deployd + watch + lock sessions | %.1f | %.2f | ≤ 1 %%: %s |\n",
	       cost.cpu / 1000.0, cost_pct, cost_pct <= 1.0 ? "met" : "MISSED");

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
