"""Cluster size (issue 16, "Operations that change the cluster"): `tandemctl remove MEMBER` takes
a stopped replica out of a 3-member cluster in synchronous mode (its member key gone, its slot
dropped on the leader, the sync key no longer naming it, the cluster healthy with the two left,
synchronous replication holding), refuses the leader and a member whose tandemd still runs, and
a member added back (a new tandemd on an empty data directory) clones and joins.

One cluster for the module (tests/integration/cluster.py). Behaviour only, never speed.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from cluster import ETCD, T_BOOT, T_CHANGE, TANDEMCTL, TANDEMD, Cluster, serve, wait_until

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not (TANDEMD.exists() and TANDEMCTL.exists()), reason="not built"),
    pytest.mark.skipif(not os.path.exists(ETCD), reason="needs etcd"),
]


@pytest.fixture(scope="module")
def cluster():
    yield from serve(Cluster(3, prefix="tandem-it-rm-", dcs_extra={"synchronous_mode": True}))


def slots(leader):
    return {r[0] for r in leader.query("SELECT slot_name FROM pg_replication_slots")}


def sync_key(c):
    return json.loads(c.etcd.get(c.key("sync")) or "null") or {}


def sync_names(c):
    return set(filter(None, (sync_key(c).get("sync_standby") or "").split(",")))


def test_remove_refuses_the_leader_and_a_running_member(cluster):
    c = cluster
    leader = c.wait_healthy()
    replica = next(m for m in c.members if m is not leader)
    r = c.tandemctl("remove", leader.name, "--force", config=leader.config_path)
    assert r.returncode == 1 and "is the leader; switch over first" in r.stderr, r.stderr
    r = c.tandemctl("remove", replica.name, "--force", config=leader.config_path)
    assert r.returncode == 1 and "still runs" in r.stderr, r.stderr
    r = c.tandemctl("remove", "nosuchmember", "--force", config=leader.config_path)
    assert r.returncode == 1 and "no member named" in r.stderr, r.stderr
    assert c.tandemctl("remove", replica.name).returncode == 2  # no terminal, no --force
    c.wait_healthy()


def test_remove_a_stopped_replica_then_add_it_back(cluster):
    c = cluster
    leader = c.wait_healthy()
    wait_until(lambda: sync_names(c), T_CHANGE, "a synchronous standby in the sync key")
    # The synchronous standby goes: the leader must pick the other replica.
    gone = c.member(sorted(sync_names(c))[0])
    left = [m for m in c.members if m is not gone]
    wait_until(lambda: gone.name in slots(leader), T_CHANGE, f"{gone.name}'s slot on the leader")
    assert gone.stop() == 0
    r = c.tandemctl("remove", gone.name, "--force", config=leader.config_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"Removed {gone.name}" in r.stdout and "replication slot dropped" in r.stdout, r.stdout
    assert c.etcd.get(c.key(f"members/{gone.name}")) is None
    assert gone.name not in slots(leader)
    assert gone.name not in sync_names(c)
    assert c.health_problem(left) is None, c.health_problem(left)
    # The sync rules hold with the members left: the other replica is the synchronous standby.
    other = next(m for m in left if m is not leader)
    wait_until(lambda: sync_names(c) == {other.name}, T_CHANGE, f"{other.name} in the sync key")
    wait_until(lambda: leader.query("SHOW synchronous_standby_names")[0][0] != "", T_CHANGE,
               "synchronous_standby_names set")
    assert gone.name not in leader.query("SHOW synchronous_standby_names")[0][0]
    row = c.write_row(leader)
    c.wait_row([other], row)
    # Nothing left to remove: refused as unknown.
    r = c.tandemctl("remove", gone.name, "--force", config=leader.config_path)
    assert r.returncode == 1 and "no member named" in r.stderr, r.stderr

    # Added back: a new tandemd on an empty data directory clones from the cluster.
    shutil.rmtree(gone.data)
    gone.start()
    c.wait_healthy(T_BOOT)
    assert c.has_row(gone, row)
    wait_until(lambda: gone.name in slots(c.member(c.dcs_leader())), T_CHANGE,
               f"a slot for {gone.name} again")
