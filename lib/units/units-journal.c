#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-messages.h>

#include "strv.h"
#include "units-internal.h"

/* Longest MESSAGE kept, in bytes (a service may log lines of many KiB). */
#define LINE_MAX_BYTES 512

/* The unit's own processes, or its manager speaking about it.  A user's units are told apart
 * from other users' units of the same name by the manager owner's uid; the system manager is
 * PID 1. */
static int add_unit_matches(const UnitsManager *m, sd_journal *j, const char *unit)
{
	_cleanup_free_ char *own = NULL, *about = NULL, *owner = NULL;
	bool user = m->which == UNITS_BUS_USER;
	int r;

	if (asprintf(&own, "%s=%s", user ? "_SYSTEMD_USER_UNIT" : "_SYSTEMD_UNIT", unit) < 0 ||
	    asprintf(&about, "%s=%s", user ? "USER_UNIT" : "UNIT", unit) < 0 ||
	    asprintf(&owner, "_UID=%u", (unsigned)m->owner_uid) < 0)
		return -ENOMEM;
	const char *manager = user ? owner : "_PID=1";

	r = sd_journal_add_match(j, own, 0);
	if (r >= 0 && user)
		r = sd_journal_add_match(j, owner, 0);
	if (r >= 0)
		r = sd_journal_add_disjunction(j);
	if (r >= 0)
		r = sd_journal_add_match(j, about, 0);
	if (r >= 0)
		r = sd_journal_add_match(j, manager, 0);
	return r;
}

/* The value of field in the current entry, not NUL-terminated. */
static bool get_field(sd_journal *j, const char *field, const char **ret, size_t *ret_len)
{
	const void *data;
	size_t len, flen = strlen(field);

	if (sd_journal_get_data(j, field, &data, &len) < 0 || len <= flen)
		return false;
	*ret = (const char *)data + flen + 1;
	*ret_len = len - flen - 1;
	return true;
}

/* The length of the well-formed UTF-8 sequence at s, 0 when there is none. */
static size_t utf8_sequence_length(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp, min;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Appends text to out as one printable UTF-8 line: control characters become spaces,
 * bytes that are not UTF-8 '?', and it stops at a character boundary near max bytes. */
static void append_printable(FILE *out, const char *text, size_t len, size_t max)
{
	const unsigned char *s = (const unsigned char *)text;

	for (size_t i = 0, written = 0; i < len && written < max;) {
		size_t n = utf8_sequence_length(s + i, len - i);

		if (n == 0) {
			fputc('?', out);
			n = 1;
		} else if (n == 1 && (s[i] < 0x20 || s[i] == 0x7f))
			fputc(' ', out);
		else
			fwrite(s + i, 1, n, out);
		i += n;
		written += n;
	}
}

static int printable_copy(const char *text, size_t len, size_t max, char **ret)
{
	char *copy = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&copy, &size);

	if (!out)
		return -ENOMEM;
	append_printable(out, text, len, max);
	if (fclose(out) != 0) {
		free(copy);
		return -ENOMEM;
	}
	*ret = copy;
	return 0;
}

