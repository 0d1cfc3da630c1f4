"""Site awareness on one cluster stretched over two sites (docs/tandemd.md, "Sites"): four
members tagged A, A, B, B. The leader's node is killed while every replica is equally fit: the
new leader is the other member of the leader's site, never one of the other site. With
`synchronous_site_policy: remote_only` the synchronous standby is in the other site, and
`tandemctl switchover --site` moves the leader to the best member of a site."""

from __future__ import annotations

import json
import os

import pytest

from cluster import ETCD, T_BOOT, T_CHANGE, TANDEMCTL, TANDEMD, Cluster, serve, wait_until

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not (os.path.exists(ETCD) and TANDEMCTL.exists()),
                       reason="needs etcd and tandemctl"),
]

SITES = ["A", "A", "B", "B"]


@pytest.fixture(scope="module")
def cluster():
    yield from serve(Cluster(4, prefix="tandem-it-site-", sites=SITES), T_BOOT)


def site(c, m):
    return c.site_of(m.index)


def member_key(c, name):
    v = c.etcd.get(c.key(f"members/{name}"))
    return json.loads(v) if v else None


def test_list_shows_the_sites(cluster):
    c = cluster
    c.wait_healthy()
    r = c.tandemctl("list")
    assert r.returncode == 0, r.stderr
    header = [x.strip() for x in r.stdout.splitlines()[1].strip("|").split("|")]
    assert header[:3] == ["Member", "Host", "Site"], r.stdout
    rows = json.loads(c.tandemctl("list", "--json").stdout)["members"]
    assert {m["name"]: m["site"] for m in rows} == {m.name: site(c, m) for m in c.members}
    # The member key carries the tag, in Patroni's place.
    assert member_key(c, c.members[2].name)["tags"]["site"] == "B"


def test_failover_stays_in_the_site(cluster):
    c = cluster
    old = c.wait_healthy()
    same = [m for m in c.members if m is not old and site(c, m) == site(c, old)]
    other = [m for m in c.members if site(c, m) != site(c, old)]
    assert len(same) == 1 and len(other) == 2
    # Every replica as far ahead as the others: the same last row, nothing written after.
    row = c.write_row(old)
    c.wait_row(same + other, row)
    positions = {}

    def equal():
        for m in same + other:
            positions[m.name] = (member_key(c, m.name) or {}).get("xlog_location")
        return len(set(positions.values())) == 1

    wait_until(equal, T_CHANGE, "every replica's key at the same position")
    old.kill_node()
    new = c.wait_leader(not_name=old.name)
    assert new is same[0], (
        f"{new.name} (site {site(c, new)}) took over from {old.name} (site {site(c, old)}); "
        f"positions {positions}\n{c.logs()}")
    assert c.has_row(new, row)
    old.start()
    c.wait_healthy()


def test_remote_synchronous_standby_and_switchover_to_a_site(cluster):
    c = cluster
    leader = c.wait_healthy()
    r = c.tandemctl("edit-config", "--set", "synchronous_mode=true", "--set",
                    "synchronous_site_policy=remote_only", "--force")
    assert r.returncode == 0, r.stdout + r.stderr

    def sync_names():
        v = c.etcd.get(c.key("sync"))
        got = json.loads(v) if v else {}
        if got.get("leader") != leader.name or not got.get("sync_standby"):
            return None
        return got["sync_standby"].split(",")

    names = wait_until(sync_names, T_CHANGE, "a synchronous standby")
    assert [site(c, c.member(n)) for n in names] != [site(c, leader)]
    assert all(site(c, c.member(n)) != site(c, leader) for n in names), names
    # PostgreSQL waits for it: a commit acknowledged now is in the other site.
    states = dict(leader.query("SELECT application_name, sync_state FROM pg_stat_replication"))
    assert states.get(names[0]) == "sync", states
    row = c.write_row(leader)
    c.wait_row([c.member(names[0])], row)
    # Switch the leader over to the other site by name.
    there = "B" if site(c, leader) == "A" else "A"
    r = c.tandemctl("switchover", "--site", there, "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    new = c.wait_leader(not_name=leader.name)
    assert site(c, new) == there
    r = c.tandemctl("switchover", "--site", "nowhere", "--force")
    assert r.returncode != 0 and "no member is tagged with site 'nowhere'" in r.stderr
    c.wait_healthy()


def test_rebuild_copies_a_replica_of_the_own_site(cluster):
    c = cluster
    leader = c.wait_healthy()
    here = [m for m in c.members if site(c, m) != site(c, leader)]
    assert len(here) == 2
    target, source = here
    row = c.write_row(leader)
    offset = target.log_size()
    r = c.tandemctl("reinit", target.name, "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_until(lambda: f"cloning {source.name} with pg_basebackup" in target.log_since(offset),
               T_CHANGE, f"{target.name} copying {source.name}, not the leader across the link")
    c.wait_healthy()
    c.wait_row([target], row)
    assert f"cloning {leader.name} with pg_basebackup" not in target.log_since(offset)


def test_a_second_member_with_a_taken_name_stops(cluster):
    """Member names are unique in a cluster: a tandemd started with the name of a running member
    (at other addresses) exits 1 naming the other, and the cluster carries on untouched."""
    from cluster import Member
    c = cluster
    leader = c.wait_healthy()
    taken = next(m for m in c.members if m is not leader)
    dup = Member(c, 4)  # a site of the list, its own directory and ports
    dup.name = taken.name
    dup.dir = c.base / "duplicate"
    dup.data = dup.dir / "data"
    dup.config_path, dup.log_path = dup.dir / "tandemd.yml", dup.dir / "tandemd.log"
    dup.write_config()
    before = member_key(c, taken.name)
    dup.start()
    try:
        rc = dup.proc.wait(60)
    finally:
        if dup.proc.poll() is None:
            dup.proc.kill()
            dup.proc.wait()
    log = dup.log()
    assert rc == 1, log
    assert f"the member name {taken.name} is taken" in log, log
    assert f"127.0.0.1:{taken.rest_port}" in log, log
    assert member_key(c, taken.name)["api_url"] == before["api_url"]
    assert not dup.data.exists() or not any(dup.data.iterdir()), "the duplicate touched its data"
    c.wait_healthy()
