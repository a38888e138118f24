/* pg: conninfo sources, masking, DATABASE_URL, session options, error classification (no
 * server). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check-run.h"
#include "pg.h"
#include "strv.h"

static char *temp_dir(void)
{
	char *dir;

	ck_assert_int_ge(asprintf(&dir, "%s/test-pg-XXXXXX", getenv("TMPDIR") ?: "/tmp"), 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

static char *write_file(const char *dir, const char *name, const char *data, size_t size,
			mode_t mode)
{
	char *path;
	_cleanup_close_ int fd = -EBADF;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	return path;
}

/* The value libpq parses for keyword out of conninfo, or NULL. */
static char *parsed_value(const char *conninfo, const char *keyword)
{
	_cleanup_(PQconninfoFreep) PQconninfoOption *o = PQconninfoParse(conninfo, NULL);
	ck_assert_msg(o != NULL, "libpq cannot parse '%s'", conninfo);
	for (PQconninfoOption *p = o; p->keyword; p++)
		if (strcmp(p->keyword, keyword) == 0)
			return p->val ? strdup(p->val) : NULL;
	return NULL;
}

/* A conninfo source as a caller names it. */
typedef struct ConninfoSource {
	PgConninfoSource conninfo_source;
	const char *conninfo;
} ConninfoSource;

START_TEST(test_mask_hides_the_password_of_key_value_pairs)
{
	_cleanup_free_ char *masked = NULL;

	ck_assert_int_eq(
		pg_conninfo_mask("host=db user=deployer password='s3cr et' dbname=app", &masked),
		0);
	ck_assert_ptr_null(strstr(masked, "s3cr"));
	ck_assert_str_eq(masked, "user=deployer password=******** dbname=app host=db");
}
END_TEST

START_TEST(test_mask_hides_the_password_of_a_uri)
{
	_cleanup_free_ char *masked = NULL, *host = NULL;

	ck_assert_int_eq(pg_conninfo_mask("postgresql://deployer:hunter2@db.example:5433/app?"
					  "sslmode=require&sslpassword=keypass",
					  &masked),
			 0);
	ck_assert_ptr_null(strstr(masked, "hunter2"));
	ck_assert_ptr_null(strstr(masked, "keypass"));
	ck_assert_ptr_nonnull(strstr(masked, "password=********"));
	ck_assert_ptr_nonnull(strstr(masked, "sslpassword=********"));
	host = parsed_value(masked, "host");
	ck_assert_str_eq(host, "db.example");
}
END_TEST

START_TEST(test_mask_refuses_what_libpq_cannot_parse)
{
	char *masked = NULL;

	ck_assert_int_eq(pg_conninfo_mask("host=db password", &masked), -EINVAL);
	ck_assert_ptr_null(masked);
	ck_assert_int_eq(pg_conninfo_mask("postgresql://u:p%zz@h/", &masked), -EINVAL);
}
END_TEST

START_TEST(test_masked_values_with_spaces_and_quotes_stay_parseable)
{
	_cleanup_free_ char *masked = NULL, *options = NULL;

	ck_assert_int_eq(pg_conninfo_mask("options='-c search_path=a\\'b' dbname=x", &masked), 0);
	options = parsed_value(masked, "options");
	ck_assert_str_eq(options, "-c search_path=a'b");
}
END_TEST

START_TEST(test_secrets_list_the_password_raw_url_encoded_and_quoted)
{
	_cleanup_strv_free_ char **secrets = NULL, **none = NULL;
	_cleanup_free_ char *url = NULL;

	ck_assert_int_eq(pg_conninfo_secrets("host=/tmp user=u password='p@ss w\\'rd' "
					     "sslpassword=k3y",
					     &secrets),
			 0);
	ck_assert(strv_contains(secrets, "p@ss w'rd"));
	ck_assert(strv_contains(secrets, "p%40ss%20w%27rd"));
	ck_assert(strv_contains(secrets, "p@ss w\\'rd")); /* as inside password='…' */
	ck_assert(strv_contains(secrets, "k3y"));
	/* DATABASE_URL carries the encoded form listed. */
	ck_assert_int_eq(pg_conninfo_to_url("user=u password='p@ss w\\'rd'", NULL, NULL, &url), 0);
	ck_assert_ptr_nonnull(strstr(url, "p%40ss%20w%27rd"));
	ck_assert_int_eq(pg_conninfo_secrets("host=/tmp user=u", &none), 0);
	ck_assert_uint_eq(strv_length(none), 0);
}
END_TEST

