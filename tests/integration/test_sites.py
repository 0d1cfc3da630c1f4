"""Two sites: site B born a standby cluster of site A (bootstrap.dcs.standby_cluster, its own
etcd); its leader is the standby leader replicating from A, its other member cascades; it follows
a failover inside A (several hosts, target_session_attrs=read-write); nobody in B is ever
writable until standby_cluster is removed. Then the planned switch by hand, through the two
clusters' configurations: A becomes a standby cluster of B (its leader stops cleanly, keeps the
key, follows B), B is promoted once it replayed A's shutdown checkpoint, and A follows B's new
timeline without pg_rewind."""

from __future__ import annotations

import contextlib
import json
import urllib.request


import cluster as C
from cluster import logged_and_cleaned  # noqa: F401 (used by the other site tests)
from conftest import wait_until



def patch_config(member, patch):
    req = urllib.request.Request(f"http://127.0.0.1:{member.rest_port}/config",
                                 data=json.dumps(patch).encode(), method="PATCH",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200, r.status


def standby_source(site):
    hosts = ",".join("127.0.0.1" for _ in site.members)
    ports = ",".join(str(m.pg_port) for m in site.members)
    return {"host": hosts, "port": ports}


def roles(site):
    return {m.name: (m.patroni() or {}).get("role") for m in site.members if m.alive()}


def wait_standby_site(site, timeout=C.T_BOOT):
    """B's leader says standby_leader and answers /standby-leader; every member is in recovery
    and streams."""
    def ok():
        leader = site.dcs_leader()
        if not leader:
            return False
        lm = site.member(leader)
        st = lm.patroni() or {}
        if st.get("role") != "standby_leader" or lm.health("/standby-leader") != 200:
            return False
        if lm.health("/primary") == 200 or lm.health("/leader") != 200:
            return False
        for m in site.members:
            s = m.patroni() or {}
            if m.in_recovery() is not True or s.get("replication_state") != "streaming":
                return False
        return True
    wait_until(ok, timeout, f"standby site {site.scope}: {roles(site)}", interval=0.3)
    return site.member(site.dcs_leader())


def wait_row_everywhere(site, value, timeout=C.T_CHANGE):
    def ok():
        return all(site.has_row(m, value) for m in site.members)
    wait_until(ok, timeout, f"row {value} on every member of {site.scope}", interval=0.2)


def never_writable(site):
    assert not [m.name for m in site.members if m.writable()], f"writable in {site.scope}"


def standby_of(a, n=1, prefix="tandem-it-siteB-", **kwargs):
    """Site B: n members born a standby cluster of site A, with its own etcd and A's roles."""
    return C.Cluster(n=n, name_prefix="b", prefix=prefix, standby=standby_source(a),
                     passwords=(a.superuser_password, a.replication_password),
                     sites=("B",) * n, **kwargs)


@contextlib.contextmanager
def two_sites():
    """Site A (a1, a2) and site B (b1, b2) born a standby cluster of A, each with its own etcd;
    yields (a, b, A's leader) once B streams; prints every log if the body fails; cleans up."""
    sites = [C.Cluster(n=2, name_prefix="a", prefix="tandem-it-siteA-")]
    with logged_and_cleaned(sites):
        a = sites[0]
        a.start()
        a_leader = a.wait_healthy(C.T_BOOT)
        a.ensure_table(a_leader)
        sites.append(standby_of(a, 2))
        sites[1].start()
        wait_standby_site(sites[1])
        yield a, sites[1], a_leader


def site_metrics(a_leader, b_leader):
    """The site role and the standby site's lag in /metrics (docs/monitoring.md)."""
    assert a_leader.metric("tandem_site_primary") == 1
    assert a_leader.metric("tandem_site_lag_bytes") is None
    assert b_leader.metric("tandem_site_primary") == 0
    assert b_leader.metric("tandem_standby_leader") == 1
    assert b_leader.metric("patroni_standby_leader") == 1
    wait_until(lambda: b_leader.metric("tandem_site_lag_bytes") == 0, C.T_CHANGE,
               "B's standby leader to have replayed what A sent", interval=0.2)
    assert b_leader.metric("tandem_site_lag_seconds") >= 0


def list_json(site):
    r = ctl("-c", site.members[0].config_path, "list", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def lags(site):
    return {m["name"]: m["lag_s"] for m in list_json(site)["members"]}


def check_leader_site_and_lag_seconds(a, b, a_leader):
    """The status key names the leader's site (A's: A; B's standby leader: B); every replica,
    the standby leader included, reports its lag in seconds: 0 once it replayed all an idle
    primary wrote, more while its replay is held back behind a commit."""
    assert list_json(a)["leader_site"] == "A"
    wait_until(lambda: list_json(b)["leader_site"] == "B", C.T_CHANGE, "B's leader site")
    idle = {m.name: 0.0 for m in a.members if m.name != a_leader.name}
    wait_until(lambda: lags(a) == {**idle, a_leader.name: None}, C.T_CHANGE,
               "A's replica: no lag while idle")
    wait_until(lambda: lags(b) == {"b1": 0.0, "b2": 0.0}, C.T_CHANGE,
               "B's members: no lag while A is idle")
    r = ctl("-c", b.members[0].config_path, "list")
    assert "Lag in s" in r.stdout and "Leader site: B" in r.stdout, r.stdout
    assert "s behind its last activity" in r.stdout, r.stdout
    # Replay held back on A's replica: its lag is the time between the commit it replayed last
    # and A's later activity; once replay resumes, 0 again.
    replica = next(m for m in a.members if m.name != a_leader.name)
    a.write_row(a_leader, "lag1")
    wait_until(lambda: a.has_row(replica, "lag1"), C.T_CHANGE, "lag1 replayed")
    replica.query("SELECT pg_wal_replay_pause()")
    try:
        a.write_row(a_leader, "lag2")
        wait_until(lambda: (lags(a)[replica.name] or 0) > 0, C.T_CHANGE,
                   "a lag while replay is paused")
    finally:
        replica.query("SELECT pg_wal_replay_resume()")
    wait_until(lambda: lags(a)[replica.name] == 0.0, C.T_CHANGE, "no lag after the resume")


def test_standby_site_follows_switches_and_switches_back():
    with two_sites() as (a, b, a_leader):
        a.write_row(a_leader, "1")
        b_leader = b.member(b.dcs_leader())
        wait_row_everywhere(b, "1")
        # tandemctl list: B's role, source and distance from A (A answers); A's role
        r = ctl("-c", b.members[0].config_path, "list")
        assert r.returncode == 0, r.stderr
        assert "Standby Leader" in r.stdout and "Site: a standby site" in r.stdout, r.stdout
        assert "bytes behind the primary site" in r.stdout, r.stdout
        site_metrics(a_leader, b_leader)
        r = ctl("-c", a.members[0].config_path, "list", "--json")
        assert json.loads(r.stdout)["site"]["role"] == "primary", r.stdout
        check_leader_site_and_lag_seconds(a, b, a_leader)
        never_writable(b)
        assert "initdb" not in b_leader.log().replace("initdb_", "")
        # The same database: A's system identifier.
        assert (b_leader.patroni()["database_system_identifier"] ==
                a_leader.patroni()["database_system_identifier"])

        # A failover inside A: B's standby leader follows A's new leader (libpq's
        # target_session_attrs over A's hosts) on A's new timeline.
        other = next(m for m in a.members if m.name != a_leader.name)
        r = a.tandemctl("failover", "--candidate", other.name, "--force")
        assert r.returncode == 0, r.stderr
        a_leader = a.wait_leader(not_name=a_leader.name)
        a.wait_healthy()
        a.write_row(a_leader, "2")
        wait_row_everywhere(b, "2")
        never_writable(b)
        timeline_a = a_leader.patroni()["timeline"]
        wait_until(lambda: (b.member(b.dcs_leader()).patroni() or {}).get("timeline") ==
                   timeline_a, C.T_CHANGE, "B on A's new timeline")

        # The planned switch, by hand: A becomes a standby cluster of B (its leader stops
        # cleanly and follows B, which still replicates from... nobody new: B's standby leader
        # streams from A's hosts, which now run standbys at A's shutdown checkpoint).
        a.write_row(a_leader, "3")
        wait_row_everywhere(b, "3")
        patch_config(a_leader, {"standby_cluster": standby_source(b)})
        wait_until(lambda: (a_leader.patroni() or {}).get("role") == "standby_leader" and
                   a_leader.in_recovery() is True, C.T_CHANGE, "A's leader is a standby leader")
        never_writable(a)
        assert "stopping PostgreSQL cleanly" in a_leader.log()
        # B replays exactly up to A's last record (the shutdown checkpoint) before promotion.
        a_lsn = a_leader.query("SELECT pg_last_wal_replay_lsn()")[0][0]
        bl = b.member(b.dcs_leader())
        wait_until(lambda: bl.query("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                    (a_lsn,))[0][0], C.T_CHANGE, "B replayed A's shutdown")
        patch_config(bl, {"standby_cluster": None})
        b.wait_healthy()
        bl = b.member(b.dcs_leader())
        assert bl.writable()
        b.ensure_table(bl)
        b.write_row(bl, "4")
        # A's members follow B's new timeline, without a rewind.
        wait_row_everywhere(a, "4")
        never_writable(a)
        for m in a.members:
            assert "bin/pg_rewind started" not in m.log(), f"{m.name} rewound"
        for v in ("1", "2", "3"):
            assert b.has_row(bl, v)


class Writer:
    """Writes a numbered row every 20 ms to whichever member of either site is writable;
    records what was acknowledged and when."""

    def __init__(self, sites):
        import threading
        self.sites = sites
        self.acked = []  # (value, monotonic time)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.writable_seen = set()

    def run(self):
        import time as _t
        import psycopg
        n = 0
        conns = {}
        while not self.stop.is_set():
            n += 1
            value = f"w{n}"
            for site in self.sites:
                for m in site.members:
                    try:
                        c = conns.get(m.name)
                        if c is None or c.closed:
                            c = conns[m.name] = m.connect()
                        c.execute("INSERT INTO it_rows (v) VALUES (%s)", (value,))
                        self.acked.append((value, _t.monotonic()))
                        self.writable_seen.add((site.scope, m.name))
                        break
                    except psycopg.Error:
                        if c is not None:
                            c.close()
                        conns.pop(m.name, None)
                else:
                    continue
                break
            _t.sleep(0.02)
        for c in conns.values():
            c.close()

    def gap(self):
        times = [t for _, t in self.acked]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def ctl(*args, timeout=120):
    import subprocess
    return subprocess.run([str(C.TANDEMCTL), *map(str, args)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout * C.SLOW)


def test_site_switchover_and_disaster_promotion():
    with two_sites() as (a, b, _):
        a_yml, b_yml = a.members[0].config_path, b.members[0].config_path

        # Not a standby cluster, or a primary site asked to be promoted: refused.
        r = ctl("-c", a_yml, "promote-cluster", "--force")
        assert r.returncode == 1 and "not a standby cluster" in r.stderr, r.stderr

        # The planned switch A -> B under writes: nothing acknowledged lost, no rewind.
        w = Writer([a, b])
        w.thread.start()
        wait_until(lambda: len(w.acked) > 20, 30, "writes flowing")
        r = ctl("site-switchover", "--from", a_yml, "--to", b_yml, "--force")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "is the primary site" in r.stderr
        # B was promoted at A's published shutdown checkpoint (the key A's leader wrote after
        # its clean stop), not at A's standby leader's position once it ran again.
        assert "its published shutdown checkpoint" in r.stderr, r.stderr
        assert any("published for the other site" in m.log() for m in a.members)
        wait_until(lambda: any(s == b.scope for s, _ in w.writable_seen), 30, "writes to B")
        wait_until(lambda: len(w.acked) > 0 and w.acked[-1][1] > 0, 5, "")
        w.stop.set()
        w.thread.join(10)
        bl = b.member(b.dcs_leader())
        present = {v for (v,) in bl.query("SELECT v FROM it_rows")}
        lost = [v for v, _ in w.acked if v not in present]
        assert not lost, f"acknowledged and lost: {lost[:10]}"
        print(f"site switchover: write gap {w.gap():.2f} s, {len(w.acked)} rows")
        wait_row_everywhere(a, w.acked[-1][0])
        never_writable(a)
        for m in a.members + b.members:
            assert "bin/pg_rewind started" not in m.log(), f"{m.name} rewound"
        # Run again: already done.
        r = ctl("site-switchover", "--from", a_yml, "--to", b_yml, "--force")
        assert r.returncode == 0 and "nothing to do" in r.stderr, r.stderr

        # And back, B -> A.
        r = ctl("site-switchover", "--from", b_yml, "--to", a_yml, "--force")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "its published shutdown checkpoint" in r.stderr, r.stderr
        a.wait_healthy()
        wait_standby_site(b)

        # Disaster: site A lost entirely; B promoted by one command.
        al = a.member(a.dcs_leader())
        last = a.write_row(al)
        wait_row_everywhere(b, last)
        for m in a.members:
            m.kill_node()
        a.etcd.stop()
        r = ctl("-c", b_yml, "promote-cluster", "--force")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "replayed up to" in r.stderr and "promoted" in r.stderr
        b.wait_healthy()
        bl = b.member(b.dcs_leader())
        assert b.has_row(bl, last)
        b.write_row(bl)


def test_failback_after_a_disaster_without_a_full_copy():
    import glob
    with two_sites() as (a, b, a_leader):
        a_yml, b_yml = a.members[0].config_path, b.members[0].config_path
        bl = b.member(b.dcs_leader())
        # B cut off from A (its source pointed at nothing), then A acknowledges writes B never
        # receives, then site A is lost.
        patch_config(bl, {"standby_cluster": {"host": "127.0.0.1", "port": "1"}})
        wait_until(lambda: (bl.patroni() or {}).get("replication_state") != "streaming",
                   C.T_CHANGE, "B no longer streaming")
        lost = [a.write_row(a_leader) for _ in range(20)]
        for m in a.members:
            m.kill_node()
        r = ctl("-c", b_yml, "promote-cluster", "--force")
        assert r.returncode == 0, r.stdout + r.stderr
        b.wait_healthy()
        bl = b.member(b.dcs_leader())
        after = b.write_row(bl)
        assert not any(b.has_row(bl, v) for v in lost)

        # A comes back as a standby cluster of B: its config written while none of its
        # members runs, then its members started.
        wait_until(lambda: not a.etcd.range(a.key("members/").encode(), prefix=True),
                   C.T_CHANGE, "A's member keys expired")
        src = standby_source(b)
        r = ctl("-c", a_yml, "demote-cluster", "--host", src["host"], "--port", src["port"],
                "--force")
        assert r.returncode == 0 and "written to etcd" in r.stderr, r.stdout + r.stderr
        offsets = {m.name: m.log_size() for m in a.members}
        for m in a.members:
            m.start()
        wait_standby_site(a)
        wait_row_everywhere(a, after)
        never_writable(a)
        # No full copy: rewound, not cloned; what A wrote that B never got is kept aside and
        # reported.
        for m in a.members:
            assert "pg_basebackup started" not in m.log_since(offsets[m.name]), \
                f"{m.name} was copied again"
        reports = glob.glob(f"{a_leader.data}.diverged-*/REPORT")
        assert reports, "no report of the diverged WAL"
        text = open(reports[0]).read()
        assert "commits" in text and "diverged from the other at" in text, text
        assert not any(b.has_row(bl, v) for v in lost)
