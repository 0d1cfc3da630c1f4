#!/usr/bin/env bash
# The Debian package in a fresh Debian 12 (tests/package/check.sh [DEB]; root):
# debootstrap from the machine's own Debian mirror, dpkg -i of dist/tandem_*.deb inside it, and
# checks of what it installs, its maintainer scripts (the hellod user, the hand-over of Debian's
# postgresql@ cluster, purge), tandemctl init as root, systemd-analyze verify of every unit, and
# a member started from the written files (etcd and tandemd as postgres, inside the root).
# Then boot.sh boots the root under systemd-nspawn and checks the units under the real systemd.
# Prints "ok: ..." / "FAILED: ..." per check and exits 1 on any failure. See docs/deploy.md.
set -uo pipefail
cd "$(dirname "$0")/../.."

deb=${1:-$(ls dist/tandem_*_amd64.deb 2>/dev/null | head -1)}
[ -f "$deb" ] || { echo "FAILED: no package (run make deb first)"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "FAILED: tests/package/check.sh needs root (debootstrap, chroot)"; exit 1; }

failed=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; failed=1; }
check() { # description command...
  local d=$1; shift
  if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi
}

root=$(mktemp -d /var/tmp/tandem-pkg.XXXXXX)
# mktemp makes it 0700: as the container's "/" nobody but root could reach anything (the
# postgres and etcd users failed with "Permission denied" on their libraries).
chmod 755 "$root"
etcd_pid=""
tandemd_pid=""
# Only the processes this script started: a chroot does not hide the machine's other processes.
cleanup() {
  [ -n "$tandemd_pid" ] && kill "$tandemd_pid" 2>/dev/null && wait "$tandemd_pid" 2>/dev/null
  [ -n "$etcd_pid" ] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null
  for m in "$root/proc" "$root/dev/shm" "$root/dev"; do mountpoint -q "$m" && umount -l "$m"; done
  rm -rf "$root"
}
trap cleanup EXIT

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
mirror=${mirror:-http://deb.debian.org/debian}
start=$(date +%s)
if [ -n "${TANDEM_PKG_ROOT:-}" ]; then
  # A root debootstrapped before (the same command as below), copied: for iterating by hand.
  cp -a "$TANDEM_PKG_ROOT/." "$root/" && ok "copied the Debian 12 root $TANDEM_PKG_ROOT" ||
    { bad "copying $TANDEM_PKG_ROOT"; exit 1; }
elif ! debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,adduser,postgresql-common,postgresql-15,etcd-server,etcd-client,curl,procps,libuv1,libmicrohttpd12,libjansson4,libyaml-0-2,libcurl3-gnutls,libssh2-1 \
  bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1; then
  tail -20 "$root.debootstrap.log"
  bad "debootstrap of Debian 12 from $mirror"
  exit 1
else
  rm -f "$root.debootstrap.log"
  ok "debootstrap of Debian 12 from $mirror ($(($(date +%s) - start)) s)"
fi
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/dev/shm"
in_root() { chroot "$root" "$@"; }

# --- installation
cp "$deb" "$root/tmp/tandem.deb"
out=$(in_root dpkg -i /tmp/tandem.deb 2>&1) && ok "dpkg -i $(basename "$deb")" || { echo "$out"; bad "dpkg -i"; exit 1; }
for f in /usr/bin/tandemd /usr/bin/tandemd-fence /usr/bin/tandemctl /usr/bin/hellod \
  /lib/systemd/system/tandemd@.service /lib/systemd/system/hellod.service \
  /usr/lib/tandem/tandem-pg-handover /usr/share/man/man8/tandemd.8.gz \
  /usr/share/man/man8/hellod.8.gz /usr/share/man/man1/tandemctl.1.gz \
  /usr/share/man/man8/tandemd-fence.8.gz /usr/share/doc/tandem/deploy.md \
  /usr/share/doc/tandem/examples/tls/tandemd.yml; do
  check "installed $f" test -e "$root$f"
done
check "tandemd.8 lists the option table (--restapi.listen)" \
  sh -c "zcat '$root/usr/share/man/man8/tandemd.8.gz' | grep -q 'restapi.listen'"
check "the hellod system user exists" in_root getent passwd hellod
check "nothing was enabled at installation" \
  sh -c "! ls '$root'/etc/systemd/system/multi-user.target.wants/ 2>/dev/null | grep -q 'tandemd\|hellod'"
check "the programs run (tandemd --version)" in_root tandemd --version

# --- tandemctl init as root
init=(tandemctl init --cluster 15-main --scope pkg --name n1 --site a --etcd 127.0.0.1:24790
  --connect-address 127.0.0.1 --listen 127.0.0.1 --pg-port 24432 --rest-port 24008
  --allow 127.0.0.1/32)
check "tandemctl init writes the node's files" in_root "${init[@]}"
check "15-main.yml is 640 root:postgres" \
  test "$(stat -c '%a %U:%G' "$root/etc/tandem/15-main.yml")" = "640 root:postgres"
check "15-main.env is 600 root:root" \
  test "$(stat -c '%a %U:%G' "$root/etc/tandem/15-main.env")" = "600 root:root"
check "no password in 15-main.yml" sh -c "! grep -qi password '$root/etc/tandem/15-main.yml'"
sum=$(md5sum <"$root/etc/tandem/15-main.env")
in_root "${init[@]}" >/dev/null 2>&1
check "tandemctl init refuses to overwrite (exit 1)" test $? -eq 1
check "tandemctl init --force rewrites" in_root "${init[@]}" --force
check "--force keeps the cluster's passwords" test "$(md5sum <"$root/etc/tandem/15-main.env")" = "$sum"

# --- the units
out=$(in_root systemd-analyze verify --man=no tandemd@15-main.service hellod.service 2>&1)
if [ -z "$out" ]; then ok "systemd-analyze verify tandemd@15-main.service hellod.service: clean"
else echo "$out"; bad "systemd-analyze verify"; fi
sec=$(in_root systemd-analyze security --offline=yes tandemd@15-main.service 2>/dev/null | tail -1)
echo "   tandemd@: $sec"

# --- the hand-over of Debian's cluster (postgresql-15 created 15/main with start.conf auto)
conf=$root/etc/postgresql/15/main/start.conf
if [ -f "$conf" ]; then
  check "Debian's 15/main starts at boot before the hand-over" grep -qx auto "$conf"
  out=$(in_root dpkg -i /tmp/tandem.deb 2>&1)
  check "postinst (reinstall) hands 15-main over: start.conf manual" grep -qx manual "$conf"
  check "postinst says so" grep -q "no longer starts at boot" <<<"$out"
  check "the old start.conf is kept" test -f "$conf.tandem-saved"
  in_root pg_dropcluster 15 main
else
  bad "postgresql-15 created no 15/main cluster to hand over"
fi

# --- a member from the written files: etcd, then tandemd as postgres (what the unit runs)
in_root install -d -o postgres -g postgres /run/postgresql /var/lib/postgresql/15 /tmp/etcd
# chroot, not the in_root function: $! must be the server itself (chroot and setpriv exec it)
chroot "$root" setpriv --reuid=postgres --regid=postgres --init-groups etcd --data-dir /tmp/etcd/data --listen-client-urls http://127.0.0.1:24790 \
  --advertise-client-urls http://127.0.0.1:24790 --listen-peer-urls http://127.0.0.1:24800 \
  >"$root/tmp/etcd.log" 2>&1 &
etcd_pid=$!
chroot "$root" sh -c 'set -a; . /etc/tandem/15-main.env; set +a; exec setpriv --reuid=postgres --regid=postgres --init-groups tandemd /etc/tandem/15-main.yml' \
  >"$root/tmp/tandemd.log" 2>&1 &
tandemd_pid=$!
leader=""
for _ in $(seq 120); do
  leader=$(in_root curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:24008/primary 2>/dev/null)
  [ "$leader" = 200 ] && break
  sleep 1
done
if [ "$leader" = 200 ]; then ok "a member from tandemctl init's files bootstraps and leads (/primary 200)"
else tail -30 "$root/tmp/tandemd.log"; bad "the member did not lead within 120 s"; fi
list=$(in_root sh -c 'set -a; . /etc/tandem/15-main.env; set +a; tandemctl -c /etc/tandem/15-main.yml list' 2>&1)
check "tandemctl list shows n1 as leader" grep -q "n1.*[Ll]eader" <<<"$list"
pm=$(head -1 "$root/var/lib/postgresql/15/main/postmaster.pid" 2>/dev/null)
kill -TERM "$tandemd_pid"
wait "$tandemd_pid"
check "SIGTERM: tandemd exited 0" test $? -eq 0
tandemd_pid=""
check "SIGTERM: tandemd stopped its PostgreSQL (postmaster $pm) itself" sh -c "[ -n '$pm' ] && ! kill -0 '$pm'"
kill "$etcd_pid" 2>/dev/null; wait "$etcd_pid" 2>/dev/null; etcd_pid=""

# --- booted under systemd (systemd-nspawn -b, a private network): tests/package/boot.sh
for m in "$root/dev/shm" "$root/dev" "$root/proc"; do mountpoint -q "$m" && { umount "$m" || umount -l "$m"; }; done
boot_start=$(date +%s)
bash "$(dirname "$0")/boot.sh" "$root" || failed=1
echo "   the boot test took $(($(date +%s) - boot_start)) s"
mount -t proc proc "$root/proc"

# --- purge
out=$(in_root dpkg --purge tandem 2>&1)
check "dpkg --purge" test $? -eq 0
check "purge removed the hellod user" sh -c "! chroot '$root' getent passwd hellod"
check "purge left /etc/tandem in place, and said so" grep -q "/etc/tandem was left" <<<"$out"

echo "package checks took $(($(date +%s) - start)) s"
exit $failed
