# A deploy through systemd: `systemctl start deploy@PLAN.service` (the shipped template,
# a oneshot running deployctl) succeeds, and fails with the deploy's exit code; the
# deploy's steps are in `journalctl -u deploy@PLAN.service`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

h=deploy-unit
host_create "$h"
host_boot "$h"
check "dpkg -i installs the package" host_install "$h"
check "the app is set up" host_run "$h" /root/fixtures/setup-app

api_before=$(unit_prop "$h" app-api.service MainPID)
rc=0
out=$(host_run "$h" systemctl start deploy@app.service 2>&1) || rc=$?
check_eq "systemctl start deploy@app.service succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || sys_log "systemctl said: $out"
check_eq "…the oneshot exited 0" "success 0" \
	"$(unit_prop "$h" deploy@app.service Result) $(unit_prop "$h" deploy@app.service ExecMainStatus)"
check_ne "…and restarted the app" "$(unit_prop "$h" app-api.service MainPID)" "$api_before"
check_eq "…and applied the migrations" 2 \
	"$(host_psql "$h" "SELECT count(*) FROM deployd_schema_migrations")"
journal=$(host_run "$h" journalctl -b -o cat -u deploy@app.service)
check_match "journalctl -u deploy@app shows the units stopped" \
	'Unit app-api\.service( on [^ ]+)? stopped' "$journal"
check_contains "…the migrations applied" "Applied migration 2_create_users.sql" "$journal"
check_match "…and the units started" 'Unit app-scheduler\.service( on [^ ]+)? started' "$journal"

# A plan whose second migration fails: the deploy ends with exit 7 (units left stopped).
host_sh "$h" 'install -d -m 0755 /srv/broken
	printf "CREATE TABLE broken_ok (id int);\n" >/srv/broken/1_ok.sql
	printf "SELECT 1;\nSELECT * FROM no_such_table;\n" >/srv/broken/2_missing_table.sql'
host_write "$h" /etc/deployd/plans/broken.yaml 0644 <<-'PLAN'
	version: 1
	database:
	  conninfo: "host=/run/postgresql dbname=app user=app_deploy"
	services:
	  units: [app-api.service, app-worker.service, app-scheduler.service]
	migrations:
	  directory: /srv/broken
	  table: broken_history
PLAN
check "deployctl check accepts the broken plan" host_run "$h" deployctl check broken
rc=0
out=$(host_run "$h" systemctl start deploy@broken.service 2>&1) || rc=$?
check_ne "systemctl start deploy@broken.service fails" "$rc" 0
check_contains "…saying the deploy's process failed" \
	"Job for deploy@broken.service failed because the control process exited with error code" "$out"
check_eq "…with the deploy's exit code 7 (migration failed)" "exit-code 7" \
	"$(unit_prop "$h" deploy@broken.service Result) $(unit_prop "$h" deploy@broken.service ExecMainStatus)"
journal=$(host_run "$h" journalctl -b -o cat -u deploy@broken.service)
check_contains "journalctl -u deploy@broken shows the first migration applied" \
	"Applied migration 1_ok.sql" "$journal"
check_match "…and the failing one with its SQLSTATE" '2_missing_table\.sql.*42P01' "$journal"
check_eq "the units were left stopped (on_failure: leave-stopped)" inactive \
	"$(host_run "$h" systemctl is-active app-api.service || true)"
check_eq "the failed migration left no history row" 1 \
	"$(host_psql "$h" "SELECT count(*) FROM broken_history")"