START_TEST(test_url_carries_every_parameter_with_our_application_name_and_options)
{
	_cleanup_free_ char *url = NULL, *host = NULL, *port = NULL, *user = NULL, *pw = NULL,
			    *db = NULL, *app = NULL, *options = NULL, *ssl = NULL;

	ck_assert_int_eq(pg_conninfo_to_url("host=/run/postgresql port=5433 user='de ployer' "
					    "password=p@ss:w/rd dbname=app sslmode=disable "
					    "application_name=theirs",
					    "deployd-migrate/abc", "-c lock_timeout=5000", &url),
			 0);
	ck_assert_msg(strncmp(url, "postgresql://", 13) == 0, "%s", url);
	host = parsed_value(url, "host");
	port = parsed_value(url, "port");
	user = parsed_value(url, "user");
	pw = parsed_value(url, "password");
	db = parsed_value(url, "dbname");
	app = parsed_value(url, "application_name");
	options = parsed_value(url, "options");
	ssl = parsed_value(url, "sslmode");
	ck_assert_str_eq(host, "/run/postgresql");
	ck_assert_str_eq(port, "5433");
	ck_assert_str_eq(user, "de ployer");
	ck_assert_str_eq(pw, "p@ss:w/rd");
	ck_assert_str_eq(db, "app");
	ck_assert_str_eq(app, "deployd-migrate/abc");
	ck_assert_str_eq(options, "-c lock_timeout=5000");
	ck_assert_str_eq(ssl, "disable");
}
END_TEST

START_TEST(test_url_puts_the_conninfo_options_before_ours)
{
	_cleanup_free_ char *url = NULL, *options = NULL;

	ck_assert_int_eq(pg_conninfo_to_url("postgresql:///app?options=-c%20search_path%3Dx", "app",
					    "-c lock_timeout=5000", &url),
			 0);
	options = parsed_value(url, "options");
	ck_assert_str_eq(options, "-c search_path=x -c lock_timeout=5000");
}
END_TEST

START_TEST(test_url_keeps_a_password_without_a_user)
{
	_cleanup_free_ char *url = NULL, *user = NULL, *pw = NULL;

	ck_assert_int_eq(pg_conninfo_to_url("password=s3cret dbname=x", NULL, NULL, &url), 0);
	user = parsed_value(url, "user");
	pw = parsed_value(url, "password");
	ck_assert_ptr_null(user);
	ck_assert_str_eq(pw, "s3cret");
}
END_TEST

START_TEST(test_session_options_are_milliseconds_rounded_up)
{
	_cleanup_free_ char *options = NULL, *ro = NULL;
	PgSessionSettings s = {
		.lock_timeout = 5 * USEC_PER_SEC,
		.statement_timeout = 0,
		.idle_in_transaction_session_timeout = 1500,
	};

	ck_assert_int_eq(pg_session_options(&s, &options), 0);
	ck_assert_str_eq(options, "-c lock_timeout=5000 -c statement_timeout=0 "
				  "-c idle_in_transaction_session_timeout=2 "
				  "-c client_connection_check_interval=1000");
	s.read_only = true;
	ck_assert_int_eq(pg_session_options(&s, &ro), 0);
	ck_assert_ptr_nonnull(strstr(ro, "-c default_transaction_read_only=on"));
}
END_TEST

START_TEST(test_errors_are_classified_by_sqlstate)
{
	ck_assert_int_eq(pg_error_classify("55P03", "canceling statement due to lock timeout"),
			 PG_ERROR_LOCK_TIMEOUT);
	ck_assert_int_eq(pg_error_classify("57014", "canceling statement due to statement timeout"),
			 PG_ERROR_STATEMENT_TIMEOUT);
	ck_assert_int_eq(pg_error_classify("57014", "canceling statement due to user request"),
			 PG_ERROR_CANCELED);
	ck_assert_int_eq(pg_error_classify("57P01", "terminating connection due to administrator "
						    "command"),
			 PG_ERROR_TERMINATED);
	ck_assert_int_eq(pg_error_classify("25P03", "terminating connection due to "
						    "idle-in-transaction timeout"),
			 PG_ERROR_IDLE_TIMEOUT);
	ck_assert_int_eq(pg_error_classify("57P05", "terminating connection due to idle-session "
						    "timeout"),
			 PG_ERROR_IDLE_TIMEOUT);
	ck_assert_int_eq(pg_error_classify("08006", "connection failure"),
			 PG_ERROR_CONNECTION_LOST);
	ck_assert_int_eq(pg_error_classify("42601", "syntax error"), PG_ERROR_OTHER);
	ck_assert_int_eq(pg_error_classify(NULL, NULL), PG_ERROR_OTHER);
	ck_assert_int_eq(pg_error_classify("", "x"), PG_ERROR_OTHER);
}
END_TEST

