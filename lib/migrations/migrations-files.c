/* Migration files: names, directives, checksums, discovery, text positions (migrations.h). */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <nettle/base16.h>
#include <nettle/sha2.h>

#include "duration.h"
#include "migrations.h"
#include "name-rules.h"
#include "strv.h"
#include "text-sanitize.h"
#include "utf8.h"

#define DIRECTIVE_PREFIX "deployd:"

/* The message names file names and quotes directive text, any bytes a directory entry or
 * a file may hold: it is made one line of valid UTF-8 without control characters. */
static int fail(char **ret_error, int error, const char *fmt, ...) _printf_(3, 4);
static int fail(char **ret_error, int error, const char *fmt, ...)
{
	_cleanup_free_ char *raw = NULL;
	va_list ap;

	if (ret_error) {
		va_start(ap, fmt);
		if (vasprintf(&raw, fmt, ap) < 0)
			raw = NULL;
		va_end(ap);
		if (!raw || text_sanitize(raw, 0, 0, ret_error) < 0)
			*ret_error = NULL;
	}
	return error;
}

int migrations_checksum(const void *data, size_t size, char ret[static MIGRATIONS_CHECKSUM_HEX + 1])
{
	struct sha256_ctx ctx;
	uint8_t md[SHA256_DIGEST_SIZE];

	sha256_init(&ctx);
	sha256_update(&ctx, size, data);
	sha256_digest(&ctx, sizeof(md), md);
	base16_encode_update(ret, sizeof(md), md);
	ret[BASE16_ENCODE_LENGTH(sizeof(md))] = '\0';
	return 0;
}

unsigned migrations_line_of_offset(const char *text, size_t size, size_t offset)
{
	unsigned line = 1;

	if (offset > size)
		offset = size;
	for (size_t i = 0; i < offset; i++)
		if (text[i] == '\n')
			line++;
	/* Past the last newline of the text there is no line: name the last one. */
	if (offset == size && size > 0 && text[size - 1] == '\n')
		line--;
	return line;
}

unsigned migrations_line_of_position(const char *text, size_t size, unsigned position,
				     bool position_counts_bytes)
{
	size_t chars = 0;

	if (position == 0)
		return 0;
	for (size_t i = 0; i < size; i++) {
		/* A character starts at every byte that is not a UTF-8 continuation byte. */
		if (position_counts_bytes || ((unsigned char)text[i] & 0xC0) != 0x80)
			chars++;
		if (chars == position)
			return migrations_line_of_offset(text, size, i);
	}
	return migrations_line_of_offset(text, size, size);
}

unsigned migrations_column_of_position(const char *text, size_t size, unsigned position,
				       bool position_counts_bytes)
{
	size_t chars = 0;
	unsigned column = 0;

	if (position == 0)
		return 0;
	for (size_t i = 0; i < size; i++) {
		if (!position_counts_bytes && ((unsigned char)text[i] & 0xC0) == 0x80)
			continue;
		chars++;
		column++;
		if (chars == position)
			return column;
		if (text[i] == '\n')
			column = 0;
	}
	return column + 1;
}

/* One "-- deployd: …" line's directives, from its text after the prefix. */
static int parse_directive_line(const char *path, unsigned line, const char *text, size_t len,
				MigrationDirectives *d, char **ret_error)
{
	_cleanup_free_ char *copy = strndup(text, len);
	char *save = NULL;
	unsigned n = 0;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, " \t\r", &save); tok;
	     tok = strtok_r(NULL, " \t\r", &save)) {
		const char *value = strchr(tok, '=');
		size_t key_len = value ? (size_t)(value - tok) : strlen(tok);
		bool *set;
		usec_t *target;

		n++;
		if (!value && strcmp(tok, "no-transaction") == 0) {
			if (d->no_transaction)
				return fail(ret_error, -EINVAL,
					    "%s:%u: directive no-transaction repeated", path, line);
			d->no_transaction = true;
			continue;
		}
		if (value && key_len == strlen("lock_timeout") &&
		    strncmp(tok, "lock_timeout", key_len) == 0) {
			set = &d->set_lock_timeout;
			target = &d->lock_timeout;
		} else if (value && key_len == strlen("statement_timeout") &&
			   strncmp(tok, "statement_timeout", key_len) == 0) {
			set = &d->set_statement_timeout;
			target = &d->statement_timeout;
		} else
			return fail(ret_error, -EINVAL,
				    "%s:%u: unknown directive '%s' (known: no-transaction, "
				    "lock_timeout=DURATION, statement_timeout=DURATION)",
				    path, line, tok);
		if (*set)
			return fail(ret_error, -EINVAL, "%s:%u: directive %.*s repeated", path,
				    line, (int)key_len, tok);
		const char *reason = NULL;
		if (duration_parse(value + 1, target, &reason) < 0)
			return fail(ret_error, -EINVAL, "%s:%u: %.*s: '%s': %s", path, line,
				    (int)key_len, tok, value + 1, reason ?: "not a duration");
		*set = true;
	}
	if (n == 0)
		return fail(ret_error, -EINVAL, "%s:%u: '-- %s' without a directive", path, line,
			    DIRECTIVE_PREFIX);
	return 0;
}

