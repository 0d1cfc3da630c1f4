#!/usr/bin/env bash
# make deb: builds the Debian package with Debian's tooling (dpkg-buildpackage, debhelper's dh
# with Meson) from a copy of the tree (tracked and new files, not ignored ones), puts the .deb,
# .buildinfo and .changes into dist/, and runs lintian on them: errors fail, warnings are shown
# (the ones left are explained in docs/deploy.md or overridden in debian/).
set -euo pipefail
cd "$(dirname "$0")/.."

need=(dpkg-dev debhelper lintian fakeroot)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=${DEB_WORK:-build-deb}
rm -rf "$work"
mkdir -p "$work/src" dist
git ls-files -z -co --exclude-standard | xargs -0 cp --parents -t "$work/src" 2>/dev/null || true
# Files deleted in the work tree but still tracked are skipped by cp; nothing else may be missing.
[ -f "$work/src/debian/control" ] || { echo "deb: debian/ missing from the copy" >&2; exit 1; }

start=$(date +%s)
(cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=${DEB_JOBS:-1}" \
  dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1 || {
  tail -40 "$work/build.log" >&2
  echo "deb: dpkg-buildpackage failed (whole log: $work/build.log)" >&2
  exit 1
}
rm -f dist/tandem_* dist/tandem-dbgsym_*
mv "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo dist/
echo "deb: built in $(($(date +%s) - start)) s:"
ls -l dist/

lintian --fail-on error --info --display-info --no-tag-display-limit dist/*.changes | tee "$work/lintian.log"
echo "deb: lintian: no errors"