START_TEST(test_a_translated_57014_without_our_cancel_counts_as_statement_timeout)
{
	ck_assert_int_eq(pg_error_classify("57014", "Anweisung wegen Zeitüberschreitung storniert"),
			 PG_ERROR_STATEMENT_TIMEOUT);
}
END_TEST

START_TEST(test_error_kinds_have_names)
{
	for (int k = 0; k < _PG_ERROR_KIND_MAX; k++)
		ck_assert_ptr_nonnull(pg_error_kind_to_string((PgErrorKind)k));
	ck_assert_str_eq(pg_error_kind_to_string(PG_ERROR_LOCK_TIMEOUT), "lock-timeout");
	ck_assert_ptr_null(pg_error_kind_to_string(_PG_ERROR_KIND_MAX));
}
END_TEST

START_TEST(test_error_set_and_done)
{
	PgError e = {};

	ck_assert_int_eq(pg_error_set(&e, PG_ERROR_OTHER, "x %d", 42), 0);
	ck_assert_str_eq(e.message, "x 42");
	ck_assert_int_eq(e.kind, PG_ERROR_OTHER);
	pg_error_done(&e);
	ck_assert_ptr_null(e.message);
	ck_assert_int_eq(e.kind, PG_ERROR_NONE);
}
END_TEST

START_TEST(test_literal_conninfo_is_used_as_is)
{
	_cleanup_free_ char *c = NULL;
	ConninfoSource db = {.conninfo_source = PG_CONNINFO_LITERAL, .conninfo = "dbname=x"};

	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, NULL), 0);
	ck_assert_str_eq(c, "dbname=x");
}
END_TEST

START_TEST(test_conninfo_env_reads_the_variable_and_names_it_when_unset)
{
	_cleanup_free_ char *c = NULL, *error = NULL;
	ConninfoSource db = {.conninfo_source = PG_CONNINFO_ENV, .conninfo = "TEST_PG_CONNINFO"};

	setenv("TEST_PG_CONNINFO", "dbname=fromenv", 1);
	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, &error), 0);
	ck_assert_str_eq(c, "dbname=fromenv");
	unsetenv("TEST_PG_CONNINFO");
	free(c);
	c = NULL;
	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, &error), -ENOENT);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(error, "TEST_PG_CONNINFO is not set"));
}
END_TEST

START_TEST(test_conninfo_file_is_read_whole_and_trimmed)
{
	_cleanup_free_ char *dir = temp_dir(), *c = NULL, *path = NULL;
	const char text[] = "\n  host=/tmp\n  dbname=x password=y \n\n";
	ConninfoSource db = {.conninfo_source = PG_CONNINFO_FILE};

	path = write_file(dir, "conninfo", text, strlen(text), 0600);
	db.conninfo = path;
	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, NULL), 0);
	ck_assert_str_eq(c, "host=/tmp\n  dbname=x password=y");
}
END_TEST

START_TEST(test_conninfo_file_readable_by_others_is_refused)
{
	_cleanup_free_ char *dir = temp_dir(), *c = NULL, *path = NULL, *error = NULL;
	ConninfoSource db = {.conninfo_source = PG_CONNINFO_FILE};

	path = write_file(dir, "conninfo", "dbname=x", 8, 0644);
	db.conninfo = path;
	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, &error), -EPERM);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(error, "readable or writable by others"));
	ck_assert_ptr_nonnull(strstr(error, path));
}
END_TEST

