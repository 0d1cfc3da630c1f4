"""The initialize race (docs/tandemd.md, "Bootstrap"): the winner holds the `initialize` key on
its lease until the cluster is initialized. A winner that dies before that (or whose answer was
lost, so that it thinks another member won) no longer blocks the cluster forever: the key goes
with its lease, and another member bootstraps. The dead winner's data, never the cluster's, is
moved aside when it comes back (the note `DATA_DIR.bootstrapping`)."""

from __future__ import annotations

import os

import pytest

import cluster as C
from conftest import wait_until

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as postgres"),
    pytest.mark.skipif(not C.TANDEMD.exists(), reason=f"{C.TANDEMD} is not built"),
]


@pytest.mark.parametrize("when", ["won the initialize race", "initdb done"])
def test_a_winner_killed_during_its_bootstrap_does_not_block_the_cluster(when):
    c = C.Cluster(n=2, prefix="tandem-it-bootrace-")
    with C.logged_and_cleaned([c]):
        c.etcd.start()
        m1, m2 = c.members
        m1.start()
        wait_until(lambda: when in m1.log(), C.T_BOOT, f"m1: {when}", interval=0.005)
        m1.kill_node()
        assert c.etcd.get(c.key("initialize")) == "", "the race key holds no system id yet"
        m2.start()
        # m1's lease lapses, and the key with it: m2 bootstraps and leads.
        wait_until(lambda: c.dcs_leader() == "m2", C.T_BOOT + 3 * c.ttl, "m2 leading")
        assert "won the initialize race" in m2.log()
        wait_until(lambda: (c.etcd.get(c.key("initialize")) or "").isdigit(), C.T_CHANGE,
                   "the system identifier in the initialize key")
        # m1 comes back with the data of its bootstrap, whole or half made: moved aside, m1
        # clones m2 and follows it.
        had_data = (m1.data / "PG_VERSION").exists()
        m1.start()
        c.wait_healthy(C.T_BOOT)
        assert c.dcs_leader() == "m2"
        if had_data:
            assert "a bootstrap did not finish" in m1.log()
            assert "moved aside" in m1.log()
        assert not os.path.exists(f"{m1.data}.bootstrapping")
        assert not os.path.exists(f"{m2.data}.bootstrapping")
