/* migration-format.h — the migration directory layouts deployd reads (plan key
 * migrations.format), named as in plans: deployd, dbmate, golang-migrate, flyway.  The layouts
 * themselves are lib/migrations' (migrations.h); plans and migrations share the names. */
#pragma once

typedef enum MigrationsFormat {
	MIGRATIONS_FORMAT_DEPLOYD,
	MIGRATIONS_FORMAT_DBMATE,
	MIGRATIONS_FORMAT_GOLANG_MIGRATE,
	MIGRATIONS_FORMAT_FLYWAY,
	_MIGRATIONS_FORMAT_MAX,
} MigrationsFormat;

const char *migrations_format_to_string(MigrationsFormat f);
/* The format, or -EINVAL for an unknown name. */
int migrations_format_from_string(const char *s);
