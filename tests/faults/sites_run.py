"""The two-site scenarios of the fault suite (docs/faults-sites.md), run by run.py after
the single-site ones (`--only` takes their names too):

  site_switchover               tandemctl site-switchover from the primary site to the standby
                                site under writes
  site_link_cut                 every packet between the two sites dropped for 8 s
  site_switchover_agent_killed  tandemctl and the target's standby leader's tandemd SIGKILLed
                                just after the demotion; the agent restarted, the same command
                                run again until it completes
  site_disaster_promote         the primary site lost entirely (every process killed, every link
                                down), then tandemctl promote-cluster in the other
  site_failback                 the lost site back (after site_disaster_promote, or after a
                                disaster of its own): demote-cluster to the survivor, its
                                members started; no full copy (rewound), its diverged WAL
                                kept aside with a REPORT; the time until it replays from the
                                survivor is reported

Each builds on the sites as the previous one left them (the primary site changes with every
switch); each is a minute or less.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import time
import traceback

from album import scenario_timeline
from checker import Report
from roles import RolePoller
from sites import TwoSites
from sites_checker import check_sites, log_marks
from sites_workload import SitesWorkload
from system import TANDEMCTL, wait_until
from topology import signal_pids

WARMUP, TAIL, SETTLE, LAG_HOLD = 3.0, 2.0, 90.0, 4.0
RERUN_TIMEOUT = 20  # seconds each step of a re-run may take before it rolls back


class Failed(Exception):
    """The scenario could not do what it set out to (a command failed): a violation."""


def _first_ack(wl, site, after, timeout=30.0):
    """The end time of the first write `site` acknowledged that began after `after`."""
    def seen():
        t = [o["end"] for o in wl.acked() if o.get("site") == site.name and o["start"] >= after]
        return min(t) if t else None
    try:
        return wait_until(seen, timeout, f"a write acknowledged by site {site.name}",
                          interval=0.02)
    except TimeoutError:
        raise Failed(f"no write acknowledged by site {site.name} within {timeout:.0f}s") from None


def _ctl(two, *args):
    t = time.monotonic()
    r = two.tandemctl(*args)
    took = time.monotonic() - t
    text = (r.stdout + r.stderr).strip()
    return r, took, text


def switchover(two, wl, rep, notes):
    frm, to = two.primary, two.standby
    t0 = time.monotonic()
    r, took, text = _ctl(two, "site-switchover", "--from", frm.config_path, "--to",
                         to.config_path, "--force")
    notes.append(f"site-switchover {frm.name} -> {to.name}: exit {r.returncode} in {took:.2f}s: "
                 f"{text.splitlines()[-1] if text else ''}")
    if r.returncode != 0:
        raise Failed(f"site-switchover exited {r.returncode}: {text[-300:]}")
    frm.role, to.role = "standby", "primary"
    first = _first_ack(wl, to, t0)
    rep.add("command", f"{took:.2f}s", f"site-switchover {frm.name} -> {to.name}; first write "
            f"acknowledged by {to.name} {first - t0:.2f}s after the command began")


def link_cut(two, wl, rep, notes, hold=8.0):
    p, s = two.primary, two.standby
    heals = [h.drop(s.hosts) for h in p.hosts]
    cut_at = time.monotonic()
    notes.append(f"every packet between site {p.name} and site {s.name} dropped for {hold:.0f}s")
    time.sleep(hold)
    lsn_at_heal = None
    try:
        lsn_at_heal = p.leader_node().query("SELECT pg_current_wal_lsn()::text")[0][0]
    except Exception:
        pass
    for h in heals:
        h()
    healed_at = time.monotonic()
    served = [o for o in wl.acked() if o.get("site") == p.name and cut_at <= o["start"] and
              o["end"] <= healed_at]
    rep.add("served", len(served), f"writes site {p.name} acknowledged during the cut",
            violation=not served)
    if lsn_at_heal:
        from checker import lsn

        def caught_up():
            r = s.replay_lsn()
            return r is not None and lsn(r) >= lsn(lsn_at_heal)
        try:
            wait_until(caught_up, 60, f"site {s.name} to catch up", interval=0.1)
            rep.add("caught-up", f"{time.monotonic() - healed_at:.1f}s",
                    f"site {s.name}'s standby leader replayed {p.name}'s position at the heal")
        except TimeoutError as e:
            rep.add("caught-up", "no", str(e), violation=True)


def switchover_agent_killed(two, wl, rep, notes):
    """The switch runs; the moment the old primary site is a standby (its config holds the
    switch's marker), both tandemctl and the target's standby leader's tandemd are SIGKILLed;
    the agent is started again at once (as a supervisor would) and the same command run again
    (with --timeout 20): it completes the switch or rolls it back (the old site promoted again);
    after a roll-back it is run once more, and must then complete. Never two writable sites,
    nothing lost."""
    frm, to = two.primary, two.standby
    args = ["site-switchover", "--from", frm.config_path, "--to", to.config_path, "--force"]
    t0 = time.monotonic()
    first = subprocess.Popen([str(TANDEMCTL), *map(str, args)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    victim = to.standby_leader()

    def demoted():
        try:
            cfg = json.loads(frm.etcd_range(frm.key("config")).get(frm.key("config"), "{}"))
        except (OSError, ValueError):
            return False
        return "standby_cluster" in cfg and "site_switchover" in cfg
    try:
        wait_until(demoted, 30, f"site {frm.name} demoted by the switch", interval=0.01)
    finally:
        first.kill()
        first.wait()
    pid = victim.agent_pid()
    signal_pids([pid] if pid else [], signal.SIGKILL)
    notes.append(f"SIGKILL of tandemctl and of {victim.name}'s tandemd (site {to.name}'s standby "
                 f"leader) {time.monotonic() - t0:.2f}s into the switch, once {frm.name}'s "
                 f"config held it; the agent started again")
    to.heal()  # starts the killed agent again
    # Run again: it completes the switch, or (when the target cannot reach the old site's
    # checkpoint) promotes the old site back within --timeout; then once more, a fresh switch.
    runs, texts = [], []
    for _ in range(2):
        r, took, text = _ctl(two, *args, "--timeout", RERUN_TIMEOUT)
        runs.append(r.returncode)
        texts.append(text)
        notes.append(f"run {len(runs) + 1}: exit {r.returncode} in {took:.2f}s: "
                     + " / ".join(text.splitlines()[-2:]))
        if r.returncode == 0:
            break
        # Rolled back: the target must stream from the old site again before a fresh switch
        # can work (site-switchover does not check that it does; docs/faults-sites.md).
        t = time.monotonic()
        two.wait_healthy(SETTLE)
        notes.append(f"rolled back; both sites healthy again after {time.monotonic() - t:.1f}s")
    # A resumed run must wait for the old site's leader to be back as a standby leader before
    # it reads the checkpoint's position (it once read it while the leader was still stopping).
    unknown = [t for t in texts if "position is unknown" in t]
    rep.add("resume", "waited" if not unknown else "did not wait",
            "a resumed run read the old site's position only once its standby leader ran",
            violation=bool(unknown))
    rep.add("reruns", ",".join(map(str, runs)),
            "exit status of each run after the interrupted one (1: rolled back)",
            violation=runs[-1] != 0)
    if runs[-1] != 0:
        raise Failed(f"site-switchover run again twice, still exit {runs[-1]}")
    frm.role, to.role = "standby", "primary"
    first_ack = _first_ack(wl, to, t0, timeout=60)
    rep.add("command", f"{first_ack - t0:.2f}s",
            f"from the first run to the first write acknowledged by {to.name}")


def disaster(two, wl, rep, notes, info):
    p, s = two.primary, two.standby
    # The site link slowed first (16 KiB/s each way, policed) so that the standby site lags
    # when the primary site is lost: there are acknowledged writes to lose.
    for h in p.hosts:
        h.throttle(s.hosts, 16)
    notes.append(f"the link between site {p.name} and site {s.name} capped at 16 KiB/s for "
                 f"{LAG_HOLD:.0f}s")
    time.sleep(LAG_HOLD)
    before = s.replay_lsn()
    n = p.lose()
    info.update(site=p.name, lost_at=time.monotonic())
    notes.append(f"site {p.name} lost: SIGKILL of {n} processes, every link down; site "
                 f"{s.name}'s standby leader had replayed {before} just before")
    t0 = time.monotonic()
    r, took, text = _ctl(two, "-c", s.config_path, "promote-cluster", "--force")
    notes.append(f"promote-cluster {s.name}: exit {r.returncode} in {took:.2f}s: "
                 + " / ".join(text.splitlines()[-2:]))
    if r.returncode != 0:
        raise Failed(f"promote-cluster exited {r.returncode}: {text[-300:]}")
    p.role, s.role = "standby", "primary"
    first = _first_ack(wl, s, t0)
    rep.add("promotion", f"{first - t0:.2f}s",
            f"from promote-cluster to the first write acknowledged by site {s.name} (through "
            f"its HAProxy); the command itself {took:.2f}s")


def failback(two, wl, rep, notes, info):
    """The disaster, then the lost site back as a standby cluster of the survivor: its config
    written to its own etcd (demote-cluster, no member running), its members started. No full
    copy: its former primary is rewound; the WAL it wrote that the survivor never received is
    kept aside with a REPORT."""
    lost = next((s for s in two.sites if s.lost), None)
    if lost is None:  # not run after site_disaster_promote: a disaster of its own first
        lost = two.primary
        disaster(two, wl, rep, notes, info)
    new = two.primary
    lost.come_back()
    src = new.source()
    # Its members' keys outlive the restart of its etcd by a ttl: until they expire,
    # demote-cluster tries their REST APIs (nobody answers) instead of writing to etcd.
    deadline = time.monotonic() + 60
    while True:
        r, took, text = _ctl(two, "-c", lost.config_path, "demote-cluster", "--host",
                             src["host"], "--port", src["port"], "--force")
        if r.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    notes.append(f"site {lost.name} back; demote-cluster {lost.name}: exit {r.returncode}: "
                 + " / ".join(text.splitlines()[-1:]))
    if r.returncode != 0:
        raise Failed(f"demote-cluster exited {r.returncode}: {text[-300:]}")
    sizes = {n.name: os.path.getsize(n.log_path) for n in lost.nodes.values()}
    tli = new.timeline()
    t0 = time.monotonic()
    for n in lost.nodes.values():
        n.start()

    def following():
        return (lost.health_problem() is None and lost.replay_lsn() is not None and
                not lost.not_following(tli))
    try:
        wait_until(following, 120, f"site {lost.name} a standby cluster of {new.name}")
    except Exception:
        raise Failed(f"site {lost.name} did not come back as a standby: "
                     f"{lost.health_problem() or lost.not_following(tli)}")
    rep.add("failback", f"{time.monotonic() - t0:.2f}s",
            f"from starting site {lost.name}'s members to its standby leader replaying from "
            f"site {new.name}, every member streaming its timeline {tli}")
    copied = []
    for n in lost.nodes.values():
        with open(n.log_path, "rb") as f:
            f.seek(sizes[n.name])
            if b"pg_basebackup started" in f.read():
                copied.append(n.name)
    rep.add("full_copy", len(copied), ", ".join(copied) or "none: rewound",
            violation=bool(copied))
    kept = [p for n in lost.nodes.values() for p in glob.glob(f"{n.data}.diverged-*/REPORT")]
    rep.add("kept", len(kept), open(kept[0]).read().strip().splitlines()[-1] if kept
            else "no REPORT of the diverged WAL", violation=not kept)


SCENARIOS = {
    "site_switchover": switchover,
    "site_link_cut": link_cut,
    "site_switchover_agent_killed": switchover_agent_killed,
    "site_disaster_promote": disaster,
    "site_failback": failback,
}


def run_step(two, index, name, log):
    marks = log_marks(two)
    roles = RolePoller({f"{s.name}/{n.name}": n.patroni
                        for s in two.sites for n in s.nodes.values()}).start()
    try:
        wl = SitesWorkload(two, index, name).start()
    except BaseException:
        roles.stop()
        raise
    time.sleep(WARMUP)
    rep, notes, info = Report(name), [], {}
    began = time.monotonic()  # the scenario's own action, shaded in its picture
    try:
        if name in ("site_disaster_promote", "site_failback"):
            SCENARIOS[name](two, wl, rep, notes, info)
        else:
            SCENARIOS[name](two, wl, rep, notes)
    except Failed as e:
        rep.add("scenario", "failed", str(e), violation=True)
    except Exception:
        traceback.print_exc()
        rep.add("harness", "error", traceback.format_exc().splitlines()[-1], violation=True)
    done = time.monotonic()
    for n in notes:
        log(f"  [{name}] {n}")
    two.heal()
    time.sleep(TAIL)
    ops = wl.stop()
    lanes = roles.stop()
    with open(two.base / f"history-{index:03d}.jsonl", "w") as f:
        for o in ops:
            f.write(json.dumps(o) + "\n")
    full = check_sites(two, wl, ops, marks, settle=SETTLE,
                       disaster=info if info else None,
                       rewind_ok=name in ("site_switchover_agent_killed", "site_failback"))
    full.rows = rep.rows + full.rows
    full.notes = notes
    if info.get("missing"):
        full.notes.append("lost (acknowledged by site %s, not in the survivor): %s" % (
            info["site"], ", ".join(o["key"] for o in info["missing"][:20]) +
            (" ..." if len(info["missing"]) > 20 else "")))
    full.timeline = scenario_timeline(name, wl, ops, full, {name: [began, done]}, lanes)
    return full


def run_sites(names, log, album=None, keep_on_fail=True):
    """Runs the named two-site scenarios (in SCENARIOS' order) on one pair of sites, each drawn
    in `album` (album.Album) when given. Returns (reports, base directory, failed)."""
    names = [n for n in SCENARIOS if n in names]
    if not names:
        return [], None, False
    t = time.monotonic()
    two = TwoSites()
    try:
        two.start()
    except Exception:
        traceback.print_exc()
        print(two.log_tails(30))
        rep = Report("sites:setup")
        rep.add("setup", "failed", traceback.format_exc().splitlines()[-1], violation=True)
        rep.notes = []
        two.stop()
        return [rep], two.base, True
    log(f"two sites up in {time.monotonic() - t:.0f}s under {two.base} "
        f"(namespaces {two.topo.prefix}-*)")
    reports = []
    for i, name in enumerate(names):
        log(f"scenario {name}: primary site {two.primary.name}")
        rep = run_step(two, 100 + i, name, log)
        reports.append(rep)
        if album is not None:
            album.add_report(100 + i, rep, log)
        print(f"\n== {name}\n" + "\n".join(f"   {n}" for n in rep.notes))
        print(rep.table() + "\n", flush=True)
        if rep.violations:
            print(f"!! VIOLATION in scenario {name}; replay: tests/faults/run.py quick --only "
                  f"{name}")
            print(two.log_tails(40), flush=True)
            if any(r[0] in ("healed", "harness", "scenario") for r in rep.violations):
                break  # the sites are not in a state the next scenario can start from
    failed = any(r.violations for r in reports)
    two.stop()
    return reports, two.base, failed
