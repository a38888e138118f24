/* harness.h — integration tests' access to the real services of tests/harness/with-services.
 *
 * Getters read the DEPLOYD_TEST_* environment and abort the test (never skip it) when a
 * variable is missing.  Every other helper aborts the test with the reason on failure, so
 * callers need no error handling.  Several harness runs share the test user's manager:
 * name units with harness_unit_name() (it carries the run id; teardown removes them).
 * Root reaches the user manager over its session bus (sd_bus_open_user() as root works);
 * `systemctl --user` as root does not, so harness_systemctl() runs it as the test user. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <libpq-fe.h>

#include "cleanup.h"
#include "time-util.h"

/* The one upper bound tests put on how long something takes: it only catches a hang.  How
 * fast things are is measured by the benchmarks (tests/bench), never asserted by a test, so
 * that a loaded machine cannot fail one. */
#define HANG_BOUND (60 * USEC_PER_SEC)

const char *harness_pg_conninfo(void);	     /* superuser, database postgres */
const char *harness_app_conninfo(void);	     /* deployer (the deploy role), database app */
const char *harness_app_user_conninfo(void); /* app_user (the application role), database app */
const char *harness_pg_host(void);	     /* the socket directory */
const char *harness_pg_port(void);
const char *harness_pg_bindir(void);
const char *harness_test_user(void);
uid_t harness_test_uid(void);
gid_t harness_test_gid(void);
const char *harness_unit_dir(void);
const char *harness_run_id(void);
const char *harness_dir(void); /* tests/harness, where the bring-up scripts are */

/* "STEM-RUNID.TYPE" for TYPE "service", "socket", …; free() the result. */
char *harness_unit_name(const char *stem, const char *type);

/* Writes DEPLOYD_TEST_UNIT_DIR/NAME (mode 0644, owned by the test user). */
void harness_write_unit(const char *name, const char *contents);
void harness_daemon_reload(void);

/* Runs `systemctl --user ARGS` as the test user; ARGS is FMT formatted and split at
 * spaces (no shell).  Returns the exit status; output goes to stderr. */
int harness_systemctl(const char *fmt, ...) _printf_(1, 2);
/* Same, and hands back its stdout without the trailing newline (free() it). */
int harness_systemctl_output(char **ret_output, const char *fmt, ...) _printf_(2, 3);

/* Runs ARGV (argv[0] looked up in PATH) as the test user with its XDG_RUNTIME_DIR and
 * DBUS_SESSION_BUS_ADDRESS; returns the exit status.  With RET_OUTPUT non-NULL, stdout is
 * captured there (free() it). */
int harness_run_as_test_user(char *const argv[], char **ret_output);

/* "host=… port=… user=USER dbname=DB" on the harness cluster (free() it). */
char *harness_db_conninfo(const char *db, const char *user);
/* The same over TCP to 127.0.0.1 (the cluster listens there too). */
char *harness_db_tcp_conninfo(const char *db, const char *user);
/* ActiveState of a unit of the test user's manager ("active", "inactive", …; free() it). */
char *harness_unit_state(const char *unit);
/* Sessions of user in database db that are idle in a transaction, right now. */
int harness_count_idle_in_transaction(const char *db, const char *user);
/* Waits (up to 10 s) until exactly expected such sessions exist, else aborts. */
void harness_wait_idle_in_transaction(const char *db, const char *user, int expected);

/* Connects or aborts with libpq's message. */
PGconn *harness_pg_connect(const char *conninfo);
/* Runs SQL (one or more statements) on a new connection; aborts with the server's SQLSTATE
 * and message on failure. */
void harness_pg_exec(const char *conninfo, const char *sql);
/* Runs SQL on CONN and returns its result (PQclear() it); aborts on failure. */
PGresult *harness_pg_query(PGconn *conn, const char *sql);
/* First column of the first row of SQL, or NULL for SQL NULL (free() it); aborts on
 * failure and when there is no row. */
char *harness_pg_value(const char *conninfo, const char *sql);

/* A fresh directory under DEPLOYD_TEST_TMPDIR, mode 0755, owned by the test user, so unit
 * processes can use what a test puts there (free() the path). */
char *harness_tmpdir(void);
