#!/usr/bin/python3
"""Fault-injection runs with a history checker (see docs/faults.md).

  run.py quick                          fixed scenarios, synchronous strict mode
  run.py soak --seed N --duration SEC   random fault schedules from a seed
  options: --async (asynchronous replication instead; quick mode adds QUICK_ASYNC),
           --only NAME[,NAME] (quick mode; the two-site scenarios of sites_run.py too),
           --backup (members archive into a pgBackRest repository; quick mode adds QUICK_BACKUP,
             and every scenario then checks the archive: tests/faults/archive.py),
           --stretched (quick mode: one cluster over two sites and a tie-breaker etcd, hellod
             reading locally: the scenarios of tests/faults/stretched.py instead),
           --keep (keep the run directory),
           --pictures DIR (where each scenario's SVG timeline and their index.html go; by
             default a new /tmp/tandem-faults-pictures-* directory, kept: picture.py),
           --junit FILE (a JUnit XML report, a test case per scenario, for CI)

Must run as root (namespaces). Exit status 1 on any violation, 2 when the system cannot be set up.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
import traceback
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from album import Album, scenario_timeline  # noqa: E402
from checker import check  # noqa: E402
from nemesis import FAULTS, heal_all  # noqa: E402
from roles import RolePoller  # noqa: E402
import archive  # noqa: E402
import stretched  # noqa: E402
from sites_run import SCENARIOS as SITE_SCENARIOS, run_sites  # noqa: E402
from system import System  # noqa: E402
from workload import Workload  # noqa: E402

# (name, [(fault, inject at s after warm-up, heal at s after warm-up)])
QUICK = [
    ("kill_primary_node", [("kill_node", 0, 8)]),
    ("stop_primary_agent", [("stop_agent", 0, 8)]),
    ("part_primary_etcd", [("part_primary_etcd", 0, 8)]),
    ("part_primary_replicas", [("part_primary_replicas", 0, 8)]),
    ("lose_etcd_quorum", [("lose_etcd_quorum", 0, 8)]),
    ("kill_primary_pg", [("kill_pg", 0, 4)]),
    ("oneway_primary_to_etcd", [("oneway_primary_to_etcd", 0, 8)]),
    ("part_primary_minority", [("part_primary_minority", 0, 8)]),
    ("stop_primary_host", [("stop_host", 0, 8)]),
    ("disk_full_primary", [("disk_full_wal", 0, 8)]),
    ("clock_jumps_primary", [("clock_forward", 0, 4), ("clock_back", 4, 8)]),
    ("lossy_primary", [("lossy_primary", 0, 8)]),
    ("restart_storm_primary", [("restart_storm_primary", 0, 8)]),
]

# Asynchronous mode only: the primary lost while its replicas lag, so that acknowledged writes
# are lost and the checker's bound (maximum_lag_on_failover) is exercised.
QUICK_ASYNC = [
    ("lagging_kill_primary_node", [("slow_replication", 0, 14), ("kill_node", 6, 14)]),
    ("lagging_part_primary_etcd", [("slow_replication", 0, 14), ("part_primary_etcd", 6, 14)]),
]

# With --backup only (members archive into a pgBackRest repository: tests/faults/archive.py).
QUICK_BACKUP = [
    ("repo_unreachable", [("repo_unreachable", 0, 20)]),
    ("backup_kill_runner", [("backup_kill_runner", 0, 8)]),
]

WARMUP, SETTLE, TAIL = 3.0, 90.0, 2.0


# Faults of the quick scenarios only, never drawn by a soak (which keeps the documented seeds'
# schedules, and does not combine them with faults that stop them from starting).
QUICK_ONLY = {"backup_kill_runner"}


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def run_step(system, index, name, plan, rng, sync):
    """Runs one scenario: workload, faults injected and healed at their times, settle, check.
    The report carries the scenario's timeline for its picture (rep.timeline)."""
    roles = RolePoller({n.name: n.patroni for n in system.nodes.values()}).start()
    try:
        wl = Workload(system, index, name).start()
    except BaseException:
        roles.stop()
        raise
    spans = {}  # fault -> [start, end] (monotonic), for the picture
    time.sleep(WARMUP)
    start = time.monotonic()
    events = sorted([(at, "inject", f) for f, at, _ in plan] +
                    [(heal, "heal", f) for f, _, heal in plan])
    active, notes = {}, []
    try:
        for at, what, f in events:
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if what == "inject":
                spans[f] = [time.monotonic(), None]
                inj = FAULTS[f](system, rng)
                active[f] = inj
                notes.append(f"+{at:.1f}s {inj.what}")
                log(f"  [{name}] inject {inj.what}")
            else:
                active.pop(f).heal()
                spans[f][1] = time.monotonic()
                notes.append(f"+{at:.1f}s heal {f}")
                log(f"  [{name}] heal {f}")
    except BaseException:
        for inj in active.values():
            inj.heal()
        heal_all(system)
        wl.stop(grace=2.0)
        roles.stop()
        raise
    heal_all(system)
    healed_at = time.monotonic()
    try:
        system.wait_healthy(SETTLE)
        heal_time = time.monotonic() - healed_at
    except TimeoutError:
        heal_time = None
    time.sleep(TAIL)
    ops = wl.stop()
    lanes = roles.stop()
    with open(system.base / f"history-{index:03d}.jsonl", "w") as f:
        for o in ops:
            f.write(json.dumps(o) + "\n")
    rep = check(system, wl, ops, settle=5.0 if heal_time is None else SETTLE, sync=sync)
    if heal_time is not None:
        rep.rows = [(c, f"{heal_time:.1f}s" if c == "healed" else r, d, v)
                    for c, r, d, v in rep.rows]
    if system.backup:
        archive.check(system, rep)
    rep.notes = notes
    rep.timeline = scenario_timeline(name, wl, ops, rep, spans, lanes)
    return rep


