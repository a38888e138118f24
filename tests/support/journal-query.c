/* journal-query.c — see journal-query.h. */
#include "journal-query.h"

#include <check.h>
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
