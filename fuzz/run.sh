#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a while: bash fuzz/run.sh BUILD SECONDS
#
# Each target starts from a copy of its checked-in seed corpus (fuzz/corpus/TARGET, never grown
# by a run) and its dictionary (fuzz/dict/TARGET.dict, if any), with -max_len=4096. Prints one
# line per target, "fuzz_api: ok (N runs)" or "fuzz_api: FAILED ...", with the end of the log and
# the crashing input (kept under BUILD/fuzz-artifacts/) for a failure; then a final line, either
# "fuzz: K targets ok" or "fuzz: target X FAILED" for each failed target. Exit status 1 on any
# failure (a crash, a sanitizer report, a leak, a timeout or a missing target).
set -uo pipefail

if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then
  echo "usage: $0 BUILD_DIR SECONDS (SECONDS >= 1)" >&2
  exit 2
fi
build=$1
secs=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Every fuzz/fuzz_*.c is a target, and must have been built.
targets=()
for src in "$root"/fuzz/fuzz_*.c; do
  [ -e "$src" ] && targets+=("$(basename "$src" .c)")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets in $root/fuzz" >&2
  exit 1
fi

# Undefined behaviour is a failure, not a message; leaks are reported (libFuzzer's default).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tandem-fuzz.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$build/fuzz-artifacts"
artifacts=$(cd "$build/fuzz-artifacts" && pwd)

ok=0
failed=()
for t in "${targets[@]}"; do
  bin=$build/fuzz/$t
  if [ ! -x "$bin" ]; then
    echo "$t: FAILED (no executable $bin; build with make fuzz)"
    failed+=("$t")
    continue
  fi
  corpus=$tmp/$t
  mkdir -p "$corpus"
  if [ -d "$root/fuzz/corpus/$t" ]; then cp -R "$root/fuzz/corpus/$t/." "$corpus/"; fi
  dict=()
  if [ -f "$root/fuzz/dict/$t.dict" ]; then dict=(-dict="$root/fuzz/dict/$t.dict"); fi
  log=$tmp/$t.log
  "$bin" -max_total_time="$secs" -max_len=4096 -timeout=25 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/$t-" -print_final_stats=1 "${dict[@]}" "$corpus" \
    >"$log" 2>&1 &
  pid=$!
  wait "$pid"
  rc=$?
  pid=
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*')
  if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
    echo "$t: ok ($runs runs)"
    ok=$((ok + 1))
  else
    crash=$(grep -o "Test unit written to .*" "$log" | tail -1 | sed 's/Test unit written to //')
    echo "$t: FAILED (exit $rc${crash:+, input kept in $crash})"
    echo "---- last lines of the $t log ----"
    tail -n 60 "$log"
    echo "---- end of the $t log ----"
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -eq 0 ]; then
  echo "fuzz: $ok targets ok"
  exit 0
fi
for t in "${failed[@]}"; do echo "fuzz: target $t FAILED"; done
exit 1
