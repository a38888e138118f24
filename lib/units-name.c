#include <string.h>

#include "cleanup.h"
#include "units.h"

/* systemd's UNIT_NAME_MAX counts the terminating NUL. */
#define UNIT_NAME_MAX 256

/* The unit types StartUnit and StopUnit work on (not device, not scope). */
static const char *const startable_suffixes[] = {
	"service", "socket", "target", "timer", "path", "mount", "automount", "swap", "slice",
};

static bool name_char_is_valid(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr(":-_.\\", c));
}

bool units_name_is_valid(const char *name)
{
	if (!name || strnlen(name, UNIT_NAME_MAX) >= UNIT_NAME_MAX)
		return false;

	const char *dot = strrchr(name, '.');
	if (!dot || dot == name)
		return false;

	bool known = false;
	for (size_t i = 0; i < ELEMENTSOF(startable_suffixes); i++)
		known = known || strcmp(dot + 1, startable_suffixes[i]) == 0;
	if (!known)
		return false;

	const char *at = NULL;
	for (const char *p = name; p < dot; p++) {
		if (*p == '@') {
			if (!at)
				at = p;
		} else if (!name_char_is_valid(*p))
			return false;
	}
	/* "@x.service" has no prefix; "x@.service" is a template, which cannot run. */
	return !at || (at > name && dot > at + 1);
}

bool units_name_is_service(const char *name)
{
	size_t len = strlen(name), suffix = strlen(".service");

	return len > suffix && strcmp(name + len - suffix, ".service") == 0;
}
