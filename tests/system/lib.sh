# lib.sh — booted Debian hosts for the system tests (sourced by the scenarios).
#
# A host is a copy-on-write overlay of the cached root (tests/system/rootfs) booted with
# systemd as PID 1 by systemd-nspawn; commands run inside it through nsenter.  Every
# check prints one line; the scenario's last line is "NAME: N passed, N failed".
# See tests/system/README.md.

# Set by tests/system/run for every scenario.
: "${SYSTEM_WORK:?SYSTEM_WORK (the work directory of the tier) is not set: run tests/system/run}"
: "${SYSTEM_BASE:?SYSTEM_BASE (the cached root) is not set: run tests/system/run}"
: "${SYSTEM_DEB:?SYSTEM_DEB (the package under test) is not set: run tests/system/run}"
: "${SYSTEM_DEB_NEXT1:?SYSTEM_DEB_NEXT1 is not set: run tests/system/run}"
: "${SYSTEM_DEB_NEXT2:?SYSTEM_DEB_NEXT2 is not set: run tests/system/run}"
: "${SYSTEM_RUN_ID:?SYSTEM_RUN_ID is not set: run tests/system/run}"
SYSTEM_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SYSTEM_SCENARIO=${SYSTEM_SCENARIO:-$(basename "$0")}
SYSTEM_HOSTS_DIR=$SYSTEM_WORK/hosts/$SYSTEM_RUN_ID
# Bounds that only catch hangs.
SYSTEM_BOOT_TIMEOUT=${SYSTEM_BOOT_TIMEOUT:-120}
SYSTEM_CMD_TIMEOUT=${SYSTEM_CMD_TIMEOUT:-180}
HOST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

sys_passed=0
sys_failed=0
sys_hosts=()

sys_log() { printf '[%s] %s\n' "$SYSTEM_SCENARIO" "$*"; }

# sys_die WHY… — the scenario cannot go on (counts as a failure).
sys_die() {
	printf '[%s] FATAL: %s\n' "$SYSTEM_SCENARIO" "$*" >&2
	sys_failed=$((sys_failed + 1))
	exit 1
}

# sys_detail TEXT — shown indented with SYSTEM_VERBOSE=1 (what a command said).
sys_detail() {
	[ "${SYSTEM_VERBOSE:-0}" = 1 ] || return 0
	printf '%s\n' "$1" | sed 's/^/        > /'
}

sys_pass() {
	sys_passed=$((sys_passed + 1))
	printf '[%s %3ds] ok   %s\n' "$SYSTEM_SCENARIO" "$SECONDS" "$1"
}

# sys_fail NAME [DETAIL] — DETAIL is printed indented under the failing check.
sys_fail() {
	sys_failed=$((sys_failed + 1))
	printf '[%s %3ds] FAIL %s\n' "$SYSTEM_SCENARIO" "$SECONDS" "$1"
	if [ -n "${2:-}" ]; then
		printf '%s\n' "$2" | head -n 60 | sed 's/^/        | /'
	fi
}

# check NAME CMD… — passes when CMD exits 0 (its output is shown when it does not).
check() {
	local name=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	if [ "$rc" -eq 0 ]; then sys_pass "$name"; else sys_fail "$name" "exit $rc: $out"; fi
}

# check_eq NAME WANT GOT
check_eq() {
	if [ "$2" = "$3" ]; then sys_pass "$1"; else sys_fail "$1" "want: $2
got:  $3"; fi
}

# check_contains NAME NEEDLE HAYSTACK — a fixed string.
check_contains() {
	if grep -qF -- "$2" <<<"$3"; then sys_pass "$1"; else sys_fail "$1" "no \"$2\" in:
$3"; fi
}

# check_lacks NAME NEEDLE HAYSTACK — a fixed string that must not occur.
check_lacks() {
	if ! grep -qF -- "$2" <<<"$3"; then sys_pass "$1"; else sys_fail "$1" "unexpected \"$2\" in:
$3"; fi
}

# check_match NAME ERE HAYSTACK
check_match() {
	if grep -qE -- "$2" <<<"$3"; then sys_pass "$1"; else sys_fail "$1" "no match for /$2/ in:
$3"; fi
}

# check_ne NAME A B — two values that must differ (and A must not be empty).
check_ne() {
	if [ -n "$2" ] && [ "$2" != "$3" ]; then sys_pass "$1"; else sys_fail "$1" "both: '$2' / '$3'"; fi
}

# sys_summary — the closing line; the exit status says whether everything passed.
sys_summary() {
	local rc=$?
	trap - EXIT
	sys_halt_all
	if [ "$rc" -ne 0 ] && [ "$sys_failed" -eq 0 ]; then
		# set -e ended the scenario outside a check: say so, count it.
		printf '[%s] FAIL the scenario stopped early (exit %s), see above\n' "$SYSTEM_SCENARIO" "$rc"
		sys_failed=$((sys_failed + 1))
	fi
	printf '%s: %d passed, %d failed\n' "$SYSTEM_SCENARIO" "$sys_passed" "$sys_failed"
	[ "$sys_failed" -eq 0 ] && [ "$sys_passed" -gt 0 ]
	exit $?
}
trap sys_summary EXIT
# Stopped from outside (the tier's time limit, Ctrl-C): halt the hosts all the same.
trap 'sys_fail "the scenario was stopped by a signal"; exit 143' TERM INT

