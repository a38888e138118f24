# Hardening in force: a deploy under the shipped deployd.service, unchanged (no drop-in,
# the package's files as shipped), with hooks, a migration command in python3 (which
# reports the sandbox it finds) and the idle terminator ending a forgotten transaction;
# `systemd-analyze security deployd.service` on the host rates it at most 2.0.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

h=hardening
host_create "$h"
host_boot "$h"
check "dpkg -i installs the package" host_install "$h"
check "the app is set up" host_run "$h" /root/fixtures/setup-app
check "the first deploy creates the tables" host_as "$h" alice deployctl deploy app

host_write "$h" /srv/app/migrate.py 0755 <<-'PY'
	#!/usr/bin/python3
	"""The app's own migration tool: reports the sandbox it runs in, then migrates."""
	import errno, os, subprocess
	status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines())
	for key in ("CapEff", "CapBnd", "NoNewPrivs", "Seccomp"):
	    print(f"sandbox {key}={status[key].strip()}")
	print("sandbox cgroup=" + open("/proc/self/cgroup").read().splitlines()[-1])
	try:
	    open("/usr/local/deployd-was-here", "w")
	    print("sandbox /usr writable")
	except OSError as e:
	    print(f"sandbox /usr {errno.errorcode[e.errno]}")
	subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", os.environ["DATABASE_URL"],
	                "-c", "ALTER TABLE accounts ADD COLUMN IF NOT EXISTS plan text"], check=True)
	print("migrated: accounts.plan")
PY
host_write "$h" /etc/deployd/plans/hard.yaml 0644 <<-'PLAN'
	version: 1
	description: migrations by a python3 command, hooks, idle terminator
	database:
	  conninfo: "host=/run/postgresql dbname=app user=app_deploy"
	  lock_timeout: 5s
	services:
	  units: [app-api.service, app-worker.service, app-scheduler.service]
	idle_transactions:
	  older_than: 1s
	migrations:
	  command: [/usr/bin/python3, /srv/app/migrate.py]
	  working_directory: /srv/app
	hooks:
	  before_stop:
	    - [/usr/bin/systemctl, is-active, postgresql.service]
	  after_migrate:
	    - [/usr/bin/python3, -c, "import sys; print('after_migrate hook, python', sys.version_info[0])"]
	  after_start:
	    - [/usr/bin/systemctl, is-active, app-api.service]
	  timeout: 30s
PLAN
check "deployctl check accepts the plan" host_run "$h" deployctl check hard

# A forgotten transaction outside the plan's units: it holds a lock on accounts, which the
# migration's ALTER TABLE needs.
host_run "$h" systemd-run --quiet --unit=forgotten-session -p User=api -E PGAPPNAME=forgotten \
	sh -c '{ echo "BEGIN;"; echo "SELECT count(*) FROM accounts;"; exec sleep infinity; } |
		psql -X -q -h /run/postgresql -d app'
forgotten_idle() {
	[ "$(host_psql "$h" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'forgotten'
		AND state = 'idle in transaction' AND state_change < now() - interval '1.5 s'")" = 1 ]
}
check "a forgotten session sits idle in a transaction" wait_for 30 "the forgotten session" forgotten_idle
forgotten_pid=$(host_psql "$h" "SELECT pid FROM pg_stat_activity WHERE application_name = 'forgotten'")

rc=0
out=$(host_as "$h" alice deployctl deploy hard --terminate-idle --release hard-1 2>&1) || rc=$?
check_eq "the deploy succeeds under the shipped unit" 0 "$rc"
[ "$rc" -eq 0 ] || sys_log "deployctl said: $out"
id=$(host_run "$h" journalctl -b -o cat --output-fields=DEPLOY_ID -n 1 \
	DEPLOY_EVENT=deploy-started DEPLOY_PLAN=hard)
ev() { host_run "$h" journalctl -b -o export DEPLOY_ID="$id" DEPLOY_EVENT="$1"; }

terminated=$(ev idle-terminated)
check_contains "the idle terminator ended the forgotten session" "IDLE_PID=$forgotten_pid" "$terminated"
check_contains "…naming its application" "IDLE_APPLICATION=forgotten" "$terminated"
check_eq "…which is gone from the server" 0 \
	"$(host_psql "$h" "SELECT count(*) FROM pg_stat_activity WHERE pid = $forgotten_pid")"

cmd=$(ev command-output)
check_contains "the migration command ran without capabilities" "sandbox CapEff=0000000000000000" "$cmd"
check_contains "…with an empty bounding set" "sandbox CapBnd=0000000000000000" "$cmd"
check_contains "…with no_new_privs" "sandbox NoNewPrivs=1" "$cmd"
check_contains "…under a seccomp filter" "sandbox Seccomp=2" "$cmd"
check_contains "…in deployd.service's cgroup" "/system.slice/deployd.service" "$cmd"
check_contains "…on a read-only /usr (ProtectSystem=strict)" "sandbox /usr EROFS" "$cmd"
check_contains "…and migrated" "migrated: accounts.plan" "$cmd"
check_eq "the column exists" 1 "$(host_psql "$h" "SELECT count(*) FROM information_schema.columns
	WHERE table_name = 'accounts' AND column_name = 'plan'")"
hooks=$(ev hook-output)
check_contains "the after_migrate hook ran python3" "after_migrate hook, python 3" "$hooks"
check_contains "the before_stop hook asked PID 1 (systemctl)" "MESSAGE=before_stop: active" "$hooks"
check_contains "the after_start hook too" "MESSAGE=after_start: active" "$hooks"

check_eq "deployd.service has no drop-in" "" "$(unit_prop "$h" deployd.service DropInPaths)"
check_eq "…and is the package's file" /lib/systemd/system/deployd.service \
	"$(unit_prop "$h" deployd.service FragmentPath)"
check_eq "dpkg --verify: every installed file as shipped" "" "$(host_run "$h" dpkg --verify deployd 2>&1)"

security=$(host_run "$h" systemd-analyze security --no-pager deployd.service 2>&1 || true)
level=$(grep -oE 'Overall exposure level for deployd\.service: [0-9]+\.[0-9]+' <<<"$security" |
	grep -oE '[0-9]+\.[0-9]+$' || true)
if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
	sys_pass "systemd-analyze security deployd.service: $level (at most 2.0)"
else
	sys_fail "systemd-analyze security deployd.service: at most 2.0" "${level:-no level}; $(tail -n 5 <<<"$security")"
fi
