/* deployctl forecast FILE|PLAN [--json] — the locks each pending migration's statements will
 * take, read by PostgreSQL's own parser against the database's catalog, and who holds or
 * waits for a conflicting lock right now.  Connects like pending (read-only, no deploy lock)
 * and changes nothing. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "deployctl.h"
#include "exit-code.h"
#include "forecast.h"
#include "migrations.h"
#include "pg.h"
#include "plan.h"
#include "strv.h"

#define FORECAST_APPLICATION_NAME "deployctl/forecast"

static void help(FILE *f)
{
	fprintf(f,
		"Usage: deployctl [--plans DIR] forecast FILE|PLAN [--json]\n"
		"For each pending migration and each of its statements: the line, the SQL's\n"
		"first line, every relation it will lock and the mode (as pg_locks names it),\n"
		"the relation's size and estimated rows, and whether it rewrites a table or\n"
		"reads one in full under its lock; then the sessions and prepared transactions\n"
		"that hold or wait for a conflicting lock right now.  Statements are read by\n"
		"PostgreSQL's own parser; names are resolved against the database's catalog with\n"
		"the plan's session settings.  Connects read-only and changes nothing.\n\n"
		"  --json         one JSON document: {\"migrations\":[…],\"holders\":[…]}\n"
		"  -h, --help     show this help\n\n"
		"Exit status: 0 shown (whoever is in the way), 1 error (a migration file the\n"
		"parser refuses included: FILE:LINE:COLUMN), 2 usage error, 3 plan invalid.\n");
}

static void print_text(const Plan *plan, const char *masked, const Forecast *f,
		       const ForecastHolder *holders, size_t n_holders)
{
	char size[FORECAST_SIZE_MAX];

	printf("%s: %zu pending migration%s, forecast against %s\n", plan->name, f->n_migrations,
	       f->n_migrations == 1 ? "" : "s", masked);
	for (size_t i = 0; i < f->n_migrations; i++) {
		const ForecastMigration *m = &f->migrations[i];
		printf("\n%s (version %s%s)\n", m->file, m->version,
		       m->no_transaction ? ", no transaction" : "");
		if (m->n_statements == 0)
			printf("  no statements\n");
		for (size_t j = 0; j < m->n_statements; j++) {
			const ForecastStatement *s = &m->statements[j];
			printf("  line %u: %s\n", s->line, s->sql_first_line);
			if (s->unknown)
				printf("    not understood: AccessExclusiveLock assumed on every "
				       "relation it names\n");
			if (s->n_locks == 0)
				printf("    no table lock\n");
			for (size_t k = 0; k < s->n_locks; k++) {
				const ForecastLock *l = &s->locks[k];
				printf("    %-24s %s", lock_mode_to_string(l->mode), l->relation);
				if (l->relid == 0)
					printf("  (created by the migrations)\n");
				else if (l->rows >= 0)
					printf("  %s, ~%lld rows\n",
					       forecast_format_size(l->size_bytes, size),
					       (long long)l->rows);
				else
					printf("  %s\n", forecast_format_size(l->size_bytes, size));
			}
			printf("    rewrite: %s, scan: %s\n", s->rewrite ? "yes" : "no",
			       s->scan ? "yes" : "no");
		}
	}
	printf("\nIn the way right now:%s\n", n_holders == 0 ? " nobody" : "");
	for (size_t i = 0; i < n_holders; i++) {
		_cleanup_free_ char *line = NULL;
		if (forecast_holder_describe(&holders[i], &line) >= 0)
			printf("  %s\n", line);
	}
}

static json_object *string_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static void json_object_putp(json_object **o)
{
	json_object_put(*o);
}

static int print_json(const Forecast *f, const ForecastHolder *holders, size_t n_holders)
{
	_cleanup_(json_object_putp) json_object *doc = json_object_new_object();
	json_object *migrations = json_object_new_array();
	json_object *list = json_object_new_array();

	if (!doc || !migrations || !list) {
		json_object_put(migrations);
		json_object_put(list);
		return -ENOMEM;
	}
	json_object_object_add(doc, "migrations", migrations);
	json_object_object_add(doc, "holders", list);
	for (size_t i = 0; i < f->n_migrations; i++) {
		const ForecastMigration *m = &f->migrations[i];
		json_object *jm = json_object_new_object(), *statements = json_object_new_array();
		json_object_array_add(migrations, jm);
		json_object_object_add(jm, "version", json_object_new_string(m->version));
		json_object_object_add(jm, "name", json_object_new_string(m->name));
		json_object_object_add(jm, "file", json_object_new_string(m->file));
		json_object_object_add(jm, "statements", statements);
		for (size_t j = 0; j < m->n_statements; j++) {
			const ForecastStatement *s = &m->statements[j];
			json_object *js = json_object_new_object(),
				    *locks = json_object_new_array();
			json_object_array_add(statements, js);
			json_object_object_add(js, "line", json_object_new_int64(s->line));
			json_object_object_add(js, "sql",
					       json_object_new_string(s->sql_first_line));
			json_object_object_add(js, "locks", locks);
			for (size_t k = 0; k < s->n_locks; k++) {
				json_object *jl = json_object_new_object();
				json_object_array_add(locks, jl);
				json_object_object_add(
					jl, "relation",
					json_object_new_string(s->locks[k].relation));
				json_object_object_add(jl, "mode",
						       json_object_new_string(lock_mode_to_string(
							       s->locks[k].mode)));
			}
			json_object_object_add(js, "rewrite", json_object_new_boolean(s->rewrite));
			json_object_object_add(js, "scan", json_object_new_boolean(s->scan));
		}
	}
	for (size_t i = 0; i < n_holders; i++) {
		const ForecastHolder *h = &holders[i];
		json_object *jh = json_object_new_object();
		json_object_array_add(list, jh);
		json_object_object_add(jh, "pid", json_object_new_int(h->pid));
		json_object_object_add(jh, "gid", string_or_null(h->gid));
		json_object_object_add(jh, "user", string_or_null(h->user));
		json_object_object_add(jh, "application", string_or_null(h->application));
		json_object_object_add(jh, "client", string_or_null(h->client));
		json_object_object_add(jh, "state", string_or_null(h->state));
		json_object_object_add(jh, "relation", json_object_new_string(h->relation));
		json_object_object_add(jh, "mode",
				       json_object_new_string(lock_mode_to_string(h->mode)));
		json_object_object_add(jh, "granted", json_object_new_boolean(h->granted));
		json_object_object_add(
			jh, "conflicts_with",
			json_object_new_string(lock_mode_to_string(h->conflicts_with)));
		json_object_object_add(
			jh, "xact_age_ms",
			h->xact_age == USEC_INFINITY
				? NULL
				: json_object_new_int64((int64_t)(h->xact_age / USEC_PER_MSEC)));
		json_object_object_add(jh, "query", string_or_null(h->query));
	}
	printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
	return 0;
}

static int forecast(const Plan *plan, bool json)
{
	_cleanup_free_ char *masked = NULL, *error = NULL;
	_cleanup_(PQfinishp) PGconn *conn = NULL;
	_cleanup_(migrations_history_done) MigrationHistory history = {};
	_cleanup_free_ MigrationStatus *status = NULL;
	_cleanup_free_ Migration **pending = NULL;
	_cleanup_(forecast_freep) Forecast *f = NULL;
	ForecastHolder *holders = NULL;
	Migration *files = NULL;
	size_t n_files = 0, n_status = 0, n_pending = 0, n_holders = 0;
	PgError e = {};
	int r, x = DEPLOY_EXIT_OK;

	r = migrations_discover(plan->migrations.format, plan->migrations.directory, &files,
				&n_files, &error);
	if (r < 0) {
		fprintf(stderr, "%s\n", error ?: strerror(-r));
		return DEPLOY_EXIT_INTERNAL;
	}
	r = ctl_connect_plan_database(plan, FORECAST_APPLICATION_NAME, true, &conn, &masked);
	if (r != DEPLOY_EXIT_OK) {
		migrations_free(files, n_files);
		return r;
	}
	r = migrations_history_read(conn, plan->migrations.table, NULL, &history, &e);
	if (r >= 0)
		r = migrations_status(files, n_files, &history, &status, &n_status);
	if (r < 0) {
		fprintf(stderr, "%s (%s): %s%s%s\n", plan->path, masked, e.sqlstate,
			e.sqlstate[0] ? " " : "", e.message ?: strerror(-r));
		pg_error_done(&e);
		migrations_free(files, n_files);
		return DEPLOY_EXIT_INTERNAL;
	}
	pending = calloc(n_files + 1, sizeof(Migration *));
	if (!pending) {
		migrations_free(files, n_files);
		return DEPLOY_EXIT_INTERNAL;
	}
	for (size_t i = 0; i < n_status; i++)
		if (status[i].state == MIGRATION_PENDING)
			pending[n_pending++] = (Migration *)status[i].file;

	r = forecast_pending(conn, pending, n_pending, FORECAST_EVERY_LOCK, &f, &error);
	if (r >= 0)
		r = forecast_holders(conn, f, &holders, &n_holders, &error);
	if (r < 0) {
		fprintf(stderr, "deployctl forecast: %s (%s): %s\n", plan->path, masked,
			error ?: strerror(-r));
		x = DEPLOY_EXIT_INTERNAL;
	} else if (json)
		x = print_json(f, holders, n_holders) < 0 ? DEPLOY_EXIT_INTERNAL : DEPLOY_EXIT_OK;
	else
		print_text(plan, masked, f, holders, n_holders);
	forecast_holders_free(holders, n_holders);
	migrations_free(files, n_files);
	return x;
}

int verb_forecast(int argc, char **argv, const CtlOptions *opts)
{
	static const struct option options[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_(plan_freep) Plan *plan = NULL;
	_cleanup_free_ char *command = NULL;
	bool json = false;
	int c, r;

	opterr = 0; /* getopt would name the verb as the program */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			help(stdout);
			return DEPLOY_EXIT_OK;
		default:
			fprintf(stderr, "deployctl forecast: unknown option '%s' (see --help)\n",
				argv[optind - 1]);
			return DEPLOY_EXIT_USAGE;
		}
	if (argc - optind != 1) {
		fprintf(stderr, "deployctl forecast: give one FILE or PLAN (see --help)\n");
		return DEPLOY_EXIT_USAGE;
	}
	r = ctl_load_plan(argv[optind], opts, &plan);
	if (r != DEPLOY_EXIT_OK)
		return r;

	if (plan->migrations.command) {
		if (strv_join(plan->migrations.command, " ", &command) < 0)
			return DEPLOY_EXIT_INTERNAL;
		if (json) {
			printf("{\"migrations\":[],\"holders\":[]}\n");
			fprintf(stderr,
				"deployctl forecast: migrations are applied by the command %s: "
				"there is no SQL to read\n",
				command);
		} else
			printf("%s: migrations are applied by the command %s: there is no SQL to "
			       "read, so no lock forecast\n",
			       plan->name, command);
		return DEPLOY_EXIT_OK;
	}
	return forecast(plan, json);
}
