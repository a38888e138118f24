# Install and first deploy: dpkg -i on a fresh host, the socket listening, an operator in
# group deploy deploys the app (three system units, each its own user with a PostgreSQL
# session); the units were restarted, the history written, and deployd.service was started
# by the socket and exits again when idle.
# tier: long
set -euo pipefail
. "$(dirname "$0")/lib.sh"

h=install
host_create "$h"
host_boot "$h"

check "dpkg -i installs the package" host_install "$h"
check "group deploy exists" host_run "$h" getent group deploy
check_eq "deployd.socket is enabled" enabled "$(host_run "$h" systemctl is-enabled deployd.socket)"
check_eq "deployd.socket is active" active "$(host_run "$h" systemctl is-active deployd.socket)"
check_eq "/run/deployd.sock is a socket, 0660 root:deploy" "socket 660 root deploy" \
	"$(host_run "$h" stat -c '%F %a %U %G' /run/deployd.sock)"
check_eq "deployd.service is not running before the first request" inactive \
	"$(host_run "$h" systemctl is-active deployd.service || true)"
check_eq "the plan directory exists, root's, 0755" "755 root root" \
	"$(host_run "$h" stat -c '%a %U %G' /etc/deployd/plans)"

check "the app is set up (units, database, plan)" host_run "$h" /root/fixtures/setup-app
check "deployctl check validates the plan" host_run "$h" deployctl check app

declare -A pid_before user_of=([api]=api [worker]=worker [scheduler]=scheduler)
for u in api worker scheduler; do
	pid_before[$u]=$(unit_prop "$h" "app-$u.service" MainPID)
	check_eq "app-$u.service runs as user $u" "$u" \
		"$(host_run "$h" ps -o user= -p "${pid_before[$u]}" | tr -d ' ')"
done
check_eq "each app unit holds a PostgreSQL session of its own role" \
	"app-api|api app-scheduler|scheduler app-worker|worker" \
	"$(host_psql "$h" "SELECT application_name || '|' || usename FROM pg_stat_activity
		WHERE application_name LIKE 'app-%' ORDER BY 1" | tr '\n' ' ' | sed 's/ $//')"
t0=$(host_psql "$h" "SELECT now()")

rc=0
out=$(host_as "$h" alice deployctl deploy app --release v1 2>&1) || rc=$?
check_eq "alice (group deploy) deploys: exit 0" 0 "$rc"
[ "$rc" -eq 0 ] || sys_log "deployctl said: $out"
for u in api worker scheduler; do
	check_match "the output says app-$u.service stopped and started" \
		"Unit app-$u\.service( on [^ ]+)? stopped.*Unit app-$u\.service( on [^ ]+)? started" \
		"$(tr '\n' ' ' <<<"$out")"
done

for u in api worker scheduler; do
	pid=$(unit_prop "$h" "app-$u.service" MainPID)
	check_ne "app-$u.service was restarted (new main pid)" "$pid" "${pid_before[$u]}"
	check_eq "app-$u.service is active again" active "$(host_run "$h" systemctl is-active "app-$u.service")"
done
# The units connect once started: wait for their sessions (bounded only to catch a hang).
new_sessions() {
	[ "$(host_psql "$h" "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'app-%'
		AND backend_start > '$t0'")" = 3 ]
}
check "the restarted units hold new sessions (begun after the deploy started)" \
	wait_for 30 "three new sessions" new_sessions
check_eq "history rows for both migrations" "1|create_accounts 2|create_users" \
	"$(host_psql "$h" "SELECT version || '|' || name FROM deployd_schema_migrations ORDER BY version" |
		tr '\n' ' ' | sed 's/ $//')"
check_eq "the tables exist, owned by app_deploy" \
	"accounts|app_deploy deployd_schema_migrations|app_deploy users|app_deploy" \
	"$(host_psql "$h" "SELECT tablename || '|' || tableowner FROM pg_tables WHERE schemaname = 'public'
		ORDER BY 1" | tr '\n' ' ' | sed 's/ $//')"

check_eq "deployd.service was triggered by deployd.socket" deployd.socket \
	"$(unit_prop "$h" deployd.service TriggeredBy)"
check_ne "deployd.service was started for the request" \
	"$(unit_prop "$h" deployd.service ExecMainStartTimestampMonotonic)" 0
alice=$(host_run "$h" id -u alice)
started=$(host_run "$h" journalctl -b -o export _SYSTEMD_UNIT=deployd.service DEPLOY_EVENT=deploy-started)
check_contains "deploy-started was logged by deployd.service running as root" "_UID=0" "$started"
check_contains "…naming alice as the requester" "REQUESTER_UID=$alice" "$started"
check_contains "…and the release" "DEPLOY_RELEASE=v1" "$started"
check_contains "deploy-finished says ok" "DEPLOY_RESULT=ok" \
	"$(host_run "$h" journalctl -b -o export _SYSTEMD_UNIT=deployd.service DEPLOY_EVENT=deploy-finished)"

# The shipped unit says --idle-exit 60.
deployd_inactive() { [ "$(host_run "$h" systemctl is-active deployd.service)" = inactive ]; }
if wait_for 120 "deployd.service to exit when idle" deployd_inactive; then
	sys_pass "deployd.service exits when idle"
else
	sys_fail "deployd.service exits when idle" "$(host_run "$h" systemctl status deployd.service 2>&1)"
fi
check_eq "…with status 0 (result success)" "success 0" \
	"$(unit_prop "$h" deployd.service Result) $(unit_prop "$h" deployd.service ExecMainStatus)"
check_eq "deployd.socket still listens after the daemon left" active \
	"$(host_run "$h" systemctl is-active deployd.socket)"
rc=0
host_as "$h" alice deployctl status >/dev/null 2>&1 || rc=$?
check_eq "the next request starts deployd again" "0 active" \
	"$rc $(host_run "$h" systemctl is-active deployd.service)"
