"""Checks a recorded history against what the healed cluster holds.

Checks (each a row of the report; a violation makes the run fail):
* healed      - after every fault is healed, the cluster heals by itself within the settle time:
                one leader key, that member the only primary and writable, every other member a
                streaming replica on the leader's timeline, a synchronous standby in `sync`
                (synchronous mode).
* lost        - every acknowledged write (a direct INSERT that returned, a hellod PUT answered
                204) is on the leader. Synchronous mode: must be 0. Asynchronous mode: lost
                writes are allowed as long as they fit in maximum_lag_on_failover bytes of WAL:
                lost x (WAL per write, estimated from the run) must not exceed it; how far past
                its timeline's fork the furthest lost write was is reported too.
* phantom     - nothing is on the leader that no client tried to write.
* failed-in   - no write that failed definitely (an error proving it was not committed) is in.
* wrong-value - hellod users hold the date that was written.
* stale-read  - a GET right after a 204 never answered 404.
* replicas    - once replay caught up, every replica holds exactly the leader's rows.
* primaries   - never two writable primaries: every timeline's acknowledged writes come from one
                server, and no write acknowledged on an older timeline started after a write on a
                newer timeline had been acknowledged (the old primary still took writes after the
                new one did). The overlap of the primaries' acknowledgement spans is reported too.
* availability- longest gap between two acknowledged writes, the share of 1-s intervals with at
                least one acknowledged write (information, not a violation).
"""

from __future__ import annotations

import time

import psycopg

from system import wait_until


def lsn(s):
    a, b = s.split("/")
    return (int(a, 16) << 32) + int(b, 16)


class Report:
    def __init__(self, scenario):
        self.scenario = scenario
        self.rows = []  # (check, result, detail, violation)
        self.lost_at = []  # when each lost acknowledged write was acknowledged (monotonic)

    def add(self, check, result, detail="", violation=False):
        self.rows.append((check, str(result), detail, violation))

    @property
    def violations(self):
        return [r for r in self.rows if r[3]]

    def table(self):
        w0 = max(len(r[0]) for r in self.rows) if self.rows else 5
        w1 = max(len(r[1]) for r in self.rows) if self.rows else 5
        out = [f"  {'check'.ljust(w0)}  {'result'.ljust(w1)}  verdict  detail"]
        for c, res, d, v in self.rows:
            out.append(f"  {c.ljust(w0)}  {res.ljust(w1)}  {'FAIL' if v else 'ok':7}  {d}")
        return "\n".join(out)


def _read_sets(node, scenario, user_prefix):
    direct = {r[0] for r in node.query("SELECT v FROM faults_w WHERE scenario = %s", (scenario,))}
    users = dict(node.query(
        "SELECT username, to_char(date_of_birth, 'YYYY-MM-DD') FROM hello_users "
        "WHERE username LIKE %s", (user_prefix + "%",)))
    return direct, users


def _retry(fn, timeout=30):
    last = [None]

    def attempt():
        try:
            return (fn(),)
        except psycopg.Error as e:
            last[0] = e
            return None
    try:
        return wait_until(attempt, timeout, "a query to succeed", interval=0.5)[0]
    except TimeoutError:
        raise RuntimeError(f"query kept failing: {last[0]}") from None