/* The text after "-- deployd:" when line is a directive line, else NULL. */
static const char *directive_text(const char *line, const char *end)
{
	const char *p = line;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p < 2 || p[0] != '-' || p[1] != '-')
		return NULL;
	p += 2;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(end - p) < strlen(DIRECTIVE_PREFIX) ||
	    strncmp(p, DIRECTIVE_PREFIX, strlen(DIRECTIVE_PREFIX)) != 0)
		return NULL;
	return p + strlen(DIRECTIVE_PREFIX);
}

/* True for a line of only blanks or a "--" comment: such lines may precede directives. */
static bool is_header_line(const char *line, const char *end)
{
	const char *p = line;

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p == end || (end - p >= 2 && p[0] == '-' && p[1] == '-');
}

/* The directives of a file's text; errors name PATH:LINE. */
static int parse_directives(const char *path, const char *sql, size_t size,
			    MigrationDirectives *ret, char **ret_error)
{
	MigrationDirectives d = {};
	const char *p = sql, *end = sql + size;
	bool in_header = true;
	unsigned line = 0;
	int r;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ?: end;
		const char *text = directive_text(p, line_end);

		line++;
		if (in_header && !is_header_line(p, line_end))
			in_header = false;
		if (text) {
			if (!in_header)
				return fail(
					ret_error, -EINVAL,
					"%s:%u: directive after the first statement (directives "
					"go in the comment lines at the top of the file)",
					path, line);
			r = parse_directive_line(path, line, text, (size_t)(line_end - text), &d,
						 ret_error);
			if (r < 0)
				return r;
		}
		p = nl ? nl + 1 : end;
	}
	*ret = d;
	return 0;
}

/* The start of the line after the one holding p (or end). */
static const char *next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl ? nl + 1 : end;
}

/* When [line, end) starts a dbmate section marker "--\s*migrate:WHICH", the text after it. */
static const char *dbmate_marker(const char *line, const char *end, const char *which)
{
	const char *p = line;
	size_t len = strlen(which);

	if (end - p < 2 || p[0] != '-' || p[1] != '-')
		return NULL;
	p += 2;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(end - p) < strlen("migrate:") + len || strncmp(p, "migrate:", 8) != 0 ||
	    strncmp(p + 8, which, len) != 0)
		return NULL;
	p += 8 + len;
	/* "migrate:upgrade" is not the marker: a blank or the line's end must follow. */
	if (p < end && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
		return NULL;
	return p;
}

/* dbmate: only the "-- migrate:up" section runs.  Everything else but newlines is blanked in
 * sql (so lines and offsets stay the file's); "transaction:false" on the up line means
 * no-transaction.  Text outside both sections is refused, as dbmate refuses it. */
static int dbmate_select_up(const char *path, char *sql, size_t size, bool *ret_no_transaction,
			    char **ret_error)
{
	const char *end = sql + size, *up = NULL, *up_options = NULL, *down = NULL;
	unsigned line = 0, up_line = 0;
	bool before_first = true;

	for (const char *p = sql; p < end; p = next_line(p, end)) {
		const char *line_end = memchr(p, '\n', (size_t)(end - p)) ?: end;
		const char *o;

		line++;
		if (!up && (o = dbmate_marker(p, line_end, "up"))) {
			up = p;
			up_options = o;
			up_line = line;
			before_first = false;
		} else if (!down && dbmate_marker(p, line_end, "down")) {
			down = p;
			before_first = false;
		} else if (before_first && !is_header_line(p, line_end))
			return fail(ret_error, -EINVAL,
				    "%s:%u: a statement before the '-- migrate:up' section (dbmate "
				    "runs nothing outside its up and down sections)",
				    path, line);
	}
	if (!up)
		return fail(ret_error, -EINVAL,
			    "%s: no '-- migrate:up' line (a dbmate migration holds its up "
			    "section after that line)",
			    path);

	/* The up section: from its marker to the down marker after it, or the end. */
	const char *up_end = down && down > up ? down : end;
	const char *options_end = memchr(up_options, '\n', (size_t)(end - up_options)) ?: end;
	_cleanup_free_ char *options = strndup(up_options, (size_t)(options_end - up_options));
	char *save = NULL;
	bool no_transaction = false;

	if (!options)
		return -ENOMEM;
	for (char *tok = strtok_r(options, " \t\r", &save); tok;
	     tok = strtok_r(NULL, " \t\r", &save)) {
		if (strcmp(tok, "transaction:false") == 0)
			no_transaction = true;
		else if (strcmp(tok, "transaction:true") != 0)
			return fail(ret_error, -EINVAL,
				    "%s:%u: unknown dbmate option '%s' (known: transaction:false, "
				    "transaction:true)",
				    path, up_line, tok);
	}
	for (char *p = sql; p < end; p++)
		if ((p < up || p >= up_end) && *p != '\n')
			*p = ' ';
	*ret_no_transaction = no_transaction;
	return 0;
}