START_TEST(test_conninfo_file_too_large_empty_or_binary_is_refused)
{
	_cleanup_free_ char *dir = temp_dir(), *big = NULL, *empty = NULL, *binary = NULL;
	_cleanup_free_ char *data = malloc(PG_CONNINFO_FILE_MAX + 1);
	char *c = NULL, *error = NULL;
	ConninfoSource db = {.conninfo_source = PG_CONNINFO_FILE};

	memset(data, 'a', PG_CONNINFO_FILE_MAX + 1);
	big = write_file(dir, "big", data, PG_CONNINFO_FILE_MAX + 1, 0600);
	empty = write_file(dir, "empty", " \n", 2, 0600);
	binary = write_file(dir, "binary", "dbname=x\0y", 10, 0600);

	db.conninfo = big;
	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, &error), -EFBIG);
	free(error);
	db.conninfo = empty;
	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, &error), -EINVAL);
	ck_assert_ptr_nonnull(strstr(error, "empty"));
	free(error);
	db.conninfo = binary;
	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, &error), -EINVAL);
	ck_assert_ptr_nonnull(strstr(error, "NUL"));
	free(error);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_credential_is_read_from_the_credentials_directory)
{
	_cleanup_free_ char *dir = temp_dir(), *c = NULL, *path = NULL;
	ConninfoSource db = {.conninfo_source = PG_CONNINFO_CREDENTIAL, .conninfo = "db.conninfo"};

	/* systemd may hand credentials out group-readable: that is not refused. */
	path = write_file(dir, "db.conninfo", "dbname=cred\n", 12, 0640);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, NULL), 0);
	ck_assert_str_eq(c, "dbname=cred");
}
END_TEST

START_TEST(test_credential_names_with_a_slash_or_without_the_directory_are_refused)
{
	_cleanup_free_ char *dir = temp_dir();
	char *c = NULL, *error = NULL;
	ConninfoSource db = {.conninfo_source = PG_CONNINFO_CREDENTIAL, .conninfo = "../etc/x"};

	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, &error), -EINVAL);
	free(error);
	db.conninfo = "..";
	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, &error), -EINVAL);
	free(error);
	db.conninfo = "db";
	unsetenv("CREDENTIALS_DIRECTORY");
	ck_assert_int_eq(pg_conninfo_resolve(db.conninfo_source, db.conninfo, &c, &error), -ENOENT);
	ck_assert_ptr_nonnull(strstr(error, "$CREDENTIALS_DIRECTORY is not set"));
	free(error);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_wait_hooks_are_cancelled_once_the_fd_is_readable)
{
	int p[2];
	PgWaitHooks h = {.cancel_fd = -1};

	ck_assert(!pg_wait_hooks_cancelled(NULL));
	ck_assert(!pg_wait_hooks_cancelled(&h));
	ck_assert_int_eq(pipe(p), 0);
	h.cancel_fd = p[0];
	ck_assert(!pg_wait_hooks_cancelled(&h));
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert(pg_wait_hooks_cancelled(&h));
	/* Never read: it stays cancelled. */
	ck_assert(pg_wait_hooks_cancelled(&h));
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_connect_refuses_an_unparseable_conninfo_without_quoting_it)
{
	PgSessionSettings s = {.application_name = "t", .connect_timeout = USEC_PER_SEC};
	PGconn *conn = NULL;
	PgError e = {};

	ck_assert_int_eq(pg_connect("host=x password=hunter2 bogus", &s, NULL, &conn, &e), -EINVAL);
	ck_assert_ptr_null(conn);
	ck_assert_int_eq(e.kind, PG_ERROR_CONNECT_FAILED);
	ck_assert_ptr_null(strstr(e.message, "hunter2"));
	pg_error_done(&e);
}
END_TEST

START_TEST(test_connect_fails_with_libpq_message_when_nothing_listens)
{
	PgSessionSettings s = {.application_name = "t", .connect_timeout = 2 * USEC_PER_SEC};
	_cleanup_free_ char *dir = temp_dir(), *conninfo = NULL;
	PGconn *conn = NULL;
	PgError e = {};

	ck_assert_int_ge(asprintf(&conninfo, "host=%s port=1 dbname=x password=hunter2", dir), 0);
	ck_assert_int_lt(pg_connect(conninfo, &s, NULL, &conn, &e), 0);
	ck_assert_ptr_null(conn);
	ck_assert_int_eq(e.kind, PG_ERROR_CONNECT_FAILED);
	ck_assert_ptr_nonnull(strstr(e.message, dir));
	ck_assert_ptr_null(strstr(e.message, "hunter2"));
	pg_error_done(&e);
}
END_TEST

/* A "server" that accepts connections (the kernel's backlog does) and never answers. */
static int silent_server(const char *dir, int port)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.s.PGSQL.%d", dir, port);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	return fd;
}