def check(system, workload, ops, settle=90.0, sync=True):
    rep = Report(workload.scenario)
    ok = [o for o in ops if o["status"] == "ok"]
    direct_ok = [o for o in ok if o["kind"] == "direct"]
    put_ok = [o for o in ok if o["kind"] == "hellod"]
    counts = {k: sum(1 for o in ops if o["kind"] == k) for k in ("direct", "hellod")}
    rep.add("operations",
            f"{len(direct_ok)}+{len(put_ok)} ok",
            f"direct {counts['direct']} (failed {_n(ops, 'direct', 'failed')}, unknown "
            f"{_n(ops, 'direct', 'unknown')}); hellod PUT {counts['hellod']} (failed "
            f"{_n(ops, 'hellod', 'failed')}, unknown {_n(ops, 'hellod', 'unknown')})",
            violation=not ok)

    # -- healed
    t = time.monotonic()
    try:
        leader = system.wait_healthy(settle)
        rep.add("healed", f"{time.monotonic() - t:.1f}s", f"leader {leader.name}")
    except TimeoutError as e:
        rep.add("healed", "no", str(e), violation=True)
        leader = system.leader_node()
        if leader is None:
            rep.add("read-back", "impossible", "no leader to read from", violation=True)
            return rep

    # -- read back
    try:
        direct, users = _retry(lambda: _read_sets(leader, workload.scenario, workload.user_prefix))
    except RuntimeError as e:
        rep.add("read-back", "failed", str(e), violation=True)
        return rep
    attempted_direct = {o["key"] for o in ops if o["kind"] == "direct"}
    attempted_users = {o["key"]: o["date"] for o in ops if o["kind"] == "hellod"}
    lost_d = [o for o in direct_ok if o["key"] not in direct]
    lost_h = [o for o in put_ok if o["key"] not in users]
    lost = lost_d + lost_h
    rep.lost_at = [o["end"] for o in lost]  # for the picture (picture.py)
    detail = ", ".join(f"{o['key']}@{o.get('server', 'hellod')}" for o in lost[:5])
    if sync:
        rep.add("lost", len(lost), detail, violation=bool(lost))
    else:
        rep.add(*_async_lost(system, leader, workload, lost, lost_d, len(direct) + len(users)))
    phantom = sorted((direct - attempted_direct) | (set(users) - set(attempted_users)))
    rep.add("phantom", len(phantom), ", ".join(phantom[:5]), violation=bool(phantom))
    failed_in = [o["key"] for o in ops if o["status"] == "failed" and
                 ((o["kind"] == "direct" and o["key"] in direct) or
                  (o["kind"] == "hellod" and o["key"] in users))]
    rep.add("failed-in", len(failed_in), ", ".join(failed_in[:5]), violation=bool(failed_in))
    wrong = [u for u, d in users.items() if u in attempted_users and attempted_users[u] != d]
    rep.add("wrong-value", len(wrong), ", ".join(wrong[:5]), violation=bool(wrong))
    stale = [o["key"] for o in ops if o["kind"] == "hellod_get" and o["status"] == "missing"]
    rep.add("stale-read", len(stale), ", ".join(stale[:5]), violation=bool(stale))

    # -- replicas
    rep.add(*_replicas(system, leader, workload, direct, users))

    # -- two primaries
    rep.add(*_primaries(direct_ok))

    # -- backups asked for by a fault
    if system.backup_requests:
        rep.add(*_backups(system, settle))

    # -- availability
    ends = sorted(o["end"] for o in ok)
    t0, t1 = workload.t0, workload.t1
    points = [t0] + [e for e in ends if t0 <= e <= t1] + [t1]
    gap = max(b - a for a, b in zip(points, points[1:]))
    buckets = max(1, int(t1 - t0))
    hit = {int(e - t0) for e in ends if t0 <= e < t0 + buckets}
    rep.add("availability", f"{100.0 * len(hit) / buckets:.0f}%",
            f"longest write gap {gap:.1f}s over {t1 - t0:.0f}s")
    return rep


def _backups(system, settle):
    """Every backup a fault asked for ended well (run again by the next runner when its runner
    died), and no two runs of the cluster overlapped (the runner key is the exclusion)."""
    ids = list(system.backup_requests)
    system.backup_requests.clear()

    def ended():
        st = system.backup_state() or {}
        runs = {rid: [h for h in st.get("history", []) if h.get("request") == rid] for rid in ids}
        if all(r and r[-1].get("status") in ("ok", "failed") for r in runs.values()):
            return st, runs
        return None
    try:
        st, runs = wait_until(ended, settle, "the requested backups to end", interval=0.5)
    except TimeoutError:
        st = system.backup_state() or {}
        return ("backup", "unfinished", f"running: {st.get('running')}", True)
    bad = [f"{rid}: {r[-1].get('status')} {r[-1].get('error', '')}" for rid, r in runs.items()
           if r[-1].get("status") != "ok"]
    spans = sorted((h["start"], h.get("end", h["start"]), h.get("runner"))
                   for h in st.get("history", []))
    bad += [f"{a[2]} and {b[2]} at once" for a, b in zip(spans, spans[1:]) if a[1] > b[0]]
    reruns = sum(1 for r in runs.values() for h in r if h.get("status") == "interrupted")
    detail = "; ".join(bad) if bad else (
        f"{len(ids)} ok ({reruns} interrupted and run again), labels "
        + ", ".join(r[-1].get("label", "?") for r in runs.values()))
    return ("backup", "ok" if not bad else "failed", detail, bool(bad))


def _n(ops, kind, status):
    return sum(1 for o in ops if o["kind"] == kind and o["status"] == status)


