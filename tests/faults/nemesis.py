"""Faults, each with its heal (run.py's soak mode draws random schedules of them from a seed).

A fault is `FAULTS[name](system, rng) -> Injected`; the target (the primary, a replica, an etcd
member) is chosen when the fault is injected. `Injected.heal()` undoes it; `heal_all()` undoes
anything any fault can have done (continues every stopped process in our namespaces, removes
every drop rule, brings links up, frees every data disk, sets every clock right, starts every etcd
member and agent that is not running): the safety net run after every scenario.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import psycopg

from topology import signal_pids


class Injected:
    def __init__(self, name, what, heal):
        self.name, self.what, self._heal = name, what, heal
        self.at = time.monotonic()
        self.healed_at = None

    def heal(self):
        if self.healed_at is None:
            self._heal()
            self.healed_at = time.monotonic()


def _primary(s, rng):
    return s.leader_node() or rng.choice(list(s.nodes.values()))


def _replica(s, rng):
    p = s.leader_node()
    return rng.choice([n for n in s.nodes.values() if n is not p])


def _restart_agent(node):
    def heal():
        signal_pids(node.pg_pids(), signal.SIGCONT)
        if not node.agent_alive():
            # The postmaster dies with its agent (fencing); give it a moment if it is exiting.
            for _ in range(50):
                if not node.postmaster_pid():
                    break
                time.sleep(0.1)
            node.start()
    return heal


# -- processes

def kill_pg(s, rng, target=_primary):
    n = target(s, rng)
    pids = n.pg_pids()
    signal_pids(pids[:1], signal.SIGKILL)
    return Injected("kill_pg", f"SIGKILL postmaster of {n.name} ({pids[:1]})", _restart_agent(n))


def kill_agent(s, rng, target=_primary):
    n = target(s, rng)
    signal_pids([n.agent_pid()] if n.agent_pid() else [], signal.SIGKILL)
    return Injected("kill_agent", f"SIGKILL tandemd of {n.name}", _restart_agent(n))


def kill_node(s, rng, target=_primary):
    n = target(s, rng)
    pids = n.host.pids()
    signal_pids(pids, signal.SIGKILL)
    return Injected("kill_node", f"SIGKILL every process on {n.name} ({len(pids)})",
                    _restart_agent(n))


def backup_kill_runner(s, rng):
    """A full backup asked for (`tandemctl backup`), then every process on the node running it
    killed while it runs (the leader here: the replicas are on other hosts, so they cannot reach
    the primary's data directory for a backup from a standby). The checker wants the backup
    finished by the next runner, and never two at once."""
    r = s.tandemctl_auth("backup", "--type", "full", "--json")
    if r.returncode != 0:
        raise RuntimeError(f"tandemctl backup: {r.stdout}{r.stderr}")
    rid = json.loads(r.stdout)["id"]
    s.backup_requests.append(rid)
    runner = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and runner is None:
        run = (s.backup_state() or {}).get("running") or {}
        if run.get("request") == rid:
            runner = s.nodes.get(run.get("runner"))
        else:
            time.sleep(0.05)
    if runner is None:
        raise RuntimeError(f"backup {rid} did not start within 30 s")
    pids = runner.host.pids()
    signal_pids(pids, signal.SIGKILL)
    return Injected("backup_kill_runner",
                    f"SIGKILL every process on {runner.name}, running backup {rid}",
                    _restart_agent(runner))


def stop_agent(s, rng, target=_primary):
    n = target(s, rng)
    pids = [n.agent_pid()] if n.agent_pid() else []
    signal_pids(pids, signal.SIGSTOP)
    return Injected("stop_agent", f"SIGSTOP tandemd of {n.name}",
                    lambda: signal_pids(pids, signal.SIGCONT))


def stop_pg(s, rng, target=_primary):
    n = target(s, rng)
    pids = n.pg_pids()
    signal_pids(pids, signal.SIGSTOP)
    return Injected("stop_pg", f"SIGSTOP PostgreSQL of {n.name} ({len(pids)} processes)",
                    lambda: signal_pids(pids, signal.SIGCONT))


def stop_host(s, rng, target=_primary):
    n = target(s, rng)
    pids = n.host.pids()
    signal_pids(pids, signal.SIGSTOP)

    def heal():
        signal_pids(pids, signal.SIGCONT)
        signal_pids(n.host.pids(), signal.SIGCONT)
    return Injected("stop_host", f"SIGSTOP every process on {n.name} ({len(pids)})", heal)


def restart_storm(s, rng, target=_replica):
    """SIGKILL a member's agent and start it again, five times, a second or two apart."""
    n = target(s, rng)
    for _ in range(5):
        signal_pids([n.agent_pid()] if n.agent_pid() else [], signal.SIGKILL)
        time.sleep(rng.uniform(0.2, 0.8))
        _restart_agent(n)()
        time.sleep(rng.uniform(0.5, 2.0))
    return Injected("restart_storm", f"5 x SIGKILL + restart of {n.name}'s tandemd",
                    _restart_agent(n))


# -- network

def _links(cuts, desc, name, how="drop"):
    """cuts: [(host, peers, direction, *how's arguments)]; how: a Host method (drop, lossy,
    throttle)."""
    heals = [getattr(c[0], how)(c[1], *c[3:], direction=c[2]) for c in cuts]

    def heal():
        for h in heals:
            h()
    return Injected(name, desc, heal)


def part_primary_etcd(s, rng):
    p = _primary(s, rng)
    return _links([(p.host, s.etcd_hosts, "both")], f"{p.name} cut from every etcd member",
                  "part_primary_etcd")


def part_primary_replicas(s, rng):
    p = _primary(s, rng)
    others = [n.host for n in s.nodes.values() if n is not p]
    return _links([(p.host, others, "both")], f"{p.name} cut from its replicas (etcd reachable)",
                  "part_primary_replicas")


def oneway_primary_to_etcd(s, rng):
    p = _primary(s, rng)
    return _links([(p.host, s.etcd_hosts, "out")],
                  f"{p.name}'s packets to etcd dropped (etcd's to it delivered)",
                  "oneway_primary_to_etcd")


def oneway_etcd_to_primary(s, rng):
    p = _primary(s, rng)
    return _links([(p.host, s.etcd_hosts, "in")],
                  f"etcd's packets to {p.name} dropped ({p.name}'s to etcd delivered)",
                  "oneway_etcd_to_primary")


def oneway_primary_to_replicas(s, rng):
    p = _primary(s, rng)
    others = [n.host for n in s.nodes.values() if n is not p]
    return _links([(p.host, others, "out")], f"{p.name}'s packets to its replicas dropped",
                  "oneway_primary_to_replicas")


def part_sites(s, rng):
    hosts = list(s.etcd_hosts) + [n.host for n in s.nodes.values()]
    a = [h for h in hosts if h.site == "A"]
    b = [h for h in hosts if h.site == "B"]
    return _links([(h, a, "both") for h in b],
                  f"site A ({','.join(h.name for h in a)}) cut from site B "
                  f"({','.join(h.name for h in b)})", "part_sites")


def part_primary_minority(s, rng):
    """The primary and one etcd member on one side, everything else on the other."""
    p = _primary(s, rng)
    e = rng.choice(s.etcd_hosts)
    minority = [p.host, e]
    majority = [h for h in list(s.etcd_hosts) + [n.host for n in s.nodes.values()]
                if h not in minority]
    return _links([(h, majority, "both") for h in minority],
                  f"minority {p.name}+{e.name} cut from the majority", "part_primary_minority")


def link_down_primary(s, rng):
    p = _primary(s, rng)
    p.host.link_down()
    return Injected("link_down_primary", f"{p.name}'s link down", p.host.link_up)


def _everyone_else(s, host):
    return [h for h in list(s.etcd_hosts) + [n.host for n in s.nodes.values()] + [s.client]
            if h is not host]


def lossy_primary(s, rng):
    """A share of the primary's packets, to and from every other host, lost at random."""
    p = _primary(s, rng)
    pct = rng.choice([20, 40])
    return _links([(p.host, _everyone_else(s, p.host), "both", pct)],
                  f"{p.name}'s link loses {pct}% of its packets", "lossy_primary", "lossy")


def lossy_etcd(s, rng):
    """Every etcd member's link loses a share of its packets (to members and clients alike)."""
    pct = rng.choice([20, 40])
    return _links([(e, _everyone_else(s, e), "both", pct) for e in s.etcd_hosts],
                  f"every etcd link loses {pct}% of its packets", "lossy_etcd", "lossy")


def slow_primary(s, rng):
    """The primary's link capped (what exceeds the rate is dropped, each way)."""
    p = _primary(s, rng)
    kb = rng.choice([32, 128])
    return _links([(p.host, _everyone_else(s, p.host), "both", kb)],
                  f"{p.name}'s link capped at {kb} KiB/s each way", "slow_primary", "throttle")


def slow_replication(s, rng):
    """The primary's packets to its replicas capped: replication lags (clients are unaffected)."""
    p = _primary(s, rng)
    others = [n.host for n in s.nodes.values() if n is not p]
    kb = rng.choice([8, 32])
    return _links([(p.host, others, "out", kb)], f"{p.name}'s packets to its replicas capped at "
                  f"{kb} KiB/s", "slow_replication", "throttle")


def slow_etcd(s, rng):
    kb = rng.choice([8, 32])
    return _links([(e, _everyone_else(s, e), "both", kb) for e in s.etcd_hosts],
                  f"every etcd link capped at {kb} KiB/s each way", "slow_etcd", "throttle")


# -- data disk

def _fill(n, name):
    taken = n.disk.fill()
    return Injected(name, f"{n.name}'s data disk full ({taken >> 20} MiB file, "
                    f"{n.disk.free_bytes()} bytes free)", n.disk.free)


def _switch_wal(primary, times, timeout=5.0):
    """Makes the primary start `times` new WAL segments (a switch, then a commit, each time), as
    a busy primary would: a full disk then has to hold a new segment. Returns what happened. The
    commits do not wait for a standby; a server that does not answer (frozen by another fault) is
    left behind after `timeout` s, its thread abandoned."""
    out = [f"; WAL switches: no answer in {timeout:.0f}s"]

    def switch():
        k = 0
        try:
            with primary.connect() as c:
                c.execute("SET synchronous_commit = local")
                for k in range(1, times + 1):
                    c.execute("SELECT pg_switch_wal()")
                    c.execute("SELECT txid_current()")
            out[0] = f"; {times} WAL switches"
        except psycopg.Error as e:
            out[0] = f"; WAL switch {k} failed: {' '.join(str(e).split())[:60]}"
    t = threading.Thread(target=switch, daemon=True)
    t.start()
    t.join(timeout)
    return out[0]


def disk_full(s, rng):
    """The primary's disk full: relation extensions fail (53100); WAL goes on in the segments
    already there."""
    return _fill(_primary(s, rng), "disk_full")


def disk_full_wal(s, rng):
    """The primary's disk full when it needs a new WAL segment: PostgreSQL PANICs and cannot
    finish crash recovery until space is freed."""
    n = _primary(s, rng)
    inj = _fill(n, "disk_full_wal")
    inj.what += _switch_wal(n, 8)
    return inj


def disk_full_replica(s, rng):
    """A replica's disk full while the primary moves to new WAL segments: the replica cannot
    store them (its walreceiver and then its startup process fail)."""
    inj = _fill(_replica(s, rng), "disk_full_replica")
    p = s.leader_node()
    if p is not None:
        inj.what += _switch_wal(p, 3)
    return inj


# -- wall clock

def _clock_jump(s, rng, target, name, sign):
    n = target(s, rng)
    secs = sign * rng.choice([30, 90, 600])
    n.clock.set(secs)
    return Injected(name, f"{n.name}'s wall clock jumps {secs:+d}s (back to the real time at the "
                    "heal)", lambda: n.clock.set(0))


def clock_forward(s, rng):
    return _clock_jump(s, rng, _primary, "clock_forward", +1)


def clock_back(s, rng):
    return _clock_jump(s, rng, _primary, "clock_back", -1)


def clock_skew_replica(s, rng):
    return _clock_jump(s, rng, _replica, "clock_skew_replica", rng.choice([-1, 1]))


# -- etcd

def _etcd_fault(s, names, sig, name, desc):
    pids = [s.etcd_pid(n) for n in names]
    signal_pids([p for p in pids if p], sig)

    def heal():
        signal_pids([p for p in pids if p], signal.SIGCONT)
        for n in names:
            for _ in range(50):
                if s.etcd_procs[n].poll() is not None:
                    break
                if sig != signal.SIGKILL:
                    break
                time.sleep(0.1)
            s.start_etcd(n)
    return Injected(name, desc, heal)


def kill_etcd_member(s, rng):
    n = rng.choice(s.etcd_hosts).name
    return _etcd_fault(s, [n], signal.SIGKILL, "kill_etcd_member", f"SIGKILL etcd {n}")


def lose_etcd_quorum(s, rng):
    names = [h.name for h in rng.sample(s.etcd_hosts, 2)]
    return _etcd_fault(s, names, signal.SIGKILL, "lose_etcd_quorum",
                       f"SIGKILL etcd {' and '.join(names)} (no quorum)")


def stop_etcd_quorum(s, rng):
    names = [h.name for h in rng.sample(s.etcd_hosts, 2)]
    return _etcd_fault(s, names, signal.SIGSTOP, "stop_etcd_quorum",
                       f"SIGSTOP etcd {' and '.join(names)} (no quorum)")


FAULTS = {
    "kill_pg": kill_pg,
    "kill_agent": kill_agent,
    "kill_node": kill_node,
    "kill_replica_node": lambda s, r: kill_node(s, r, _replica),
    "backup_kill_runner": backup_kill_runner,
    "stop_agent": stop_agent,
    "stop_pg": stop_pg,
    "stop_host": stop_host,
    "part_primary_etcd": part_primary_etcd,
    "part_primary_replicas": part_primary_replicas,
    "oneway_primary_to_etcd": oneway_primary_to_etcd,
    "oneway_etcd_to_primary": oneway_etcd_to_primary,
    "oneway_primary_to_replicas": oneway_primary_to_replicas,
    "part_sites": part_sites,
    "part_primary_minority": part_primary_minority,
    "link_down_primary": link_down_primary,
    "kill_etcd_member": kill_etcd_member,
    "lose_etcd_quorum": lose_etcd_quorum,
    "stop_etcd_quorum": stop_etcd_quorum,
    "restart_storm": restart_storm,
    "restart_storm_primary": lambda s, r: restart_storm(s, r, _primary),
    "lossy_primary": lossy_primary,
    "lossy_etcd": lossy_etcd,
    "slow_primary": slow_primary,
    "slow_etcd": slow_etcd,
    "slow_replication": slow_replication,
    "disk_full": disk_full,
    "disk_full_replica": disk_full_replica,
    "disk_full_wal": disk_full_wal,
    "clock_forward": clock_forward,
    "clock_back": clock_back,
    "clock_skew_replica": clock_skew_replica,
}


def heal_all(s):
    for h in s.topo.hosts.values():
        h.heal_links()
        h.link_up()
        signal_pids(h.pids(), signal.SIGCONT)
    for n in s.nodes.values():
        n.disk.free()
        n.clock.set(0)
    for h in s.etcd_hosts:
        s.start_etcd(h.name)
    for n in s.nodes.values():
        if not n.agent_alive():
            _restart_agent(n)()