void migration_done(Migration *m)
{
	free(m->version);
	free(m->name);
	free(m->filename);
	free(m->path);
	free(m->sql);
	free(m->statements);
	*m = (Migration){};
}

void migrations_free(Migration *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		migration_done(&list[i]);
	free(list);
}

int migrations_parse(MigrationsFormat format, const char *path, const char *sql, size_t size,
		     Migration *ret, char **ret_error)
{
	_cleanup_(migration_done) Migration m = {};
	_cleanup_(sql_parse_error_done) SqlParseError perr = {};
	const char *slash = strrchr(path, '/');
	const char *filename = slash ? slash + 1 : path;
	const char *reason = NULL;
	bool dbmate_no_transaction = false;
	size_t bad;
	int r;

	r = migrations_filename_parse(format, filename, &m.version, &m.name, &reason);
	if (r < 0 && r != -EINVAL)
		return r;
	if (r <= 0)
		return fail(ret_error, -EINVAL, "%s: not a %s migration file name (%s)", path,
			    migrations_format_to_string(format) ?: "known",
			    reason ?: "not ending in .sql");
	if (memchr(sql, '\0', size))
		return fail(
			ret_error, -EINVAL, "%s:%u: contains a NUL byte", path,
			migrations_line_of_offset(
				sql, size, (size_t)((const char *)memchr(sql, '\0', size) - sql)));
	bad = utf8_find_invalid(sql, size);
	if (bad < size)
		return fail(ret_error, -EINVAL, "%s:%u: not valid UTF-8", path,
			    migrations_line_of_offset(sql, size, bad));

	r = migrations_checksum(sql, size, m.checksum);
	if (r < 0)
		return r;
	m.sql = malloc(size + 1);
	if (!m.sql)
		return -ENOMEM;
	memcpy(m.sql, sql, size);
	m.sql[size] = '\0';
	m.size = size;
	if (format == MIGRATIONS_FORMAT_DBMATE) {
		r = dbmate_select_up(path, m.sql, size, &dbmate_no_transaction, ret_error);
		if (r < 0)
			return r;
	}

	r = parse_directives(path, m.sql, size, &m.directives, ret_error);
	if (r < 0)
		return r;
	m.directives.no_transaction = m.directives.no_transaction || dbmate_no_transaction;
	/* Positions are of the text parsed (a dbmate file's up section, the rest blanked). */
	SqlKinds kinds = 0;
	r = sql_parse_statements(m.sql, &m.statements, &m.n_statements, &kinds, &perr);
	if (r == -EINVAL) {
		unsigned line = migrations_line_of_position(m.sql, size, perr.position, false);
		if (line == 0)
			return fail(ret_error, r, "%s: %s", path, perr.message);
		return fail(ret_error, r, "%s:%u:%u: %s", path, line,
			    migrations_column_of_position(m.sql, size, perr.position, false),
			    perr.message);
	}
	if (r == -ENOPKG)
		return fail(ret_error, r, "%s: %s", path, perr.message);
	if (r < 0)
		return r;
	m.parses_whole = true;
	m.drops_prepared = kinds & SQL_DROPS_PREPARED;
	if (m.directives.no_transaction && m.n_statements > 1)
		return fail(ret_error, -EINVAL,
			    "%s:%u: a no-transaction migration holds one statement; this is "
			    "the second (put it in a file of its own)",
			    path, migrations_line_of_offset(sql, size, m.statements[1].offset));
	for (size_t i = 0; !m.directives.no_transaction && i < m.n_statements; i++)
		if (m.statements[i].transaction_control)
			return fail(ret_error, -EINVAL,
				    "%s:%u: transaction control (%s) in a migration that runs in "
				    "its own transaction; remove it, or use '-- deployd: "
				    "no-transaction' for a statement that cannot run in one",
				    path,
				    migrations_line_of_offset(sql, size, m.statements[i].offset),
				    m.statements[i].verb);

	m.filename = strdup(filename);
	m.path = strdup(path);
	if (!m.filename || !m.path)
		return -ENOMEM;
	*ret = m;
	m = (Migration){};
	return 0;
}

