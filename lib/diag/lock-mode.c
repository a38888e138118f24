/* PostgreSQL's lock conflict table (lock-mode.h). */
#include <string.h>

#include "cleanup.h"
#include "lock-mode.h"

static const char *const lock_mode_names[_LOCK_MODE_MAX] = {
	[LOCK_MODE_ACCESS_SHARE] = "AccessShareLock",
	[LOCK_MODE_ROW_SHARE] = "RowShareLock",
	[LOCK_MODE_ROW_EXCLUSIVE] = "RowExclusiveLock",
	[LOCK_MODE_SHARE_UPDATE_EXCLUSIVE] = "ShareUpdateExclusiveLock",
	[LOCK_MODE_SHARE] = "ShareLock",
	[LOCK_MODE_SHARE_ROW_EXCLUSIVE] = "ShareRowExclusiveLock",
	[LOCK_MODE_EXCLUSIVE] = "ExclusiveLock",
	[LOCK_MODE_ACCESS_EXCLUSIVE] = "AccessExclusiveLock",
};

#define BIT(m) (1u << (m))

/* Row m: the modes that conflict with m, as in the documentation's table (and in
 * src/backend/storage/lmgr/lock.c, LockConflicts[]). */
static const unsigned lock_conflicts[_LOCK_MODE_MAX] = {
	[LOCK_MODE_ACCESS_SHARE] = BIT(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_ROW_SHARE] = BIT(LOCK_MODE_EXCLUSIVE) | BIT(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_ROW_EXCLUSIVE] = BIT(LOCK_MODE_SHARE) | BIT(LOCK_MODE_SHARE_ROW_EXCLUSIVE) |
				    BIT(LOCK_MODE_EXCLUSIVE) | BIT(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_SHARE_UPDATE_EXCLUSIVE] =
		BIT(LOCK_MODE_SHARE_UPDATE_EXCLUSIVE) | BIT(LOCK_MODE_SHARE) |
		BIT(LOCK_MODE_SHARE_ROW_EXCLUSIVE) | BIT(LOCK_MODE_EXCLUSIVE) |
		BIT(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_SHARE] = BIT(LOCK_MODE_ROW_EXCLUSIVE) | BIT(LOCK_MODE_SHARE_UPDATE_EXCLUSIVE) |
			    BIT(LOCK_MODE_SHARE_ROW_EXCLUSIVE) | BIT(LOCK_MODE_EXCLUSIVE) |
			    BIT(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_SHARE_ROW_EXCLUSIVE] =
		BIT(LOCK_MODE_ROW_EXCLUSIVE) | BIT(LOCK_MODE_SHARE_UPDATE_EXCLUSIVE) |
		BIT(LOCK_MODE_SHARE) | BIT(LOCK_MODE_SHARE_ROW_EXCLUSIVE) |
		BIT(LOCK_MODE_EXCLUSIVE) | BIT(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_EXCLUSIVE] = BIT(LOCK_MODE_ROW_SHARE) | BIT(LOCK_MODE_ROW_EXCLUSIVE) |
				BIT(LOCK_MODE_SHARE_UPDATE_EXCLUSIVE) | BIT(LOCK_MODE_SHARE) |
				BIT(LOCK_MODE_SHARE_ROW_EXCLUSIVE) | BIT(LOCK_MODE_EXCLUSIVE) |
				BIT(LOCK_MODE_ACCESS_EXCLUSIVE),
	[LOCK_MODE_ACCESS_EXCLUSIVE] = ((1u << _LOCK_MODE_MAX) - 1) & ~BIT(LOCK_MODE_NONE),
};

const char *lock_mode_to_string(LockMode m)
{
	return m > LOCK_MODE_NONE && m < _LOCK_MODE_MAX ? lock_mode_names[m] : NULL;
}

LockMode lock_mode_from_string(const char *s)
{
	for (int m = LOCK_MODE_NONE + 1; s && m < _LOCK_MODE_MAX; m++)
		if (strcmp(lock_mode_names[m], s) == 0)
			return m;
	return LOCK_MODE_NONE;
}

bool lock_modes_conflict(LockMode a, LockMode b)
{
	if (a <= LOCK_MODE_NONE || a >= _LOCK_MODE_MAX || b <= LOCK_MODE_NONE ||
	    b >= _LOCK_MODE_MAX)
		return false;
	return lock_conflicts[a] & BIT(b);
}

bool lock_mode_covers(LockMode a, LockMode b)
{
	if (a <= LOCK_MODE_NONE || a >= _LOCK_MODE_MAX || b <= LOCK_MODE_NONE ||
	    b >= _LOCK_MODE_MAX)
		return false;
	return (lock_conflicts[a] & lock_conflicts[b]) == lock_conflicts[b];
}
