#!/usr/bin/env bash
# Brings the system up on loopback: a PostgreSQL 15 server and two hellod instances in front of it.
# Prints how to reach them and stops everything on Ctrl-C.
#   scripts/demo.sh BUILD_DIR            run until Ctrl-C
#   scripts/demo.sh BUILD_DIR --smoke    bring up, check one PUT and GET, tear down
# (The full embedded default — etcd, three PostgreSQL members with tandemd, HAProxy — arrives with
# tandemd; see docs/roadmap in README.md.)
set -euo pipefail

BUILD=${1:?usage: demo.sh BUILD_DIR [--smoke]}
MODE=${2:-run}
HELLOD=$BUILD/src/hellod/hellod
PGBIN=/usr/lib/postgresql/15/bin
PGPORT=${TANDEM_DEMO_PGPORT:-55432}
PORTS=(${TANDEM_DEMO_PORTS:-8080 8081})
DIR=$(mktemp -d /tmp/tandem-demo.XXXXXX)
chmod 755 "$DIR"
PIDS=()

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  as_pg "$PGBIN/pg_ctl" -D "$DIR/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

mkdir -p "$DIR/pg" "$DIR/run"
[ "$(id -u)" -eq 0 ] && chown postgres "$DIR/pg" "$DIR/run"
echo "demo: starting PostgreSQL 15 on 127.0.0.1:$PGPORT (data in $DIR/pg)"
as_pg "$PGBIN/initdb" -D "$DIR/pg" -A trust -U postgres >"$DIR/initdb.log" 2>&1
as_pg "$PGBIN/pg_ctl" -D "$DIR/pg" -l "$DIR/run/postgresql.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $DIR/run" start >/dev/null

for port in "${PORTS[@]}"; do
  "$HELLOD" --listen "127.0.0.1:$port" \
    --database "host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres" \
    >"$DIR/hellod-$port.log" 2>&1 &
  PIDS+=($!)
done

for port in "${PORTS[@]}"; do
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || {
    echo "demo: hellod on port $port did not become ready; its log:"; cat "$DIR/hellod-$port.log"; exit 1; }
done

cat <<MSG

tandem demo is up:
  PostgreSQL 15   127.0.0.1:$PGPORT  (psql -h 127.0.0.1 -p $PGPORT -U postgres)
$(for p in "${PORTS[@]}"; do echo "  hellod          http://127.0.0.1:$p   (log: $DIR/hellod-$p.log)"; done)

Try:
  curl -i -X PUT -H 'Content-Type: application/json' -d '{"dateOfBirth":"1990-05-17"}' http://127.0.0.1:${PORTS[0]}/hello/alice
  curl -i http://127.0.0.1:${PORTS[1]}/hello/alice
  curl http://127.0.0.1:${PORTS[0]}/metrics
Restart PostgreSQL under load and watch requests wait instead of fail:
  runuser -u postgres -- $PGBIN/pg_ctl -D $DIR/pg -m fast restart
MSG

if [ "$MODE" = "--smoke" ]; then
  curl -fs -X PUT -H 'Content-Type: application/json' -d '{"dateOfBirth":"1990-05-17"}' \
    "http://127.0.0.1:${PORTS[0]}/hello/alice"
  curl -fs "http://127.0.0.1:${PORTS[1]}/hello/alice"
  echo
  echo "demo: smoke check passed"
  exit 0
fi
echo
echo "Press Ctrl-C to stop."
while true; do sleep 3600; done