/* "IDENTIFIER[PID]: MESSAGE", as journalctl shows an entry without time and host. */
static int format_line(sd_journal *j, char **ret)
{
	_cleanup_free_ char *line = NULL;
	size_t size = 0, len, plen = 0;
	const char *text, *pid = NULL;
	FILE *out = open_memstream(&line, &size);

	if (!out)
		return -ENOMEM;
	if (get_field(j, "SYSLOG_IDENTIFIER", &text, &len) || get_field(j, "_COMM", &text, &len))
		append_printable(out, text, len, 64);
	else
		fputc('?', out);
	if (get_field(j, "SYSLOG_PID", &pid, &plen) || get_field(j, "_PID", &pid, &plen)) {
		fputc('[', out);
		append_printable(out, pid, plen, 16);
		fputc(']', out);
	}
	fputs(": ", out);
	if (get_field(j, "MESSAGE", &text, &len))
		append_printable(out, text, len, LINE_MAX_BYTES);
	if (fclose(out) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(line);
	return 0;
}

static bool entry_is_failure_record(sd_journal *j)
{
	const char *id;
	size_t len;

	return get_field(j, "MESSAGE_ID", &id, &len) &&
	       len == strlen(SD_MESSAGE_UNIT_FAILURE_RESULT_STR) &&
	       memcmp(id, SD_MESSAGE_UNIT_FAILURE_RESULT_STR, len) == 0;
}

/* Reads back from the newest entry to since: up to n lines, newest first, and the
 * UNIT_RESULT of the newest failure record.  Returns whether a failure record was seen. */
static int collect(sd_journal *j, usec_t since, size_t n, char ***ret_lines, char **ret_unit_result)
{
	_cleanup_strv_free_ char **lines = NULL;
	_cleanup_free_ char *unit_result = NULL;
	bool seen = false;
	size_t count = 0;
	int r;

	r = sd_journal_seek_tail(j);
	if (r < 0)
		return r;
	while ((r = sd_journal_previous(j)) > 0) {
		usec_t t;

		if (sd_journal_get_realtime_usec(j, &t) < 0 || t < since)
			break;
		if (!seen && entry_is_failure_record(j)) {
			const char *value;
			size_t len;

			seen = true;
			if (get_field(j, "UNIT_RESULT", &value, &len)) {
				r = printable_copy(value, len, 64, &unit_result);
				if (r < 0)
					return r;
			}
		}
		if (count < n) {
			char *line;

			r = format_line(j, &line);
			if (r >= 0)
				r = strv_push(&lines, line);
			if (r < 0)
				return r;
			count++;
		}
	}
	if (r < 0)
		return r;

	*ret_lines = TAKE_PTR(lines);
	*ret_unit_result = TAKE_PTR(unit_result);
	return seen;
}

/* Waits for the journal to change, the deadline to pass or cancel_fd to become readable. */
static int journal_poll(sd_journal *j, usec_t deadline, int cancel_fd)
{
	usec_t now = now_usec(CLOCK_MONOTONIC), until = deadline, journal_until;
	int fd, events;

	if (now >= deadline)
		return -ETIMEDOUT;
	fd = sd_journal_get_fd(j);
	if (fd < 0)
		return fd;
	events = sd_journal_get_events(j);
	if (events < 0)
		return events;
	if (sd_journal_get_timeout(j, &journal_until) >= 0 && journal_until < until)
		until = journal_until;

	struct pollfd fds[2] = {
		{.fd = fd, .events = (short)events},
		{.fd = cancel_fd, .events = POLLIN},
	};
	usec_t left = until > now ? until - now : 0;
	struct timespec ts = {.tv_sec = left / USEC_PER_SEC,
			      .tv_nsec = (left % USEC_PER_SEC) * 1000};

	if (ppoll(fds, cancel_fd >= 0 ? 2 : 1, until == USEC_INFINITY ? NULL : &ts, NULL) < 0)
		return errno == EINTR ? 0 : -errno;
	if (cancel_fd >= 0 && fds[1].revents)
		return -ECANCELED;
	return sd_journal_process(j);
}

static void strv_reverse(char **l)
{
	for (size_t i = 0, n = strv_length(l); i < n / 2; i++) {
		char *t = l[i];
		l[i] = l[n - 1 - i];
		l[n - 1 - i] = t;
	}
}

int units_journal_tail(const UnitsManager *m, const char *unit, usec_t since,
		       bool await_failure_record, usec_t deadline, int cancel_fd, size_t n,
		       char ***ret_lines, char **ret_unit_result)
{
	_cleanup_(sd_journal_closep) sd_journal *j = NULL;
	int r;

	r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0)
		return r;
	r = add_unit_matches(m, j, unit);
	if (r < 0)
		return r;
	/* Watching must begin before the first read, or a change in between is missed. */
	if (await_failure_record) {
		r = sd_journal_get_fd(j);
		if (r < 0)
			return r;
	}

	for (;;) {
		_cleanup_strv_free_ char **lines = NULL;
		_cleanup_free_ char *unit_result = NULL;

		r = collect(j, since, n, &lines, &unit_result);
		if (r < 0)
			return r;
		/* The manager logs the failure before it reports the job, but the journal may
		 * not have stored that record yet: wait for it a little. */
		if (r > 0 || !await_failure_record) {
			strv_reverse(lines);
			*ret_lines = TAKE_PTR(lines);
			*ret_unit_result = TAKE_PTR(unit_result);
			return 0;
		}
		r = journal_poll(j, deadline, cancel_fd);
		if (r == -ETIMEDOUT)
			await_failure_record = false;
		else if (r < 0)
			return r;
	}
}
