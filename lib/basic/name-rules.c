/* The rules for names (name-rules.h). */
#include <limits.h>
#include <string.h>

#include "name-rules.h"

static bool identifier_is_valid(const char *s, size_t len)
{
	if (len == 0 || len > SQL_IDENTIFIER_MAX)
		return false;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

bool sql_table_name_is_valid(const char *s)
{
	const char *dot = strchr(s, '.');

	if (!dot)
		return identifier_is_valid(s, strlen(s));
	return identifier_is_valid(s, (size_t)(dot - s)) &&
	       identifier_is_valid(dot + 1, strlen(dot + 1));
}

bool credential_name_is_valid(const char *s)
{
	return s[0] != '\0' && strlen(s) <= NAME_MAX && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

bool deploy_id_is_valid(const char *s)
{
	if (!s || strlen(s) != DEPLOY_ID_LENGTH)
		return false;
	return strspn(s, "0123456789abcdef") == DEPLOY_ID_LENGTH;
}

bool plan_name_is_valid(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= PLAN_NAME_MAX && name[0] != '.' &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
		       len;
}
