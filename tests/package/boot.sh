#!/usr/bin/env bash
# tests/package/boot.sh ROOT: boots ROOT (a Debian 12 with the tandem package installed, from
# check.sh) under systemd-nspawn with a private network (loopback only), then, under the real
# systemd inside: etcd, three tandemd@ units written by tandemctl init, a leader, the watchdog
# restarting a frozen (SIGSTOPped) agent, a stop of the leader without a SIGKILL, a killed leader
# failed over, and `systemctl reload hellod` under load with no failed request.
# Prints ok:/FAILED: lines; exit 1 on a failure. Needs root.
set -uo pipefail
root=${1:?usage: boot.sh ROOT}
failed=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; failed=1; }

# --- the node's files, written in the root before it boots
chroot "$root" sh -e -c '
  rm -f /etc/tandem/*.yml /etc/tandem/*.env
  for n in 1 2 3; do
    s=""; [ $n = 1 ] || s="--secrets /etc/tandem/15-m1.env"
    tandemctl init --cluster 15-m$n --scope vm --name m$n --etcd 127.0.0.1:2379 \
      --connect-address 127.0.0.1 --listen 127.0.0.1 --pg-port 2543$n --rest-port 2800$n \
      --allow 127.0.0.1/32 $s >/dev/null
    systemctl enable -q tandemd@15-m$n
  done
  printf "listen: 127.0.0.1:28080\ndatabase: host=127.0.0.1,127.0.0.1,127.0.0.1 port=25431,25432,25433 dbname=hello user=hello target_session_attrs=read-write\nallow: 127.0.0.1/32\n" >/etc/tandem/hellod.yml
  chown root:hellod /etc/tandem/hellod.yml; chmod 640 /etc/tandem/hellod.yml
  echo PGPASSWORD=hello-pw >/etc/tandem/hellod.env; chmod 600 /etc/tandem/hellod.env
  systemctl enable -q etcd' || { bad "preparing the root"; exit 1; }

systemd-nspawn -q --register=no --keep-unit --private-network -D "$root" -b \
  --console=read-only >"$root.boot.log" 2>&1 &
nspawn=$!
trap 'kill -TERM $nspawn 2>/dev/null; wait $nspawn 2>/dev/null; rm -f "$root.boot.log"' EXIT
init=""
for _ in $(seq 60); do
  init=$(pgrep -P "$nspawn" -x systemd | head -1)
  [ -n "$init" ] && break
  sleep 1
done
[ -n "$init" ] || { tail -20 "$root.boot.log"; bad "systemd-nspawn -b: no systemd in the container"; exit 1; }
vm() { nsenter -t "$init" -m -u -i -n -p -- "$@"; }
state=""
for _ in $(seq 120); do
  state=$(vm systemctl is-system-running 2>/dev/null)
  case $state in running | degraded) break ;; esac
  sleep 1
done
[ "$state" = running ] && ok "Debian 12 booted under systemd-nspawn (is-system-running: running)" ||
  bad "the container's system is $state: $(vm systemctl --failed --no-legend 2>&1 | tr '\n' ' ')"

list() { vm sh -c 'set -a; . /etc/tandem/15-m1.env; tandemctl -c /etc/tandem/15-m1.yml list' 2>&1; }
leader() { list | awk -F'|' '$4 ~ /Leader/ {gsub(/ /, "", $2); print $2}'; }
wait_for() { # description seconds command...
  local d=$1 t=$2; shift 2
  for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && { ok "$d"; return 0; }; sleep 1; done
  bad "$d (not within $t s)"; list; return 1
}
two_streaming() { [ "$(list | grep -c streaming)" = 2 ]; }
# The current leader's name; the test ends when there is none (every step below needs one).
current_leader() {
  local l
  l=$(leader)
  [ -n "$l" ] || { echo "FAILED: no leader" >&2; list >&2; exit 1; }
  echo "$l"
}
wait_for "three tandemd@ units: a leader and two streaming replicas" 240 two_streaming
check_status() { vm systemctl show -p StatusText --value "tandemd@15-$(leader)" | grep -q "^primary, running"; }
wait_for "systemctl status shows the leader's role (STATUS=)" 30 check_status

# --- the watchdog: a frozen leader's agent is restarted by systemd, another member leads
old=$(current_leader) || exit 1
since=$(vm date '+%Y-%m-%d %H:%M:%S')
pid=$(vm systemctl show -p MainPID --value "tandemd@15-$old")
[ "${pid:-0}" -gt 1 ] || { bad "tandemd@15-$old has no main process"; exit 1; }
vm kill -STOP "$pid"
restarted() { n=$(vm systemctl show -p MainPID --value "tandemd@15-$old"); [ "$n" != "$pid" ] && [ "$n" != 0 ]; }
wait_for "SIGSTOPped tandemd@15-$old restarted by systemd's watchdog" 90 restarted
# systemd's own lines about the unit, from the whole journal (-u leaves some out here)
vm journalctl --no-pager --since "$since" | grep -q "tandemd@15-$old.service: Watchdog timeout" &&
  ok "the journal says: Watchdog timeout" || bad "no 'Watchdog timeout' in the journal"
other_leads() { l=$(leader); [ -n "$l" ] && [ "$l" != "$1" ]; }
wait_for "the restarted member streams again" 120 two_streaming

# --- the stop sequence: SIGTERM to tandemd only, PostgreSQL stopped fast, no SIGKILL
old=$(current_leader) || exit 1
since=$(vm date '+%Y-%m-%d %H:%M:%S')
vm systemctl stop "tandemd@15-$old"
vm journalctl --no-pager --since "$since" | grep -q "tandemd@15-$old.service: .*SIGKILL" &&
  bad "systemctl stop of the leader SIGKILLed something" ||
  ok "systemctl stop tandemd@15-$old: leadership handed over, no SIGKILL"
vm sh -c "! pgrep -f '[p]ostgres -D /var/lib/postgresql/15/$old'" && ok "its PostgreSQL stopped" ||
  bad "its PostgreSQL still runs"
wait_for "another member leads after the stop" 60 other_leads "$old"
vm systemctl start "tandemd@15-$old"
wait_for "the stopped member streams again" 120 two_streaming

# --- a leader killed (tandemd and PostgreSQL, SIGKILL; not restarted)
old=$(current_leader) || exit 1
vm sh -c "systemctl kill -s SIGKILL tandemd@15-$old; systemctl stop tandemd@15-$old"
wait_for "failover after the leader was killed" 90 other_leads "$old"
vm systemctl start "tandemd@15-$old"
wait_for "the killed member rejoins and streams" 180 two_streaming

# --- hellod: systemctl reload under load, no failed request
l=$(current_leader) || exit 1
port=$(vm sh -c "grep -A2 '^postgresql:' /etc/tandem/15-$l.yml | awk -F: '/connect_address/ {print \$3}' | tr -d \"' \"")
vm sh -c "set -a; . /etc/tandem/15-m1.env; PGPASSWORD=\$PATRONI_SUPERUSER_PASSWORD psql -h 127.0.0.1 -p $port -U postgres -qc \"create role hello login password 'hello-pw'\" -c 'create database hello owner hello'" >/dev/null 2>&1
vm systemctl start hellod
answers() { vm curl -sf -X PUT -H 'Content-Type: application/json' -d '{"dateOfBirth":"2000-01-01"}' http://127.0.0.1:28080/hello/alice; }
wait_for "hellod.service serves" 30 answers
before=$(vm systemctl show -p MainPID --value hellod)
vm sh -c 'end=$(( $(date +%s) + 20 )); for c in 1 2 3 4; do ( while [ $(date +%s) -lt $end ]; do curl -s -o /dev/null -w "%{http_code}\n" --max-time 10 http://127.0.0.1:28080/hello/alice; done ) >/run/load.$c & done; wait' &
load=$!
sleep 4
vm systemctl reload hellod
mid=""
for _ in $(seq 20); do mid=$(vm systemctl show -p MainPID --value hellod); [ "$mid" != "$before" ] && break; sleep 0.5; done
sleep 3
vm systemctl reload hellod
wait $load
codes=$(vm sh -c 'cat /run/load.* | sort | uniq -c')
after=$(vm systemctl show -p MainPID --value hellod)
echo "   hellod MainPID $before -> $mid -> $after; answers: $(echo "$codes" | tr '\n' ' ')"
if [ "$mid" != "$before" ] && [ "$after" != "$mid" ] && ! echo "$codes" | grep -qv " 200$" &&
  [ "$(vm systemctl show -p ActiveState --value hellod)" = active ]; then
  ok "systemctl reload hellod twice under load: new processes, every request answered 200"
else
  bad "systemctl reload hellod under load"
fi
exit $failed
