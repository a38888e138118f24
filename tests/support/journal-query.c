/* journal-query.c — see journal-query.h. */
#include "journal-query.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "cleanup.h"

static sd_journal *open_matching(const char *const *matches)
{
	sd_journal *j = NULL;

	ck_assert_int_ge(sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY), 0);
	for (const char *const *m = matches; *m; m++)
		ck_assert_int_ge(sd_journal_add_match(j, *m, 0), 0);
	return j;
}

int journal_count(const char *const *matches)
{
	_cleanup_(sd_journal_closep) sd_journal *j = open_matching(matches);
	int n = 0;

	ck_assert_int_ge(sd_journal_seek_head(j), 0);
	while (sd_journal_next(j) > 0)
		n++;
	return n;
}

char *journal_field(const char *const *matches, const char *field)
{
	size_t prefix = strlen(field) + 1;

	for (int attempt = 0; attempt < 50; attempt++) {
		_cleanup_(sd_journal_closep) sd_journal *j = open_matching(matches);
		const void *data;
		size_t len;

		ck_assert_int_ge(sd_journal_seek_tail(j), 0);
		if (sd_journal_previous(j) > 0 && sd_journal_get_data(j, field, &data, &len) >= 0 &&
		    len >= prefix)
			return strndup((const char *)data + prefix, len - prefix);
		usleep(100 * 1000);
	}
	return NULL;
}

int journal_count_containing(const char *const *matches, const char *needle)
{
	_cleanup_(sd_journal_closep) sd_journal *j = open_matching(matches);
	size_t len = strlen(needle);
	int n = 0;

	ck_assert_int_ge(sd_journal_seek_head(j), 0);
	while (sd_journal_next(j) > 0) {
		const void *data;
		size_t size;

		SD_JOURNAL_FOREACH_DATA(j, data, size)
		if (memmem(data, size, needle, len)) {
			n++;
			break;
		}
	}
	return n;
}

/* The realtime of the newest entry with every match, at or after since; 0 for none yet. */
static uint64_t newest_time(const char *const *matches, uint64_t since)
{
	_cleanup_(sd_journal_closep) sd_journal *j = open_matching(matches);
	uint64_t t = 0;

	ck_assert_int_ge(sd_journal_seek_tail(j), 0);
	if (sd_journal_previous(j) > 0 && sd_journal_get_realtime_usec(j, &t) >= 0 && t >= since)
		return t;
	return 0;
}

uint64_t journal_unit_logged(const char *unit, const char *message_id, uint64_t since)
{
	_cleanup_free_ char *unit_match = NULL, *id_match = NULL;

	ck_assert_int_ge(asprintf(&unit_match, "USER_UNIT=%s", unit), 0);
	ck_assert_int_ge(asprintf(&id_match, "MESSAGE_ID=%s", message_id), 0);
	const char *const matches[] = {unit_match, id_match, NULL};
	for (int attempt = 0; attempt < 50; attempt++) {
		uint64_t t = newest_time(matches, since);
		if (t > 0)
			return t;
		usleep(100 * 1000);
	}
	ck_abort_msg("the manager logged no %s for %s", message_id, unit);
}

void journal_assert_overlapped(char *const *units, const char *begin_id, const char *end_id,
			       uint64_t since)
{
	uint64_t last_begin = 0, first_end = UINT64_MAX;
	const char *last_begun = NULL, *first_ended = NULL;

	for (size_t i = 0; units[i]; i++) {
		uint64_t b = journal_unit_logged(units[i], begin_id, since);
		uint64_t e = journal_unit_logged(units[i], end_id, since);
		if (b > last_begin) {
			last_begin = b;
			last_begun = units[i];
		}
		if (e < first_end) {
			first_end = e;
			first_ended = units[i];
		}
	}
	ck_assert_msg(last_begin < first_end,
		      "%s began (%llu) only after %s had ended (%llu): one after the other, not at "
		      "once",
		      last_begun, (unsigned long long)last_begin, first_ended,
		      (unsigned long long)first_end);
}
