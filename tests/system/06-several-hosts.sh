# Several hosts, set up exactly as the README says ("Several hosts"): three booted hosts on
# this machine's network, each service on a 127.0.0.x address of its own.  app1 runs
# deployd, PostgreSQL (Unix socket only) and app-api.service; app2 (sshd on
# 127.0.0.212:22) and app3 (127.0.0.213:2222) each run a system unit (app-HOST.service)
# and a unit of user deploy's manager (app-user-HOST.service); root and deploy there hold
# deployd's key with the README's forced-command options.  A deploy restarts the units on
# all three hosts, for bus: system and for bus: user.  A bus: user plan through a key that
# hands out the system manager, an unreachable host (app4, 127.0.0.214: nothing listens)
# and a host whose key is not the known one (app5: app2's address) fail the preflight,
# each named, nothing stopped.
# tier: long
set -euo pipefail
. "$(dirname "$0")/lib.sh"

HOST_NETWORK=shared
declare -A addr=([app2]=127.0.0.212 [app3]=127.0.0.213 [app4]=127.0.0.214)
declare -A port=([app2]=22 [app3]=2222 [app4]=22)

# These addresses and ports are this scenario's: one run at a time on a machine, and
# nothing else may listen there (other tests use other 127.0.0.x addresses, high ports).
exec 7>/run/deployd-system-several-hosts.lock
flock -w 600 7 || sys_die "another run of this scenario holds /run/deployd-system-several-hosts.lock"
for h in app2 app3 app4; do
	if ss -Hltn "src ${addr[$h]}:${port[$h]}" | grep -q .; then
		sys_die "something listens on ${addr[$h]}:${port[$h]} already: $(ss -Hltnp "src ${addr[$h]}:${port[$h]}")"
	fi
done

host_create app1 && host_create app2 && host_create app3
etc_hosts="127.0.0.212	app2.internal app5.internal
127.0.0.213	app3.internal
127.0.0.214	app4.internal"
# app1: no sshd; PostgreSQL on its Unix socket only.
host_mask app1 ssh.service
echo "listen_addresses = ''" >"$(host_root app1)/etc/postgresql/15/main/conf.d/unix-socket-only.conf"
echo "$etc_hosts" >>"$(host_root app1)/etc/hosts"
for h in app2 app3; do
	root=$(host_root "$h")
	host_mask "$h" postgresql.service postgresql@15-main.service
	# A host key of its own (the cached root's were made once for all hosts).
	rm -f "$root"/etc/ssh/ssh_host_*
	ssh-keygen -q -A -f "$root"
	printf 'ListenAddress %s:%s\n' "${addr[$h]}" "${port[$h]}" >"$root/etc/ssh/sshd_config.d/address.conf"
	# The units deployd restarts: system units, and user units of user deploy.
	cat >"$root/etc/systemd/system/app-$h.service" <<-EOF
		[Unit]
		Description=app on $h (system unit)
		[Service]
		User=daemon
		ExecStart=/bin/sleep infinity
		[Install]
		WantedBy=multi-user.target
	EOF
	ln -s "../app-$h.service" "$root/etc/systemd/system/multi-user.target.wants/app-$h.service"
done
host_boot app1 app2 app3

check "app1: dpkg -i installs the package" host_install app1
check "app1: the app is set up" host_run app1 /root/fixtures/setup-app
for h in app2 app3; do
	# User deploy, its manager kept running (loginctl enable-linger), its own unit.
	host_sh "$h" 'useradd -m -s /bin/bash deploy
		install -d -o deploy -g deploy /home/deploy/.config /home/deploy/.config/systemd \
			/home/deploy/.config/systemd/user
		printf "[Unit]\nDescription=app on %s (user unit)\n[Service]\nExecStart=/bin/sleep infinity\n" \
			"$1" >/home/deploy/.config/systemd/user/app-user-$1.service
		chown deploy:deploy /home/deploy/.config/systemd/user/app-user-$1.service
		loginctl enable-linger deploy' "$h"
