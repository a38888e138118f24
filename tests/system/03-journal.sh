# Journal review on the host: a failed migration's entry carries the installed catalog's
# explanation (`journalctl -x DEPLOY_EVENT=migration-failed`), and `deployctl log --last`
# shows the last deploy step by step.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

h=journal
host_create "$h"
host_boot "$h"
check "dpkg -i installs the package" host_install "$h"
check "the app is set up" host_run "$h" /root/fixtures/setup-app
check "the first deploy succeeds" host_as "$h" alice deployctl deploy app --release v1

host_sh "$h" 'printf "%s\n" "-- release 2" "ALTER TABLE accounts ADD COLUMN plan text;" \
	"SELECT 1 / 0;" >/srv/app/migrations/3_accounts_plan.sql'
rc=0
out=$(host_as "$h" alice deployctl deploy app --release v2 2>&1) || rc=$?
check_eq "a deploy whose migration divides by zero ends with exit 7" 7 "$rc"

x=$(host_run "$h" journalctl -b -x DEPLOY_EVENT=migration-failed)
check_contains "journalctl -x shows the catalog's subject for the failed migration" \
	"migration 3 failed" "$x"
check_contains "…its text with the entry's fields filled in" \
	"Migration 3 (accounts_plan) of plan app failed" "$x"
check_contains "…naming file, line and SQLSTATE" \
	"at /srv/app/migrations/3_accounts_plan.sql:3 with SQLSTATE 22012" "$x"
check_contains "…and what to do" "Fix the migration (or its cause) and deploy again" "$x"
check_lacks "…without unreplaced @FIELDS@" "@MIGRATION_VERSION@" "$x"
check_eq "the failed migration left nothing: no column, no history row" "0 2" \
	"$(host_psql "$h" "SELECT count(*) FROM information_schema.columns
		WHERE table_name = 'accounts' AND column_name = 'plan'") $(host_psql "$h" \
		"SELECT count(*) FROM deployd_schema_migrations")"

last_id=$(host_run "$h" journalctl -b -o cat --output-fields=DEPLOY_ID -n 1 DEPLOY_EVENT=deploy-started)
log=$(host_run "$h" deployctl log --last)
check_contains "deployctl log --last shows the last deploy" "Deploy $last_id of plan app started (release v2)" "$log"
check_lacks "…and no other" "(release v1)" "$log"
check_match "…step by step: units stopped" 'stop +Unit app-api\.service stopped' "$log"
check_match "…the failing migration and its SQLSTATE" \
	'migrate +Migration 3_accounts_plan\.sql failed at /srv/app/migrations/3_accounts_plan\.sql:3: 22012' "$log"
check_contains "…and the outcome" "Deploy $last_id failed (exit 7)" "$log"
