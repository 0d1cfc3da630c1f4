"""Rolling restarts (issue 16, "Operations that change the cluster"): `tandemctl restart
--rolling` restarts PostgreSQL member by member, replicas first, each back to streaming before the
next, then a switchover to a restarted replica, then the old leader, with hellod under load
through HAProxy's read-write port and not one failed request (hellod's request deadline absorbs
the switchover). Then the pending-restart case: a parameter that needs a restart changed with
edit-config, and `restart --rolling --pending`.

One 3-member cluster with HAProxy (tests/integration/cluster.py) and one hellod for the module.
The tests assert behaviour (who leads, postmaster start times, failed requests, settings), never
speed.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import uuid

import pytest

from cluster import ETCD, HAPROXY, T_CHANGE, TANDEMCTL, TANDEMD, Cluster, serve, wait_until
from conftest import HellodFactory

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not (TANDEMD.exists() and TANDEMCTL.exists()), reason="not built"),
    pytest.mark.skipif(not (os.path.exists(ETCD) and os.path.exists(HAPROXY)),
                       reason="needs etcd and haproxy"),
]


@pytest.fixture(scope="module")
def cluster():
    yield from serve(Cluster(3, prefix="tandem-it-roll-"))


@pytest.fixture(scope="module")
def app(cluster, tmp_path_factory):
    """hellod writing to the leader through HAProxy's read-write port."""
    hp = cluster.start_haproxy()
    cluster.wait_haproxy_routes(cluster.wait_healthy())
    f = HellodFactory(tmp_path_factory.mktemp("hellod-roll"), None)
    conninfo = (f"host=127.0.0.1 port={hp.rw_port} dbname=postgres user=postgres "
                f"connect_timeout=2")
    srv = f("--database", conninfo, database=False,
            env={"PGPASSWORD": cluster.superuser_password})
    yield srv
    f.cleanup()


class Load:
    """Two threads doing PUT and GET against hellod until stopped; every answer that is not the
    expected one (or no answer) is a failure, recorded."""

    def __init__(self, srv):
        self.srv, self.stop = srv, threading.Event()
        self.ok, self.failures = 0, []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(2)]

    def run(self, i):
        name = "roll" + uuid.uuid4().hex[:6].translate(str.maketrans("0123456789", "ghijklmnop"))
        while not self.stop.is_set():
            for method, body, want in (("PUT", b'{"dateOfBirth": "1990-05-17"}', 204),
                                       ("GET", None, 200)):
                try:
                    c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
                    c.request(method, f"/hello/{name}", body=body,
                              headers={"Content-Type": "application/json"})
                    r = c.getresponse()
                    text = r.read()
                    c.close()
                    good = r.status == want
                except OSError as e:
                    good, text = False, str(e).encode()
                with self.lock:
                    if good:
                        self.ok += 1
                    else:
                        self.failures.append((method, text[:200]))

    def __enter__(self):
        for t in self.threads:
            t.start()
        wait_until(lambda: self.ok >= 20, T_CHANGE, "hellod answering under load")
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def start_times(c):
    return {m.name: m.patroni()["postmaster_start_time"] for m in c.members}


def timeline(c):
    return c.member(c.dcs_leader()).patroni()["timeline"]


def test_dry_run_prints_the_plan_and_does_nothing(cluster):
    c = cluster
    leader = c.wait_healthy()
    before = start_times(c)
    r = c.tandemctl("restart", "--rolling", "--dry-run")
    assert r.returncode == 0, r.stderr
    replicas = sorted(m.name for m in c.members if m is not leader)
    for n in replicas:
        assert f"restart {n}" in r.stdout, r.stdout
    assert f"switch over from {leader.name} to" in r.stdout, r.stdout
    assert "dry run: nothing done" in r.stdout
    r = c.tandemctl("restart", "--rolling", "--dry-run", "--json")
    plan = json.loads(r.stdout)
    assert plan["leader"] == leader.name and sorted(plan["replicas"]) == replicas
    assert plan["candidate"] in replicas
    assert start_times(c) == before
    # Without --force and without a terminal it does not start; names are refused.
    assert c.tandemctl("restart", "--rolling").returncode == 2
    assert c.tandemctl("restart", "--rolling", replicas[0], "--force").returncode == 2
    assert c.tandemctl("restart", "--dry-run", replicas[0]).returncode == 2


def test_rolling_restart_under_load_fails_no_request(cluster, app):
    c = cluster
    leader = c.wait_healthy()
    before, tl = start_times(c), timeline(c)
    with Load(app) as load:
        r = c.tandemctl("restart", "--rolling", "--force", "--member-timeout", "120",
                        timeout=600)
        served = load.ok
    print(r.stdout, r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    assert load.failures == [], f"{len(load.failures)} failed requests: {load.failures[:5]}"
    assert served > 20
    after = start_times(c)
    assert all(after[n] != before[n] for n in before), (before, after)
    new = c.wait_healthy()
    assert new.name != leader.name
    assert timeline(c) == tl + 1  # the leader changed exactly once
    assert f"Rolling restart done: 3 member(s) restarted; the leader is now {new.name}" \
        in r.stdout


def test_rolling_restart_of_pending_members(cluster):
    c = cluster
    leader = c.wait_healthy()
    tl = timeline(c)
    r = c.tandemctl("edit-config", "--pg", "max_connections=60", "--force")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: all(m.patroni().get("pending_restart") for m in c.members), T_CHANGE,
               "every member to report the restart pending")
    r = c.tandemctl("restart", "--rolling", "--pending", "--force", "--json", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] and sorted(out["restarted"]) == sorted(m.name for m in c.members)
    assert out["leader_before"] == leader.name and out["leader_after"] != leader.name
    c.wait_healthy()
    for m in c.members:
        assert not m.patroni().get("pending_restart"), m.name
        assert m.query("SHOW max_connections")[0][0] == "60", m.name
    assert timeline(c) == tl + 1
    # Nothing pending any more: nothing to do.
    r = c.tandemctl("restart", "--rolling", "--pending", "--force")
    assert r.returncode == 0 and "has a restart pending" in r.stdout, r.stdout + r.stderr
