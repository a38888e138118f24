/* lock-mode.h — PostgreSQL's table-level lock modes and which of them conflict.
 *
 * The one place deployd knows the conflict table of PostgreSQL's documentation ("Explicit
 * Locking", table 13.2 "Conflicting Lock Modes"); the names are those of pg_locks.mode.
 * The table is symmetric.  Pure functions, no allocation. */
#pragma once

#include <stdbool.h>

/* PostgreSQL's own order (lockdefs.h): a higher value is stronger. */
typedef enum LockMode {
	LOCK_MODE_NONE = 0,
	LOCK_MODE_ACCESS_SHARE,
	LOCK_MODE_ROW_SHARE,
	LOCK_MODE_ROW_EXCLUSIVE,
	LOCK_MODE_SHARE_UPDATE_EXCLUSIVE,
	LOCK_MODE_SHARE,
	LOCK_MODE_SHARE_ROW_EXCLUSIVE,
	LOCK_MODE_EXCLUSIVE,
	LOCK_MODE_ACCESS_EXCLUSIVE,
	_LOCK_MODE_MAX,
} LockMode;

/* "AccessShareLock" … "AccessExclusiveLock"; NULL for NONE or out of range. */
const char *lock_mode_to_string(LockMode m);
/* The mode of a pg_locks.mode name; LOCK_MODE_NONE for anything else (row-level and
 * predicate modes such as "SIReadLock" included). */
LockMode lock_mode_from_string(const char *s);
/* Whether a session holding (or queued for) a conflicts with a request for b; never for
 * LOCK_MODE_NONE. */
bool lock_modes_conflict(LockMode a, LockMode b);
/* Whether a conflicts with everything b conflicts with (holding a, b adds no conflict). */
bool lock_mode_covers(LockMode a, LockMode b);
