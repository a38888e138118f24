/* unit-name.h — systemd unit names, checked as systemd checks them.
 *
 * A unit name is PREFIX[@INSTANCE].TYPE: PREFIX non-empty, PREFIX and
 * INSTANCE made of [A-Za-z0-9:_.\-] (INSTANCE may also hold '@'), TYPE one
 * of systemd's unit types (service, socket, target, …), at most 255 bytes
 * in all.  "foo@.service" is a template: valid to systemd, but not a unit
 * one can stop or start.  unit_name_check_deployable() is the one rule for
 * the units a plan may name, applied by `deployctl check` (the plan parser)
 * and by the preflight alike.  Pure functions, no allocation. */
#pragma once

#include <stdbool.h>

#define UNIT_NAME_MAX 255

typedef enum UnitNameKind {
	UNIT_NAME_PLAIN = 1 << 0,    /* foo.service */
	UNIT_NAME_INSTANCE = 1 << 1, /* foo@bar.service */
	UNIT_NAME_TEMPLATE = 1 << 2, /* foo@.service */
} UnitNameKind;

/* Returns the kind of name, or -EINVAL with *ret_reason (may be NULL) set
 * to a static phrase saying what is wrong, e.g. "has no unit type suffix". */
int unit_name_classify(const char *name, const char **ret_reason);
/* True when name is valid and its kind is one of kinds (a mask). */
bool unit_name_is_valid(const char *name, unsigned kinds);
/* 0 when deployd can ask a manager to stop and start the unit: a valid plain or instance name,
 * not a template (no job acts on one) and not a .device or .scope (a device follows its
 * hardware and a scope its processes: no job starts them).  -EINVAL when the name is not a
 * valid unit name, -EOPNOTSUPP when it is one deployd cannot deploy; *ret_reason (may be NULL)
 * is then a static phrase to follow "it", e.g. "is a template; name an instance such as …". */
int unit_name_check_deployable(const char *name, const char **ret_reason);
/* True for NAME.service. */
bool unit_name_is_service(const char *name);
/* True for the unit types systemd knows: "service", "timer", … (no dot). */
bool unit_name_type_is_valid(const char *type);
