/* support.h — what the side-by-side benchmarks (tests/bench/bench-*.c) share.
 *
 * Each benchmark is one Check test run without fork (so the harness helpers' ck_assert
 * aborts it with the reason), started by tests/bench/run under tests/harness/with-services.
 * Programs are timed from fork to exit on CLOCK_MONOTONIC; figures are medians of rounds
 * and are printed as markdown tables.  Every helper aborts the benchmark on failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "time-util.h"

/* Runs the benchmark body fn as suite NAME; the process's exit status. */
int bench_main(const char *name, void (*fn)(void));

typedef struct BenchRun {
	int status;   /* exit status, 128 + signal when killed */
	usec_t took;  /* fork to exit */
	usec_t cpu;   /* its user + system time, and its reaped children's */
	char *output; /* stdout and stderr together */
} BenchRun;

typedef struct BenchRunOptions {
	bool as_test_user;	/* run as the harness's test user, with its bus */
	const char *const *env; /* NULL-terminated "KEY=VALUE" added to the environment */
	unsigned timeout_sec;	/* 0: none; else SIGKILL after this many seconds */
} BenchRunOptions;

/* Runs argv (argv[0] a path) and waits for it. */
void bench_run(BenchRun *ret, const BenchRunOptions *o, char *const argv[]);
void bench_run_done(BenchRun *r);

/* DROP (forcing sessions out) and CREATE DATABASE name OWNER deployer. */
void bench_fresh_database(const char *name);
/* "host=… port=… user=USER dbname=DB"; free() it. */
char *bench_conninfo(const char *user, const char *dbname);
/* postgres://USER@/DB?host=…&port=…&sslmode=disable (for dbmate); free() it. */
char *bench_database_url(const char *user, const char *dbname);
/* The first column of the first row of sql run on conninfo, as a number. */
long long bench_pg_number(const char *conninfo, const char *sql);
/* The real psql binary (Debian's /usr/bin/psql is a Perl wrapper). */
char *bench_psql(void);
/* The dbmate binary tests/bench/run installed with npm ($DEPLOYD_BENCH_DBMATE). */
const char *bench_dbmate(void);

/* A running user service of the test manager that does nothing (sleep), for a plan's
 * services.units: every plan names at least one unit.  Its name; free() it. */
char *bench_app_unit(const char *stem);

/* Writes DIR/NAME with mode 0644. */
void bench_write_file(const char *dir, const char *name, const char *contents);
/* "DIR/NAME"; free() it. */
char *bench_path(const char *dir, const char *name);

/* The value of FIELD in the first --json event line of output with DEPLOY_EVENT event (and
 * DEPLOY_PHASE phase unless NULL); NULL when there is none.  free() it. */
char *bench_event_field(const char *output, const char *event, const char *phase,
			const char *field);

/* Sorts v and returns its median in milliseconds. */
double bench_median_ms(usec_t *v, size_t n);
/* The median of n doubles (sorts v). */
double bench_median(double *v, size_t n);

/* Prints the first max_lines lines of text, each indented by prefix, "(nothing)" for none. */
void bench_print_lines(const char *prefix, const char *text, size_t max_lines);
