# lib.sh — shared pieces of the real-service test harness (sourced, not run).
#
# Every step reports failure through harness_die, which names the step and
# the reason; waits are bounded (harness_wait).  See tests/harness/README.md.

# shellcheck disable=SC2034 # the settings below are used by the scripts sourcing this
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HARNESS_TEST_USER=${DEPLOYD_HARNESS_USER:-deployd-test}
# Shared state of the machine-wide services (journald, the user manager).
HARNESS_STATE_DIR=/run/deployd-harness
HARNESS_LOCK=$HARNESS_STATE_DIR/lock
# The lock is held on this descriptor; daemons started under it must close it.
HARNESS_LOCK_FD=9
HARNESS_JOURNALD=/lib/systemd/systemd-journald
HARNESS_SYSTEMD=/lib/systemd/systemd
HARNESS_PG_BINDIR=${DEPLOYD_HARNESS_PG_BINDIR:-/usr/lib/postgresql/15/bin}

harness_log() {
	[ "${DEPLOYD_HARNESS_QUIET:-0}" = 1 ] || printf 'harness: %s\n' "$*" >&2
}

# harness_die STEP REASON… — print which step failed and why, then exit 1.
harness_die() {
	local step=$1
	shift
	printf 'harness: FAILED at step "%s": %s\n' "$step" "$*" >&2
	exit 1
}

# harness_wait SECONDS WHAT CMD… — poll CMD every 50 ms until it succeeds;
# returns 1 after SECONDS (the caller dies with its own explanation).
harness_wait() {
	local seconds=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			harness_log "gave up waiting ${seconds}s for $what"
			return 1
		fi
		sleep 0.05
	done
}

# The journal is live when its stream socket accepts a connection (a stale
# socket file left by a dead journald refuses it).
harness_journald_alive() {
	[ -S /run/systemd/journal/socket ] && [ -S /run/systemd/journal/stdout ] &&
		echo "deployd harness: journald liveness probe" |
		systemd-cat -t deployd-harness -p debug >/dev/null 2>&1
}

# harness_as_user USER CMD… — run CMD as USER (uid, gid, supplementary
# groups) without PAM or a login session, with a clean environment.
harness_as_user() {
	local user=$1 uid home
	shift
	uid=$(id -u "$user") || return 1
	home=$(getent passwd "$user" | cut -d: -f6)
	# From /: the caller's directory may be closed to USER (a 0700 clone).
	(cd / && exec setpriv --reuid="$uid" --regid="$(id -g "$user")" --init-groups --reset-env \
		env HOME="$home" USER="$user" LOGNAME="$user" \
		XDG_RUNTIME_DIR="/run/user/$uid" \
		DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$uid/bus" \
		PATH=/usr/local/bin:/usr/bin:/bin "$@")
}

# harness_user_manager_alive UID — the user's session bus answers US (root
# needs the harness's bus policy for that) and the manager on it reports a
# state: any but "offline"/"stopping" ("degraded" is fine).  Asked over the
# bus, not with `systemctl --user is-system-running`, which says "offline"
# whenever /run/systemd/system is missing.
harness_user_manager_alive() {
	local uid=$1 state
	[ -S "/run/user/$uid/bus" ] || return 1
	state=$(DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus timeout 5 \
		busctl --user get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 \
		org.freedesktop.systemd1.Manager SystemState 2>/dev/null) || return 1
	case $state in
	*'"running"' | *'"degraded"' | *'"starting"' | *'"initializing"' | *'"maintenance"') return 0 ;;
	*) return 1 ;;
	esac
}

# The cgroup hierarchies a user manager must be placed in: the unified one
# and, on a hybrid or legacy machine, the named "systemd" one.
harness_cgroup_roots() {
	if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
		echo /sys/fs/cgroup
		return
	fi
	[ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] && echo /sys/fs/cgroup/unified
	[ -d /sys/fs/cgroup/systemd ] && echo /sys/fs/cgroup/systemd
	return 0
}

# PID 1 is systemd: user managers are then started by logind/PID 1.
harness_systemd_is_pid1() {
	[ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ -d /run/systemd/system ]
}

# harness_systemctl_user USER ARG… — `systemctl --user ARG…` for USER's
# manager.  As root it runs as USER: systemctl refuses the manager's private
# socket when the peer is neither root nor the caller.
harness_systemctl_user() {
	local user=$1
	shift
	if [ "$(id -u)" -eq 0 ]; then
		harness_as_user "$user" timeout 60 systemctl --user "$@"
	else
		timeout 60 systemctl --user "$@"
	fi
}

# harness_cgroup_empty DIR — no process in the cgroup DIR or below it.
harness_cgroup_empty() {
	[ ! -d "$1" ] || [ -z "$(find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null)" ]
}

# harness_process_gone PID — PID has exited (a zombie counts: PID 1 here may
# not reap orphans).
harness_process_gone() {
	[ ! -d "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
