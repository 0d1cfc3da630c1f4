"""Faults, each with its heal (run.py's soak mode draws random schedules of them from a seed).

A fault is `FAULTS[name](system, rng) -> Injected`; the target (the primary, a replica, an etcd
member) is chosen when the fault is injected. `Injected.heal()` undoes it; `heal_all()` undoes
anything any fault can have done (continues every stopped process in our namespaces, removes
every drop rule, brings links up, starts every etcd member and agent that is not running): the
safety net run after every scenario.
"""

from __future__ import annotations

import signal
import time

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

def _links(hosts_and_peers, desc, name):
    heals = [host.drop(peers, direction) for host, peers, direction in hosts_and_peers]

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
}


def heal_all(s):
    for h in s.topo.hosts.values():
        h.heal_links()
        h.link_up()
        signal_pids(h.pids(), signal.SIGCONT)
    for h in s.etcd_hosts:
        s.start_etcd(h.name)
    for n in s.nodes.values():
        if not n.agent_alive():
            _restart_agent(n)()

