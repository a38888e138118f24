/* Lock mode names and PostgreSQL's conflict table (forecast.h). */
#include <string.h>

#include "cleanup.h"
#include "forecast.h"

static const char *const mode_names[_LOCK_MODE_MAX] = {
	[LOCK_MODE_ACCESS_SHARE] = "AccessShareLock",
	[LOCK_MODE_ROW_SHARE] = "RowShareLock",
	[LOCK_MODE_ROW_EXCLUSIVE] = "RowExclusiveLock",
	[LOCK_MODE_SHARE_UPDATE_EXCLUSIVE] = "ShareUpdateExclusiveLock",
	[LOCK_MODE_SHARE] = "ShareLock",
	[LOCK_MODE_SHARE_ROW_EXCLUSIVE] = "ShareRowExclusiveLock",
	[LOCK_MODE_EXCLUSIVE] = "ExclusiveLock",
	[LOCK_MODE_ACCESS_EXCLUSIVE] = "AccessExclusiveLock",
};

#define M(m) (1u << (m))
/* The modes each mode conflicts with ("Conflicting Lock Modes" in PostgreSQL's docs). */
static const unsigned conflicts[_LOCK_MODE_MAX] = {
	[LOCK_MODE_ACCESS_SHARE] = M(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_ROW_SHARE] = M(LOCK_MODE_EXCLUSIVE) | M(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_ROW_EXCLUSIVE] = M(LOCK_MODE_SHARE) | M(LOCK_MODE_SHARE_ROW_EXCLUSIVE) |
				    M(LOCK_MODE_EXCLUSIVE) | M(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_SHARE_UPDATE_EXCLUSIVE] = M(LOCK_MODE_SHARE_UPDATE_EXCLUSIVE) |
					     M(LOCK_MODE_SHARE) | M(LOCK_MODE_SHARE_ROW_EXCLUSIVE) |
					     M(LOCK_MODE_EXCLUSIVE) | M(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_SHARE] = M(LOCK_MODE_ROW_EXCLUSIVE) | M(LOCK_MODE_SHARE_UPDATE_EXCLUSIVE) |
			    M(LOCK_MODE_SHARE_ROW_EXCLUSIVE) | M(LOCK_MODE_EXCLUSIVE) |
			    M(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_SHARE_ROW_EXCLUSIVE] = M(LOCK_MODE_ROW_EXCLUSIVE) |
					  M(LOCK_MODE_SHARE_UPDATE_EXCLUSIVE) | M(LOCK_MODE_SHARE) |
					  M(LOCK_MODE_SHARE_ROW_EXCLUSIVE) |
					  M(LOCK_MODE_EXCLUSIVE) | M(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_EXCLUSIVE] = M(LOCK_MODE_ROW_SHARE) | M(LOCK_MODE_ROW_EXCLUSIVE) |
				M(LOCK_MODE_SHARE_UPDATE_EXCLUSIVE) | M(LOCK_MODE_SHARE) |
				M(LOCK_MODE_SHARE_ROW_EXCLUSIVE) | M(LOCK_MODE_EXCLUSIVE) |
				M(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_ACCESS_EXCLUSIVE] = M(LOCK_MODE_ACCESS_SHARE) | M(LOCK_MODE_ROW_SHARE) |
				       M(LOCK_MODE_ROW_EXCLUSIVE) |
				       M(LOCK_MODE_SHARE_UPDATE_EXCLUSIVE) | M(LOCK_MODE_SHARE) |
				       M(LOCK_MODE_SHARE_ROW_EXCLUSIVE) | M(LOCK_MODE_EXCLUSIVE) |
				       M(LOCK_MODE_ACCESS_EXCLUSIVE),
};

const char *lock_mode_to_string(LockMode m)
{
	return m > LOCK_MODE_NONE && m < _LOCK_MODE_MAX ? mode_names[m] : NULL;
}

LockMode lock_mode_from_string(const char *s)
{
	for (LockMode m = LOCK_MODE_ACCESS_SHARE; s && m < _LOCK_MODE_MAX; m++)
		if (strcmp(s, mode_names[m]) == 0)
			return m;
	return LOCK_MODE_NONE;
}

bool lock_modes_conflict(LockMode a, LockMode b)
{
	if (a <= LOCK_MODE_NONE || a >= _LOCK_MODE_MAX || b <= LOCK_MODE_NONE ||
	    b >= _LOCK_MODE_MAX)
		return false;
	return conflicts[a] & M(b);
}

bool lock_mode_covers(LockMode a, LockMode b)
{
	if (a <= LOCK_MODE_NONE || a >= _LOCK_MODE_MAX || b <= LOCK_MODE_NONE ||
	    b >= _LOCK_MODE_MAX)
		return false;
	return (conflicts[a] & conflicts[b]) == conflicts[b];
}
