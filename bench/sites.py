#!/usr/bin/python3
"""make bench-sites: two sites in network namespaces (the fault suite's, tests/faults/sites.py),
writes flowing from a client host in each site (tests/faults/sites_workload.py), three runs of:

* the planned site switchover (`tandemctl site-switchover --force`), A -> B, B -> A, A -> B on
  one pair of sites: the write gap through the routing layer (the last write the old site
  acknowledged to the first the new one did, through each site's HAProxy) and the acknowledged
  writes lost (read back from the new primary site);
* the disaster promotion (`tandemctl promote-cluster --force` in B once every process of site A
  was killed and its links are down), each on a fresh pair of sites (a lost site does not come
  back yet): the time from the command to the first write acknowledged in B, straight to
  PostgreSQL (a prober writing to B's members every 5 ms) and through B's HAProxy, and the
  writes A acknowledged that B never received;
* the failback (bench/sites_failback.py): each on a fresh pair of sites with a 2 GB database,
  the primary site diverging by a few MB and lost, the other promoted, then the lost site back
  as its standby cluster by pg_rewind: the time, and the bytes pg_rewind copied against a full
  pg_basebackup.

Prints one table: median and range of three runs. Root (network namespaces). Options: --runs N,
--only switchover|disaster|failback (one kind of row; the others print "-"), --scale and
--diverge (the failback's database and divergence).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "faults"))

import psycopg  # noqa: E402

from sites import TwoSites  # noqa: E402
from sites_checker import check_sites, log_marks  # noqa: E402
from sites_workload import SitesWorkload  # noqa: E402
from sites_failback import failbacks  # noqa: E402
from system import wait_until  # noqa: E402


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def rows(rep):
    return {c: (res, det, v) for c, res, det, v in rep.rows}


def first_ack(wl, site, after, timeout=30):
    def seen():
        t = [o["end"] for o in wl.acked() if o.get("site") == site.name and o["start"] >= after]
        return min(t) if t else None
    return wait_until(seen, timeout, f"a write acknowledged by site {site.name}", interval=0.01)


class Prober:
    """Writes straight to every member of a site (no HAProxy) every 5 ms from the operator's
    host; records when the first write succeeded."""

    def __init__(self, site):
        self.site, self.first = site, None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        conns = {}
        while not self.stop.is_set() and self.first is None:
            for n in self.site.nodes.values():
                try:
                    c = conns.get(n.name)
                    if c is None or c.closed:
                        c = conns[n.name] = n.connect(timeout=2)
                    c.execute("INSERT INTO bench_probe DEFAULT VALUES")
                    self.first = time.monotonic()
                    break
                except psycopg.Error:
                    conns.pop(n.name, None)
            time.sleep(0.005)
        for c in conns.values():
            c.close()


def switchovers(n):
    out = []
    two = TwoSites().start()
    log(f"two sites up under {two.base}")
    try:
        for i in range(n):
            frm, to = two.primary, two.standby
            marks = log_marks(two)
            wl = SitesWorkload(two, 200 + i, f"bench_switch{i}").start()
            time.sleep(3)
            t0 = time.monotonic()
            r = two.tandemctl("site-switchover", "--from", frm.config_path, "--to",
                              to.config_path, "--force")
            took = time.monotonic() - t0
            if r.returncode != 0:
                raise RuntimeError(f"site-switchover exited {r.returncode}: {r.stderr[-300:]}")
            frm.role, to.role = "standby", "primary"
            first_ack(wl, to, t0)
            time.sleep(2)
            ops = wl.stop()
            rep = rows(check_sites(two, wl, ops, marks))
            gap = float(rep["switch"][0].rstrip("s"))
            lost = int(rep["lost"][0])
            bad = [c for c, (_, _, v) in rep.items() if v]
            log(f"switchover {frm.name} -> {to.name}: gap {gap:.2f}s, lost {lost}, command "
                f"{took:.2f}s, rewinds {rep['rewind'][0]}, violations {bad}")
            out.append({"gap": gap, "lost": lost, "command": took, "bad": bad})
    finally:
        two.stop()
    if not any(r["bad"] for r in out):
        shutil.rmtree(two.base, ignore_errors=True)
    return out


def disaster_once(i):
    two = TwoSites().start()
    log(f"two sites up under {two.base}")
    bad = ["unfinished"]
    try:
        a, b = two.primary, two.standby
        with a.rw_connect() as c:
            c.execute("CREATE TABLE IF NOT EXISTS bench_probe (id bigserial PRIMARY KEY)")
        marks = log_marks(two)
        wl = SitesWorkload(two, 300 + i, f"bench_disaster{i}").start()
        time.sleep(3)
        wait_until(lambda: b.replay_lsn() is not None, 10, "B's standby leader to replay")
        info = {"site": a.name}
        a.lose()
        info["lost_at"] = time.monotonic()
        prober = Prober(b)
        prober.thread.start()
        t0 = time.monotonic()
        r = two.tandemctl("-c", b.config_path, "promote-cluster", "--force")
        took = time.monotonic() - t0
        if r.returncode != 0:
            raise RuntimeError(f"promote-cluster exited {r.returncode}: {r.stderr[-300:]}")
        a.role, b.role = "standby", "primary"
        via_haproxy = first_ack(wl, b, t0) - t0
        prober.thread.join(30)
        direct = (prober.first - t0) if prober.first else None
        time.sleep(2)
        ops = wl.stop()
        rep = rows(check_sites(two, wl, ops, marks, disaster=info))
        lost = int(rep["lost"][0])
        bad = [c for c, (_, _, v) in rep.items() if v]
        log(f"disaster promotion: first write {direct or float('nan'):.2f}s direct, "
            f"{via_haproxy:.2f}s through "
            f"HAProxy, command {took:.2f}s, lost {lost} acknowledged by A, violations {bad}")
        return {"direct": direct, "haproxy": via_haproxy, "command": took, "lost": lost,
                "bad": bad}
    finally:
        two.stop()
        if not bad:
            shutil.rmtree(two.base, ignore_errors=True)


def fmt(vals, unit="s", digits=2):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    m = statistics.median(vals)
    if unit == "s":
        return f"{m:.{digits}f} s ({min(vals):.{digits}f}-{max(vals):.{digits}f})"
    if all(float(v).is_integer() for v in vals):
        return f"{m:g} ({min(vals):g}-{max(vals):g})"
    return f"{m:.{digits}f} ({min(vals):.{digits}f}-{max(vals):.{digits}f})"


def mb(v):
    return v / 2**20


def failback_rows(fb, setups, n):
    ok = [r for r in fb if not r["bad"]]
    # The largest of the lost site's members: what one member copied, against one full copy.
    big = [max((c[0] or c[1] for c in r["copied"].values() if c), default=None) for r in ok]
    share = [100 * b / r["db"] if b else None for b, r in zip(big, ok)]
    print(f"| failback: the lost site's members started to its standby leader replaying from the "
          f"survivor, every member streaming | {fmt([r['time'] for r in ok])} | |")
    print(f"| failback: bytes pg_rewind copied (MB, the member that copied most) | "
          f"{fmt([mb(b) if b else None for b in big], unit='', digits=1)} | |")
    print(f"| failback: bytes copied, % of the database | "
          f"{fmt(share, unit='', digits=1)} | < 10 % |")
    print(f"| full copy for comparison: pg_basebackup of the survivor | "
          f"{fmt([r.get('bb_time') for r in ok], digits=1)} | |")
    print(f"| full copy for comparison: bytes (MB) | "
          f"{fmt([mb(r['bb_bytes']) if r.get('bb_bytes') else None for r in ok], unit='')} | |")
    if not fb:
        return
    def member(r, m, c):
        sp = r["spans"].get(m)
        return ((f"{m} {mb(c[0] or c[1]):.1f} MB" if c else f"{m} none") +
                (f" (started {sp[0]:.1f} s after its agent, ran {sp[1]:.1f} s)" if sp else ""))
    runs = "; ".join(
        f"run {i + 1}: database {mb(r['db']):.0f} MB, diverged WAL {mb(r['wal']):.1f} MB, the "
        f"survivor's pg_wal {mb(r['pg_wal']):.0f} MB, pg_rewind copied " +
        ", ".join(member(r, m, c) for m, c in r["copied"].items())
        for i, r in enumerate(fb))
    print(f"\nFailback: {len(fb)} of {n} runs, each on a fresh pair of sites (built in "
          f"{fmt(setups, digits=0)}, the database grown and cloned); {runs}.")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=("switchover", "disaster", "failback"),
                    help="measure one kind of row only")
    ap.add_argument("--scale", type=int, default=134,
                    help="the failback's pgbench scale (134: about 2 GB)")
    ap.add_argument("--diverge", type=int, default=500,
                    help="the failback's UPDATEs the standby site never receives")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/sites.py needs root (network namespaces)", file=sys.stderr)
        return 2
    sw = switchovers(a.runs) if a.only in (None, "switchover") else []
    ds = [disaster_once(i) for i in range(a.runs)] if a.only in (None, "disaster") else []
    fb, setups = (failbacks(a.runs, a.scale, a.diverge) if a.only in (None, "failback")
                 else ([], None))
    n = a.runs
    print(f"\ntwo sites, {n} runs each: median (min-max)\n")
    print("| measure | tandem | goal |")
    print("|---|---|---|")
    print(f"| planned site switchover: write gap through HAProxy | "
          f"{fmt([r['gap'] for r in sw])} | < 2 s |")
    print(f"| planned site switchover: acknowledged writes lost | "
          f"{fmt([r['lost'] for r in sw], unit='')} | 0 |")
    print(f"| planned site switchover: the command | {fmt([r['command'] for r in sw])} | |")
    print(f"| disaster promotion: command to first write in B, straight to PostgreSQL | "
          f"{fmt([r['direct'] for r in ds])} | < 1 s |")
    print(f"| disaster promotion: command to first write in B, through B's HAProxy | "
          f"{fmt([r['haproxy'] for r in ds])} | |")
    print(f"| disaster promotion: the command | {fmt([r['command'] for r in ds])} | |")
    print(f"| disaster promotion: writes A acknowledged that B never received | "
          f"{fmt([r['lost'] for r in ds], unit='')} | (RPO) |")
    failback_rows(fb, setups, n)
    print("\nNotes: every switchover's and disaster's history also went through the "
          "fault suite's two-site checker; violations (with the failback's): "
          f"{sum(len(r['bad']) for r in sw + ds + fb)}.")
    return 1 if any(r["bad"] for r in sw + ds + fb) else 0


if __name__ == "__main__":
    sys.exit(main())
