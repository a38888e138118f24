/* Command migrations: environment, preflight check, run-time bound (migrations-command.h). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "migrations-command.h"
#include "pg.h"
#include "spawn-command.h"
#include "strv.h"

int migrations_command_application_name(const char *deploy_id, char **ret)
{
	return asprintf(ret, MIGRATIONS_COMMAND_APPLICATION_PREFIX "%s", deploy_id) < 0 ? -ENOMEM
											: 0;
}

/* Sets KEY=VALUE in *env, replacing an earlier KEY. */
static int env_set(char ***env, const char *key, const char *value)
{
	size_t len = strlen(key);
	char *entry;

	if (asprintf(&entry, "%s=%s", key, value) < 0)
		return -ENOMEM;
	for (size_t i = 0; *env && (*env)[i]; i++)
		if (strncmp((*env)[i], key, len) == 0 && (*env)[i][len] == '=') {
			free((*env)[i]);
			(*env)[i] = entry;
			return 0;
		}
	return strv_push(env, entry);
}

static int env_set_entry(char ***env, const char *entry)
{
	const char *eq = strchr(entry, '=');
	_cleanup_free_ char *key = NULL;

	if (!eq)
		return -EINVAL;
	key = strndup(entry, (size_t)(eq - entry));
	if (!key)
		return -ENOMEM;
	return env_set(env, key, eq + 1);
}

int migrations_command_environment(const MigrationsCommand *c, const char *conninfo,
				   const char *deploy_id, const char *release, char ***ret)
{
	static const char *const inherited[] = {"LANG", "LC_ALL", "TZ", "HOME"};
	_cleanup_strv_free_ char **env = NULL;
	_cleanup_free_ char *application_name = NULL, *options = NULL, *url = NULL;
	const char *path = getenv("PATH");
	int r;

	r = migrations_command_application_name(deploy_id, &application_name);
	if (r < 0)
		return r;
	PgSessionSettings settings = c->session;
	settings.application_name = application_name;
	r = pg_session_options(&settings, &options);
	if (r < 0)
		return r;
	r = pg_conninfo_to_url(conninfo, application_name, options, &url);
	if (r < 0)
		return r;

	r = env_set(&env, "PATH", path && path[0] ? path : MIGRATIONS_COMMAND_DEFAULT_PATH);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(inherited); i++) {
		const char *v = getenv(inherited[i]);
		if (v && (r = env_set(&env, inherited[i], v)) < 0)
			return r;
	}
	STRV_FOREACH (e, c->environment)
		if ((r = env_set_entry(&env, *e)) < 0)
			return r;
	if ((r = env_set(&env, "PGOPTIONS", options)) < 0 ||
	    (r = env_set(&env, "PGAPPNAME", application_name)) < 0 ||
	    (r = env_set(&env, "DATABASE_URL", url)) < 0 ||
	    (r = env_set(&env, "DEPLOY_ID", deploy_id)) < 0 ||
	    (r = env_set(&env, "DEPLOY_PLAN", c->plan_name ?: "")) < 0 ||
	    (r = env_set(&env, "DEPLOY_RELEASE", release ?: "")) < 0)
		return r;
	*ret = TAKE_PTR(env);
	return 0;
}

/* "WHAT SUBJECT: REASON". */
static int fail(char **ret_error, int r, const char *what, const char *subject, const char *reason)
{
	if (ret_error && asprintf(ret_error, "%s %s: %s", what, subject, reason) < 0)
		*ret_error = NULL;
	return r;
}

int migrations_command_check(const MigrationsCommand *c, char **ret_error)
{
	_cleanup_free_ char *program = NULL, *resolved = NULL;
	const char *path_list = getenv("PATH");
	struct stat st;
	int r;

	if (!c->argv || !c->argv[0])
		return fail(ret_error, -EINVAL, "migrations.command", "[]", "no program to run");
	if (c->working_directory) {
		if (stat(c->working_directory, &st) < 0)
			return fail(ret_error, -errno, "working_directory", c->working_directory,
				    strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return fail(ret_error, -ENOTDIR, "working_directory", c->working_directory,
				    "not a directory");
	}
	STRV_FOREACH (e, c->environment)
		if (strncmp(*e, "PATH=", 5) == 0)
			path_list = *e + 5;
	if (!path_list || !path_list[0])
		path_list = MIGRATIONS_COMMAND_DEFAULT_PATH;

	r = spawn_find_program(c->argv[0], path_list, &program);
	if (r == -ENOENT)
		return fail(ret_error, r, "migration command", c->argv[0], "not found in PATH");
	if (r < 0)
		return r;
	/* A relative path runs from the working directory. */
	if (program[0] != '/' && c->working_directory) {
		if (asprintf(&resolved, "%s/%s", c->working_directory, program) < 0)
			return -ENOMEM;
	}
	if (access(resolved ?: program, X_OK) < 0)
		return fail(ret_error, -errno, "migration command", resolved ?: program,
			    strerror(errno));
	return 0;
}

usec_t migrations_command_timeout(usec_t statement_timeout)
{
	if (statement_timeout == 0 ||
	    statement_timeout > USEC_INFINITY / MIGRATIONS_COMMAND_TIMEOUT_FACTOR)
		return MIGRATIONS_COMMAND_TIMEOUT_DEFAULT;
	return statement_timeout * MIGRATIONS_COMMAND_TIMEOUT_FACTOR;
}
