#!/usr/bin/env bash
# hellod against pgbench on the same PostgreSQL: bash bench/hellod.sh BUILD_DIR  (make bench)
#
# Starts its own PostgreSQL 15 (as the postgres user, in a temporary directory, on a free port of
# 127.0.0.1; max_connections 200, shared_buffers 256MB, fsync and synchronous_commit left at their
# defaults) and hellod on it (default workers); hellod creates the schema. Preloads 10,000 users,
# then measures for DURATION seconds each (default 15), with 64 connections and 2 threads:
#   GET user  wrk bench/get.lua: GET /hello/<random preloaded user>
#             pgbench bench/pg_get.sql: hellod's SELECT, one primary-key lookup
#   PUT user  wrk bench/put.lua: PUT /hello/<random letters> {"dateOfBirth":"1990-05-17"}
#             pgbench bench/pg_put.sql: hellod's INSERT ... ON CONFLICT upsert
# and prints requests/s, p50 and p99 latency of each (wrk --latency; pgbench per-transaction logs
# -l, sorted), hellod's memory (VmRSS, VmHWM) and how the CPU time was split between the load
# generator, hellod and PostgreSQL. Goals: hellod/pgbench >= 0.7, p99 < 10 ms, RSS < 20 MB.
#
# The preloaded usernames are 16 letters derived from the id, translate(left(md5(id), 16), digits
# -> 'ghijklmnop'): they look random and are spread uniformly over the primary key, and pgbench,
# whose variables are numbers, computes the name from a random id inside the same single-lookup
# query (a few microseconds of md5 against a round trip of tens). A side table bench_names(id,
# username) would cost pgbench a second index lookup per query.
#
# Environment: DURATION (seconds per measurement, default 15), WARMUP (seconds, default 2),
# HELLOD_ARGS (extra hellod flags for experiments, e.g. "--db-pool-size 8"; the table is only
# comparable to others with the defaults).
# Everything (processes, temporary directory) is cleaned up on exit.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -x "$1/src/hellod/hellod" ]; then
  echo "usage: $0 BUILD_DIR   (BUILD_DIR/src/hellod/hellod must exist: run make first)" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
hellod_bin=$build/src/hellod/hellod
duration=${DURATION:-15}
warmup=${WARMUP:-2}
conns=64
threads=2
users=10000
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}

for tool in wrk curl ss runuser setpriv; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (make deps)" >&2; exit 2; }
done
for tool in initdb pg_ctl psql pgbench; do
  [ -x "$pgbin/$tool" ] || { echo "bench: $pgbin/$tool is missing (make deps)" >&2; exit 2; }
done
id postgres >/dev/null 2>&1 || { echo "bench: no postgres user (apt-get install postgresql-15)" >&2; exit 2; }

load_at_start=$(cut -d ' ' -f 1-3 /proc/loadavg)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tandem-bench.XXXXXX")
chmod 755 "$tmp"
pgdata=$tmp/pgdata
pgsock=$tmp/sock
hellod_pid=
pg_started=
load_pid=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$load_pid" ]; then kill "$load_pid" 2>/dev/null || true; wait "$load_pid" 2>/dev/null || true; fi
  if [ -n "$hellod_pid" ]; then
    kill -TERM "$hellod_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$hellod_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$hellod_pid" 2>/dev/null || true
    wait "$hellod_pid" 2>/dev/null || true
  fi
  if [ -n "$pg_started" ]; then
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
  echo "bench: $*" >&2
  for f in "$tmp/hellod.log" "$tmp/pg.log"; do
    if [ -s "$f" ]; then echo "---- last lines of $(basename "$f") ----" >&2; tail -n 20 "$f" >&2; fi
  done
  exit 1
}

free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if [ -z "$(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null)" ]; then echo "$p"; return; fi
  done
}

# ---- PostgreSQL ----
mkdir -p "$pgdata" "$pgsock"
chown postgres:postgres "$pgdata" "$pgsock"
pgport=$(free_port)
[ -n "$pgport" ] || die "no free port found"
runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 \
  --locale=C >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