def _replicas(system, leader, workload, direct, users):
    try:
        target = lsn(leader.query("SELECT pg_current_wal_lsn()::text")[0][0])
    except psycopg.Error as e:
        return "replicas", "unchecked", f"leader: {e}", False
    bad = []
    for n in system.nodes.values():
        if n is leader:
            continue

        def caught_up():
            try:
                r = n.query("SELECT pg_last_wal_replay_lsn()::text")[0][0]
                return r is not None and lsn(r) >= target
            except psycopg.Error:
                return False
        try:
            wait_until(caught_up, 30, f"{n.name} to replay up to the leader", interval=0.3)
            d, u = _read_sets(n, workload.scenario, workload.user_prefix)
        except (TimeoutError, psycopg.Error) as e:
            bad.append(f"{n.name}: {str(e).strip()[:100]}")
            continue
        if d != direct or u != users:
            bad.append(f"{n.name}: {len(direct ^ d)} direct rows and {len(set(users) ^ set(u))} "
                       f"users differ from the leader")
    return ("replicas", "same" if not bad else "differ", "; ".join(bad), bool(bad))


def _primaries(direct_ok):
    by_tl = {}
    for o in direct_ok:
        by_tl.setdefault(o["tl"], []).append(o)
    problems, spans = [], []
    for tl, os_ in sorted(by_tl.items()):
        servers = sorted({o["server"] for o in os_})
        if len(servers) > 1:
            problems.append(f"timeline {tl} acknowledged by {servers}")
        spans.append((tl, servers[0], min(o["start"] for o in os_), max(o["end"] for o in os_),
                      max(o["start"] for o in os_), min(o["end"] for o in os_)))
    overlap = 0.0
    for i, (tla, sa, s0a, e1a, lasta, _) in enumerate(spans):
        for tlb, sb, s0b, e1b, _, firstb in spans[i + 1:]:
            if lasta > firstb:
                problems.append(f"{sa} (timeline {tla}) began a write {lasta - firstb:.2f}s after "
                                f"{sb} (timeline {tlb}) had acknowledged one")
            if sa != sb:
                overlap = max(overlap, min(e1a, e1b) - max(s0a, s0b))
    desc = " -> ".join(f"{s}@tl{tl}" for tl, s, *_ in spans)
    return ("primaries", "one at a time" if not problems else "OVERLAP",
            "; ".join(problems) or f"{desc}; span overlap {max(0.0, overlap):.2f}s "
            f"(request latency, not proof)", bool(problems))


def _async_lost(system, leader, workload, lost, lost_direct, kept):
    """Asynchronous mode: lost acknowledged writes are allowed, as many as fit in
    maximum_lag_on_failover bytes of WAL. The WAL one write takes is estimated from the run: the
    leader's WAL from the workload's start to now over the scenario's writes it holds."""
    try:
        wal = lsn(leader.query("SELECT pg_current_wal_lsn()::text")[0][0]) - lsn(workload.start_lsn)
    except (psycopg.Error, TypeError, AttributeError):
        wal = None
    if not wal or not kept:
        return ("lost", len(lost), "no estimate of WAL per write", bool(lost))
    per = wal / kept
    worth = len(lost) * per
    fork = _lost_bytes(leader, lost_direct)
    detail = (f"{len(lost)} x {per:.0f} bytes of WAL per write = {worth:.0f} of "
              f"maximum_lag_on_failover {system.max_lag}")
    if fork is not None:
        detail += f"; furthest lost write {fork} bytes past its timeline's fork"
    if lost:
        detail += "; " + ", ".join(f"{o['key']}@{o.get('server', 'hellod')}" for o in lost[:3])
    return ("lost", len(lost), detail, worth > system.max_lag)


def _lost_bytes(leader, lost_direct):
    """How far past its timeline's fork point the furthest lost write was (bytes), or None."""
    if not lost_direct:
        return None
    try:
        tl = int(leader.query("SELECT timeline_id FROM pg_control_checkpoint()")[0][0])
        hist = leader.query("SELECT pg_read_file(%s)", (f"pg_wal/{tl:08X}.history",))[0][0]
    except psycopg.Error:
        return None
    forks = {}
    for line in hist.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit():
            forks[int(parts[0])] = lsn(parts[1])
    worst = 0
    for o in lost_direct:
        f = forks.get(o["tl"])
        if f is not None:
            worst = max(worst, lsn(o["lsn"]) - f)
    return worst
