#include <string.h>

#include "unit-name.h"
#include "units.h"

bool units_name_is_valid(const char *name)
{
	if (!name || !unit_name_is_valid(name, UNIT_NAME_PLAIN | UNIT_NAME_INSTANCE))
		return false;

	/* A device follows its hardware and a scope its processes: no job starts or stops them. */
	const char *type = strrchr(name, '.') + 1;
	return strcmp(type, "device") != 0 && strcmp(type, "scope") != 0;
}

bool units_name_is_service(const char *name)
{
	size_t len = strlen(name), suffix = strlen(".service");

	return len > suffix && strcmp(name + len - suffix, ".service") == 0;
}