touch "$tmp/pg.log" && chown postgres "$tmp/pg.log"
pg_started=1
runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -l "$tmp/pg.log" -w -t 60 \
  -o "-p $pgport -k $pgsock -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB" \
  start >/dev/null || die "PostgreSQL did not start"

psql_() { "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pgport" -U postgres "$@"; }
psql_ -d postgres -c "CREATE DATABASE hello" || die "CREATE DATABASE failed"
pg_settings=$(psql_ -d hello -At -F ' ' -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'max_connections', 'shared_buffers', 'wal_level')")

# ---- hellod ----
hport=$(free_port)
while [ "$hport" = "$pgport" ]; do hport=$(free_port); done
[ -n "$hport" ] || die "no free port found"
conninfo="host=127.0.0.1 port=$pgport user=postgres dbname=hello"
cp "$hellod_bin" "$tmp/hellod" # a rebuild during the run cannot touch this copy
# hellod refuses root: as root, run it as postgres (setpriv execs it, so $! is hellod's pid).
as_user=
[ "$(id -u)" -ne 0 ] || as_user="setpriv --reuid=postgres --regid=postgres --init-groups --"
# shellcheck disable=SC2086 # as_user is a command with its flags, HELLOD_ARGS a list of flags
$as_user "$tmp/hellod" --listen "127.0.0.1:$hport" --database "$conninfo" ${HELLOD_ARGS:-} >"$tmp/hellod.log" 2>&1 &
hellod_pid=$!
url=http://127.0.0.1:$hport
ready=
for _ in $(seq 300); do
  kill -0 "$hellod_pid" 2>/dev/null || die "hellod exited"
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz" 2>/dev/null)" = 200 ]; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || die "hellod was not ready (GET /readyz) within 30 s"

# ---- data ----
psql_ -d hello <<SQL || die "preloading users failed"
INSERT INTO hello_users (username, date_of_birth)
SELECT translate(left(md5(i::text), 16), '0123456789', 'ghijklmnop'),
       date '1950-01-01' + (random() * 25000)::int
  FROM generate_series(1, $users) AS i;
VACUUM ANALYZE hello_users;
SQL
psql_ -d hello -At -c "SELECT username FROM hello_users ORDER BY username" >"$tmp/names.txt"
[ "$(wc -l <"$tmp/names.txt")" -eq "$users" ] || die "expected $users preloaded users"
probe=$(head -n 1 "$tmp/names.txt")
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/hello/$probe")
[ "$code" = 200 ] || die "GET /hello/$probe answered $code"

# ---- measuring ----
clk=$(getconf CLK_TCK)

# CPU ticks used so far by hellod, and by PostgreSQL (live processes, plus exited backends
# through the postmaster's children times).
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {
  local pm total=0 pid
  pm=$(head -n 1 "$pgdata/postmaster.pid")
  total=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pm/stat")
  for pid in $(pgrep -P "$pm"); do total=$((total + $(proc_ticks "$pid"))); done
  echo "$total"
}
# User plus system seconds of this shell's waited-for children (wrk, pgbench), in ticks. `times`
# must run in this shell itself, not in a pipeline or $(...), whose subshell has its own.
child_ticks() {
  times >"$tmp/times"
  awk -v clk="$clk" 'NR == 2 {
    split($1, a, /[ms]/); split($2, b, /[ms]/)
    printf "%d\n", ((a[1] * 60 + a[2]) + (b[1] * 60 + b[2])) * clk }' "$tmp/times"
}

# Ticks of the whole machine in processes (user, nice, system), to see other work, and in
# interrupts (irq, softirq: mostly the loopback TCP traffic; the kernel also charges much of it
# to the process it interrupted, so it overlaps the per-process figures).
sys_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat; }
irq_ticks() { awk '$1 == "cpu" { print $7 + $8; exit }' /proc/stat; }