# --- hosts -------------------------------------------------------------------------------

host_dir() { printf '%s/%s' "$SYSTEM_HOSTS_DIR" "$1"; }
host_root() { printf '%s/root' "$(host_dir "$1")"; }

# host_create NAME — a fresh root for NAME (an overlay on the cached root), with its host
# name and the package under test in /root/deb/.  Not booted yet: write files into
# $(host_root NAME) or mask units first.
host_create() {
	local name=$1 dir
	dir=$(host_dir "$name")
	[ ! -e "$dir" ] || sys_die "host $name exists already ($dir)"
	mkdir -p "$dir/upper" "$dir/work" "$dir/root"
	mount -t overlay "overlay-$SYSTEM_RUN_ID-$name" \
		-o "lowerdir=$SYSTEM_BASE,upperdir=$dir/upper,workdir=$dir/work" "$dir/root" ||
		sys_die "cannot mount an overlay for host $name on $dir/root"
	sys_hosts+=("$name")
	echo "$name" >"$dir/root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$name" >"$dir/root/etc/hosts"
	mkdir -p "$dir/root/root/deb" "$dir/root/root/fixtures"
	cp "$SYSTEM_DEB" "$dir/root/root/deb/"
	cp "$SYSTEM_DEB_NEXT1" "$SYSTEM_DEB_NEXT2" "$dir/root/root/deb/"
	cp -r "$SYSTEM_SRC/fixtures/." "$dir/root/root/fixtures/"
}

# host_mask NAME UNIT… — the units will not start on NAME (before it boots).
host_mask() {
	local name=$1 unit
	shift
	for unit in "$@"; do
		ln -sfn /dev/null "$(host_root "$name")/etc/systemd/system/$unit"
	done
}

# The cgroup hierarchies nspawn uses: each host's nspawn starts in a cgroup of its own, so
# that the "supervisor" and "payload" cgroups it creates next to itself do not collide.
host_cgroup_roots() {
	if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
		echo /sys/fs/cgroup
	else
		echo /sys/fs/cgroup/unified
		[ ! -d /sys/fs/cgroup/systemd ] || echo /sys/fs/cgroup/systemd
	fi
}

# host_start NAME [NSPAWN-OPTION…] — boot NAME in the background (see host_wait).  With
# HOST_NETWORK=private (the default) NAME has a network of its own, a loopback only; with
# HOST_NETWORK=shared it shares this machine's: mask or move (to a 127.0.0.x address of
# its own) every service that would listen on a port another host uses.
host_start() {
	local name=$1 dir cg
	shift
	case ${HOST_NETWORK:-private} in
	private) set -- --private-network "$@" ;;
	shared) ;;
	*) sys_die "HOST_NETWORK is private or shared, not '$HOST_NETWORK'" ;;
	esac
	dir=$(host_dir "$name")
	cg=deployd-system-$SYSTEM_RUN_ID-$name
	(
		for r in $(host_cgroup_roots); do
			mkdir -p "$r/$cg" && echo "$BASHPID" >"$r/$cg/cgroup.procs" || exit 70
		done
		# Should the scenario die without halting its hosts, nspawn gets SIGTERM and halts.
		exec setpriv --pdeathsig TERM \
			systemd-nspawn --quiet --register=no --keep-unit --console=read-only \
			-D "$dir/root" -M "$name" "$@" -b
	) </dev/null >"$dir/console.log" 2>&1 &
	echo $! >"$dir/nspawn.pid"
}

# host_leader NAME — the container's PID 1 as seen from here.
host_leader() {
	local dir pid
	dir=$(host_dir "$1")
	pid=$(cat "$dir/leader.pid" 2>/dev/null) && [ -d "/proc/$pid" ] && { echo "$pid"; return 0; }
	return 1
}

