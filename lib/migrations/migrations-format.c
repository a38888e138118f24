/* Migration file layouts of deployd, dbmate, golang-migrate and Flyway: file names, versions
 * and how they compare (migrations.h). */
#include <string.h>

#include "migrations.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* One part of a version: [p, p+len) without its leading zeros ("0" stays "0"). */
static void part_trim(const char **p, size_t *len)
{
	while (*len > 1 && **p == '0') {
		(*p)++;
		(*len)--;
	}
}

int migrations_version_compare(const char *a, const char *b)
{
	/* Part by part as numbers of any length; a missing part is 0. */
	while (*a || *b) {
		size_t la = strcspn(a, "."), lb = strcspn(b, ".");
		const char *pa = la ? a : "0", *pb = lb ? b : "0";
		size_t ta = la ?: 1, tb = lb ?: 1;
		int c;

		part_trim(&pa, &ta);
		part_trim(&pb, &tb);
		if (ta != tb)
			return ta < tb ? -1 : 1;
		c = memcmp(pa, pb, ta);
		if (c != 0)
			return c < 0 ? -1 : 1;
		a += la + (a[la] == '.');
		b += lb + (b[lb] == '.');
	}
	return 0;
}

bool migrations_version_is_valid(const char *s)
{
	size_t len = strlen(s), part = 0;

	if (len == 0 || len > MIGRATIONS_VERSION_MAX)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (part == 0)
				return false;
			part = 0;
		} else if (is_digit(*p))
			part++;
		else
			return false;
	}
	return part > 0;
}

/* The normalized version of text [p, end): parts of digits separated by one of seps, leading
 * zeros dropped, joined by '.'.  -EINVAL when it is not such a version, or is all zeros. */
static int version_normalize(const char *p, const char *end, const char *seps, char **ret)
{
	char buf[MIGRATIONS_VERSION_MAX + 1];
	size_t n = 0;
	bool nonzero = false;

	if (p == end || (size_t)(end - p) > MIGRATIONS_VERSION_MAX)
		return -EINVAL;
	while (p < end) {
		const char *q = p;
		while (q < end && is_digit(*q))
			q++;
		if (q == p)
			return -EINVAL;
		size_t len = (size_t)(q - p);
		part_trim(&p, &len);
		if (len > 1 || *p != '0')
			nonzero = true;
		if (n > 0)
			buf[n++] = '.';
		memcpy(buf + n, p, len);
		n += len;
		p = q;
		if (p < end) {
			if (!strchr(seps, *p) || p + 1 == end)
				return -EINVAL;
			p++;
		}
	}
	if (!nonzero)
		return -EINVAL;
	buf[n] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
	       c == '.' || c == '-';
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* VERSION_NAME up to end (VERSION digits): deployd, dbmate and golang-migrate. */
static int parse_digits_name(const char *filename, const char *end, char **ret_version,
			     char **ret_name)
{
	_cleanup_free_ char *version = NULL;
	const char *p = filename;
	int r;

	while (p < end && is_digit(*p))
		p++;
	if (p == filename || p >= end || *p != '_')
		return -EINVAL;
	r = version_normalize(filename, p, "", &version);
	if (r < 0)
		return r;
	const char *name = p + 1;
	if (name >= end)
		return -EINVAL;
	for (const char *q = name; q < end; q++)
		if (!is_name_char(*q))
			return -EINVAL;
	char *copy = strndup(name, (size_t)(end - name));
	if (!copy)
		return -ENOMEM;
	*ret_version = TAKE_PTR(version);
	*ret_name = copy;
	return 1;
}

/* V<VERSION>__<NAME> up to end. */
static int parse_flyway(const char *filename, const char *end, char **ret_version, char **ret_name,
			const char **ret_reason)
{
	_cleanup_free_ char *version = NULL;
	const char *sep;
	int r;

	if (filename[0] == 'R' && strncmp(filename + 1, "__", 2) == 0) {
		*ret_reason = "a Flyway repeatable migration (R__): deployd runs each migration "
			      "once; make it a versioned V<VERSION>__<NAME>.sql file";
		return -EINVAL;
	}
	if (filename[0] == 'U' && is_digit(filename[1])) {
		*ret_reason = "a Flyway undo migration (U<VERSION>__): deployd does not undo; "
			      "move it out of the directory";
		return -EINVAL;
	}
	*ret_reason = "expected V<VERSION>__<NAME>.sql: VERSION digits in parts separated by "
		      "'.' or '_', NAME of letters, digits, '_', '.', '-'";
	if (filename[0] != 'V')
		return -EINVAL;
	sep = strstr(filename + 1, "__");
	if (!sep || sep >= end)
		return -EINVAL;
	r = version_normalize(filename + 1, sep, "._", &version);
	if (r < 0)
		return r;
	const char *name = sep + 2;
	if (name >= end)
		return -EINVAL;
	for (const char *q = name; q < end; q++)
		if (!is_name_char(*q))
			return -EINVAL;
	char *copy = strndup(name, (size_t)(end - name));
	if (!copy)
		return -ENOMEM;
	*ret_version = TAKE_PTR(version);
	*ret_name = copy;
	return 1;
}

int migrations_filename_parse(MigrationsFormat format, const char *filename, char **ret_version,
			      char **ret_name, const char **ret_reason)
{
	const char *reason = NULL, *end = filename + strlen(filename);
	int r;

	if (filename[0] == '.' || !ends_with(filename, ".sql"))
		return 0;
	switch (format) {
	case MIGRATIONS_FORMAT_DEPLOYD:
	case MIGRATIONS_FORMAT_DBMATE:
		reason = "expected VERSION_NAME.sql: VERSION a positive integer, NAME of letters, "
			 "digits, '_', '.', '-'";
		r = parse_digits_name(filename, end - strlen(".sql"), ret_version, ret_name);
		break;
	case MIGRATIONS_FORMAT_GOLANG_MIGRATE:
		if (ends_with(filename, ".down.sql"))
			return 0;
		reason = "expected VERSION_NAME.up.sql (or .down.sql, ignored): VERSION a "
			 "positive integer, NAME of letters, digits, '_', '.', '-'";
		r = ends_with(filename, ".up.sql")
			    ? parse_digits_name(filename, end - strlen(".up.sql"), ret_version,
						ret_name)
			    : -EINVAL;
		break;
	case MIGRATIONS_FORMAT_FLYWAY:
		r = parse_flyway(filename, end - strlen(".sql"), ret_version, ret_name, &reason);
		break;
	default:
		return -EINVAL;
	}
	if (r == -EINVAL && ret_reason)
		*ret_reason = reason;
	return r;
}