cpu_before() {
  child_ticks >"$tmp/t0"
  cpu0=("$(cat "$tmp/t0")" "$(proc_ticks "$hellod_pid")" "$(pg_ticks)" "$(date +%s.%N)" "$(sys_ticks)" "$(irq_ticks)")
}
cpu_after() { # name of the load generator
  local t1 h1 p1 now all irq
  child_ticks >"$tmp/t1"
  t1=$(cat "$tmp/t1"); h1=$(proc_ticks "$hellod_pid"); p1=$(pg_ticks); now=$(date +%s.%N)
  all=$(sys_ticks); irq=$(irq_ticks)
  cpu_lines+=("$(awk -v n="$1" -v t="$((t1 - ${cpu0[0]}))" -v h="$((h1 - ${cpu0[1]}))" \
    -v p="$((p1 - ${cpu0[2]}))" -v a="$((all - ${cpu0[4]}))" -v i="$((irq - ${cpu0[5]}))" -v clk="$clk" \
    -v s="$(awk -v x="$now" -v y="${cpu0[3]}" 'BEGIN { print x - y }')" 'BEGIN {
      o = a - t - h - p; if (o < 0) o = 0
      f = 100 / clk / s
      printf "%-7s %4.0f%%  hellod %4.0f%%  postgres %4.0f%%  interrupts %4.0f%%  other processes %4.0f%%", n, t * f, h * f, p * f, i * f, o * f }')")
}

# wrk's latency ("1.23ms", "456.00us", "1.02s") in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN {
  if (v ~ /us$/) printf "%.2f", v / 1000; else if (v ~ /ms$/) printf "%.2f", v + 0;
  else if (v ~ /m$/) printf "%.2f", v * 60000; else if (v ~ /s$/) printf "%.2f", v * 1000;
  else printf "%s", v }'; }

run_wrk() { # label script [args]
  local label=$1 script=$2 out=$tmp/wrk-$1.txt
  shift 2
  wrk -t"$threads" -c"$conns" -d"${warmup}s" -s "$script" "$url" -- "$@" >/dev/null 2>&1 || true
  cpu_before
  wrk -t"$threads" -c"$conns" -d"${duration}s" --latency -s "$script" "$url" -- "$@" >"$out" 2>&1 &
  load_pid=$!
  wait "$load_pid" || { load_pid=; cat "$out" >&2; die "wrk failed"; }
  load_pid=
  cpu_after wrk
  local rps p50 p99 bad errs
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  errs=$(awk '/Socket errors:/ { sub(/^.*Socket errors: */, ""); print }' "$out")
  [ -n "$rps" ] && [ -n "$p50" ] || { cat "$out" >&2; die "cannot read wrk's output"; }
  res_rps[$label]=$rps res_p50[$label]=$p50 res_p99[$label]=$p99
  if [ -n "$bad" ] && [ "$bad" != 0 ]; then notes+=("$label: $bad non-2xx responses"); fi
  if [ -n "$errs" ]; then notes+=("$label: socket errors: $errs"); fi
}

run_pgbench() { # label script
  local label=$1 script=$2 dir=$tmp/pgbench-$1 out=$tmp/pgbench-$1.txt
  mkdir -p "$dir"
  local args=(-h 127.0.0.1 -p "$pgport" -U postgres -n -M prepared -c "$conns" -j "$threads" -f "$script")
  "$pgbin/pgbench" "${args[@]}" -T "$warmup" hello >/dev/null 2>&1 || true
  cpu_before
  (cd "$dir" && exec "$pgbin/pgbench" "${args[@]}" -T "$duration" -l --log-prefix=tx hello) >"$out" 2>&1 &
  load_pid=$!
  wait "$load_pid" || { load_pid=; cat "$out" >&2; die "pgbench failed"; }
  load_pid=
  cpu_after pgbench
  local rps failed
  rps=$(awk '/^tps = .*without initial connection time/ { printf "%.0f", $3 }' "$out")
  failed=$(awk '/number of failed transactions:/ { print $5 }' "$out")
  [ -n "$rps" ] || { cat "$out" >&2; die "cannot read pgbench's output"; }
  # Per-transaction log lines: client transaction latency_us script epoch_s epoch_us
  cat "$dir"/tx.* | awk '{ print $3 }' | sort -n >"$dir/lat"
  local n
  n=$(wc -l <"$dir/lat")
  res_rps[$label]=$rps
  res_p50[$label]=$(awk -v k="$(((n + 1) / 2))" 'NR == k { printf "%.2f", $1 / 1000; exit }' "$dir/lat")
  res_p99[$label]=$(awk -v k="$(((n * 99 + 99) / 100))" 'NR == k { printf "%.2f", $1 / 1000; exit }' "$dir/lat")
  if [ -n "$failed" ] && [ "$failed" != 0 ]; then notes+=("$label: $failed failed transactions"); fi
}

