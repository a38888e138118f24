/* The database's part of the preflight, idle and migrate phases: modules' outcomes turned into
 * events through the deploy context (deploy-migrate.h). */
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "deploy-forecast.h"
#include "deploy-lock.h"
#include "deploy-lockwatch.h"
#include "deploy-migrate.h"
#include "duration.h"
#include "idle-event.h"
#include "idle.h"
#include "migrations-command.h"
#include "migrations.h"
#include "pg.h"
#include "random-util.h"
#include "spawn-command.h"
#include "strv.h"

struct DeployMigrate {
	DeployContext *ctx;
	usec_t command_timeout;
	PgWaitHooks hooks;	   /* the deploy's cancel fd */
	PgWaitHooks watched_hooks; /* while a migration runs: the lock watch's tick too */
	DeployLockwatch *watch;

	char *application_name;
	char *lock_application_name; /* application_name@HOST */
	char *conninfo;		     /* holds the password: never shown */
	char *conninfo_masked;
	char **secrets;	   /* the password's forms (pg_conninfo_secrets), for ctx->secrets */
	const char *table; /* the plan's, or the default for a command's deploy lock */
	PGconn *lock_conn;
	bool lock_taken;
	PGconn *conn;

	Migration *files;
	size_t n_files;
	Migration **pending;
	size_t n_pending;
	MigrationsAdoption adoption; /* files of another tool's history, to be recorded */
	bool preflight_done;
};

