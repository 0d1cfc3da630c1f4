"""/metrics of a live tandemd (leader and replica) and hellod, checked by Prometheus' own tool,
and the tandem query file of Debian's prometheus-postgres-exporter against a real PostgreSQL
(docs/monitoring.md, "Metrics" and "Logs").

* `promtool check metrics` on each body: clean, except for the four Patroni counters whose names
  lack `_total` (kept as Patroni names them, so that Patroni's rules and dashboards work): exactly
  those complaints are filtered, nothing else.
* every patroni_* name of Patroni 4 and every new tandem_* name is there with its type.
* lag in seconds stays 0 on an idle primary whose replica has replayed everything, while
  PostgreSQL's replay timestamp (what other tools compute lag from) grows old.
* the cluster runs with `log.type: json`: tandemd's lines are JSON objects; hellod's too with
  `--log-format json`.
* the exporter loads monitoring/postgres_exporter/queries.yaml without error and shows the
  slot, archiver and wraparound metrics the alert rules use.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from cluster import Cluster, serve
from conftest import SLOW, wait_until

ROOT = pathlib.Path(__file__).resolve().parents[2]
QUERIES = ROOT / "monitoring" / "postgres_exporter" / "queries.yaml"
PROMTOOL = shutil.which("promtool")
EXPORTER = shutil.which("prometheus-postgres-exporter")

# The exceptions: Patroni's counters named without _total. Nothing else is filtered.
PATRONI_COUNTERS = ("patroni_xlog_location", "patroni_xlog_received_location",
                    "patroni_xlog_replayed_location", "patroni_postgres_timeline")
EXCEPTED = {f'{n} counter metrics should have "_total" suffix' for n in PATRONI_COUNTERS}

PATRONI = {
    "patroni_version": "gauge", "patroni_postgres_running": "gauge",
    "patroni_postmaster_start_time": "gauge", "patroni_primary": "gauge",
    "patroni_xlog_location": "counter", "patroni_standby_leader": "gauge",
    "patroni_replica": "gauge", "patroni_sync_standby": "gauge",
    "patroni_quorum_standby": "gauge", "patroni_xlog_received_location": "counter",
    "patroni_xlog_replayed_location": "counter", "patroni_xlog_replayed_timestamp": "gauge",
    "patroni_xlog_paused": "gauge", "patroni_postgres_streaming": "gauge",
    "patroni_postgres_in_archive_recovery": "gauge", "patroni_postgres_server_version": "gauge",
    "patroni_cluster_unlocked": "gauge", "patroni_failsafe_mode_is_active": "gauge",
    "patroni_failsafe_mode_enabled": "gauge", "patroni_failsafe_member": "gauge",
    "patroni_postgres_timeline": "counter", "patroni_dcs_last_seen": "gauge",
    "patroni_pending_restart": "gauge", "patroni_is_paused": "gauge",
    "patroni_postgres_state": "gauge", "patroni_failover_priority": "gauge",
}
# The new tandem_* families every member shows (docs/monitoring.md); the leader also has the
# per-replica lag and sync families.
TANDEM_EVERYWHERE = {
    "tandem_ha_pass_duration_seconds": "histogram", "tandem_etcd_rtt_seconds": "histogram",
    "tandem_failovers_total": "counter", "tandem_switchovers_total": "counter",
    "tandem_last_failover_write_gap_seconds": "gauge", "tandem_site_primary": "gauge",
    "tandem_standby_leader": "gauge", "tandem_fence_armed": "gauge",
    "tandem_fence_fired_total": "counter", "tandem_members": "gauge",
    "tandem_data_fs_avail_bytes": "gauge", "tandem_data_fs_size_bytes": "gauge",
    "tandem_wal_fs_avail_bytes": "gauge", "tandem_wal_fs_size_bytes": "gauge",
    "tandem_replication_lag_bytes": "gauge", "tandem_replication_lag_seconds": "gauge",
}
TANDEM_LEADER = {"tandem_sync_standbys": "gauge", "tandem_sync_required": "gauge"}

PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warning|error) \[")

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the cluster runs PostgreSQL as the postgres user")


def port_in_range(lo=21000, hi=21999):
    """A free loopback port in this test's range (tests of other areas use other ranges)."""
    for p in range(lo + os.getpid() % (hi - lo), hi):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    raise AssertionError(f"no free port in {lo}-{hi}")


