/* fault-scenario.h — the fixture of the fault-injection suites (tests/integration/test-faults*.c).
 *
 * A scenario is a real socket-activated deployd (test-daemon.h), its own database (owned by
 * the deploy role, with a table accounts), a migrations directory and the user units the
 * plan names.  After a fault each case checks the same things: the deploy's exit code, the
 * units' states, the history table, that no session of ours (application_name LIKE
 * 'deployd%') and no advisory lock is left on the server, and that a clean re-run succeeds.
 * A deploy can run in the background (fault_deploy_start) while the test injects the fault.
 * Every helper aborts the test with the reason on failure. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "test-daemon.h"

#define FAULT_MAX_UNITS 4

typedef struct FaultScenario {
	TestDaemon daemon;
	char *db;
	char *conninfo;	    /* the deploy role on db */
	char *app_conninfo; /* the application role on db */
	char *migrations;   /* directory, writable by root, readable by the daemon */
	char *units[FAULT_MAX_UNITS];
	size_t n_units;
} FaultScenario;

/* Sets up the daemon (extra_service as for test_daemon_setup_with) and the database. */
void fault_setup(FaultScenario *s, const char *extra_service);
/* Stops the units and the daemon, drops the database; starts PostgreSQL again if a test
 * left it stopped. */
void fault_teardown(FaultScenario *s);

/* Writes a user unit STEM<pid>-RUNID.service with the given [Service] lines and adds it to the
 * plan's units (not started: see fault_start_units). */
const char *fault_add_unit(FaultScenario *s, const char *stem, const char *service);
/* Rewrites an added unit's [Service] lines (daemon-reload included). */
void fault_rewrite_unit(const char *unit, const char *service);
void fault_start_units(FaultScenario *s);
/* A user unit that just runs until stopped. */
#define FAULT_SIMPLE_SERVICE "ExecStart=/bin/sleep infinity\n"

/* MIGRATIONS/NAME with contents (mode 0644). */
void fault_write_migration(FaultScenario *s, const char *name, const char *sql);
/* A file in the scenario's directory, readable and executable by the test user. */
char *fault_write_script(FaultScenario *s, const char *name, const char *contents);
/* Plan NAME: the scenario's conninfo, units and migrations, lock_timeout 2s,
 * connect_timeout 3s; extra_database and extra_services are lines (indented two spaces) added
 * to those sections, extra_top whole top-level sections; each may be NULL. */
void fault_write_plan(FaultScenario *s, const char *name, const char *extra_database,
		      const char *extra_services, const char *extra_top);

/* Waits (bounded) until path exists (a unit's script saying it is ready). */
void fault_wait_for_file(const char *path);
/* Waits (bounded) until unit's ActiveState is state, then asserts it. */
void fault_wait_unit_state(const char *unit, const char *state);
/* Every unit of the scenario is (or becomes, within a bound) in state. */
void fault_assert_units(FaultScenario *s, const char *state);
/* Rows in the history table (deployd_schema_migrations); -1 when it does not exist. */
int fault_history_count(FaultScenario *s);
/* Whether a table of that name exists in the scenario's database. */
bool fault_table_exists(FaultScenario *s, const char *table);
/* No session with application_name LIKE 'deployd%' and no advisory lock on the server,
 * waiting (bounded) for backends whose client died to go. */
void fault_assert_no_sessions(void);

/* A deploy run by deployctl in a child process: its exit code and output are collected by
 * fault_deploy_wait(). */
typedef struct FaultDeploy {
	pid_t pid;
	char *output_path;
} FaultDeploy;
void fault_deploy_start(FaultScenario *s, FaultDeploy *bg, const char *args);
int fault_deploy_wait(FaultDeploy *bg, char **ret_output);
/* SIGKILLs the deployctl client only. */
void fault_deploy_kill_client(FaultDeploy *bg);

/* Waits (bounded) until a backend of the scenario's database runs a query containing text;
 * returns its pid. */
int fault_wait_for_query(FaultScenario *s, const char *text);
/* Sends signal (e.g. "SIGKILL") to the daemon's main process only, or with all to every
 * process of its service (the deploy worker and what it runs included); then waits
 * (bounded) until the service is no longer active. */
void fault_signal_daemon(TestDaemon *d, const char *signal, bool all);

/* The deploy id a deployctl deploy printed; NULL when none. */
char *fault_deploy_id(const char *output);
/* The value of field in the newest journal entry of deploy id with DEPLOY_EVENT=event. */
char *fault_journal_event_field(const char *id, const char *event, const char *field);

/* `deployctl deploy PLAN` exits 0, every unit is active, and the history holds n rows. */
void fault_assert_clean_rerun(FaultScenario *s, const char *plan, int history_rows);

/* pg_ctl ARGS… (split at spaces) on the harness's cluster, as the cluster's owner. */
void fault_pg_ctl(const char *args);