static int read_file(int dir_fd, const char *name, const char *path, char **ret, size_t *ret_size,
		     char **ret_error)
{
	_cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t size = 0, allocated;

	if (fd < 0 || fstat(fd, &st) < 0) {
		int r = -errno;
		return fail(ret_error, r, "%s: %s", path, strerror(-r));
	}
	if (!S_ISREG(st.st_mode))
		return fail(ret_error, -EINVAL, "%s: not a regular file", path);
	if (st.st_size > MIGRATIONS_FILE_MAX)
		return fail(ret_error, -EFBIG, "%s: larger than %d MiB", path,
			    MIGRATIONS_FILE_MAX / (1024 * 1024));
	/* One byte more than the size stat saw, to notice a file still growing. */
	allocated = (size_t)st.st_size + 1;
	buf = malloc(allocated);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + size, allocated - size);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			return fail(ret_error, r, "%s: %s", path, strerror(-r));
		}
		if (n == 0)
			break;
		size += (size_t)n;
		if (size == allocated)
			return fail(ret_error, -EAGAIN, "%s: changed while being read", path);
	}
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int compare_versions(const void *a, const void *b)
{
	const Migration *x = a, *y = b;
	int c = migrations_version_compare(x->version, y->version);

	return c != 0 ? c : strcmp(x->filename, y->filename);
}

const Migration *migrations_find(const Migration *files, size_t n, const char *version)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = migrations_version_compare(files[mid].version, version);
		if (c == 0)
			return &files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int migrations_discover(MigrationsFormat format, const char *directory, Migration **ret,
			size_t *ret_n, char **ret_error)
{
	_cleanup_strv_free_ char **names = NULL;
	Migration *list = NULL;
	size_t n = 0;
	DIR *d;
	int r = 0;

	d = opendir(directory);
	if (!d) {
		r = -errno;
		return fail(ret_error, r, "%s: %s", directory, strerror(-r));
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *version = NULL, *name = NULL;
		/* What the format ignores (golang-migrate's down files) is never read. */
		r = migrations_filename_parse(format, de->d_name, &version, &name, NULL);
		if (r == 0)
			continue;
		if (r == -ENOMEM)
			break;
		r = strv_extend(&names, de->d_name);
		if (r < 0)
			break;
	}
	if (r < 0) {
		closedir(d);
		return fail(ret_error, r, "%s: %s", directory, strerror(-r));
	}
	/* Sorted, so that of several bad files the same one is named every time. */
	size_t n_names = strv_length(names);
	if (n_names > 0)
		qsort(names, n_names, sizeof(char *), compare_strings);

	list = calloc(n_names ?: 1, sizeof(Migration));
	if (!list) {
		closedir(d);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_names; i++) {
		_cleanup_free_ char *path = NULL, *sql = NULL;
		size_t size = 0;

		if (asprintf(&path, "%s%s%s", directory,
			     directory[strlen(directory) - 1] == '/' ? "" : "/", names[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		r = read_file(dirfd(d), names[i], path, &sql, &size, ret_error);
		if (r < 0)
			break;
		r = migrations_parse(format, path, sql, size, &list[n], ret_error);
		if (r < 0)
			break;
		n++;
	}
	closedir(d);
	if (r < 0) {
		migrations_free(list, n);
		return r;
	}

	if (n > 0)
		qsort(list, n, sizeof(Migration), compare_versions);
	for (size_t i = 1; i < n; i++)
		if (migrations_version_compare(list[i].version, list[i - 1].version) == 0) {
			r = fail(ret_error, -EEXIST, "%s: %s and %s have the same version %s",
				 directory, list[i - 1].filename, list[i].filename,
				 list[i].version);
			migrations_free(list, n);
			return r;
		}
	*ret = list;
	*ret_n = n;
	return 0;
}

int migrations_quote_table(const char *table, char **ret)
{
	const char *dot = strchr(table, '.');
	char *quoted;
	int r;

	if (!sql_table_name_is_valid(table))
		return -EINVAL;
	/* Identifiers of [A-Za-z0-9_] need no escaping inside double quotes. */
	if (dot)
		r = asprintf(&quoted, "\"%.*s\".\"%s\"", (int)(dot - table), table, dot + 1);
	else
		r = asprintf(&quoted, "\"%s\"", table);
	if (r < 0)
		return -ENOMEM;
	*ret = quoted;
	return 0;
}
