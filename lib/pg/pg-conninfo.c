/* Conninfo: where it comes from, how it is shown, how a migration command gets it (pg.h).
 * Every conninfo is parsed by libpq (PQconninfoParse), never here. */
#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "name-rules.h"
#include "pg.h"
#include "strv.h"

#define MASKED_SECRET "********"

static void set_error(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static void set_error(char **ret_error, const char *fmt, ...)
{
	va_list ap;

	if (!ret_error)
		return;
	va_start(ap, fmt);
	if (vasprintf(ret_error, fmt, ap) < 0)
		*ret_error = NULL;
	va_end(ap);
}

static bool is_secret_keyword(const char *keyword)
{
	return strcmp(keyword, "password") == 0 || strcmp(keyword, "sslpassword") == 0;
}

/* Reads a small file holding a conninfo: whole, no NUL, trimmed.  what names it in messages. */
static int read_conninfo_file(int dir_fd, const char *path, bool refuse_others, const char *what,
			      char **ret, char **ret_error)
{
	_cleanup_close_ int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t size = 0;

	if (fd < 0) {
		int r = -errno;
		set_error(ret_error, "%s: %s", what, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		set_error(ret_error, "%s: %s", what, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		set_error(ret_error, "%s: not a regular file", what);
		return -EINVAL;
	}
	if (refuse_others && (st.st_mode & (S_IROTH | S_IWOTH))) {
		set_error(ret_error,
			  "%s: readable or writable by others (mode %04o); it may hold a password, "
			  "so deployd refuses it (chmod o-rwx)",
			  what, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	buf = malloc(PG_CONNINFO_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	/* Read one byte more than allowed to notice a file that grew past the limit. */
	for (;;) {
		ssize_t n = read(fd, buf + size, PG_CONNINFO_FILE_MAX + 1 - size);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			set_error(ret_error, "%s: %s", what, strerror(-r));
			return r;
		}
		if (n == 0)
			break;
		size += (size_t)n;
		if (size > PG_CONNINFO_FILE_MAX) {
			set_error(ret_error, "%s: larger than %d bytes", what,
				  PG_CONNINFO_FILE_MAX);
			return -EFBIG;
		}
	}
	if (memchr(buf, '\0', size)) {
		set_error(ret_error, "%s: contains a NUL byte", what);
		return -EINVAL;
	}
	while (size > 0 && isspace((unsigned char)buf[size - 1]))
		size--;
	buf[size] = '\0';
	size_t start = strspn(buf, " \t\r\n\f\v");
	if (buf[start] == '\0') {
		set_error(ret_error, "%s: empty", what);
		return -EINVAL;
	}
	char *conninfo = strdup(buf + start);
	if (!conninfo)
		return -ENOMEM;
	*ret = conninfo;
	return 0;
}

int pg_conninfo_resolve(PgConninfoSource kind, const char *source, char **ret, char **ret_error)
{
	char *conninfo;

	if (!source) {
		set_error(ret_error, "no conninfo given");
		return -EINVAL;
	}
	switch (kind) {
	case PG_CONNINFO_LITERAL:
		conninfo = strdup(source);
		if (!conninfo)
			return -ENOMEM;
		*ret = conninfo;
		return 0;

	case PG_CONNINFO_ENV: {
		const char *value = getenv(source);
		if (!value || value[0] == '\0') {
			set_error(ret_error, "conninfo_env: environment variable %s is %s", source,
				  value ? "empty" : "not set");
			return -ENOENT;
		}
		conninfo = strdup(value);
		if (!conninfo)
			return -ENOMEM;
		*ret = conninfo;
		return 0;
	}

	case PG_CONNINFO_FILE: {
		_cleanup_free_ char *what = NULL;
		if (asprintf(&what, "conninfo_file %s", source) < 0)
			return -ENOMEM;
		return read_conninfo_file(AT_FDCWD, source, true, what, ret, ret_error);
	}

	case PG_CONNINFO_CREDENTIAL: {
		const char *dir = getenv("CREDENTIALS_DIRECTORY");
		_cleanup_free_ char *what = NULL;
		_cleanup_close_ int dir_fd = -EBADF;

		if (!credential_name_is_valid(source)) {
			set_error(ret_error, "credential '%s': not a valid credential name",
				  source);
			return -EINVAL;
		}
		if (!dir || dir[0] != '/') {
			set_error(
				ret_error,
				"credential %s: $CREDENTIALS_DIRECTORY is %s (pass the credential "
				"with LoadCredential= or SetCredential= in the service)",
				source, dir ? "not an absolute path" : "not set");
			return -ENOENT;
		}
		if (asprintf(&what, "credential %s", source) < 0)
			return -ENOMEM;
		dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dir_fd < 0) {
			int r = -errno;
			set_error(ret_error, "%s: $CREDENTIALS_DIRECTORY %s: %s", what, dir,
				  strerror(-r));
			return r;
		}
		/* systemd guards the credentials directory; its files may be group-readable. */
		return read_conninfo_file(dir_fd, source, false, what, ret, ret_error);
	}
	}
	set_error(ret_error, "unknown conninfo source");
	return -EINVAL;
}

/* Appends value in conninfo syntax: bare when it can be, else single-quoted with \ and '
 * escaped. */
static void put_conninfo_value(FILE *f, const char *value)
{
	if (value[0] != '\0' && !strpbrk(value, " \t\r\n\f\v'\\")) {
		fputs(value, f);
		return;
	}
	fputc('\'', f);
	for (const char *p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('\'', f);
}

/* Closes a memstream and hands its buffer over. */
static int memstream_finish(FILE **f, char **buf, char **ret)
{
	bool failed = ferror(*f);

	if (fclose(*f) != 0)
		failed = true;
	*f = NULL;
	if (failed) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	*ret = *buf;
	*buf = NULL;
	return 0;
}

int pg_conninfo_mask(const char *conninfo, char **ret)
{
	_cleanup_(PQconninfoFreep) PQconninfoOption *options = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	bool first = true;
	char *errmsg = NULL;

	options = PQconninfoParse(conninfo, &errmsg);
	if (!options) {
		/* libpq's message may quote part of the conninfo, password included. */
		PQfreemem(errmsg);
		return -EINVAL;
	}
	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	for (PQconninfoOption *o = options; o->keyword; o++) {
		if (!o->val)
			continue;
		fprintf(f, "%s%s=", first ? "" : " ", o->keyword);
		put_conninfo_value(f, is_secret_keyword(o->keyword) ? MASKED_SECRET : o->val);
		first = false;
	}
	return memstream_finish(&f, &buf, ret);
}

/* Percent-encodes everything but RFC 3986's unreserved characters. */
static void put_url_encoded(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (isalnum(*p) || strchr("-._~", *p))
			fputc(*p, f);
		else
			fprintf(f, "%%%02X", *p);
}

static void put_url_parameter(FILE *f, bool *first, const char *keyword, const char *value)
{
	fputc(*first ? '?' : '&', f);
	put_url_encoded(f, keyword);
	fputc('=', f);
	put_url_encoded(f, value);
	*first = false;
}

int pg_conninfo_to_url(const char *conninfo, const char *application_name,
		       const char *extra_options, char **ret)
{
	_cleanup_(PQconninfoFreep) PQconninfoOption *options = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *buf = NULL, *merged_options = NULL;
	const char *user = NULL, *password = NULL, *dbname = NULL, *own_options = NULL;
	size_t size = 0;
	bool first = true;
	char *errmsg = NULL;

	options = PQconninfoParse(conninfo, &errmsg);
	if (!options) {
		PQfreemem(errmsg);
		return -EINVAL;
	}
	for (PQconninfoOption *o = options; o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "user") == 0)
			user = o->val;
		else if (strcmp(o->keyword, "password") == 0)
			password = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			dbname = o->val;
		else if (strcmp(o->keyword, "options") == 0)
			own_options = o->val;
	}
	if (own_options && extra_options) {
		if (asprintf(&merged_options, "%s %s", own_options, extra_options) < 0)
			return -ENOMEM;
	}

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	/* Host and port go in the query: a socket directory is no URI host, and a query
	 * parameter takes every form libpq accepts (lists, paths). */
	fputs("postgresql://", f);
	if (user || password) {
		put_url_encoded(f, user ?: "");
		if (password) {
			fputc(':', f);
			put_url_encoded(f, password);
		}
		fputc('@', f);
	}
	fputc('/', f);
	if (dbname)
		put_url_encoded(f, dbname);
	for (PQconninfoOption *o = options; o->keyword; o++) {
		if (!o->val || strcmp(o->keyword, "user") == 0 ||
		    strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "dbname") == 0 ||
		    strcmp(o->keyword, "options") == 0 ||
		    strcmp(o->keyword, "application_name") == 0)
			continue;
		put_url_parameter(f, &first, o->keyword, o->val);
	}
	if (application_name)
		put_url_parameter(f, &first, "application_name", application_name);
	if (merged_options || own_options || extra_options)
		put_url_parameter(f, &first, "options",
				  merged_options ?: own_options ?: extra_options);
	return memstream_finish(&f, &buf, ret);
}

/* Adds s to *list unless it is empty or there already. */
static int secrets_add(char ***list, const char *s)
{
	if (s[0] == '\0' || strv_contains(*list, s))
		return 0;
	return strv_extend(list, s);
}

/* One form of value written by put(): a percent-encoding or a quoted conninfo value. */
static int secrets_add_form(char ***list, const char *value, void (*put)(FILE *, const char *))
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *buf = NULL, *form = NULL;
	size_t size = 0;
	int r;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	put(f, value);
	r = memstream_finish(&f, &buf, &form);
	if (r < 0)
		return r;
	return secrets_add(list, form);
}

static void put_url_encoded_lower(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (isalnum(*p) || strchr("-._~", *p))
			fputc(*p, f);
		else
			fprintf(f, "%%%02x", *p);
}

/* The value as between quotes in a key=value conninfo: backslashes before ' and \. */
static void put_quoted_inner(FILE *f, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\'' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
}

int pg_conninfo_secrets(const char *conninfo, char ***ret)
{
	_cleanup_(PQconninfoFreep) PQconninfoOption *options = NULL;
	_cleanup_strv_free_ char **list = NULL;
	char *errmsg = NULL;
	int r;

	options = PQconninfoParse(conninfo, &errmsg);
	if (!options) {
		PQfreemem(errmsg);
		return -EINVAL;
	}
	for (PQconninfoOption *o = options; o->keyword; o++) {
		if (!o->val || !is_secret_keyword(o->keyword))
			continue;
		if ((r = secrets_add(&list, o->val)) < 0 ||
		    (r = secrets_add_form(&list, o->val, put_url_encoded)) < 0 ||
		    (r = secrets_add_form(&list, o->val, put_url_encoded_lower)) < 0 ||
		    (r = secrets_add_form(&list, o->val, put_quoted_inner)) < 0)
			return r;
	}
	if (!list && !(list = calloc(1, sizeof(char *))))
		return -ENOMEM;
	*ret = TAKE_PTR(list);
	return 0;
}
