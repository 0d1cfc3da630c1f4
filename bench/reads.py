#!/usr/bin/python3
"""Local reads against reads through the primary in another site (make bench-reads).

    bench/reads.py [--delay-ms MS] [--seconds S] [--tokens N] [--keep]

A two-member cluster on loopback (tests/integration/cluster.py): the primary plays the other site,
the replica the local one. hellod reaches each through a small TCP relay of this script: the
relay to the primary holds every chunk MS milliseconds in each direction (the link between the
sites; this kernel has no netem, and the fault suite's slow links drop rather than delay), the
relay to the replica holds none (both pay the relay's own cost, so the comparison is fair).

It measures, with no delay and with --delay-ms (default 10 ms each way, a 20 ms round trip):

* GET throughput and p50/p99 latency (wrk, 16 connections, S seconds, random preloaded users)
  with `read-from: primary` and with `read-from: local`;
* PUT throughput and latency through the primary (what a write from the far site pays);
* token reads: N times a PUT then a GET with its Tandem-Consistency-Token, with the replica
  replaying and with its replay paused (pg_wal_replay_pause: lag that never ends): how many were
  served locally at once, locally after a wait, by the primary, and how many were stale (a 404 or
  another birthday: must be 0).

Progress goes to stderr, the tables to stdout; --keep keeps the cluster's directory.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
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
from conftest import HELLOD, free_port, wait_until  # noqa: E402

START = time.monotonic()
USERS = 10000


def progress(msg):
    print(f"[{time.monotonic() - START:7.1f}s] {msg}", file=sys.stderr, flush=True)


class Relay:
    """127.0.0.1:port -> target_port, every chunk held `delay` seconds each way (set at will)."""

    def __init__(self, target_port):
        self.target_port, self.port, self.delay = target_port, free_port(), 0.0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        wait_until(lambda: getattr(self, "server", None), 10, "the relay")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._conn, "127.0.0.1", self.port))
        self.loop.run_forever()

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                if self.delay:
                    self.loop.call_later(self.delay, writer.write, data)
                else:
                    writer.write(data)
        except (ConnectionError, OSError):
            pass
        finally:
            self.loop.call_later(self.delay, writer.close)

    async def _conn(self, reader, writer):
        try:
            r2, w2 = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, w2), self._pipe(r2, writer))


class Hellod:
    def __init__(self, c, primary_relay, replica_relay, local):
        self.port = free_port()
        conn = (f"host=127.0.0.1 user=postgres password={c.superuser_password} dbname=postgres "
                f"connect_timeout=3")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
               "HELLOD_DATABASE": f"{conn} port={primary_relay.port}"}
        if local:
            env.update(HELLOD_READ_FROM="local",
                       HELLOD_READ_DATABASE=f"{conn} port={replica_relay.port}")
        self.log = open(c.base / "hellod.log", "ab")
        self.proc = subprocess.Popen([str(HELLOD), "--listen", f"127.0.0.1:{self.port}"],
                                     user="postgres", env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.get("/readyz")[0] == 200, 30, "hellod /readyz", interval=0.1)

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request(method, path, body, headers or {})
            r = conn.getresponse()
            return r.status, r.read().decode(), r.getheader("Tandem-Consistency-Token")
        except OSError:
            return 0, "", None
        finally:
            conn.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def metrics(self):
        text = self.get("/metrics")[1]
        out = {}
        for line in text.splitlines():
            m = re.match(r'^(hellod_reads[a-z_]*)(\{[^}]*\})? ([0-9.e+]+)$', line)
            if m:
                out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)
        self.log.close()


def wrk(h, names, seconds, script="get.lua"):
    r = subprocess.run(["wrk", "-t", "2", "-c", "16", "-d", f"{seconds}s", "--latency", "-s",
                        str(REPO / "bench" / script), f"http://127.0.0.1:{h.port}", "--",
                        str(names)], capture_output=True, text=True, timeout=seconds + 60)
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", r.stdout).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([0-9.]+)(us|ms|s)", r.stdout, re.M)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    return rps, pct(50), pct(99), int(errors.group(1)) if errors else 0


def token_reads(h, n, prefix):
    """n PUTs, each followed by a GET with its token: counts by where the GET was answered."""
    before = h.metrics()
    stale = put_errors = 0
    for i in range(n):
        user = f"{prefix}{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676 % 26)}"
        day = 1 + i % 28
        st, _, token = h.request("PUT", f"/hello/{user}",
                                 json.dumps({"dateOfBirth": f"1990-03-{day:02d}"}),
                                 {"Content-Type": "application/json"})
        if st != 204 or not token:
            put_errors += 1
            progress(f"  PUT {user}: {st}, token {token!r}")
            continue
        st, body, _ = h.get(f"/hello/{user}", {"Tandem-Consistency-Token": token})
        if st != 200:
            stale += 1
    after = h.metrics()

    def d(k):
        return after.get(k, 0) - before.get(k, 0)
    local = d('hellod_reads_total{served="local"}')
    waited = d("hellod_reads_after_wait_total")
    return {"local": local - waited, "after_wait": waited,
            "primary": d('hellod_reads_total{served="primary"}'), "stale": stale,
            "put_errors": put_errors}


def caught_up(leader, replica):
    """Waits until the replica has replayed everything the primary wrote (the preload and its
    VACUUM), so that no measurement shares the machine with the replay."""
    target = leader.query("SELECT pg_current_wal_lsn()::text")[0][0]
    wait_until(lambda: replica.query(
        "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))[0][0], 120,
        "the replica to replay the preload")


def preload(leader, base):
    leader.query(
        "INSERT INTO hello_users (username, date_of_birth) "
        "SELECT translate(left(md5(i::text), 16), '0123456789', 'ghijklmnop'), "
        "date '1950-01-01' + (i %% 25000) FROM generate_series(1, %s) AS i "
        "ON CONFLICT DO NOTHING", (USERS,))
    leader.query("VACUUM ANALYZE hello_users")
    names = base / "names.txt"
    names.write_text("\n".join(r[0] for r in leader.query(
        "SELECT username FROM hello_users ORDER BY username")) + "\n")
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--delay-ms", type=float, default=10.0)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--tokens", type=int, default=300)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    c = C.Cluster(2, prefix="tandem-bench-reads-")
    rows, token_rows, put_rows = [], [], []
    try:
        c.start()
        leader = c.wait_healthy(C.T_BOOT)
        replica = next(m for m in c.members if m is not leader)
        pr, rr = Relay(leader.pg_port), Relay(replica.pg_port)
        names = None
        for delay in (0.0, a.delay_ms):
            pr.delay = delay / 1000
            for local in (False, True):
                h = Hellod(c, pr, rr, local)
                try:
                    if names is None:
                        names = preload(leader, c.base)
                        caught_up(leader, replica)
                    what = "local replica" if local else "through the primary"
                    progress(f"GET, {what}, link delay {delay} ms each way")
                    rows.append((delay, what, *wrk(h, names, a.seconds)))
                    if not local:  # what a write from the far site pays: the round trips
                        progress(f"PUT, link delay {delay} ms each way")
                        put_rows.append((delay, *wrk(h, names, a.seconds, "put.lua")))
                    if local:
                        for paused in (False, True):
                            if paused:
                                replica.query("SELECT pg_wal_replay_pause()")
                            progress(f"token reads, delay {delay} ms, replay "
                                     f"{'paused' if paused else 'running'}")
                            prefix = "tk" + ("d" if delay else "n") + ("p" if paused else "r")
                            t = token_reads(h, a.tokens, prefix)
                            token_rows.append((delay, paused, t))
                            if paused:
                                replica.query("SELECT pg_wal_replay_resume()")
                finally:
                    h.stop()
    finally:
        if a.keep:
            progress(f"kept {c.base}")
        else:
            c.cleanup()
    print(f"\nGET /hello/<user>: wrk -t2 -c16 -d{a.seconds}s, {USERS} users; the primary "
          f"behind a link of the given one-way delay, the replica local\n")
    print("| link delay (each way) | GETs answered | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|---|")
    for delay, what, rps, p50, p99, errs in rows:
        print(f"| {delay:g} ms | {what} | {rps:.0f} | {p50:.2f} | {p99:.2f} | {errs} |")
    print("\nPUT /hello/<new user> through the primary (wrk, the same connections)\n")
    print("| link delay (each way) | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|")
    for delay, rps, p50, p99, errs in put_rows:
        print(f"| {delay:g} ms | {rps:.0f} | {p50:.2f} | {p99:.2f} | {errs} |")
    print(f"\nToken reads: {a.tokens} PUTs, each followed by a GET with its token "
          f"(read-wait 50 ms)\n")
    print("| link delay | replica replay | local at once | local after a wait | by the primary "
          "| stale | PUTs not 204 |")
    print("|---|---|---|---|---|---|---|")
    for delay, paused, t in token_rows:
        print(f"| {delay:g} ms | {'paused' if paused else 'running'} | {t['local']:.0f} "
              f"| {t['after_wait']:.0f} | {t['primary']:.0f} | {t['stale']} | {t['put_errors']} |")


if __name__ == "__main__":
    main()
