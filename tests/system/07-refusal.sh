# Refusal: a user outside group deploy cannot ask for a deploy, and a plan that someone
# other than root may write is refused; neither touches the app.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

h=refusal
host_create "$h"
host_boot "$h"
check "dpkg -i installs the package" host_install "$h"
check "the app is set up" host_run "$h" /root/fixtures/setup-app
api_before=$(unit_prop "$h" app-api.service MainPID)
check_eq "bob is in no group deploy" "bob" "$(host_run "$h" id -Gn bob)"

rc=0
out=$(host_as "$h" bob deployctl deploy app 2>&1) || rc=$?
check_eq "bob's deploy request ends with exit 9 (permission denied)" 9 "$rc"
check_contains "…saying so" "Permission denied" "$out"
rc=0
out=$(host_as "$h" bob deployctl status 2>&1) || rc=$?
check_eq "bob's status request ends with exit 9 too" 9 "$rc"

# Plans a non-root user may change: owned by alice; group-writable (group deploy);
# writable by everyone.
host_sh "$h" '
	cd /etc/deployd/plans
	install -m 0644 -o alice -g alice app.yaml owned.yaml
	install -m 0664 -o root -g deploy app.yaml groupw.yaml
	install -m 0666 -o root -g root app.yaml worldw.yaml'
for plan in owned groupw worldw; do
	rc=0
	out=$(host_as "$h" alice deployctl deploy "$plan" 2>&1) || rc=$?
	check_eq "plan $plan ($(host_run "$h" stat -c '%U:%G %a' /etc/deployd/plans/$plan.yaml)) is refused with exit 3" 3 "$rc"
	check_contains "…naming the file" "/etc/deployd/plans/$plan.yaml" "$out"
done
check_eq "no deploy started" "" \
	"$(host_run "$h" journalctl -b -o cat DEPLOY_EVENT=deploy-started)"
check_eq "the app was not touched" "$api_before" "$(unit_prop "$h" app-api.service MainPID)"
check_eq "…and not migrated" 0 "$(host_psql "$h" "SELECT count(*) FROM pg_tables WHERE tablename = 'accounts'")"
check "alice's own deploy of the root-owned plan still works" host_as "$h" alice deployctl deploy app
