"""One cluster stretched over two sites and a tie-breaker (run.py quick --stretched; docs/faults.md,
"Stretched cluster"): etcd e1 in site A, e2 in site B, e3 in a third place C; members d1 and d2 in
A, d3 in B; hellod on the client reads locally (`read-from: local` through HAProxy's read-only
port) and writes through the primary, every GET carrying the consistency token of the PUT before
it, so the checker's stale-read check covers every read.

Each scenario first sets the cluster's site policy (tandemctl edit-config), then runs as the quick
scenarios do (run.run_step: workload, faults, heal, the history checker), and adds the row its
site rule promises:

  stretched_kill_leader    synchronous_node_count 2, balanced (a standby in each site): the
                           leader's node killed; the new leader is in the same site.
  stretched_lose_site      remote_only: every host of the leader's site killed (its members, its
                           etcd member); the other site takes over by itself, and (strict mode)
                           nothing acknowledged is lost.
  stretched_cut_site       remote_only: the leader's site cut from the other site and from the
                           tie-breaker; the side without the etcd majority stops taking writes,
                           the other site leads.
  stretched_reads_replay_paused  replay paused on every replica: token reads wait, then go to
                           the primary; none is stale.
  stretched_reads_slow_links     the replicas' links slowed: the same.
"""

from __future__ import annotations

import re
import signal
import time
import urllib.request

from system import HELLOD_PORT
from nemesis import Injected, _links, _primary, _restart_agent, slow_replication
from topology import signal_pids

ETCD_HOSTS = [("e1", 11, "A"), ("e2", 12, "B"), ("e3", 13, "C")]

REMOTE = {"synchronous_node_count": 1, "synchronous_site_policy": "remote_only"}
BOTH = {"synchronous_node_count": 2, "synchronous_site_policy": "balanced"}

# (name, DCS config, [(fault, inject, heal)], the leader's site afterwards: same, other, or None)
SCENARIOS = [
    ("stretched_kill_leader", BOTH, [("kill_leader_node", 0, 8)], "same"),
    ("stretched_lose_site", REMOTE, [("lose_site", 0, 12)], "other"),
    ("stretched_cut_site", REMOTE, [("cut_site", 0, 12)], "other"),
    ("stretched_reads_replay_paused", BOTH, [("replay_paused", 0, 8)], None),
    ("stretched_reads_slow_links", BOTH, [("slow_replica_links", 0, 8)], None),
]


def _site_hosts(s, site):
    return ([h for h in s.etcd_hosts if h.site == site] +
            [n.host for n in s.nodes.values() if n.host.site == site])


def kill_leader_node(s, rng):
    n = _primary(s, rng)
    pids = n.host.pids()
    signal_pids(pids, signal.SIGKILL)
    return Injected("kill_leader_node", f"SIGKILL every process on {n.name} (site "
                    f"{n.host.site})", _restart_agent(n))


def lose_site(s, rng):
    """Every process of every host of the leader's site killed at once."""
    site = _primary(s, rng).host.site
    nodes = [n for n in s.nodes.values() if n.host.site == site]
    etcds = [h.name for h in s.etcd_hosts if h.site == site]
    for n in nodes:
        signal_pids(n.host.pids(), signal.SIGKILL)
    signal_pids([p for p in (s.etcd_pid(e) for e in etcds) if p], signal.SIGKILL)

    def heal():
        s.leader_in_fault = s.dcs_leader()
        for e in etcds:
            for _ in range(50):
                if s.etcd_procs[e].poll() is not None:
                    break
                time.sleep(0.1)
            s.start_etcd(e)
        for n in nodes:
            _restart_agent(n)()
    return Injected("lose_site", f"site {site} lost: {', '.join(n.name for n in nodes)} and "
                    f"etcd {', '.join(etcds)} killed", heal)


def cut_site(s, rng):
    """The leader's site cut from the other site and the tie-breaker (the client reaches both)."""
    site = _primary(s, rng).host.site
    inside = _site_hosts(s, site)
    outside = [h for h in list(s.etcd_hosts) + [n.host for n in s.nodes.values()]
               if h not in inside]
    inj = _links([(h, outside, "both") for h in inside],
                 f"site {site} ({', '.join(h.name for h in inside)}) cut from "
                 f"{', '.join(h.name for h in outside)}", "cut_site")
    heal_links = inj._heal

    def heal():
        s.leader_in_fault = s.dcs_leader()
        heal_links()
    inj._heal = heal
    return inj