# host_wait NAME — wait until NAME's PID 1 reports "running"; dies with the reason otherwise.
host_wait() {
	local name=$1 dir nspawn leader state deadline
	dir=$(host_dir "$name")
	nspawn=$(cat "$dir/nspawn.pid")
	deadline=$((SECONDS + SYSTEM_BOOT_TIMEOUT))
	leader=
	while [ -z "$leader" ]; do
		if ! kill -0 "$nspawn" 2>/dev/null; then
			sys_die "host $name: systemd-nspawn exited while booting; this machine cannot boot a container: $(tail -n 15 "$dir/console.log")"
		fi
		local child
		for child in $(pgrep -P "$nspawn"); do
			[ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ] && leader=$child
		done
		[ "$SECONDS" -lt "$deadline" ] || sys_die "host $name: no systemd as PID 1 after ${SYSTEM_BOOT_TIMEOUT}s: $(tail -n 15 "$dir/console.log")"
		[ -n "$leader" ] || sleep 0.1
	done
	echo "$leader" >"$dir/leader.pid"
	# is-system-running --wait answers once the boot is done (it needs the bus to be up).
	until state=$(host_run_bounded 30 "$name" systemctl is-system-running --wait 2>/dev/null); [ -n "$state" ]; do
		[ "$SECONDS" -lt "$deadline" ] || break
		sleep 0.2
	done
	if [ "$state" != running ]; then
		sys_die "host $name booted into state '${state:-none}'; failed units: $(host_run_bounded 10 "$name" systemctl --failed --no-legend 2>&1 | tr '\n' ' ')"
	fi
}

# host_boot NAME… — start all, then wait for each (they boot in parallel).
host_boot() {
	local name
	local t=$SECONDS
	for name in "$@"; do host_start "$name"; done
	for name in "$@"; do host_wait "$name"; done
	sys_log "booted $* in $((SECONDS - t)) s"
}

# host_run_bounded SECONDS NAME CMD… — CMD inside NAME as root, in a clean environment.
host_run_bounded() {
	local seconds=$1 name=$2 leader
	shift 2
	leader=$(host_leader "$name") || { echo "host $name is not running" >&2; return 125; }
	timeout -k 5 "$seconds" nsenter -t "$leader" -m -u -i -n -p -r -w \
		env -i PATH="$HOST_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= \
		SYSTEMD_COLORS=0 "$@"
}

# host_run NAME CMD… — as host_run_bounded, within SYSTEM_CMD_TIMEOUT.
host_run() { host_run_bounded "$SYSTEM_CMD_TIMEOUT" "$@"; }

# host_sh NAME SCRIPT [ARG…] — a bash script inside NAME (set -euo pipefail).
host_sh() {
	local name=$1 script=$2
	shift 2
	host_run "$name" bash -c "set -euo pipefail; $script" bash "$@"
}

# host_as NAME USER CMD… — CMD as USER (with its groups) inside NAME.
host_as() {
	local name=$1 user=$2
	shift 2
	host_run "$name" setpriv --reuid="$user" --regid="$user" --init-groups \
		env HOME=/ USER="$user" "$@"
}

# host_rc NAME CMD… — CMD's exit status, without failing the scenario.
host_rc() {
	local rc=0
	host_run "$@" >/dev/null 2>&1 || rc=$?
	echo "$rc"
}

# host_halt NAME — halt NAME cleanly (SIGTERM to nspawn), remove its root.
host_halt() {
	local name=$1 dir pid i r
	dir=$(host_dir "$name")
	[ -d "$dir" ] || return 0
	pid=$(cat "$dir/nspawn.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			printf '[%s] host %s did not halt within 30 s; killed\n' "$SYSTEM_SCENARIO" "$name" >&2
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
		fi
	fi
	for i in $(seq 50); do
		mountpoint -q "$dir/root" || break
		umount "$dir/root" 2>/dev/null || umount -l "$dir/root" 2>/dev/null || sleep 0.1
	done
	for r in $(host_cgroup_roots); do
		[ -d "$r/deployd-system-$SYSTEM_RUN_ID-$name" ] &&
			find "$r/deployd-system-$SYSTEM_RUN_ID-$name" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	if [ "${SYSTEM_KEEP:-0}" = 1 ]; then
		printf '[%s] kept host %s in %s\n' "$SYSTEM_SCENARIO" "$name" "$dir"
	else
		rm -rf "$dir"
	fi
}

sys_halt_all() {
	local name
	for name in "${sys_hosts[@]}"; do host_halt "$name" & done
	wait
}

# --- the package and the application fixture ---------------------------------------------

# host_install NAME — dpkg -i the package under test.
host_install() {
	host_run "$1" dpkg -i "/root/deb/$(basename "$SYSTEM_DEB")"
}

# unit_prop NAME UNIT PROPERTY — one property's value.
unit_prop() {
	host_run "$1" systemctl show -P "$3" "$2"
}

# host_psql NAME SQL — one query as postgres on database app, unaligned, tuples only.
host_psql() {
	host_run "$1" runuser -u postgres -- psql -X -q -t -A -v ON_ERROR_STOP=1 -d "${3:-app}" -c "$2"
}

# wait_for SECONDS WHAT CMD… — poll CMD until it succeeds; 1 after SECONDS.
wait_for() {
	local seconds=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			sys_log "gave up waiting ${seconds}s for $what"
			return 1
		fi
		sleep 0.2
	done
}

# host_write NAME PATH MODE — standard input becomes the file PATH (root's) inside NAME.
host_write() {
	host_run "$1" install -m "$3" /dev/stdin "$2"
}