def fetch(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        assert r.status == 200, url
        return r.read().decode()


def scrape(member):
    return fetch(f"http://127.0.0.1:{member.rest_port}/metrics")


def types_of(text):
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def value(text, name, labels=None):
    """The value of the sample `name` (with these labels among its own), or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(have.get(k) == v for k, v in (labels or {}).items()):
            return float(m.group(4))
    return None


def promtool_problems(text):
    """promtool check metrics' complaints about `text`, without the four excepted ones."""
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    lines = [ln.strip() for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    problems = [ln for ln in lines if ln not in EXCEPTED]
    if not problems and lines:
        assert r.returncode != 0  # it did complain, about exactly the excepted names
    if not lines:
        assert r.returncode == 0, r
    return problems


@pytest.fixture(scope="module")
def cl():
    if not PROMTOOL:
        pytest.fail("promtool is missing (apt-get install prometheus; scripts/deps.sh)")
    yield from serve(Cluster(2, prefix="tandem-it-metrics-", yaml_extra="log:\n  type: json\n"))


@pytest.fixture
def healthy(cl, attach_logs):
    for src in cl.log_sources():
        attach_logs(src)
    leader = cl.wait_healthy()
    replica = next(m for m in cl.members if m is not leader)
    return cl, leader, replica


@pytest.mark.cluster
def test_tandemd_metrics_pass_promtool_and_name_every_family(healthy):
    cl, leader, replica = healthy
    value_row = cl.write_row(leader)
    cl.wait_row([replica], value_row)
    for m, want in ((leader, {**PATRONI, **TANDEM_EVERYWHERE, **TANDEM_LEADER}),
                    (replica, {**PATRONI, **TANDEM_EVERYWHERE})):
        text = scrape(m)
        assert promtool_problems(text) == [], f"{m.name}:\n{text}"
        types = types_of(text)
        wrong = {n: (t, types.get(n)) for n, t in want.items() if types.get(n) != t}
        assert not wrong, f"{m.name}: families missing or of the wrong type: {wrong}"
        for n in want:
            if n.startswith("patroni_"):
                assert value(text, n, {"scope": cl.scope, "name": m.name}) is not None, n
    lt, rt = scrape(leader), scrape(replica)
    assert value(lt, "patroni_primary") == 1 and value(rt, "patroni_primary") == 0
    assert value(rt, "patroni_replica") == 1 and value(rt, "patroni_postgres_streaming") == 1
    assert value(lt, "patroni_xlog_location") > 0
    assert value(rt, "patroni_xlog_received_location") > 0
    assert value(rt, "patroni_xlog_replayed_location") > 0
    assert value(lt, "patroni_postgres_state") == 5 and value(lt, "patroni_cluster_unlocked") == 0
    assert value(lt, "patroni_postgres_server_version") >= 150000
    for t in (lt, rt):
        assert value(t, "tandem_members") == 2
        assert value(t, "tandem_site_primary") == 1
        assert value(t, "tandem_ha_pass_duration_seconds_count") > 0
        assert value(t, "tandem_etcd_rtt_seconds_count") > 0
        for fs in ("data", "wal"):
            avail, size = value(t, f"tandem_{fs}_fs_avail_bytes"), value(t, f"tandem_{fs}_fs_size_bytes")
            assert 0 < avail <= size
    assert value(lt, "tandem_fence_armed") == 1 and value(rt, "tandem_fence_armed") == 0
    assert value(lt, "tandem_sync_required") == 0  # asynchronous replication
    assert value(lt, "tandem_replication_lag_bytes", {"replica": replica.name}) is not None
    assert value(rt, "tandem_replication_lag_bytes", {"replica": leader.name}) is None


@pytest.mark.cluster
def test_idle_primary_is_not_lag(healthy):
    """After the last write has been replayed, PostgreSQL's replay timestamp grows old (what
    `now() - pg_last_xact_replay_timestamp()` tools report as lag); tandem's lag stays 0."""
    cl, leader, replica = healthy
    cl.wait_row([replica], cl.write_row(leader))
    lab = {"replica": replica.name}

    def caught_up():
        t = scrape(leader)
        return value(t, "tandem_replication_lag_bytes", lab) == 0 and t

    wait_until(caught_up, 30 * SLOW, "the replica to replay everything", interval=0.2)

    def replay_timestamp_old():
        ts = value(scrape(replica), "patroni_xlog_replayed_timestamp")
        return ts and time.time() - ts > 3

    wait_until(replay_timestamp_old, 30 * SLOW, "the replay timestamp to be 3 s old", interval=0.2)
    t = scrape(leader)
    assert value(t, "tandem_replication_lag_bytes", lab) == 0, t
    assert value(t, "tandem_replication_lag_seconds", lab) == 0, t


@pytest.mark.cluster
def test_tandemd_logs_json_lines(healthy):
    cl, leader, _ = healthy
    objects = 0
    for m in cl.members:
        for line in m.log_path.read_text(errors="replace").splitlines():
            assert not PLAIN_LINE.match(line), f"{m.name}: a plain line with log.type json: {line}"
            if line.startswith("{"):
                o = json.loads(line)
                assert {"time", "level", "context", "message"} <= o.keys(), line
                assert o["context"] == m.name, line
                objects += 1
    assert objects >= 4
    assert any(json.loads(ln)["message"] == "took the leader key"
               for ln in leader.log_path.read_text().splitlines() if ln.startswith("{"))


@pytest.mark.cluster
def test_switchover_then_failover_are_counted(healthy):
    """A switchover counts on the member it promotes as a switchover; killing that leader
    counts on the next one as a failover, with a write-gap estimate."""
    cl, old, target = healthy
    cl.wait_row([target], cl.write_row(old))
    r = cl.tandemctl("switchover", "--leader", old.name, "--candidate", target.name, "--force")
    assert r.returncode == 0, r.stderr
    assert cl.wait_leader(not_name=old.name) is target
    t = scrape(target)
    assert value(t, "tandem_switchovers_total") == 1, t
    assert value(t, "tandem_failovers_total") == 0
    assert value(t, "tandem_last_failover_write_gap_seconds") > 0
    assert value(scrape(old), "tandem_switchovers_total") == 0
    cl.wait_healthy()

    cl.wait_row([old], cl.write_row(target))
    target.kill_node()
    assert cl.wait_leader(not_name=target.name) is old
    t = scrape(old)
    assert value(t, "tandem_failovers_total") == 1, t
    assert value(t, "tandem_switchovers_total") == 0
    assert value(t, "tandem_last_failover_write_gap_seconds") > 0
    target.start()
    cl.wait_healthy()
    assert value(scrape(target), "tandem_switchovers_total") == 0  # counters of a new process


def test_hellod_metrics_pass_promtool(module_hellod):
    srv = module_hellod("--log-format", "json", port=port_in_range())
    assert srv.put_user("metrics", "1990-01-02").status == 204
    assert srv.get_user("metrics").status == 200
    assert srv.get("/nope").status == 404
    text = srv.get("/metrics").body.decode()
    assert promtool_problems(text) == [], text
    types = types_of(text)
    assert types["hellod_http_requests_total"] == "counter"
    assert types["hellod_http_request_duration_seconds"] == "histogram"
    assert types["hellod_refused_clients_total"] == "counter"
    lines = [ln for ln in srv.log().splitlines() if ln.strip() and not ln.startswith("### ")]
    assert lines
    for ln in lines:
        o = json.loads(ln)
        assert {"time", "level", "context", "message"} <= o.keys(), ln


def test_postgres_exporter_with_tandem_queries(pg):
    if not EXPORTER:
        pytest.fail("prometheus-postgres-exporter is missing (scripts/deps.sh)")
    slot = "tandem_it_metrics"
    with pg.connect() as c:
        c.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                  "WHERE slot_name = %s", (slot,))
        c.execute("SELECT pg_create_physical_replication_slot(%s, true)", (slot,))
    port = port_in_range()
    dsn = (f"postgresql://postgres@{pg.host}:{pg.port}/postgres?sslmode=disable"
           f"&statement_timeout=5000")
    env = {"PATH": "/usr/bin:/bin", "DATA_SOURCE_NAME": dsn}
    proc = subprocess.Popen(
        [EXPORTER, f"--web.listen-address=127.0.0.1:{port}", f"--extend.query-path={QUERIES}",
         "--disable-settings-metrics"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def up():
            try:
                t = fetch(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                return None
            return t if value(t, "pg_up") == 1 else None

        text = wait_until(up, 30 * SLOW, "the exporter to reach PostgreSQL", interval=0.2)
        assert value(text, "pg_exporter_user_queries_load_error",
                     {"filename": str(QUERIES)}) == 0, text
        assert value(text, "pg_exporter_last_scrape_error") == 0, text
        assert value(text, "pg_replication_slots_retained_bytes",
                     {"slot_name": slot, "slot_type": "physical"}) >= 0, text
        assert value(text, "pg_replication_slots_active", {"slot_name": slot}) == 0
        for n in ("archived_count", "failed_count", "last_archive_age",
                  "last_archived_time_seconds", "last_failed_time_seconds", "failing",
                  "ready_segments"):
            assert value(text, f"pg_stat_archiver_{n}") is not None, f"pg_stat_archiver_{n}"
        age = value(text, "pg_database_wraparound_age", {"datname": "postgres"})
        assert age is not None and age > 0, text
        assert value(text, "pg_database_wraparound_age_multixact", {"datname": "postgres"}) >= 0
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        with pg.connect() as c:
            c.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    assert "level=error" not in out, out