declare -A res_rps res_p50 res_p99
notes=()
cpu_lines=()

psql_ -d hello -c CHECKPOINT
run_wrk get_hellod "$here/get.lua" "$tmp/names.txt"
psql_ -d hello -c CHECKPOINT
run_pgbench get_pgbench "$here/pg_get.sql"
psql_ -d hello -c CHECKPOINT
run_wrk put_hellod "$here/put.lua"
psql_ -d hello -c CHECKPOINT
run_pgbench put_pgbench "$here/pg_put.sql"

rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$hellod_pid/status")
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$hellod_pid/status")
rss_mb=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
hwm_mb=$(awk -v k="$hwm_kb" 'BEGIN { printf "%.1f", k / 1024 }')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
get_ratio=$(ratio "${res_rps[get_hellod]}" "${res_rps[get_pgbench]}")
put_ratio=$(ratio "${res_rps[put_hellod]}" "${res_rps[put_pgbench]}")
workers=$(grep -o 'serving with [0-9]* workers' "$tmp/hellod.log" | grep -o '[0-9]*' || echo '?')

echo
echo "hellod benchmark: ${duration}s per run, $conns connections, $threads threads, $users preloaded users, $(nproc) CPUs"
echo "PostgreSQL 15: $pg_settings; hellod: $workers workers, ${HELLOD_ARGS:-default pool}"
echo "load average before the benchmark: $load_at_start (other work on the machine skews the numbers)"
echo
printf '%-12s %-8s %9s %9s %9s\n' workload tool req/s "p50 ms" "p99 ms"
row() { printf '%-12s %-8s %9s %9s %9s\n' "$1" "$2" "${res_rps[$3]}" "${res_p50[$3]}" "${res_p99[$3]}"; }
row "GET user" hellod get_hellod
row "GET user" pgbench get_pgbench
row "PUT user" hellod put_hellod
row "PUT user" pgbench put_pgbench
echo "ratio hellod/pgbench: GET $get_ratio  PUT $put_ratio ; hellod RSS: $rss_mb MB (peak $hwm_mb MB) at $conns connections"
echo
echo "CPU during each run (100% = one of $(nproc) cores; interrupts overlap the processes' figures):"
i=0
for label in "GET hellod " "GET pgbench" "PUT hellod " "PUT pgbench"; do
  echo "  $label: ${cpu_lines[$i]}"
  i=$((i + 1))
done
for n in "${notes[@]}"; do echo "note: $n"; done
if [ ${#notes[@]} -eq 0 ]; then echo "non-2xx responses, socket errors, failed transactions: none"; fi

goal() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { ok = (op == ">=") ? v >= g : v < g; printf "%s", ok ? "met" : "MISSED" }'; }
worst_p99=$(printf '%s\n' "${res_p99[get_hellod]}" "${res_p99[put_hellod]}" | sort -n | tail -n 1)
echo "goals: ratio >= 0.70 (GET $(goal "$get_ratio" ">=" 0.7), PUT $(goal "$put_ratio" ">=" 0.7));" \
  "hellod p99 < 10 ms ($(goal "$worst_p99" "<" 10), worst $worst_p99 ms);" \
  "RSS < 20 MB ($(goal "$hwm_mb" "<" 20), peak $hwm_mb MB)"
