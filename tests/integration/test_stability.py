"""No false failovers (issue 4): with tandem's default timings (ttl 4 s, loop_wait 1 s,
retry_timeout 1 s), short trouble that is not a failure must not move the leader: a short stall
of the leader's agent, a slow etcd, a replica's agent frozen for longer than the TTL, a busy
machine. Each test asserts that the leader, its timeline and its postmaster are the same after the
trouble as before, and that every member streams again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from cluster import ETCD, HAPROXY, T_CHANGE, TANDEMD, Cluster, serve

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not (os.path.exists(ETCD) and os.path.exists(HAPROXY)),
                       reason="needs etcd and haproxy"),
]

# tandem's defaults, written out so that the test does not depend on the cluster harness's.
DEFAULTS = dict(ttl=4, loop_wait=1, retry_timeout=1)


@pytest.fixture(scope="module")
def cluster():
    yield from serve(Cluster(3, **DEFAULTS, prefix="tandem-it-st-"))


@pytest.fixture
def steady(cluster, request):
    """The cluster, healthy, and what must not change: leader, its timeline, its postmaster."""
    request.node.__dict__.setdefault("_hellod_servers", []).extend(cluster.log_sources())
    cluster.wait_healthy(T_CHANGE)
    leader = cluster.member(cluster.dcs_leader())
    before = (leader.name, leader.patroni()["timeline"], leader.postmaster_pid())
    offsets = {m.name: m.log_size() for m in cluster.members}
    yield cluster, leader
    cluster.wait_healthy(T_CHANGE)
    now = cluster.member(cluster.dcs_leader())
    after = (now.name, now.patroni()["timeline"], now.postmaster_pid())
    assert after == before, f"the leader moved or restarted: {before} -> {after}"
    for m in cluster.members:
        log = m.log_since(offsets[m.name])
        for word in ("demote:", "take_leader:", "promote:", "release_leader:"):
            assert word not in log, f"{m.name} acted ({word}) though nothing failed:\n{log}"


def test_short_stall_of_the_leaders_agent(steady):
    cluster, leader = steady
    os.kill(leader.proc.pid, signal.SIGSTOP)
    time.sleep(1.0)
    os.kill(leader.proc.pid, signal.SIGCONT)
    # A write on the leader still works: it never stopped being the primary.
    cluster.write_row(leader)


def test_slow_etcd(steady):
    cluster, leader = steady
    pid = cluster.etcd.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(1.5)
    finally:
        os.kill(pid, signal.SIGCONT)
    cluster.write_row(leader)


def test_replica_agent_frozen_past_the_ttl(steady):
    cluster, leader = steady
    replica = next(m for m in cluster.members if m.name != leader.name)
    os.kill(replica.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(DEFAULTS["ttl"] + 2)
        # Its member key expired; the leader did not care.
        assert cluster.dcs_leader() == leader.name
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
    value = cluster.write_row(leader)
    cluster.wait_row([m for m in cluster.members], value)


def test_busy_machine(steady):
    cluster, leader = steady
    burners = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(4)]
    try:
        time.sleep(8)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    cluster.write_row(leader)
