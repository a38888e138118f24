#include <errno.h>
#include <string.h>

#include "cleanup.h"
#include "unit-name.h"

/* systemd's unit types (unit_type_from_string() in systemd). */
static const char *const unit_types[] = {
	"service",   "mount", "swap", "socket", "target", "device",
	"automount", "timer", "path", "slice",	"scope",
};

static bool char_is_valid(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr(":-_.\\", c);
}

bool unit_name_type_is_valid(const char *type)
{
	for (size_t i = 0; i < ELEMENTSOF(unit_types); i++)
		if (strcmp(unit_types[i], type) == 0)
			return true;
	return false;
}

static int fail(const char **ret_reason, const char *reason)
{
	if (ret_reason)
		*ret_reason = reason;
	return -EINVAL;
}

int unit_name_classify(const char *name, const char **ret_reason)
{
	if (!name || *name == '\0')
		return fail(ret_reason, "is empty");
	if (strlen(name) > UNIT_NAME_MAX)
		return fail(ret_reason, "is longer than 255 characters");

	const char *dot = strrchr(name, '.');
	if (!dot)
		return fail(ret_reason, "has no unit type suffix (.service, .socket, .timer, …)");
	if (!unit_name_type_is_valid(dot + 1))
		return fail(ret_reason,
			    "has an unknown unit type suffix (use .service, .socket, .target, "
			    ".timer, .mount, .path, .slice, .scope, .device, .swap or .automount)");
	if (dot == name)
		return fail(ret_reason, "has no name before the unit type suffix");

	/* The first '@' splits prefix and instance; the instance may contain more. */
	const char *at = NULL;
	for (const char *p = name; p < dot; p++) {
		if (*p == '@') {
			if (!at)
				at = p;
			continue;
		}
		if (!char_is_valid(*p))
			return fail(ret_reason,
				    "contains a character systemd does not allow in unit names "
				    "(allowed: A-Z a-z 0-9 : _ . \\ -, and @ before an instance)");
	}
	if (at == name)
		return fail(ret_reason, "has no name before '@'");
	if (!at)
		return UNIT_NAME_PLAIN;
	if (at + 1 == dot)
		return UNIT_NAME_TEMPLATE;
	return UNIT_NAME_INSTANCE;
}

bool unit_name_is_valid(const char *name, unsigned kinds)
{
	int kind = unit_name_classify(name, NULL);

	return kind > 0 && (kinds & (unsigned)kind);
}

int unit_name_check_deployable(const char *name, const char **ret_reason)
{
	int kind = unit_name_classify(name, ret_reason);

	if (kind < 0)
		return kind;
	if (kind == UNIT_NAME_TEMPLATE) {
		if (ret_reason)
			*ret_reason =
				"is a template; name an instance such as NAME@INSTANCE.service";
		return -EOPNOTSUPP;
	}
	const char *type = strrchr(name, '.') + 1;
	if (strcmp(type, "device") == 0) {
		if (ret_reason)
			*ret_reason = "is a .device unit, which follows its hardware: no job stops "
				      "or starts it";
		return -EOPNOTSUPP;
	}
	if (strcmp(type, "scope") == 0) {
		if (ret_reason)
			*ret_reason = "is a .scope unit, which follows its processes: no job "
				      "starts it";
		return -EOPNOTSUPP;
	}
	return 0;
}

bool unit_name_is_service(const char *name)
{
	size_t len = strlen(name), suffix = strlen(".service");

	return len > suffix && strcmp(name + len - suffix, ".service") == 0;
}
