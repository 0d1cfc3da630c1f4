#!/usr/bin/env bash
# Builds deploy/container/Containerfile with buildah (--isolation chroot) from dist/'s package:
#   make deb && bash deploy/container/build.sh        -> localhost/tandem:VERSION
# The base is Debian 12: BASE=IMAGE when given; else docker.io's debian:12-slim when the registry
# answers; else a minimal Debian 12 made here with debootstrap from the machine's own Debian
# mirror (or from ROOTFS=DIR, a root made already), imported as localhost/tandem-base:12.
set -euo pipefail
cd "$(dirname "$0")/../.."

ls dist/tandem_*_amd64.deb >/dev/null 2>&1 || { echo "build.sh: no package in dist/ (make deb)" >&2; exit 1; }
version=$(dpkg-deb -f "$(ls dist/tandem_*_amd64.deb | head -1)" Version)
base=${BASE:-}
if [ -z "$base" ] && buildah pull -q docker.io/library/debian:12-slim >/dev/null 2>&1; then
  base=docker.io/library/debian:12-slim
fi
if [ -z "$base" ]; then
  root=${ROOTFS:-}
  made=""
  if [ -z "$root" ]; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
    root=$(mktemp -d /var/tmp/tandem-base.XXXXXX)
    made=$root
    debootstrap --variant=minbase bookworm "$root" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  fi
  tarball=$(mktemp /var/tmp/tandem-base.XXXXXX.tar)
  tar -C "$root" --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* -cf "$tarball" .
  ctr=$(buildah from scratch)
  buildah add -q "$ctr" "$tarball" / >/dev/null
  buildah config --cmd /bin/bash "$ctr"
  buildah commit -q "$ctr" localhost/tandem-base:12 >/dev/null
  buildah rm "$ctr" >/dev/null
  rm -f "$tarball"
  [ -z "$made" ] || rm -rf "$made"
  base=localhost/tandem-base:12
fi
buildah build --isolation chroot --build-arg BASE="$base" -f deploy/container/Containerfile \
  -t "localhost/tandem:$version" .
echo "built localhost/tandem:$version from $base"