int deploy_migrate_new(DeployContext *ctx, DeployMigrate **ret)
{
	const Plan *plan = ctx->plan;
	char host[HOST_NAME_MAX + 1] = "";
	DeployMigrate *m;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	*m = (DeployMigrate){
		.ctx = ctx,
		.command_timeout = migrations_command_timeout(plan->database.statement_timeout),
		.hooks = {.cancel_fd = ctx->cancel_fd},
		.table = plan->migrations.table ?: PLAN_DEFAULT_TABLE,
	};
	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	if (asprintf(&m->application_name, DEPLOY_MIGRATE_APPLICATION_PREFIX "%s", ctx->req->id) <
		    0 ||
	    deploy_lock_application_name(m->application_name, host, &m->lock_application_name) <
		    0) {
		deploy_migrate_free(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

DeployMigrate *deploy_migrate_free(DeployMigrate *m)
{
	if (!m)
		return NULL;
	/* The watch's preparation (if still under way) comes off the lock session first.  Then
	 * the migration session: if a statement of it still runs, the lock session terminates
	 * it.  Then the deploy lock is given back and its session closed; closing alone frees it
	 * too, but only once the server has ended the backend, which the next deploy may not
	 * wait for. */
	if (m->watch)
		deploy_lockwatch_settle(m->watch);
	pg_session_abandon(&m->conn, m->lock_conn);
	if (m->lock_taken && m->lock_conn && PQtransactionStatus(m->lock_conn) == PQTRANS_IDLE) {
		PgError ignored = {};
		(void)deploy_lock_release(m->lock_conn, deploy_lock_key(m->table), &ignored);
		pg_error_done(&ignored);
	}
	pg_session_abandon(&m->lock_conn, NULL);
	deploy_lockwatch_free(m->watch);
	migrations_adoption_done(&m->adoption);
	migrations_free(m->files, m->n_files);
	free(m->pending);
	free(m->application_name);
	free(m->lock_application_name);
	if (m->conninfo)
		explicit_bzero(m->conninfo, strlen(m->conninfo));
	free(m->conninfo);
	free(m->conninfo_masked);
	if (m->ctx->secrets == m->secrets)
		m->ctx->secrets = NULL;
	strv_free_erase(m->secrets);
	free(m);
	return NULL;
}

size_t deploy_migrate_n_pending(const DeployMigrate *m)
{
	return m->n_pending;
}

Migration *const *deploy_migrate_pending(const DeployMigrate *m)
{
	return m->pending;
}

PGconn *deploy_migrate_connection(const DeployMigrate *m)
{
	return m->conn;
}

size_t deploy_migrate_own_pids(const DeployMigrate *m, int ret_pids[static 2])
{
	size_t n = 0;

	if (m->lock_conn)
		ret_pids[n++] = PQbackendPID(m->lock_conn);
	if (m->conn)
		ret_pids[n++] = PQbackendPID(m->conn);
	return n;
}

/* Reports a preflight failure; a NULL message means it could not be built: -ENOMEM. */
static int preflight_failed(DeployMigrate *m, int r, const char *message)
{
	deploy_emitf(m->ctx, EVENT_DEPLOY_FAILED, LOG_ERR, NULL, "%s",
		     message ?: "Preflight failed: out of memory.");
	return message ? r : -ENOMEM;
}

static int connect_failed(DeployMigrate *m, const char *what, PgError *e)
{
	_cleanup_free_ char *message = NULL;

	if (e->kind == PG_ERROR_CANCELED)
		return -ECANCELED;
	if (asprintf(&message, "Cannot open the %s session to the database (%s): %s", what,
		     m->conninfo_masked, e->message ?: "out of memory") < 0)
		message = NULL;
	return preflight_failed(m, -EHOSTUNREACH, message);
}

/* The plan's migration command as the migrations layer takes it. */
static MigrationsCommand plan_command(const Plan *plan)
{
	return (MigrationsCommand){
		.argv = plan->migrations.command,
		.working_directory = plan->migrations.working_directory,
		.environment = plan->migrations.environment,
		.plan_name = plan->name,
		.session = plan_database_session_settings(&plan->database, NULL),
	};
}

static int preflight_files(DeployMigrate *m)
{
	_cleanup_free_ char *error = NULL, *message = NULL;
	int r;

	if (m->ctx->plan->migrations.command) {
		MigrationsCommand command = plan_command(m->ctx->plan);
		r = migrations_command_check(&command, &error);
		if (r == -ENOMEM)
			return preflight_failed(m, -ENOMEM, NULL);
	} else {
		r = migrations_discover(m->ctx->plan->migrations.format,
					m->ctx->plan->migrations.directory, &m->files, &m->n_files,
					&error);
		if (r == -ENOMEM)
			return preflight_failed(m, -ENOMEM, NULL);
	}
	if (r >= 0)
		return 0;
	if (asprintf(&message, "Preflight failed, nothing was touched: %s.",
		     error ?: strerror(-r)) < 0)
		message = NULL;
	return preflight_failed(m, r, message);
}

/* Takes the deploy lock on its session, started by deploy_migrate_preflight(). */
static int preflight_lock(DeployMigrate *m, PGconn **started, const PgSessionSettings *settings)
{
	_cleanup_(deploy_lock_holder_done) DeployLockHolder holder = {};
	_cleanup_free_ char *who = NULL, *message = NULL;
	PgError e = {};
	int r;

	r = pg_connect_finish(started, settings, &m->hooks, &m->lock_conn, &e);
	if (r < 0) {
		int x = connect_failed(m, "deploy lock's", &e);
		pg_error_done(&e);
		return x;
	}
	r = deploy_lock_try(m->lock_conn, deploy_lock_key(m->table), &m->hooks, &holder, &e);
	if (r < 0) {
		if (e.kind == PG_ERROR_CANCELED) {
			pg_error_done(&e);
			return -ECANCELED;
		}
		if (asprintf(&message, "Cannot take the deploy lock for %s: %s", m->table,
			     e.message ?: "out of memory") < 0)
			message = NULL;
		pg_error_done(&e);
		return preflight_failed(m, -EIO, message);
	}
	if (r > 0) {
		m->lock_taken = true;
		return 0;
	}
	if (deploy_lock_holder_describe(&holder, &who) < 0 ||
	    asprintf(&message,
		     "Another deploy is running: the deploy lock for %s is held by %s. Nothing "
		     "was touched.",
		     m->table, who) < 0)
		message = NULL;
	return preflight_failed(m, -EBUSY, message);
}

static bool is_adopted(const DeployMigrate *m, const Migration *file)
{
	for (size_t i = 0; i < m->adoption.n; i++)
		if (m->adoption.files[i] == file)
			return true;
	return false;
}

/* Reads the other tool's history (plan: migrations.adopt); refuses naming the reason. */
static int preflight_adopt(DeployMigrate *m)
{
	_cleanup_free_ char *message = NULL;
	MigrationsFormat format = m->ctx->plan->migrations.format;
	PgError e = {};
	int r;

	r = migrations_adopt_read(m->conn, format, m->files, m->n_files, &m->hooks, &m->adoption,
				  &e);
	if (r >= 0)
		return 0;
	if (e.kind == PG_ERROR_CANCELED) {
		pg_error_done(&e);
		return -ECANCELED;
	}
	if (asprintf(&message,
		     "Preflight failed, nothing was touched: cannot adopt the %s history: %s%s%s.",
		     migrations_format_to_string(format), e.sqlstate[0] ? e.sqlstate : "",
		     e.sqlstate[0] ? " " : "", e.message ?: "out of memory") < 0)
		message = NULL;
	pg_error_done(&e);
	return preflight_failed(m, r == -ENOMEM ? -ENOMEM : -EBADMSG, message);
}

static int preflight_history(DeployMigrate *m)
{
	_cleanup_(migrations_history_done) MigrationHistory history = {};
	_cleanup_free_ MigrationStatus *status = NULL;
	_cleanup_free_ char *message = NULL;
	size_t n_status = 0, n_changed = 0;
	const MigrationStatus *first_changed = NULL;
	PgError e = {};
	int r;

	r = migrations_history_read(m->conn, m->table, &m->hooks, &history, &e);
	if (r < 0) {
		if (e.kind == PG_ERROR_CANCELED) {
			pg_error_done(&e);
			return -ECANCELED;
		}
		if (asprintf(&message, "Cannot read the migration history %s: %s%s%s", m->table,
			     e.sqlstate[0] ? e.sqlstate : "", e.sqlstate[0] ? " " : "",
			     e.message ?: "out of memory") < 0)
			message = NULL;
		pg_error_done(&e);
		return preflight_failed(m, -EIO, message);
	}
	/* Only before deployd's own history exists: after that, it is the truth. */
	if (!history.exists && m->ctx->plan->migrations.adopt) {
		r = preflight_adopt(m);
		if (r < 0)
			return r;
	}
	r = migrations_status(m->files, m->n_files, &history, &status, &n_status);
	if (r < 0)
		return preflight_failed(m, -ENOMEM, NULL);

	m->pending = calloc(m->n_files + 1, sizeof(Migration *));
	if (!m->pending)
		return preflight_failed(m, -ENOMEM, NULL);
	for (size_t i = 0; i < n_status; i++) {
		if (status[i].state == MIGRATION_CHANGED && n_changed++ == 0)
			first_changed = &status[i];
		if (status[i].state == MIGRATION_PENDING && !is_adopted(m, status[i].file))
			/* Discovery keeps files in order, so files are in m->files. */
			m->pending[m->n_pending++] = (Migration *)status[i].file;
	}
	if (n_changed == 0)
		return 0;
	m->n_pending = 0;
	if (asprintf(&message,
		     "Preflight failed, nothing was touched: %s was changed after it was applied "
		     "(checksum recorded in %s %s, file now %s)%s.",
		     first_changed->file->path, m->table, first_changed->entry->checksum,
		     first_changed->file->checksum,
		     n_changed > 1 ? ", and other applied files were changed too" : "") < 0)
		message = NULL;
	return preflight_failed(m, -EBADMSG, message);
}

/* One migration-adopted event per adopted file: recorded, or (dry run) to be recorded. */
static void report_adopted(DeployMigrate *m, bool would)
{
	for (size_t i = 0; i < m->adoption.n; i++) {
		const Migration *mig = m->adoption.files[i];

		deploy_emitf(m->ctx, EVENT_MIGRATION_ADOPTED, LOG_INFO,
			     (const DeployField[]){{"MIGRATION_VERSION", mig->version},
						   {"MIGRATION_NAME", mig->name},
						   {"MIGRATION_FILE", mig->path},
						   {"ADOPTED_FROM", m->adoption.source},
						   {}},
			     "%s migration %s as applied (adopted from %s).",
			     would ? "Would record" : "Recorded", mig->filename,
			     m->adoption.source);
	}
}

/* The migrate phase's first step when adopting: deployd's history created with the other
 * tool's migrations recorded in it, in one transaction. */
static int record_adopted(DeployMigrate *m)
{
	MigrationsAdoptOptions o = {
		.table = m->table,
		.deploy_id = m->ctx->req->id,
		.applied_by = m->ctx->req->requester,
		.hooks = &m->hooks,
	};
	PgError e = {};
	int r;

	if (m->adoption.n == 0)
		return 0;
	r = migrations_adopt_record(m->conn, &m->adoption, &o, &e);
	if (r < 0) {
		int x = e.kind == PG_ERROR_CANCELED ? -ECANCELED : r == -ENOMEM ? -ENOMEM : -EIO;
		deploy_emitf(m->ctx, EVENT_DEPLOY_FAILED, LOG_ERR, NULL,
			     "Cannot record the migrations adopted from %s in %s: %s%s%s; nothing "
			     "was migrated.",
			     m->adoption.source, m->table, e.sqlstate, e.sqlstate[0] ? " " : "",
			     e.message ?: "out of memory");
		pg_error_done(&e);
		return x;
	}
	report_adopted(m, false);
	return 0;
}

/* A dry run's account of what the migrate phase would do. */
static void report_pending(DeployMigrate *m)
{
	_cleanup_free_ char *command = NULL;

	if (m->ctx->plan->migrations.command) {
		if (strv_join(m->ctx->plan->migrations.command, " ", &command) < 0) {
			m->ctx->out_of_memory = true;
			return;
		}
		deploy_emitf(m->ctx, EVENT_MIGRATION_PENDING, LOG_INFO,
			     (const DeployField[]){{"MIGRATION_NAME", command}, {}},
			     "Would run the migration command %s.", command);
		return;
	}
	report_adopted(m, true);
	for (size_t i = 0; i < m->n_pending; i++) {
		const Migration *mig = m->pending[i];

		deploy_emitf(m->ctx, EVENT_MIGRATION_PENDING, LOG_INFO,
			     (const DeployField[]){{"MIGRATION_VERSION", mig->version},
						   {"MIGRATION_NAME", mig->name},
						   {"MIGRATION_FILE", mig->path},
						   {}},
			     "Would apply migration %s.", mig->filename);
	}
}

/* A dry run's lock forecast: per statement, and whoever is in the way now. */
static int report_forecast(DeployMigrate *m)
{
	_cleanup_(deploy_forecast_events_done) DeployForecastEvents e = {};
	_cleanup_free_ char *command = NULL, *error = NULL, *message = NULL;
	int r;

	if (m->ctx->plan->migrations.command &&
	    strv_join(m->ctx->plan->migrations.command, " ", &command) < 0)
		return -ENOMEM;
	r = deploy_forecast_events(m->conn, m->pending, m->n_pending, command, m->ctx->phase, &e,
				   &error);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (asprintf(&message,
			     "Preflight failed, nothing was touched: the lock forecast failed: %s.",
			     error ?: strerror(-r)) < 0)
			message = NULL;
		return preflight_failed(m, r, message);
	}
	for (size_t i = 0; i < e.n; i++)
		deploy_emit(m->ctx, TAKE_PTR(e.events[i]));
	return 0;
}

static void send_watch_event(Event *ev, void *userdata)
{
	DeployMigrate *m = userdata;

	deploy_emit(m->ctx, ev);
}

static usec_t watch_interval(const Plan *plan)
{
	usec_t interval = plan->migrations.lock_watch_interval;
	usec_t lock_timeout = plan->database.lock_timeout;

	if (interval > 0 && lock_timeout > 0 && lock_timeout / 2 < interval)
		interval = lock_timeout / 2 > 50 * USEC_PER_MSEC ? lock_timeout / 2
								 : 50 * USEC_PER_MSEC;
	return interval;
}

/* The lock watch reads over the deploy lock's session, idle otherwise (a connection costs a
 * backend and 10–20 ms to open).  It starts as soon as the deploy lock is taken, and the
 * session gets ready for it (warm, watch-session.h) on the server while the rest of the
 * preflight runs and the units stop: the first check is then as cheap as any.  A dry run
 * migrates nothing and needs none. */
static int watch_start(DeployMigrate *m)
{
	if (m->watch || watch_interval(m->ctx->plan) == 0 || m->ctx->req->dry_run)
		return 0;
	return deploy_lockwatch_new(m->lock_conn, send_watch_event, m, &m->watch);
}

/* Both sessions are started first: the server starts their backends (10–20 ms each) while the
 * migration files are read and parsed. */
static int preflight_connect_start(DeployMigrate *m, const PgSessionSettings *lock_settings,
				   const PgSessionSettings *settings, PGconn **ret_lock,
				   PGconn **ret_migration)
{
	_cleanup_(PQfinishp) PGconn *lock = NULL, *migration = NULL;
	PgError e = {};
	int r;

	r = pg_connect_start(m->conninfo, lock_settings, &lock, &e);
	if (r >= 0)
		r = pg_connect_start(m->conninfo, settings, &migration, &e);
	if (r < 0) {
		int x = connect_failed(m, lock ? "migration" : "deploy lock's", &e);
		pg_error_done(&e);
		return x;
	}
	*ret_lock = TAKE_PTR(lock);
	*ret_migration = TAKE_PTR(migration);
	return 0;
}

int deploy_migrate_preflight(DeployMigrate *m)
{
	_cleanup_free_ char *error = NULL, *message = NULL;
	_cleanup_(PQfinishp) PGconn *lock_conn = NULL, *migration_conn = NULL;
	PgSessionSettings settings =
		plan_database_session_settings(&m->ctx->plan->database, m->application_name);
	/* Named with this machine, so that a deploy from another host can say whose it is. */
	PgSessionSettings lock_settings = settings;
	lock_settings.application_name = m->lock_application_name;
	int x;
	PgError e = {};
	int r;

	r = pg_conninfo_resolve(m->ctx->plan->database.conninfo_source,
				m->ctx->plan->database.conninfo, &m->conninfo, &error);
	if (r < 0) {
		if (asprintf(&message, "Preflight failed, nothing was touched: %s.",
			     error ?: strerror(-r)) < 0)
			message = NULL;
		return preflight_failed(m, r, message);
	}
	r = pg_conninfo_mask(m->conninfo, &m->conninfo_masked);
	if (r >= 0)
		r = pg_conninfo_secrets(m->conninfo, &m->secrets);
	/* From here on, every event of the deploy is redacted (deploy_emit()). */
	m->ctx->secrets = m->secrets;
	if (r == -EINVAL)
		return preflight_failed(m, r,
					"Preflight failed, nothing was touched: the conninfo is "
					"neither key=value pairs nor a postgresql:// URI libpq "
					"accepts.");
	if (r < 0)
		return preflight_failed(m, -ENOMEM, NULL);

	x = preflight_connect_start(m, &lock_settings, &settings, &lock_conn, &migration_conn);
	if (x < 0)
		return x;
	x = preflight_files(m);
	if (x < 0)
		return x;
	x = preflight_lock(m, &lock_conn, &lock_settings);
	if (x < 0)
		return x;
	if (watch_start(m) < 0)
		return preflight_failed(m, -ENOMEM, NULL);
	r = pg_connect_finish(&migration_conn, &settings, &m->hooks, &m->conn, &e);
	if (r < 0) {
		x = connect_failed(m, "migration", &e);
		pg_error_done(&e);
		return x;
	}
	if (!m->ctx->plan->migrations.command) {
		x = preflight_history(m);
		if (x < 0)
			return x;
	}
	if (m->ctx->req->dry_run) {
		report_pending(m);
		x = report_forecast(m);
		if (x < 0)
			return x;
	}
	m->preflight_done = true;
	return 0;
}

/* The deploy's own sessions, which the terminator must spare (its connection is spared
 * anyway). */
static IdleFilter own_sessions_spared(const DeployMigrate *m, usec_t older_than, int pids[static 1])
{
	pids[0] = PQbackendPID(m->lock_conn);
	return (IdleFilter){.older_than = older_than, .exclude_pids = pids, .n_exclude_pids = 1};
}

static void report_idle(DeployMigrate *m, const IdleSessions *s, EventType type)
{
	for (size_t i = 0; i < s->n_sessions; i++) {
		Event *ev = NULL;
		if (idle_session_to_event(&s->sessions[i], type, m->ctx->phase, &ev) < 0) {
			m->ctx->out_of_memory = true;
			continue;
		}
		deploy_emit(m->ctx, ev);
	}
}

int deploy_migrate_idle_preflight(DeployMigrate *m, usec_t older_than)
{
	_cleanup_(idle_sessions_freep) IdleSessions *found = NULL;
	_cleanup_free_ char *error = NULL, *message = NULL;
	int pids[1], r;

	if (!m->preflight_done)
		return -ESTALE;
	/* Even a dry run checks the right to terminate: it tells whether the real run would. */
	r = idle_check_privileges(m->conn, true, &error);
	if (r >= 0 && m->ctx->req->dry_run) {
		IdleFilter filter = own_sessions_spared(m, older_than, pids);
		r = idle_list(m->conn, &filter, &found, &error);
	}
	if (r == -ENOMEM)
		return preflight_failed(m, -ENOMEM, NULL);
	if (r < 0) {
		if (asprintf(&message,
			     "Preflight failed, nothing was touched: idle transactions cannot be "
			     "terminated: %s.",
			     error ?: strerror(-r)) < 0)
			message = NULL;
		return preflight_failed(m, r, message);
	}
	if (found)
		report_idle(m, found, EVENT_IDLE_FOUND);
	return 0;
}

int deploy_migrate_idle_terminate(DeployMigrate *m, usec_t older_than)
{
	_cleanup_(idle_sessions_freep) IdleSessions *terminated = NULL;
	_cleanup_free_ char *error = NULL;
	int pids[1], r;

	if (!m->preflight_done)
		return -ESTALE;
	IdleFilter filter = own_sessions_spared(m, older_than, pids);
	r = idle_terminate(m->conn, &filter, &terminated, &error);
	if (r == -ENOMEM)
		return -ENOMEM;
	if (r < 0) {
		deploy_emitf(m->ctx, EVENT_DEPLOY_FAILED, LOG_ERR, NULL,
			     "Idle transactions could not be terminated: %s.",
			     error ?: strerror(-r));
		return -EIO;
	}
	report_idle(m, terminated, EVENT_IDLE_TERMINATED);
	return 0;
}

static void on_started(const Migration *mig, void *userdata)
{
	DeployMigrate *m = userdata;

	if (m->watch && deploy_lockwatch_begin(m->watch, mig->version, mig->name) < 0)
		m->ctx->out_of_memory = true;
	deploy_emitf(m->ctx, EVENT_MIGRATION_STARTED, LOG_INFO,
		     (const DeployField[]){{"MIGRATION_VERSION", mig->version},
					   {"MIGRATION_NAME", mig->name},
					   {}},
		     "Applying migration %s.", mig->filename);
}

static void on_applied(const Migration *mig, usec_t duration, void *userdata)
{
	DeployMigrate *m = userdata;
	char ms[32];

	if (m->watch)
		deploy_lockwatch_end(m->watch);
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(duration / USEC_PER_MSEC));
	deploy_emitf(m->ctx, EVENT_MIGRATION_APPLIED, LOG_INFO,
		     (const DeployField[]){{"MIGRATION_VERSION", mig->version},
					   {"MIGRATION_NAME", mig->name},
					   {"DURATION_MS", ms},
					   {}},
		     "Applied migration %s in %s ms.", mig->filename, ms);
}

static void on_invalid_index(const Migration *mig, const char *index, bool dropped, void *userdata)
{
	DeployMigrate *m = userdata;
	const DeployField fields[] = {{"MIGRATION_VERSION", mig->version},
				      {"MIGRATION_NAME", mig->name},
				      {"MIGRATION_FILE", mig->path},
				      {"INDEX_NAME", index},
				      {}};
	if (dropped)
		deploy_emitf(
			m->ctx, EVENT_INVALID_INDEX_DROPPED, LOG_NOTICE, fields,
			"Dropped the INVALID index %s that the failed build of migration %s left; "
			"running the migration again.",
			index, mig->filename);
	else
		deploy_emitf(
			m->ctx, EVENT_INVALID_INDEX_LEFT, LOG_WARNING, fields,
			"Migration %s left the INVALID index %s behind; the next deploy drops it "
			"before running the migration again.",
			mig->filename, index);
}

static void on_invalid_index_left(const Migration *mig, const char *index, void *userdata)
{
	on_invalid_index(mig, index, false, userdata);
}

static void on_invalid_index_dropped(const Migration *mig, const char *index, void *userdata)
{
	on_invalid_index(mig, index, true, userdata);
}

static void report_failure(DeployMigrate *m, const MigrationFailure *f)
{
	const Migration *mig = f->migration;
	const PgError *e = &f->error;
	_cleanup_free_ char *place = NULL, *extra = NULL;
	char ms[32], line[32] = "";

	if (f->line > 0)
		snprintf(line, sizeof(line), "%u", f->line);
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(f->duration / USEC_PER_MSEC));
	if (mig && asprintf(&place, "%s%s%s", mig->path, line[0] ? ":" : "", line) < 0)
		place = NULL;
	if (asprintf(&extra, "%s%s%s%s", e->detail ? " Detail: " : "", e->detail ?: "",
		     e->hint ? " Hint: " : "", e->hint ?: "") < 0)
		extra = NULL;

	const DeployField fields[] = {
		{"MIGRATION_VERSION", mig ? mig->version : NULL},
		{"MIGRATION_NAME", mig ? mig->name : NULL},
		{"MIGRATION_FILE", mig ? mig->path : NULL},
		{"MIGRATION_LINE", line[0] ? line : NULL},
		{"PG_SQLSTATE", e->sqlstate[0] ? e->sqlstate : NULL},
		{"PG_MESSAGE", e->message},
		{"PG_DETAIL", e->detail},
		{"PG_HINT", e->hint},
		{"DURATION_MS", ms},
		{},
	};
	if (e->kind == PG_ERROR_CANCELED)
		deploy_emitf(m->ctx, EVENT_MIGRATION_FAILED, LOG_WARNING, fields,
			     "Migration %s was cancelled and rolled back.",
			     mig ? mig->filename : "(none started)");
	else if (!mig)
		deploy_emitf(m->ctx, EVENT_MIGRATION_FAILED, LOG_ERR, fields,
			     "Cannot create the migration history table %s: %s%s%s.%s", m->table,
			     e->sqlstate, e->sqlstate[0] ? " " : "", e->message ?: "out of memory",
			     extra ?: "");
	else
		deploy_emitf(m->ctx, EVENT_MIGRATION_FAILED, LOG_ERR, fields,
			     "Migration %s failed at %s: %s%s%s.%s", mig->filename,
			     place ?: mig->path, e->sqlstate, e->sqlstate[0] ? " " : "",
			     e->message ?: "out of memory", extra ?: "");
}