def soak_plans(seed, duration):
    """Random steps from the seed: one or two faults, injected 0-4 s apart, each held 2-15 s."""
    rng = random.Random(seed)
    names = sorted(set(FAULTS) - QUICK_ONLY)
    used, k = 0.0, 0
    while used < duration:
        k += 1
        n = 1 if rng.random() < 0.6 else 2
        plan, end = [], 0.0
        for f in rng.sample(names, n):
            at = round(rng.uniform(0, 4), 1)
            heal = round(at + rng.uniform(2, 15), 1)
            plan.append((f, at, heal))
            end = max(end, heal)
        used += WARMUP + end + 12.0
        yield f"step{k}:" + "+".join(f for f, _, _ in plan), plan, random.Random(rng.random())


def write_junit(path, reports, setup_error=None):
    """One test case per scenario; a violation is its failure, with the rows that failed."""
    suite = ET.Element("testsuite", name="faults")
    if setup_error:
        case = ET.SubElement(suite, "testcase", classname="faults", name="setup")
        ET.SubElement(case, "failure", message="the system could not be set up").text = \
            setup_error
    for r in reports:
        case = ET.SubElement(suite, "testcase", classname="faults", name=r.scenario)
        if r.violations:
            text = "\n".join(f"{c}: {res} {det}" for c, res, det, _ in r.violations)
            ET.SubElement(case, "failure", message="violation").text = text
    ET.ElementTree(suite).write(path, encoding="unicode")


