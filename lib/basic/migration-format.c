/* Migration layout names (migration-format.h). */
#include <errno.h>
#include <string.h>

#include "migration-format.h"

static const char *const format_names[_MIGRATIONS_FORMAT_MAX] = {
	[MIGRATIONS_FORMAT_DEPLOYD] = "deployd",
	[MIGRATIONS_FORMAT_DBMATE] = "dbmate",
	[MIGRATIONS_FORMAT_GOLANG_MIGRATE] = "golang-migrate",
	[MIGRATIONS_FORMAT_FLYWAY] = "flyway",
};

const char *migrations_format_to_string(MigrationsFormat f)
{
	return f >= 0 && f < _MIGRATIONS_FORMAT_MAX ? format_names[f] : NULL;
}

int migrations_format_from_string(const char *s)
{
	for (int i = 0; i < _MIGRATIONS_FORMAT_MAX; i++)
		if (strcmp(s, format_names[i]) == 0)
			return i;
	return -EINVAL;
}