usec_t deploy_migrate_retry_delay(const PlanMigrations *pm, unsigned attempt)
{
	usec_t delay = pm->lock_retry_delay;

	for (unsigned i = 1; i < attempt && delay < USEC_PER_HOUR; i++)
		delay *= 2;
	/* From the kernel: the workers of one daemon, and deployds on other hosts, must not
	 * draw the same jitter (random() unseeded, or inherited from the daemon, would). */
	return delay + random_below(delay / 10 + 1);
}

/* Waits delay unless cancelled first: 0, or -ECANCELED. */
static int wait_or_cancel(const DeployMigrate *m, usec_t delay)
{
	struct pollfd p = {.fd = m->hooks.cancel_fd, .events = POLLIN};
	usec_t deadline = now_usec(CLOCK_MONOTONIC) + delay;

	for (;;) {
		usec_t now = now_usec(CLOCK_MONOTONIC);
		if (now >= deadline)
			return 0;
		int r = poll(&p, m->hooks.cancel_fd >= 0 ? 1 : 0,
			     (int)((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
		if (r > 0)
			return -ECANCELED;
	}
}

/* A lock timeout may be retried while attempts remain and the retries, delay included,
 * stay within statement_timeout (0: no such bound). */
static bool may_retry(const DeployMigrate *m, const MigrationFailure *f, unsigned attempt,
		      usec_t waited, usec_t delay)
{
	const PlanMigrations *pm = &m->ctx->plan->migrations;
	usec_t bound = m->ctx->plan->database.statement_timeout;

	return f->migration && f->error.kind == PG_ERROR_LOCK_TIMEOUT &&
	       attempt <= pm->lock_retries && (bound == 0 || waited + delay < bound);
}

static void report_retry(DeployMigrate *m, const Migration *mig, unsigned attempt, usec_t delay)
{
	char ms[32], nth[16];
	char delay_text[DURATION_FORMAT_MAX];

	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(delay / USEC_PER_MSEC));
	snprintf(nth, sizeof(nth), "%u", attempt);
	deploy_emitf(m->ctx, EVENT_MIGRATION_RETRY, LOG_WARNING,
		     (const DeployField[]){{"MIGRATION_VERSION", mig->version},
					   {"MIGRATION_NAME", mig->name},
					   {"RETRY_ATTEMPT", nth},
					   {"RETRY_DELAY_MS", ms},
					   {}},
		     "Migration %s hit the lock timeout; retrying it in %s (retry %u of %u).",
		     mig->filename, duration_format(delay, delay_text), attempt,
		     m->ctx->plan->migrations.lock_retries);
}

static int apply_directory(DeployMigrate *m)
{
	MigrationsObserver observer = {
		.started = on_started,
		.applied = on_applied,
		.invalid_index_left = on_invalid_index_left,
		.invalid_index_dropped = on_invalid_index_dropped,
		.userdata = m,
	};
	MigrationsApplyOptions o = {
		.table = m->table,
		.deploy_id = m->ctx->req->id,
		.applied_by = m->ctx->req->requester,
		.hooks = &m->watched_hooks,
		.observer = &observer,
		.probe_conn = m->lock_conn,
	};
	const Migration *retrying = NULL;
	size_t done = 0;
	usec_t waited = 0;
	int r;

	if (m->watch && deploy_lockwatch_watch_pid(m->watch, PQbackendPID(m->conn)) < 0)
		return -ENOMEM;

	for (unsigned attempt = 1;; attempt++) {
		_cleanup_(migration_failure_done) MigrationFailure f = {};

		r = migrations_apply(m->conn, m->pending + done, m->n_pending - done, &o, &f);
		if (r >= 0)
			return 0;

		/* The failed migration left no trace: a retry starts with it, whole. */
		if (f.migration != retrying) {
			retrying = f.migration;
			waited = 0;
		}
		waited += f.duration;
		while (f.migration && done < m->n_pending && m->pending[done] != f.migration)
			done++;
		usec_t delay = deploy_migrate_retry_delay(&m->ctx->plan->migrations, attempt);
		if (m->watch)
			deploy_lockwatch_end(m->watch);
		if (m->watch && f.error.kind == PG_ERROR_LOCK_TIMEOUT)
			deploy_lockwatch_report_timeout(m->watch);
		if (may_retry(m, &f, attempt, waited, delay)) {
			report_retry(m, f.migration, attempt, delay);
			if (wait_or_cancel(m, delay) < 0) {
				pg_error_set(&f.error, PG_ERROR_CANCELED,
					     "cancelled while waiting to retry");
				report_failure(m, &f);
				return -ECANCELED;
			}
			waited += delay;
			continue;
		}

		report_failure(m, &f);
		/* A statement the server would not cancel in time must not keep waiting on a lock.
		 */
		if (m->conn && PQtransactionStatus(m->conn) == PQTRANS_ACTIVE) {
			if (m->watch)
				deploy_lockwatch_settle(m->watch);
			pg_session_abandon(&m->conn, m->lock_conn);
		}
		if (r == -ENOMEM)
			return -ENOMEM;
		return f.error.kind == PG_ERROR_CANCELED ? -ECANCELED : -EIO;
	}
}

static void on_command_output(SpawnStream stream, const char *line, void *userdata)
{
	DeployMigrate *m = userdata;

	deploy_emitf(m->ctx, EVENT_COMMAND_OUTPUT, stream == SPAWN_STDERR ? LOG_NOTICE : LOG_INFO,
		     (const DeployField[]){{"OUTPUT_STREAM", spawn_stream_to_string(stream)}, {}},
		     "%s", line);
}

/* How often the lock watch checks; 0 = no watch.  A wait shorter than the interval would
 * fail before any check saw it, so the interval is at most half the lock_timeout (but not
 * so short that the checks themselves become the load). */
/* While a migration runs: the lock watch checks. */
static int migration_tick(void *userdata)
{
	DeployMigrate *m = userdata;

	if (m->watch)
		deploy_lockwatch_tick(m->watch);
	return 0;
}

static int apply_command(DeployMigrate *m)
{
	_cleanup_strv_free_ char **env = NULL;
	_cleanup_free_ char *name = NULL, *error = NULL, *app = NULL, *leftovers = NULL;
	const PlanMigrations *pm = &m->ctx->plan->migrations;
	SpawnResult result = {};
	char limit[DURATION_FORMAT_MAX];
	unsigned n_terminated = 0;
	PgError e = {};
	char ms[32];
	int r;

	MigrationsCommand command = plan_command(m->ctx->plan);
	if (strv_join(pm->command, " ", &name) < 0 ||
	    migrations_command_environment(&command, m->conninfo, m->ctx->req->id,
					   m->ctx->req->release, &env) < 0 ||
	    migrations_command_application_name(m->ctx->req->id, &app) < 0)
		return -ENOMEM;

	deploy_emitf(m->ctx, EVENT_MIGRATION_STARTED, LOG_INFO,
		     (const DeployField[]){{"MIGRATION_NAME", name}, {}},
		     "Running migration command %s.", name);
	if (m->watch && (deploy_lockwatch_watch_application(m->watch, app) < 0 ||
			 deploy_lockwatch_begin(m->watch, NULL, name) < 0))
		return -ENOMEM;
	usec_t started = now_usec(CLOCK_MONOTONIC);
	SpawnOptions so = {
		.argv = pm->command,
		.envp = env,
		.working_directory = pm->working_directory,
		.timeout = m->command_timeout,
		.cancel_fd = m->hooks.cancel_fd,
		.output = on_command_output,
		.tick_first = m->watched_hooks.tick_first,
		.tick_interval = m->watched_hooks.tick_interval,
		.tick = m->watched_hooks.tick ? migration_tick : NULL,
		.userdata = m,
		.redact = m->secrets,
	};
	r = spawn_run(&so, &result, &error);
	/* The command's own errors are its business; if it ended while waiting on a lock, the
	 * blockers of that wait are the likely reason, so say who they were. */
	bool was_waiting = m->watch && deploy_lockwatch_waiting(m->watch);
	if (m->watch)
		deploy_lockwatch_end(m->watch);
	snprintf(ms, sizeof(ms), "%llu",
		 (unsigned long long)((now_usec(CLOCK_MONOTONIC) - started) / USEC_PER_MSEC));

	/* Its sessions are ours: none may outlive it (say, one still queued behind a lock). */
	if (pg_terminate_application(m->conn, app, &n_terminated, &e) < 0) {
		if (asprintf(&leftovers, " Sessions it may have left could not be terminated: %s",
			     e.message ?: "out of memory") < 0)
			leftovers = NULL;
	} else if (n_terminated > 0 &&
		   asprintf(&leftovers, " %u session(s) it left behind were terminated.",
			    n_terminated) < 0)
		leftovers = NULL;
	pg_error_done(&e);

	const DeployField fields[] = {{"MIGRATION_NAME", name}, {"DURATION_MS", ms}, {}};
	if (r < 0) {
		deploy_emitf(m->ctx, EVENT_MIGRATION_FAILED, LOG_ERR, fields,
			     "Migration command failed to start: %s.%s", error ?: strerror(-r),
			     leftovers ?: "");
		return -EIO;
	}
	switch (result.outcome) {
	case SPAWN_EXITED:
		if (result.status == 0) {
			deploy_emitf(m->ctx, EVENT_MIGRATION_APPLIED, LOG_INFO, fields,
				     "Migration command %s succeeded in %s ms.%s", name, ms,
				     leftovers ?: "");
			return 0;
		}
		deploy_emitf(m->ctx, EVENT_MIGRATION_FAILED, LOG_ERR, fields,
			     "Migration command %s failed with exit status %d.%s", name,
			     result.status, leftovers ?: "");
		if (was_waiting)
			deploy_lockwatch_report_timeout(m->watch);
		return -EIO;
	case SPAWN_SIGNALED:
		deploy_emitf(m->ctx, EVENT_MIGRATION_FAILED, LOG_ERR, fields,
			     "Migration command %s was killed by signal %s.%s", name,
			     sigabbrev_np(result.status) ?: "unknown", leftovers ?: "");
		return -EIO;
	case SPAWN_TIMED_OUT:
		deploy_emitf(m->ctx, EVENT_MIGRATION_FAILED, LOG_ERR, fields,
			     "Migration command %s did not finish within %s and was killed.%s",
			     name, duration_format(m->command_timeout, limit), leftovers ?: "");
		return -EIO;
	case SPAWN_CANCELLED:
		deploy_emitf(m->ctx, EVENT_MIGRATION_FAILED, LOG_WARNING, fields,
			     "Migration command %s was cancelled and killed.%s", name,
			     leftovers ?: "");
		return -ECANCELED;
	}
	return -ENOMEM;
}

int deploy_migrate_apply(DeployMigrate *m)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	PgError e = {};
	int r;

	if (!m->preflight_done)
		return -ESTALE;
	/* Time passed since the preflight (units were stopped): make sure we still hold the
	 * deploy lock, i.e. its session is still there.  While the watch's preparation still
	 * runs on it (the units stopped quickly), the migrations do not wait behind it: the
	 * session is at work, and whatever the server sent (its end included) has been read. */
	if (m->watch && deploy_lockwatch_preparing(m->watch))
		r = pg_session_check(m->lock_conn, &e);
	else
		r = pg_exec(m->lock_conn, "SELECT 1", &m->hooks, &res, &e);
	if (r < 0) {
		int x = e.kind == PG_ERROR_CANCELED ? -ECANCELED : -EIO;
		if (x == -EIO)
			deploy_emitf(
				m->ctx, EVENT_DEPLOY_FAILED, LOG_ERR, NULL,
				"The deploy lock's session was lost before migrating (%s); nothing "
				"was migrated.",
				e.message ?: "out of memory");
		pg_error_done(&e);
		return x;
	}
	usec_t interval = watch_interval(m->ctx->plan);
	m->watched_hooks = m->hooks;
	m->watched_hooks.tick = migration_tick;
	m->watched_hooks.userdata = m;
	m->watched_hooks.tick_interval = interval;
	m->watched_hooks.tick_first = DEPLOY_LOCKWATCH_FIRST_CHECK;
	if (m->ctx->plan->migrations.command)
		return apply_command(m);
	r = record_adopted(m);
	return r < 0 ? r : apply_directory(m);
}
