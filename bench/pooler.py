#!/usr/bin/python3
"""PgBouncer over a planned switchover, with and without tandem's pause (make bench-pooler).

    bench/pooler.py [--runs N] [--clients N] [--seconds S] [--keep]

For each mode (PgBouncer paused around the switchover by the leader handing over, as
docs/pooler.md describes; and PgBouncer left alone) and each run: a fresh three-member cluster on
loopback (tests/integration/cluster.py), HAProxy, and Debian's PgBouncer with `tandemctl
pgbouncer-config`'s configuration (transaction pooling). pgbench runs through PgBouncer
(`-c CLIENTS -T SECONDS -M simple`; each transaction a one-row INSERT and 20 ms of work before
its commit, so that some are in flight when the old primary stops); a third of the way in,
`tandemctl switchover --force` runs. pgbench (PostgreSQL 15) aborts a client at its first error,
so a failed transaction shows as an aborted client: the table gives, per mode, the clients
aborted, the transactions done, and the longest pause (from the log of the member handing over).
Progress goes to stderr, the table to stdout; --keep keeps the directories.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import subprocess
import sys
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import cluster as C  # noqa: E402
from pooler import pooled_cluster, start_pooler  # noqa: E402

PGBENCH = C.PG_BIN / "pgbench"
START = time.monotonic()
# An application's transaction: a write and 20 ms of work before the commit, so that a
# switchover finds some of them in flight (a one-statement INSERT is rarely caught).
SCRIPT = ("BEGIN;\nINSERT INTO bench_pool (v) VALUES (:client_id);\nSELECT pg_sleep(0.02);\n"
          "COMMIT;\n")


def progress(msg):
    print(f"[{time.monotonic() - START:7.1f}s] {msg}", file=sys.stderr, flush=True)


def pgbench(c, bouncer, clients, seconds):
    script = c.base / "insert.sql"
    script.write_text(SCRIPT)
    env = {**os.environ, "PGPASSWORD": c.superuser_password}
    return subprocess.run(
        [str(PGBENCH), "-n", "-M", "simple", "-c", str(clients), "-j", "2", "-T", str(seconds),
         "-f", str(script), "-h", "127.0.0.1", "-p", str(bouncer.port), "-U", "postgres",
         "postgres"], env=env, capture_output=True, text=True, timeout=seconds + 120)


def one_run(pause, clients, seconds, keep):
    c = pooled_cluster(3, pause=pause, prefix="tandem-bench-pooler-")
    bouncer = None
    try:
        c.start()
        leader = c.wait_healthy(C.T_BOOT)
        bouncer = start_pooler(c, pool_size=clients)
        leader.query("CREATE TABLE bench_pool (v int)")
        offset = leader.log_size()
        result = {}
        t = threading.Thread(target=lambda: result.update(r=pgbench(c, bouncer, clients, seconds)))
        t.start()
        time.sleep(seconds / 3)
        r = c.tandemctl("switchover", "--force")
        if r.returncode != 0:
            raise RuntimeError(f"switchover: {r.stdout}{r.stderr}")
        c.wait_leader(not_name=leader.name)
        t.join()
        out = result["r"].stdout + result["r"].stderr
        aborted = len(re.findall(r"client \d+ aborted", out))
        done = re.search(r"number of transactions actually processed: (\d+)", out)
        held = re.search(r"resuming \d+ PgBouncer\(s\) (\d+) ms after the pause",
                         leader.log_since(offset))
        if not done:
            raise RuntimeError(f"pgbench said:\n{out[-2000:]}")
        return {"aborted": aborted, "tx": int(done.group(1)),
                "held_ms": int(held.group(1)) if held else None}
    finally:
        if bouncer:
            bouncer.stop()
        if keep:
            progress(f"kept {c.base}")
        else:
            c.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    rows = []
    for pause in (True, False):
        name = "paused by tandemd" if pause else "not paused"
        runs = []
        for i in range(a.runs):
            progress(f"{name}: run {i + 1} of {a.runs}")
            runs.append(one_run(pause, a.clients, a.seconds, a.keep))
            progress(f"  {runs[-1]}")
        rows.append((name, runs))
    print(f"\nPgBouncer over a planned switchover: pgbench -c {a.clients} -T {a.seconds}, "
          f"{a.runs} runs per mode\n")
    print("| PgBouncer | clients aborted by an error (per run) | transactions (per run) "
          "| pause held, ms (per run) |")
    print("|---|---|---|---|")
    for name, runs in rows:
        held = ", ".join("-" if r["held_ms"] is None else str(r["held_ms"]) for r in runs)
        print(f"| {name} | {', '.join(str(r['aborted']) for r in runs)} of {a.clients} "
              f"| {', '.join(str(r['tx']) for r in runs)} | {held} |")


if __name__ == "__main__":
    main()