done
user_ctl() { # user_ctl HOST ARG… — systemctl --user of user deploy on HOST
	local h=$1
	shift
	host_run "$h" runuser -u deploy -- env XDG_RUNTIME_DIR="/run/user/$(host_run "$h" id -u deploy)" \
		systemctl --user "$@"
}
for h in app2 app3; do
	user_running() { user_ctl "$1" is-system-running --wait; }
	check "$h: deploy's user manager runs" wait_for 60 "deploy's manager on $h" user_running "$h"
	check "$h: its unit starts" user_ctl "$h" start "app-user-$h.service"
done

# The README, on app1: a key, the hosts' keys, compared with the hosts' own.
host_sh app1 'ssh-keygen -q -t ed25519 -N "" -C deployd@app1 -f /etc/deployd/ssh/id_ed25519
	ssh-keyscan -t ed25519 app2.internal >>/etc/deployd/ssh/known_hosts 2>/dev/null
	ssh-keyscan -t ed25519 -p 2222 app3.internal >>/etc/deployd/ssh/known_hosts 2>/dev/null'
for h in app2 app3; do
	own=$(host_run "$h" ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2)
	scanned=$(host_run app1 ssh-keygen -lf /etc/deployd/ssh/known_hosts | grep -F "$h.internal" | cut -d' ' -f2)
	check_eq "app1's known_hosts holds $h's own key" "$own" "$scanned"
done
# app5.internal is app2's address under a name whose known key is another one.
host_sh app1 'ssh-keygen -q -t ed25519 -N "" -f /root/not-app5
	echo "app5.internal $(cut -d" " -f1,2 /root/not-app5.pub)" >>/etc/deployd/ssh/known_hosts'

# On app2 and app3: the key for root (bus: system) and for deploy (bus: user), limited to
# the bridge by the README's own authorized_keys options, taken from its "Several hosts":
# one line for both buses, or one for each (the user bus's names its path, with UID).
readme=$SYSTEM_SRC/../../README.md
mapfile -t documented < <(sed -n '/^## Several hosts/,/^## [^S]/p' "$readme" |
	grep -oE 'restrict,command="[^"]*"' || true)
[ ${#documented[@]} -gt 0 ] || sys_die "$readme shows no restrict,command=… line under Several hosts"
system_opts= user_opts=
for o in "${documented[@]}"; do
	case $o in
	*--bus-path*) user_opts=${user_opts:-$o} ;;
	*) system_opts=${system_opts:-$o} ;;
	esac
done
[ -n "$system_opts" ] || sys_die "the README shows no authorized_keys line for bus: system"
user_opts=${user_opts:-$system_opts}
sys_log "README's authorized_keys options: bus: system: $system_opts; bus: user: $user_opts"
pub=$(host_run app1 cat /etc/deployd/ssh/id_ed25519.pub)
for h in app2 app3; do
	uid=$(host_run "$h" id -u deploy)
	host_sh "$h" 'install -d -m 0700 /root/.ssh && echo "$1 $3" >/root/.ssh/authorized_keys
		install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
		echo "$2 $3" >/home/deploy/.ssh/authorized_keys
		chown deploy:deploy /home/deploy/.ssh/authorized_keys' \
		"$system_opts" "${user_opts//UID/$uid}" "$pub"
done

plan() { # plan NAME — standard input: the services section
	{
		printf 'version: 1\ndatabase:\n  conninfo: "host=/run/postgresql dbname=app user=app_deploy"\n'
		cat
		printf 'migrations:\n  directory: /srv/app/migrations\n'
	} | host_write app1 "/etc/deployd/plans/$1.yaml" 0644
	check "deployctl check $1" host_run app1 deployctl check "$1"
}
plan system <<-'EOF'
	services:
	  units: [app-api.service]
	  remote:
	    - host: root@app2.internal
	      units: [app-app2.service]
	    - host: root@app3.internal:2222
	      bus: system
	      units: [app-app3.service]
EOF
plan user <<-'EOF'
	services:
	  units: [app-api.service]
	  remote:
	    - host: deploy@app2.internal
	      bus: user
	      units: [app-user-app2.service]
	    - host: deploy@app3.internal:2222
	      bus: user
	      units: [app-user-app3.service]