def replay_paused(s, rng):
    """pg_wal_replay_pause() on every replica: they receive WAL but show none of it."""
    leader = s.leader_node()
    replicas = [n for n in s.nodes.values() if n is not leader]
    for n in replicas:
        n.query("SELECT pg_wal_replay_pause()")

    def heal():
        for n in replicas:
            try:
                n.query("SELECT pg_wal_replay_resume()")
            except Exception:  # restarted or promoted meanwhile: replay runs
                pass
    return Injected("replay_paused", "replay paused on " + ", ".join(n.name for n in replicas),
                    heal)


FAULTS = {
    "kill_leader_node": kill_leader_node,
    "lose_site": lose_site,
    "cut_site": cut_site,
    "replay_paused": replay_paused,
    "slow_replica_links": slow_replication,
}


def set_policy(system, config):
    args = []
    for k, v in config.items():
        args += ["--set", f"{k}={v}"]
    r = system.tandemctl_auth("edit-config", "--force", *args)
    if r.returncode != 0:
        raise RuntimeError(f"tandemctl edit-config {args}: {r.stdout}{r.stderr}")


def leader_with_a_neighbour(system):
    """Moves leadership (a switchover) into the site with two members when the leader is alone
    in its site: "the new leader is in the same site" needs a member there to take over. CI saw
    d3, alone in site B, win the bootstrap race, and the scenario then demand the impossible."""
    leader = system.leader_node()
    if any(n is not leader and n.host.site == leader.host.site for n in system.nodes.values()):
        return
    targets = [n for n in system.nodes.values() if n.host.site != leader.host.site]
    # Refused (409) until a target is a synchronous standby under the policy just set.
    for _ in range(60):
        for target in targets:
            r = system.tandemctl_auth("switchover", "--candidate", target.name, "--force")
            if r.returncode == 0:
                break
        else:
            time.sleep(1)
            continue
        break
    else:
        raise RuntimeError(f"tandemctl switchover to {target.name}: {r.stdout}{r.stderr}")
    for _ in range(600):
        now = system.leader_node()
        if now is not None and now.name == target.name:
            break
        time.sleep(0.1)
    system.wait_healthy(60)


def before(system, name):
    """Sets the scenario's policy, waits for a healthy cluster; what after() needs."""
    config, want = next((c, w) for n, c, _, w in SCENARIOS if n == name)
    system.leader_in_fault = None
    set_policy(system, config)
    system.wait_healthy(60)
    if want == "same":
        leader_with_a_neighbour(system)
    return system.leader_node().host.site, want, hellod_reads(system)


def hellod_reads(system):
    """hellod's read counters (hellod_reads_total by where, after a wait, stale prevented)."""
    url = f"http://{system.client.addr}:{HELLOD_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(r'^hellod_(reads_total\{served="(\w+)"\}|reads_after_wait_total|'
                         r'stale_reads_prevented_total) ([0-9.e+]+)$', text, re.M):
        out[m.group(2) or m.group(1)] = float(m.group(3))
    return out


def after(system, rep, hook):
    """The row of the scenario's site rule: the leader's site once the cluster healed."""
    before_site, want, reads_before = hook
    reads = hellod_reads(system)
    d = {k: int(v - reads_before.get(k, 0)) for k, v in reads.items()}
    rep.add("reads", f"{d.get('local', 0)} local",
            f"{d.get('reads_after_wait_total', 0)} of them after a wait, "
            f"{d.get('primary', 0)} by the primary, "
            f"{d.get('stale_reads_prevented_total', 0)} stale answers prevented",
            violation=d.get("local", 0) == 0)
    if want is None:
        return
    if want == "other":  # the other site took over by itself, before the fault healed
        n = system.nodes.get(system.leader_in_fault or "")
        rep.add("site (in the fault)", system.leader_in_fault or "no leader",
                f"the leader's site while site {before_site} was out: "
                f"{n.host.site if n else 'none'}",
                violation=not n or n.host.site == before_site)
    leader = system.leader_node()
    check_site(rep, before_site, leader.host.site if leader else None, want)


def check_site(rep, before, after, want):
    if after is None:
        rep.add("site", "no leader", f"the leader was in site {before}", violation=True)
        return
    same = after == before
    ok = same if want == "same" else not same
    rep.add("site", f"{before} -> {after}",
            "the new leader is in the failed leader's site" if want == "same"
            else "the other site took over", violation=not ok)