START_TEST(test_connect_gives_up_after_connect_timeout)
{
	_cleanup_free_ char *dir = temp_dir(), *conninfo = NULL;
	_cleanup_close_ int server = silent_server(dir, 5432);
	PgSessionSettings s = {.application_name = "t", .connect_timeout = 500 * USEC_PER_MSEC};
	PGconn *conn = NULL;
	PgError e = {};

	ck_assert_int_ge(asprintf(&conninfo, "host=%s port=5432 dbname=x", dir), 0);
	usec_t start = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(pg_connect(conninfo, &s, NULL, &conn, &e), -ETIMEDOUT);
	usec_t took = now_usec(CLOCK_MONOTONIC) - start;
	ck_assert_uint_ge(took, 500 * USEC_PER_MSEC);
	ck_assert_uint_lt(took, 2 * USEC_PER_SEC);
	ck_assert_ptr_null(conn);
	ck_assert_int_eq(e.kind, PG_ERROR_CONNECT_FAILED);
	ck_assert_str_eq(e.message, "no connection within connect_timeout (500 ms)");
	pg_error_done(&e);
}
END_TEST

START_TEST(test_connect_is_cancelled_by_the_cancel_fd)
{
	_cleanup_free_ char *dir = temp_dir(), *conninfo = NULL;
	_cleanup_close_ int server = silent_server(dir, 5432);
	PgSessionSettings s = {.application_name = "t", .connect_timeout = 30 * USEC_PER_SEC};
	int p[2];
	PGconn *conn = NULL;
	PgError e = {};

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	PgWaitHooks hooks = {.cancel_fd = p[0]};
	ck_assert_int_ge(asprintf(&conninfo, "host=%s port=5432 dbname=x", dir), 0);
	ck_assert_int_eq(pg_connect(conninfo, &s, &hooks, &conn, &e), -ECANCELED);
	ck_assert_ptr_null(conn);
	ck_assert_int_eq(e.kind, PG_ERROR_CANCELED);
	pg_error_done(&e);
	close(p[0]);
	close(p[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pg");
	TCase *tc = tcase_create("pg");

	tcase_add_test(tc, test_mask_hides_the_password_of_key_value_pairs);
	tcase_add_test(tc, test_secrets_list_the_password_raw_url_encoded_and_quoted);
	tcase_add_test(tc, test_mask_hides_the_password_of_a_uri);
	tcase_add_test(tc, test_mask_refuses_what_libpq_cannot_parse);
	tcase_add_test(tc, test_masked_values_with_spaces_and_quotes_stay_parseable);
	tcase_add_test(tc, test_url_carries_every_parameter_with_our_application_name_and_options);
	tcase_add_test(tc, test_url_puts_the_conninfo_options_before_ours);
	tcase_add_test(tc, test_url_keeps_a_password_without_a_user);
	tcase_add_test(tc, test_session_options_are_milliseconds_rounded_up);
	tcase_add_test(tc, test_errors_are_classified_by_sqlstate);
	tcase_add_test(tc, test_a_translated_57014_without_our_cancel_counts_as_statement_timeout);
	tcase_add_test(tc, test_error_kinds_have_names);
	tcase_add_test(tc, test_error_set_and_done);
	tcase_add_test(tc, test_literal_conninfo_is_used_as_is);
	tcase_add_test(tc, test_conninfo_env_reads_the_variable_and_names_it_when_unset);
	tcase_add_test(tc, test_conninfo_file_is_read_whole_and_trimmed);
	tcase_add_test(tc, test_conninfo_file_readable_by_others_is_refused);
	tcase_add_test(tc, test_conninfo_file_too_large_empty_or_binary_is_refused);
	tcase_add_test(tc, test_credential_is_read_from_the_credentials_directory);
	tcase_add_test(tc, test_credential_names_with_a_slash_or_without_the_directory_are_refused);
	tcase_add_test(tc, test_wait_hooks_are_cancelled_once_the_fd_is_readable);
	tcase_add_test(tc, test_connect_refuses_an_unparseable_conninfo_without_quoting_it);
	tcase_add_test(tc, test_connect_fails_with_libpq_message_when_nothing_listens);
	tcase_add_test(tc, test_connect_gives_up_after_connect_timeout);
	tcase_add_test(tc, test_connect_is_cancelled_by_the_cancel_fd);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
