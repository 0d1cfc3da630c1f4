"""tandemd as a cluster (issue 3): three members with their own etcd, PostgreSQL and HAProxy on
loopback, driven through tests/integration/cluster.py.

One cluster is shared by the tests that leave it healthy (each starts by waiting for health and,
if it cannot get it, builds a new cluster, so one failure does not cascade). Every test asserts
behaviour (who leads, who streams, where rows are, what HAProxy routes), never how fast it happens;
the deadlines in cluster.py only bound the waits. On failure the tails of every member's tandemd
log and PostgreSQL log are attached to the report.

The configuration tests need no cluster. All tests run under the ASan build too
(TANDEM_BUILD=build-asan: conftest's SLOW scales the deadlines).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

from cluster import (
    ETCD,
    HAPROXY,
    PATRONICTL,
    SLOW,
    T_BOOT,
    T_CHANGE,
    TANDEMCTL,
    TANDEMD,
    TTL,
    Cluster,
    wait_until,
)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
]

needs_cluster = pytest.mark.skipif(
    not (os.path.exists(ETCD) and os.path.exists(HAPROXY) and TANDEMCTL.exists()),
    reason="needs etcd, haproxy and tandemctl")


# ---------------------------------------------------------------------------------------------
# fixtures


class _Shared:
    cluster = None


def _new_cluster():
    c = Cluster(3)
    try:
        c.start()
        c.wait_healthy(T_BOOT)
        c.start_haproxy()
    except BaseException:
        print(c.logs())
        c.cleanup()
        raise
    return c


@pytest.fixture(scope="module")
def _shared_cluster():
    holder = _Shared()
    yield holder
    if holder.cluster:
        problems = holder.cluster.cleanup()
        assert not problems, "\n\n".join(problems)


def _attach(request, c):
    request.node.__dict__.setdefault("_hellod_servers", []).extend(c.log_sources())


@pytest.fixture
def cluster(request, _shared_cluster):
    """The module's cluster, healthy (rebuilt when a previous test left it broken)."""
    c = _shared_cluster.cluster
    if c is not None:
        try:
            c.wait_healthy(T_CHANGE)
        except AssertionError as e:
            print(f"the shared cluster is not healthy ({e}): building a new one")
            problems = c.cleanup()
            _shared_cluster.cluster = c = None
            assert not problems, "\n\n".join(problems)
    if c is None:
        c = _shared_cluster.cluster = _new_cluster()
    _attach(request, c)
    yield c


@pytest.fixture
def own_cluster(request):
    """A fresh cluster for one test; stopped afterwards."""
    c = _new_cluster()
    _attach(request, c)
    yield c
    problems = c.cleanup()
    assert not problems, "\n\n".join(problems)