def new_system(a, sync):
    if a.stretched:
        return System(sync=sync, etcd_hosts=stretched.ETCD_HOSTS, local_reads=True)
    return System(sync=sync, backup=a.backup)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["quick", "soak"])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--async", dest="async_", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--backup", action="store_true")
    ap.add_argument("--stretched", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--junit", default=None)
    ap.add_argument("--pictures", default=None)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("run.py needs root (network namespaces)", file=sys.stderr)
        return 2
    seed = a.seed if a.seed is not None else (1 if a.mode == "quick" else int(time.time()) % 100000)
    sync = not a.async_
    if a.backup:  # only then: soak draws from FAULTS, and its seeds stay as they were
        FAULTS["repo_unreachable"] = archive.repo_unreachable
    t_begin = time.monotonic()
    log(f"faults {a.mode}: seed {seed}, {'synchronous strict' if sync else 'asynchronous'} mode")
    only = set(filter(None, a.only.split(",")))
    if a.stretched:
        FAULTS.update(stretched.FAULTS)
        steps = [(n, p, random.Random(seed * 1000 + i))
                 for i, (n, _, p, _) in enumerate(stretched.SCENARIOS) if not only or n in only]
        site_names = []
    elif a.mode == "quick":
        steps = [(n, p, random.Random(seed * 1000 + i))
                 for i, (n, p) in enumerate(QUICK + (QUICK_ASYNC if a.async_ else []) +
                                            (QUICK_BACKUP if a.backup else []))
                 if not only or n in only]
        # The two-site scenarios (sites_run.py): quick, synchronous mode only, not in the
        # backup pass.
        site_names = ([] if a.async_ or a.backup else
                      [n for n in SITE_SCENARIOS if not only or n in only])
    else:
        steps, site_names = soak_plans(seed, a.duration), []
    system = None
    if not isinstance(steps, list) or steps:
        try:
            system = new_system(a, sync)
            system.start()
        except Exception:
            traceback.print_exc()
            try:
                print(system.log_tails(30))
            except Exception:
                pass
            if a.junit:
                write_junit(a.junit, [], traceback.format_exc())
            return 2
        log(f"cluster up in {time.monotonic() - t_begin:.0f}s under {system.base} "
            f"(namespaces {system.topo.prefix}-*)")
    reports, failed, kept = [], [], []
    album = Album(a.pictures, f"faults {a.mode}, seed {seed}", "tandem-faults-pictures-")
    for i, (name, plan, rng) in enumerate(steps):
        log(f"scenario {name}: {plan}")
        try:
            hook = stretched.before(system, name) if a.stretched else None
            rep = run_step(system, i, name, plan, rng, sync)
            if hook:
                stretched.after(system, rep, hook)
        except Exception:
            traceback.print_exc()
            from checker import Report
            rep = Report(name)
            rep.add("harness", "error", traceback.format_exc().splitlines()[-1], violation=True)
            rep.notes = []
        reports.append(rep)
        album.add_report(i, rep, log)
        print(f"\n== {name} (seed {seed})\n" + "\n".join(f"   {n}" for n in rep.notes))
        print(rep.table() + "\n", flush=True)
        if rep.violations:
            failed.append(rep)
            print(f"!! VIOLATION in scenario {name}; replay: tests/faults/run.py {a.mode} "
                  f"--seed {seed}" + (f" --duration {a.duration:.0f}" if a.mode == "soak" else "")
                  + (" --async" if a.async_ else ""))
            print(system.log_tails(40), flush=True)
            last = isinstance(steps, list) and i == len(steps) - 1
            if not last and not any(r[0] == "healed" and not r[3] for r in rep.rows):
                log(f"the cluster did not heal: keeping {system.base}, building a new cluster")
                kept.append(system.base)
                system.stop()
                try:
                    system = new_system(a, sync)
                    system.start()
                except Exception:
                    traceback.print_exc()
                    break
    if system is not None:
        system.stop()
        if not a.keep and not failed:
            shutil.rmtree(system.base, ignore_errors=True)
        else:
            kept.append(system.base)
    if site_names:
        site_reports, site_base, site_failed = run_sites(site_names, log, album)
        reports += site_reports
        if site_failed:
            failed += [r for r in site_reports if r.violations]
        if site_base and (a.keep or site_failed):
            kept.append(site_base)
        elif site_base:
            shutil.rmtree(site_base, ignore_errors=True)
    elapsed = time.monotonic() - t_begin
    print("\n== summary: " + f"{a.mode}, seed {seed}, {len(reports)} scenarios, "
          f"{elapsed:.0f}s, {'synchronous strict' if sync else 'asynchronous'}")
    print(f"  {'scenario':44} {'ok writes':>9} {'lost':>4} {'healed':>7} {'avail':>6} "
          f"{'max gap':>8}  verdict")
    for r in reports:
        d = {c: (res, det) for c, res, det, _ in r.rows}
        okw = d.get("operations", ("?", ""))[0].replace(" ok", "")
        gap = d.get("availability", ("", "?"))[1].replace("longest write gap ", "").split(" ")[0]
        print(f"  {r.scenario[:44]:44} {okw:>9} {d.get('lost', ('?',))[0]:>4} "
              f"{d.get('healed', ('?',))[0]:>7} {d.get('availability', ('?',))[0]:>6} "
              f"{gap:>8}  {'FAIL' if r.violations else 'ok'}")
    print(f"violations: {sum(len(r.violations) for r in reports)}", flush=True)
    print(f"pictures: {album.index}", flush=True)
    if a.junit:
        write_junit(a.junit, reports)
    for k in kept:
        print(f"run directory kept: {k}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
