# Package life cycle: upgrade while the daemon is idle and while a deploy runs (the package
# restarts nothing: the running daemon and its deploy go on, and once it has exited when
# idle the next request starts the new binary); remove; purge.
# tier: long
set -euo pipefail
. "$(dirname "$0")/lib.sh"

h=lifecycle
host_create "$h"
host_boot "$h"
next1=/root/deb/$(basename "$SYSTEM_DEB_NEXT1")
next2=/root/deb/$(basename "$SYSTEM_DEB_NEXT2")
version() { host_run "$h" dpkg-query -W -f='${Version}' deployd; }
main_pid() { unit_prop "$h" deployd.service MainPID; }
# exe PID — what the process runs: the path, "(deleted)" once dpkg replaced the file.
exe() { host_run "$h" readlink "/proc/$1/exe"; }

check "dpkg -i installs the package" host_install "$h"
check "the app is set up" host_run "$h" /root/fixtures/setup-app
check "a first deploy" host_as "$h" alice deployctl deploy app --release v1
socket_since=$(unit_prop "$h" deployd.socket ActiveEnterTimestampMonotonic)

# Upgrade while idle: the daemon runs (it answered a request) but deploys nothing.
check "deployd answers a status request" host_as "$h" alice deployctl status
p0=$(main_pid)
check_ne "deployd runs (pid $p0)" "$p0" 0
check "dpkg -i upgrades to $(dpkg-deb -f "$SYSTEM_DEB_NEXT1" Version) while deployd is idle" \
	host_run "$h" dpkg -i "$next1"
check_eq "…the new version is installed" "$(dpkg-deb -f "$SYSTEM_DEB_NEXT1" Version)" "$(version)"
check_eq "…the idle daemon was not restarted" "$p0" "$(main_pid)"
check_eq "…it runs the replaced binary" "/usr/sbin/deployd (deleted)" "$(exe "$p0")"
check "…and still serves requests" host_as "$h" alice deployctl status
check_eq "deployd.socket is still enabled and active" "enabled active" \
	"$(host_run "$h" systemctl is-enabled deployd.socket) $(host_run "$h" systemctl is-active deployd.socket)"

# Upgrade while a deploy runs: its migration waits until the upgrade is done (a row in
# upgrade_gate).
host_psql "$h" "CREATE TABLE upgrade_gate (opened boolean); GRANT SELECT ON upgrade_gate TO app_deploy"
host_write "$h" /srv/app/migrations/3_wait_for_upgrade.sql 0644 <<-'SQL'
	DO $$
	BEGIN
	    WHILE NOT EXISTS (SELECT FROM upgrade_gate) LOOP
	        PERFORM pg_sleep(0.1);
	    END LOOP;
	END
	$$;
SQL
tmp=$(mktemp)
host_as "$h" alice deployctl deploy app --release v2 >"$tmp" 2>&1 &
deploy=$!
migrating() {
	[ "$(host_psql "$h" "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%upgrade_gate%'
		AND pid <> pg_backend_pid()")" = 1 ]
}
check "the deploy runs its migration" wait_for 30 "the migration" migrating
t=$SECONDS
check "dpkg -i upgrades to $(dpkg-deb -f "$SYSTEM_DEB_NEXT2" Version) meanwhile" \
	host_run "$h" dpkg -i "$next2"
sys_log "the upgrade took $((SECONDS - t)) s"
check "…the deploy still runs" sh -c "kill -0 $deploy"
check "…its migration too" migrating
host_psql "$h" "INSERT INTO upgrade_gate VALUES (true)"
rc=0
wait "$deploy" || rc=$?
check_eq "the running deploy was not killed: it ended with exit 0" 0 "$rc"
[ "$rc" -eq 0 ] || sys_log "deployctl said: $(cat "$tmp")"
rm -f "$tmp"
check_eq "…its migration is recorded" 3 \
	"$(host_psql "$h" "SELECT max(version) FROM deployd_schema_migrations")"
check_eq "…by the daemon that was running all along" "$p0" "$(main_pid)"
check_eq "deployd.socket was never restarted" "$socket_since" \
	"$(unit_prop "$h" deployd.socket ActiveEnterTimestampMonotonic)"

# The old daemon exits when idle (60 s, the shipped unit's --idle-exit); the next request
# starts the new binary.
gone() { [ "$(main_pid)" = 0 ]; }
check "the old daemon exits when idle" wait_for 120 "the old daemon to exit" gone
check "the next deploy succeeds" host_as "$h" alice deployctl deploy app --release v3
p1=$(main_pid)
check_ne "…served by a new daemon" "$p1" "$p0"
check_eq "…running the installed binary" /usr/sbin/deployd "$(exe "$p1")"
check_eq "…the very file the upgrade installed" "$(host_run "$h" stat -L -c %i /usr/sbin/deployd)" \
	"$(host_run "$h" stat -L -c %i "/proc/$p1/exe")"

# Remove: the programs and units go, the socket stops; state, plans and the group stay.
check "dpkg -r removes the package" host_run "$h" dpkg -r deployd
check_eq "…deployd.socket is gone" "inactive" "$(host_run "$h" systemctl is-active deployd.socket || true)"
check "…and so is /run/deployd.sock" host_run "$h" test ! -e /run/deployd.sock
check "…no deployd runs" host_run "$h" sh -c '! pgrep -x deployd'
check "…the programs are gone" host_run "$h" sh -c '! test -e /usr/sbin/deployd && ! test -e /usr/bin/deployctl'
check "…the unit files are gone" host_run "$h" sh -c '! test -e /lib/systemd/system/deployd.service'
check "…the state stays (remove is not purge)" host_run "$h" test -s /var/lib/deployd/last-deploy
check "…the plans stay" host_run "$h" test -s /etc/deployd/plans/app.yaml
check "…the group stays" host_run "$h" getent group deploy
check_eq "…dpkg keeps its configuration" "deinstall ok config-files" \
	"$(host_run "$h" dpkg-query -W -f='${Status}' deployd)"
check_eq "the app runs on" active "$(host_run "$h" systemctl is-active app-api.service)"

# Purge: the package's state goes.  What the administrator made stays: the plans and keys
# in /etc/deployd, and the group (files may still carry its id; Debian removes no system
# group on purge).
check "dpkg -P purges the package" host_run "$h" dpkg -P deployd
check_eq "…dpkg knows it no more" "" "$(host_run "$h" dpkg-query -W -f='${Status}' deployd 2>/dev/null || true)"
check "…its state /var/lib/deployd is gone" host_run "$h" test ! -e /var/lib/deployd
check "…the socket's enablement is gone" \
	host_run "$h" test ! -e /etc/systemd/system/sockets.target.wants/deployd.socket
check "…the administrator's plan stays" host_run "$h" test -s /etc/deployd/plans/app.yaml
check "…the group stays" host_run "$h" getent group deploy
