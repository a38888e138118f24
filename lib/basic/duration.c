#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "duration.h"

typedef struct DurationUnit {
	const char *suffix;
	usec_t usec;
} DurationUnit;

/* Largest first: duration_format() picks the first that divides exactly. */
static const DurationUnit duration_units[] = {
	{"h", USEC_PER_HOUR},
	{"min", USEC_PER_MINUTE},
	{"s", USEC_PER_SEC},
	{"ms", USEC_PER_MSEC},
};

static int fail(const char **ret_reason, const char *reason, int error)
{
	if (ret_reason)
		*ret_reason = reason;
	return error;
}

int duration_parse(const char *s, usec_t *ret, const char **ret_reason)
{
	usec_t value = 0;
	const char *p = s;

	if (!s || *s == '\0')
		return fail(ret_reason, "empty duration", -EINVAL);
	if (strcmp(s, "0") == 0) {
		*ret = 0;
		return 0;
	}
	if (*s == '-')
		return fail(ret_reason, "durations cannot be negative", -EINVAL);
	if (*p < '0' || *p > '9')
		return fail(ret_reason, "a duration starts with a number, e.g. 5s", -EINVAL);
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');
		if (value > (USEC_INFINITY - digit) / 10)
			return fail(ret_reason, "duration too large", -ERANGE);
		value = value * 10 + digit;
	}
	if (*p == '\0')
		return fail(ret_reason, "missing unit (use ms, s, min or h)", -EINVAL);

	for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
		const DurationUnit *u = &duration_units[i];
		if (strcmp(p, u->suffix) != 0)
			continue;
		/* USEC_INFINITY means "never" elsewhere; no finite duration may equal it. */
		if (value > (USEC_INFINITY - 1) / u->usec)
			return fail(ret_reason, "duration too large", -ERANGE);
		*ret = value * u->usec;
		return 0;
	}
	if (*p == '.' || *p == ',')
		return fail(ret_reason, "fractions are not allowed (write 1500ms, not 1.5s)",
			    -EINVAL);
	if (*p == ' ' || *p == '\t')
		return fail(ret_reason, "no space is allowed between number and unit", -EINVAL);
	return fail(ret_reason, "unknown unit (use ms, s, min or h)", -EINVAL);
}

char *duration_format(usec_t u, char buf[static DURATION_FORMAT_MAX])
{
	if (u == USEC_INFINITY) {
		snprintf(buf, DURATION_FORMAT_MAX, "infinity");
		return buf;
	}
	if (u == 0) {
		snprintf(buf, DURATION_FORMAT_MAX, "0");
		return buf;
	}
	for (size_t i = 0; i < ELEMENTSOF(duration_units); i++)
		if (u % duration_units[i].usec == 0) {
			snprintf(buf, DURATION_FORMAT_MAX, "%llu%s",
				 (unsigned long long)(u / duration_units[i].usec),
				 duration_units[i].suffix);
			return buf;
		}
	snprintf(buf, DURATION_FORMAT_MAX, "%lluus", (unsigned long long)u);
	return buf;
}
