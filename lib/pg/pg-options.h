/* pg-options.h — what a caller tells the database layer: where the conninfo comes from and
 * the settings a session runs with.
 *
 * pg_conninfo_resolve() reads the conninfo from its source; pg_conninfo_mask() is the only form
 * in which a conninfo is ever shown (passwords replaced); pg_conninfo_to_url() is the form a
 * migration command gets.  No libpq types here, so the plan format can use these types without
 * pulling in libpq. */
#pragma once

#include <stdbool.h>

#include "time-util.h"

/* Longest conninfo accepted from a file or a credential. */
#define PG_CONNINFO_FILE_MAX (64 * 1024)

/* Where a conninfo comes from. */
typedef enum PgConninfoSource {
	PG_CONNINFO_LITERAL,	/* the string itself */
	PG_CONNINFO_ENV,	/* the value of an environment variable */
	PG_CONNINFO_FILE,	/* the contents of a file */
	PG_CONNINFO_CREDENTIAL, /* a file in $CREDENTIALS_DIRECTORY */
} PgConninfoSource;

/* Resolves value (per source: the conninfo, variable, path or credential name) to the
 * conninfo itself.  A file or credential is read whole (at most PG_CONNINFO_FILE_MAX bytes, no NUL)
 * and trimmed of surrounding whitespace; a conninfo_file readable or writable by others is refused;
 * a credential name must be a plain file name and $CREDENTIALS_DIRECTORY an absolute path.  On
 * failure *ret_error says why. */
int pg_conninfo_resolve(PgConninfoSource source, const char *value, char **ret, char **ret_error);
/* The conninfo (key=value or URI) as key=value pairs with password and sslpassword replaced by
 * "********".  -EINVAL when libpq cannot parse it (show nothing of it then). */
int pg_conninfo_mask(const char *conninfo, char **ret);
/* Every form in which the conninfo's password and sslpassword could show in a program's output,
 * for redaction (text-redact.h): the raw value, percent-encoded (as in DATABASE_URL, upper- and
 * lower-case hex) and escaped as between quotes in a password='…' pair.  An empty list when
 * there is no password; -EINVAL when libpq cannot parse the conninfo. */
int pg_conninfo_secrets(const char *conninfo, char ***ret);
/* A postgresql:// URI for DATABASE_URL: the conninfo's parameters with application_name set
 * to application_name and options extended by extra_options (which win). */
int pg_conninfo_to_url(const char *conninfo, const char *application_name,
		       const char *extra_options, char **ret);

typedef struct PgSessionSettings {
	const char *application_name;
	usec_t connect_timeout;			    /* 0 = wait as long as it takes */
	usec_t lock_timeout;			    /* 0 = off */
	usec_t statement_timeout;		    /* 0 = off */
	usec_t idle_in_transaction_session_timeout; /* 0 = off */
	bool read_only;				    /* default_transaction_read_only */
} PgSessionSettings;

/* "-c lock_timeout=… -c statement_timeout=… -c idle_in_transaction_session_timeout=…
 * -c client_connection_check_interval=…" (milliseconds): the options pg_connect() uses, and
 * PGOPTIONS for a migration command. */
int pg_session_options(const PgSessionSettings *s, char **ret);
