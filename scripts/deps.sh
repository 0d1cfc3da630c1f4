#!/usr/bin/env bash
# Installs every Debian package that tandem's build, tests, benchmarks and demo need.
# Idempotent: when everything is present it only checks and returns.
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config clang-14 libfuzzer-14-dev libclang-rt-14-dev
  clang-format valgrind cppcheck
  # libraries
  libuv1-dev libpq-dev libmicrohttpd-dev libjansson-dev libyaml-dev libcurl4-gnutls-dev
  libsystemd-dev libcmocka-dev libssh2-1-dev libgnutls28-dev
  # servers and tools driven by tests, benchmarks and the demo
  postgresql-15 pgbackrest etcd-server etcd-client haproxy pgbouncer patroni python3 python3-pytest python3-psycopg wrk openssl curl
  procps iproute2 util-linux tzdata nftables faketime
  # renders the fault suite's pictures in their test (tests/faults/test_picture.py)
  chromium
  # monitoring: promtool (prometheus) checks every /metrics; the PostgreSQL exporter and its
  # tandem query file (monitoring/postgres_exporter/queries.yaml)
  prometheus prometheus-postgres-exporter
  # the alert rules' end-to-end test and the demo's Alertmanager; monitoring/check.py reads YAML
  prometheus-alertmanager python3-yaml
  # packaging (make deb) and its check in a debootstrapped Debian 12 (tests/package/check.sh)
  dpkg-dev debhelper fakeroot lintian debootstrap systemd-container
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Tools needed by command, whichever package brought them: kubectl (Debian's kubernetes-client
# unless another kubectl is installed) and node with npm (deploy/kubernetes/test).
command -v kubectl >/dev/null || missing+=(kubernetes-client)
command -v npm >/dev/null || missing+=(nodejs npm)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