EOF
# bus: user through root's key, which hands out the system manager: the preflight must see
# that it reached the wrong kind of manager, although that one has a unit of the name.
plan wrongbus <<-'EOF'
	services:
	  units: [app-api.service]
	  remote:
	    - host: root@app2.internal
	      bus: user
	      units: [app-app2.service]
EOF
plan unreachable <<-'EOF'
	services:
	  units: [app-api.service]
	  remote:
	    - host: root@app2.internal
	      units: [app-app2.service]
	    - host: root@app4.internal
	      units: [app-app2.service]
	    - host: root@app5.internal
	      units: [app-app2.service]
EOF

pids() { # the main pids of every unit of the scenario, as one line
	echo "api=$(unit_prop app1 app-api.service MainPID)" \
		"app2=$(unit_prop app2 app-app2.service MainPID)" \
		"app3=$(unit_prop app3 app-app3.service MainPID)" \
		"user2=$(user_ctl app2 show -P MainPID app-user-app2.service)" \
		"user3=$(user_ctl app3 show -P MainPID app-user-app3.service)"
}
pid_of() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# bus: system on both remote hosts.
before=$(pids)
rc=0
out=$(host_as app1 alice deployctl deploy system --release multi-1 2>&1) || rc=$?
sys_detail "$out"
check_eq "bus: system: the deploy over three hosts succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || sys_log "deployctl said: $out"
after=$(pids)
for u in api app2 app3; do
	check_ne "bus: system: $u restarted" "$(pid_of "$after" "$u")" "$(pid_of "$before" "$u")"
done
check_contains "…the output names the unit on app3 with its port" \
	"Unit app-app3.service on root@app3.internal:2222 started" "$out"
check_contains "…the journal carries the host of each unit" "DEPLOY_HOST=root@app2.internal" \
	"$(host_run app1 journalctl -b -o export DEPLOY_EVENT=unit-stopped DEPLOY_UNIT=app-app2.service)"
for h in app2 app3; do
	check_eq "bus: system: $h's unit is active" active "$(host_run "$h" systemctl is-active "app-$h.service")"
done

# bus: user on both remote hosts, with the same forced-command keys.
before=$(pids)
rc=0
out=$(host_as app1 alice deployctl deploy user --release multi-2 2>&1) || rc=$?
check_eq "bus: user: the deploy over three hosts succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || sys_log "deployctl said: $out"
after=$(pids)
for u in api user2 user3; do
	check_ne "bus: user: $u restarted" "$(pid_of "$after" "$u")" "$(pid_of "$before" "$u")"
done
for u in app2 app3; do
	check_eq "bus: user: the system unit on $u was left alone" "$(pid_of "$before" "$u")" \
		"$(pid_of "$after" "$u")"
done

# An unreachable host and a wrong host key: the preflight fails, naming each; nothing stops.
before=$(pids)
rc=0
out=$(host_as app1 alice deployctl deploy unreachable 2>&1) || rc=$?
sys_detail "$out"
check_eq "unreachable hosts: the preflight fails with exit 5" 5 "$rc"
check_match "…naming app4 and ssh's reason" 'root@app4\.internal.*Connection refused' "$out"
check_match "…naming app5 and ssh's reason" 'root@app5\.internal.*Host key verification failed' "$out"
check_lacks "…and not the reachable app2" "root@app2.internal:" "$out"
check_eq "…nothing was stopped" "$before" "$(pids)"

# A key that hands out the system manager to a bus: user plan: refused, nothing restarted.
before=$(pids)
rc=0
out=$(host_as app1 alice deployctl deploy wrongbus 2>&1) || rc=$?
sys_detail "$out"
check_eq "bus: user through a system-bus key: the preflight fails with exit 5" 5 "$rc"
check_match "…its reason naming the host" '^Why: .*root@app2\.internal' "$out"
check_eq "…nothing was stopped (not the system unit of that name either)" "$before" "$(pids)"
