"""A major upgrade's tandem steps (issue 16, docs/deploy-operations.md "Major upgrade"), on the
only PostgreSQL this machine has: pg_upgrade --link from 15 into a new data directory of 15. It
proves what tandem adds around pg_upgrade, not a change of version: maintenance mode, the members
stopped (replica first), pg_upgrade --link on the leader's data into a new directory, the leader
started on it (postgresql.data_dir changed in its YAML), the DCS `initialize` key set to the new
system identifier, the replica rebuilt from the new leader (its old data moved aside, a fresh
clone), maintenance mode ended, the rows written before there on both.

A 2-member cluster of its own (tests/integration/cluster.py). Behaviour only, never speed.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from cluster import (ETCD, PG_BIN, T_BOOT, T_CHANGE, TANDEMCTL, TANDEMD, Cluster, serve,
                     wait_until)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not (TANDEMD.exists() and TANDEMCTL.exists()), reason="not built"),
    pytest.mark.skipif(not os.path.exists(ETCD), reason="needs etcd"),
    pytest.mark.skipif(not (PG_BIN / "pg_upgrade").exists(), reason="needs pg_upgrade"),
]


@pytest.fixture(scope="module")
def cluster():
    yield from serve(Cluster(2, prefix="tandem-it-pgu-"))


def as_postgres(*argv, cwd):
    r = subprocess.run([str(a) for a in argv], user="postgres", group="postgres",
                       extra_groups=[], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{argv[0]} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def sysid(data, cwd):
    out = as_postgres(PG_BIN / "pg_controldata", data, cwd=cwd)
    return re.search(r"Database system identifier:\s+(\d+)", out).group(1)


def test_pg_upgrade_link_into_a_new_data_directory(cluster):
    c = cluster
    leader = c.wait_healthy()
    replica = next(m for m in c.members if m is not leader)
    row = c.write_row(leader)
    c.wait_row([replica], row)
    old_id = c.etcd.get(c.key("initialize"))

    r = c.tandemctl("pause", "--wait")
    assert r.returncode == 0, r.stderr
    assert replica.stop() == 0
    assert leader.stop() == 0
    wait_until(lambda: c.dcs_leader() is None, T_CHANGE, "no leader key")

    old, new = leader.data, leader.dir / "data-new"
    as_postgres(PG_BIN / "initdb", "-D", new, "--auth-local=trust", "--username=postgres",
                cwd=leader.dir)
    as_postgres(PG_BIN / "pg_upgrade", "--link", "-b", PG_BIN, "-B", PG_BIN, "-d", old,
                "-D", new, "-p", "26911", "-P", "26912", "--check", cwd=leader.dir)
    # The new cluster's control file records the settings a standby must match: pg_upgrade
    # runs it with the cluster's own (max_connections 50 here, initdb's default is 100).
    as_postgres(PG_BIN / "pg_upgrade", "--link", "-b", PG_BIN, "-B", PG_BIN, "-d", old,
                "-D", new, "-p", "26911", "-P", "26912", "-O", "-c max_connections=50",
                cwd=leader.dir)
    new_id = sysid(new, leader.dir)
    assert new_id != old_id  # pg_upgrade keeps initdb's identifier, not the old one

    # The leader on the new directory, the DCS told the new identifier.
    leader.data = new
    leader.write_config()
    c.etcd.put(c.key("initialize"), new_id)
    leader.start()
    # Paused, a member without the leader key does not take it: it waits for the operator,
    # who ends maintenance mode through it once it answers.
    wait_until(lambda: leader.patroni(), T_BOOT, f"{leader.name}'s REST API")
    assert c.dcs_leader() is None
    r = c.tandemctl("resume", "--wait")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: c.dcs_leader() == leader.name, T_BOOT, f"{leader.name} leading again")
    wait_until(lambda: leader.writable(), T_CHANGE, f"{leader.name} writable")
    assert c.has_row(leader, row)

    # The replica rebuilt from it: its old data moved aside, a fresh clone.
    os.rename(replica.data, replica.dir / "data-before-upgrade")
    replica.start()
    c.wait_healthy(T_BOOT)
    assert sysid(replica.data, replica.dir) == new_id
    assert c.has_row(replica, row)
    row2 = c.write_row(leader)
    c.wait_row([replica], row2)
    r = c.tandemctl("list", "--json")
    assert new_id in r.stdout