@pytest.fixture
def pg_tmp():
    """A temporary directory the postgres user can use (pytest's tmp_path is root-only)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="tandem-it-cfg-"))
    os.chmod(d, 0o755)
    shutil.chown(d, "postgres", "postgres")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def replicas_of(c, leader):
    return [m for m in c.members if m is not leader]


def check_history(c, tl, new):
    """The DCS history (Patroni's shape) has the switch out of timeline `tl`, by `new`."""
    hist = json.loads(c.etcd.get(c.key("history")) or "[]")
    entry = next((h for h in hist if h[0] == tl), None)
    assert entry, f"no history entry for timeline {tl}: {hist}"
    assert entry[1] > 0 and entry[-1] == new.name, entry


def timeline(m):
    s = m.patroni()
    return s and s.get("timeline")


# ---------------------------------------------------------------------------------------------
# bad configuration, root (no cluster)


def _base_config(tmp):
    return {
        "scope": "cfgtest",
        "name": "n1",
        "restapi": "restapi:\n  listen: 127.0.0.1:1\n",
        "etcd3": "etcd3:\n  hosts: 127.0.0.1:1\n",
        "bootstrap": "bootstrap:\n  dcs:\n    ttl: 5\n    loop_wait: 1\n    retry_timeout: 2\n",
        "postgresql": f"postgresql:\n  listen: 127.0.0.1:1\n  data_dir: {tmp}/data\n",
    }


def _render(parts):
    out = ""
    for k, v in parts.items():
        if k in ("scope", "name"):
            out += f"{k}: {v}\n"
        else:
            out += v
    return out


BAD_CONFIGS = {
    "missing-scope": (lambda p: p.pop("scope"), ["scope"]),
    "missing-name": (lambda p: p.pop("name"), ["name"]),
    "missing-data-dir": (lambda p: p.update(postgresql="postgresql:\n  listen: 127.0.0.1:1\n"),
                         ["data_dir"]),
    "kubernetes-key": (lambda p: p.update(kubernetes="kubernetes:\n  use_endpoints: true\n"),
                       ["kubernetes"]),
    "ttl-too-short-for-timings": (
        lambda p: p.update(bootstrap="bootstrap:\n  dcs:\n    ttl: 5\n    loop_wait: 2\n"
                                     "    retry_timeout: 3\n"), ["ttl"]),
    "yaml-syntax-error": (lambda p: p.update(scope="[cfgtest\nname: n1"), ["yml"]),
}


def _run_tandemd(config_text, tmp, as_postgres=True):
    path = pathlib.Path(tmp) / "tandemd.yml"
    path.write_text(config_text)
    for p in (tmp, path):
        shutil.chown(p, "postgres", "postgres")
    kw = dict(user="postgres", group="postgres", extra_groups=[]) if as_postgres else {}
    try:
        return subprocess.run([str(TANDEMD), str(path)], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=20 * SLOW, cwd=tmp,
                              env={"PATH": "/usr/bin:/bin", **{k: v for k, v in os.environ.items()
                                                              if k.endswith("SAN_OPTIONS")}},
                              **kw)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tandemd kept running with a configuration it should refuse:\n{config_text}")


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_configuration_exits_2_naming_the_problem(case, pg_tmp):
    tmp_path = pg_tmp
    change, words = BAD_CONFIGS[case]
    parts = _base_config(tmp_path)
    change(parts)
    text = _render(parts)
    r = _run_tandemd(text, tmp_path)
    assert r.returncode == 2, f"exit {r.returncode}\nstdout {r.stdout}\nstderr {r.stderr}\n{text}"
    for w in words:
        assert w in r.stderr, f"the message does not name {w!r}: {r.stderr!r}\n{text}"
    assert "Sanitizer" not in r.stderr


def test_refuses_to_run_as_root(pg_tmp):
    tmp_path = pg_tmp
    r = _run_tandemd(_render(_base_config(tmp_path)), tmp_path, as_postgres=False)
    assert r.returncode == 2, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "root" in r.stderr and "postgres" in r.stderr, r.stderr
    assert not (tmp_path / "data").exists()


# ---------------------------------------------------------------------------------------------
# the shared cluster


@needs_cluster
def test_bootstrap_of_three(cluster):
    c = cluster
    leader = c.wait_healthy()
    reps = replicas_of(c, leader)
    # Exactly one member ran initdb (the leader); the others cloned it.
    initdb = [m.name for m in c.members if "running initdb" in m.log()]
    assert initdb == [leader.name], f"members that ran initdb: {initdb}"
    for m in reps:
        assert "pg_basebackup" in m.log(), f"{m.name} did not clone with pg_basebackup"
        assert m.in_recovery() is True
    # Same system id everywhere (from PostgreSQL itself, and in the DCS initialize key).
    ids = {m.name: m.query("SELECT system_identifier FROM pg_control_system()")[0][0]
           for m in c.members}
    assert len(set(ids.values())) == 1, ids
    assert c.etcd.get(c.key("initialize")) == str(ids[leader.name])
    # Two streaming replicas on the leader, seen from the leader too.
    apps = {r[0] for r in leader.query(
        "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'")}
    assert apps == {m.name for m in reps}, apps
    row = c.write_row(leader)
    c.wait_row(reps, row)


@needs_cluster
@pytest.mark.skipif(not PATRONICTL, reason="patronictl not installed (apt-get install patroni)")
def test_patronictl_lists_the_cluster(cluster):
    check_patronictl(cluster, cluster.wait_healthy())


def check_patronictl(c, leader):
    tl = timeline(leader)

    def listing():
        r = c.patronictl("list", "-f", "json")
        assert r.returncode == 0, f"patronictl list exited {r.returncode}: {r.stderr}"
        rows = {row["Member"]: row for row in json.loads(r.stdout)}
        roles = {n: row["Role"] for n, row in rows.items()}
        want = {m.name: ("Leader" if m is leader else "Replica") for m in c.members}
        ok = (roles == want and all(row["TL"] == tl for row in rows.values())
              and all(row["State"] in ("running", "streaming") for row in rows.values()))
        return rows if ok else None

    try:
        rows = wait_until(listing, 15 * SLOW, "patronictl to list the cluster", interval=0.3)
    except AssertionError:
        r = c.patronictl("list")
        raise AssertionError(f"patronictl list (leader {leader.name}, TL {tl}):\n{r.stdout}{r.stderr}")
    for m in c.members:
        assert rows[m.name]["Host"].startswith("127.0.0.1"), rows[m.name]
        assert rows[m.name]["Cluster"] == c.scope
    # The human table too.
    r = c.patronictl("list")
    assert r.returncode == 0 and leader.name in r.stdout and "Leader" in r.stdout, r.stdout


@needs_cluster
def test_haproxy_routes_rw_to_the_leader_and_ro_to_a_replica(cluster):
    cluster.wait_haproxy_routes(cluster.wait_healthy())


@needs_cluster
def test_postgres_killed_on_leader_is_restarted_in_place(cluster):
    c = cluster
    leader = c.wait_healthy()
    tl = timeline(leader)
    size = leader.log_size()
    old_pid = leader.kill_postgres()
    wait_until(lambda: leader.postmaster_pid() not in (None, old_pid), T_CHANGE,
               f"{leader.name}'s PostgreSQL to be restarted", interval=0.05)
    same = c.wait_healthy()
    assert same is leader, f"leadership moved to {same.name}"
    assert timeline(leader) == tl, "the timeline changed: it was a failover, not a restart"
    log = leader.log_since(size)
    assert "restarting in place" in log, f"the log does not say why it restarts:\n{log[-2000:]}"
    assert leader.alive()
    row = c.write_row(leader)
    c.wait_row(replicas_of(c, leader), row)
    c.wait_haproxy_routes(leader)


@needs_cluster
def test_manual_failover_to_a_candidate(cluster):
    c = cluster
    old = c.wait_healthy()
    tl = timeline(old)
    cand = replicas_of(c, old)[-1]
    r = c.tandemctl("failover", "--candidate", cand.name, "--force")
    assert r.returncode == 0, f"tandemctl failover exited {r.returncode}: {r.stdout}{r.stderr}"
    new = c.wait_leader(not_name=old.name)
    assert new is cand, f"{new.name} leads, not the candidate {cand.name}"
    new = c.wait_healthy()
    assert new is cand
    assert old.in_recovery() is True
    # A new timeline, reported at once, and the switch recorded in the DCS history.
    assert timeline(new) == tl + 1
    check_history(c, tl, new)
    row = c.write_row(new)
    c.wait_row(replicas_of(c, new), row)
    c.wait_haproxy_routes(new)
    if PATRONICTL:
        check_patronictl(c, new)
    r = c.tandemctl("list", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["leader"] == cand.name


@needs_cluster
def test_whole_leader_node_killed(cluster):
    c = cluster
    old = c.wait_healthy()
    before = c.write_row(old)
    c.wait_row(replicas_of(c, old), before)
    tl = timeline(old)
    old.kill_node()
    new = c.wait_leader(not_name=old.name)
    other = next(m for m in c.members if m not in (old, new))
    assert timeline(new) == tl + 1
    check_history(c, tl, new)
    # The other replica follows the new leader.
    row = c.write_row(new)
    c.wait_row([other], row)
    wait_until(lambda: c.health_problem([new, other]) is None, T_CHANGE,
               f"{other.name} streaming from {new.name}", interval=0.2)
    c.wait_haproxy_routes(new)
    # The old node comes back as a replica of the new leader and catches up.
    size = old.log_size()
    old.start()
    assert c.wait_healthy() is new
    assert old.in_recovery() is True
    c.wait_row([old], row)
    assert c.has_row(old, before)
    later = c.write_row(new)
    c.wait_row([old, other], later)
    # Rejoined with its own data (pg_rewind when its WAL went past the fork), not a new copy.
    assert "pg_basebackup" not in old.log_since(size), old.log_since(size)[-3000:]
    c.wait_haproxy_routes(new)


@needs_cluster
def test_diverged_former_primary_rejoins_through_pg_rewind(cluster):
    c = cluster
    old = c.wait_healthy()
    tl = timeline(old)
    base_row = c.write_row(old)
    c.wait_row(replicas_of(c, old), base_row)
    # The leader's WAL stops reaching the replicas; it commits a row only it will ever have,
    # then the whole node dies.
    assert len(old.freeze_walsenders()) == 2
    lost = c.write_row(old, "diverged-" + old.name)
    old.kill_node()
    new = c.wait_leader(not_name=old.name)
    assert not c.has_row(new, lost)
    row = c.write_row(new)
    size = old.log_size()
    old.start()
    assert c.wait_healthy() is new
    log = old.log_since(size)
    assert "pg_rewind" in log, f"{old.name} rejoined without pg_rewind:\n{log[-3000:]}"
    assert "pg_basebackup" not in log, f"{old.name} was cloned afresh rather than rewound"
    assert timeline(old) == timeline(new) and timeline(new) > tl
    assert old.in_recovery() is True
    c.wait_row([old], row)
    assert c.has_row(old, base_row)
    assert not c.has_row(old, lost), "the diverged row survived the rewind"
    later = c.write_row(new)
    c.wait_row(replicas_of(c, new), later)
    c.wait_haproxy_routes(new)


@needs_cluster
def test_replica_whose_rewind_was_cut_short_is_cloned_afresh(cluster):
    """A tandemd killed during pg_rewind leaves DATA.rewinding: the next one must not trust the
    data directory (no rewind can repair a half-done one), so it moves it aside and clones."""
    c = cluster
    leader = c.wait_healthy()
    replica = replicas_of(c, leader)[0]
    row = c.write_row(leader)
    c.wait_row([replica], row)
    assert replica.stop() == 0
    marker = pathlib.Path(str(replica.data) + ".rewinding")
    marker.write_text("pg_rewind started by tandemd and not finished\n")
    shutil.chown(marker, "postgres", "postgres")
    aside_before = set(replica.dir.glob("data.moved-aside-*"))
    size = replica.log_size()
    replica.start()
    later = c.write_row(leader)
    c.wait_row([replica], later)
    assert c.wait_healthy() is leader
    log = replica.log_since(size)
    assert "a pg_rewind did not finish" in log, log[-3000:]
    assert "pg_basebackup succeeded" in log, log[-3000:]
    assert not marker.exists()
    moved = set(replica.dir.glob("data.moved-aside-*")) - aside_before
    assert len(moved) == 1, moved
    assert c.has_row(replica, row)
    assert replica.in_recovery() is True


@needs_cluster
def test_etcd_outage_longer_than_ttl(cluster):
    c = cluster
    leader = c.wait_healthy()
    row = c.write_row(leader)
    c.wait_row(replicas_of(c, leader), row)
    c.etcd.stop()
    down_at = time.monotonic()
    # The leader cannot renew its lease: it must stop being writable, and no member may be.
    wait_until(lambda: not leader.writable(), T_CHANGE,
               f"{leader.name} to stop being writable without etcd", interval=0.1)
    writable = []
    while time.monotonic() - down_at < TTL + 2:
        writable = [m.name for m in c.members if m.writable()]
        assert not writable, f"writable without etcd: {writable}"
        time.sleep(0.2)
    c.etcd.start()
    new = c.wait_healthy()
    assert sum(1 for m in c.members if m.writable()) == 1
    assert all(c.has_row(m, row) for m in c.members)
    later = c.write_row(new)
    c.wait_row(replicas_of(c, new), later)
    c.wait_haproxy_routes(new)
