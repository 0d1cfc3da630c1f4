"""The alert rules end to end (docs/monitoring.md, "Alerts"): a real Prometheus (Debian's, run as
the postgres user on loopback, scraping every second) scrapes every tandemd of a three-member
cluster with pgBackRest archiving, the cluster's etcd, a hellod and Debian's
prometheus-postgres-exporter on the first leader (tandem's query file), evaluates the rules that
monitoring/gen_rules.py writes for this cluster's timing (ttl 5, loop_wait 1, a 1 s scrape:
derived, not copied), and sends alerts to a real Alertmanager whose webhook receiver is this test
(tests/integration/promstack.py; the site cut is in test_alerts_sites.py).

Faults and the alerts they must raise, each within its `for` + two scrape intervals (plus an
evaluation interval and Alertmanager's delivery), and resolve after healing:
* a replica stopped: TandemAgentDown for it;
* the leader killed while the cluster is paused (no automatic failover): TandemAgentDown for it,
  TandemNoLeader, and TandemReplicaNotStreaming for the replicas left without a primary; resumed,
  a replica takes over and the former leader rejoins: all resolve, and TandemFailover fires;
* the archive repository made unreadable: TandemArchiveFailing; made readable again: resolved;
* hellod stopped: HellodDown.
Alerts that read a metric the agent does not expose are reported as skipped, with the names.
Finally every metric the dashboard and the rules name must exist on the live Prometheus (the
PostgreSQL exporter's names only when an exporter is scraped, and not those that exist only in
another situation: SITUATIONAL); the test lists those missing.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

import promstack
from cluster import TANDEMD, LogSource, healthy_cluster
from conftest import HELLOD, SLOW, HellodFactory, wait_until
from promstack import ALERTMANAGER, EXPORTER, PROMETHEUS, Hook, Monitoring, kit

PGBACKREST = shutil.which("pgbackrest")

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not (PROMETHEUS and ALERTMANAGER),
                       reason="prometheus and prometheus-alertmanager are not installed"),
    pytest.mark.skipif(not PGBACKREST, reason="pgbackrest is not installed"),
]


def prepare(c):
    c.repo = c.base / "repo"
    c.repo.mkdir(mode=0o750)
    shutil.chown(c.repo, "postgres", "postgres")
    c.archive_timeout = 5
    c.yaml_extra = (f"backup:\n  pgbackrest:\n    repo1-path: {c.repo}\n"
                    f"    archive-timeout: '{c.archive_timeout}'\n"
                    f"  archive_timeout: {c.archive_timeout}\n")
    for m in c.members:
        m.write_config()


@pytest.fixture(scope="module")
def cluster():
    yield from healthy_cluster(3, prefix="tandem-it-alerts-", prepare=prepare)


@pytest.fixture(scope="module")
def api(cluster, tmp_path_factory):
    """hellod on the cluster (libpq multi-host, read-write: it follows the leader)."""
    if not HELLOD.exists():
        pytest.skip(f"{HELLOD} is not built")
    c = cluster
    leader = c.wait_healthy()
    hosts = ",".join("127.0.0.1" for _ in c.members)
    ports = ",".join(str(m.pg_port) for m in c.members)
    f = HellodFactory(tmp_path_factory.mktemp("hellod"), None)
    assert leader
    yield f("--database", f"host={hosts} port={ports} user=postgres dbname=postgres "
            f"password={c.superuser_password} target_session_attrs=read-write", database=False)
    f.cleanup()


@pytest.fixture(scope="module")
def mon(cluster, api):
    """Prometheus scraping every tandemd, the etcd, hellod and a PostgreSQL exporter on the
    leader (when Debian's prometheus-postgres-exporter is installed)."""
    c = cluster
    leader = c.wait_healthy()
    dsn = (f"postgresql://postgres:{c.superuser_password}@127.0.0.1:{leader.pg_port}/postgres"
           "?sslmode=disable&statement_timeout=5000")
    exporters = {leader.name: dsn} if EXPORTER else {}
    m = promstack.started(Monitoring(
        c.base, ttl=c.ttl, loop_wait=c.loop_wait, exporters=exporters,
        rule_args=["--archive-timeout", c.archive_timeout],
        jobs={"tandem": [f"127.0.0.1:{x.rest_port}" for x in c.members],
              "etcd": [c.etcd.host], "hellod": [f"127.0.0.1:{api.port}"]}))
    yield m
    m.stop()


@pytest.fixture
def healthy(cluster, mon, attach_logs):
    """The shared cluster healthy and every target scraped; logs go into a failure's report."""
    for src in cluster.log_sources():
        attach_logs(src)
    for name in ("prometheus.log", "alertmanager.log"):
        attach_logs(LogSource(mon.dir / name))
    leader = cluster.wait_healthy()
    wait_until(mon.ready_targets, 30 * SLOW, "every target scraped and up", interval=0.2)
    return cluster, leader


def test_quiet_when_healthy(mon, healthy):
    """Once bootstrap has settled (the stanza created and checked), a healthy cluster has no
    critical alert firing or pending, and none has fired."""
    def critical():
        return [a for a in mon.api("/api/v1/alerts")["alerts"]
                if a["labels"].get("severity") == "critical"]
    try:
        wait_until(lambda: not critical(), 30 * SLOW, "no critical alert", interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}: {critical()}") from None
    with Hook.lock:
        assert not [e for e in Hook.events if e[2].get("severity") == "critical"], Hook.events


def test_exporter_feeds_the_rules(mon, healthy):
    """Debian's prometheus-postgres-exporter with tandem's query file, scraped on the first
    leader: the pg_* inputs of TandemSlotRetainingWal (one series per replica's slot) and of
    TandemWraparoundNear (one per database that allows connections) are in Prometheus."""
    if not EXPORTER:
        pytest.skip("prometheus-postgres-exporter is not installed")
    c, leader = healthy
    (name, _), = mon.exporters.items()
    exporter = mon.query('pg_up{job="postgres"} == 1')
    assert len(exporter) == 1, mon.logs()
    others = {m.name for m in c.members if m.name != name}

    def slots():
        return {s["metric"]["slot_name"]
                for s in mon.query('pg_replication_slots_retained_bytes{job="postgres"} >= 0')}
    # The leader keeps a physical slot per replica; the names are the members' (Patroni's rule:
    # lower case, characters other than [a-z0-9_] replaced by _).
    wait_until(lambda: len(slots()) == len(others), 30 * SLOW,
               f"a slot per replica of {name}", interval=0.5)
    assert slots() == {n.lower() for n in others}, slots()
    dbs = {s["metric"]["datname"]
           for s in mon.query('pg_database_wraparound_age{job="postgres"} >= 0')}
    assert {"postgres", "template1"} <= dbs, dbs
    assert "template0" not in dbs  # datallowconn false
    assert mon.query('pg_stat_archiver_archived_count{job="postgres"} >= 0')


def test_replica_stopped(mon, healthy):
    c, leader = healthy
    replica = next(m for m in c.members if m is not leader)
    inst = f"127.0.0.1:{replica.rest_port}"
    t0 = time.monotonic()
    assert replica.stop() == 0
    try:
        mon.wait_fires("TandemAgentDown", t0, instance=inst)
    finally:
        replica.start()
    t1 = time.monotonic()
    c.wait_healthy()
    mon.wait_resolves("TandemAgentDown", t1, 0, instance=inst)


def test_leader_killed_while_paused(mon, healthy):
    c, leader = healthy
    scope = c.scope
    streaming = mon.has_metric("patroni_postgres_streaming")
    failovers = mon.has_metric("tandem_failovers_total")
    r = c.tandemctl("pause", "--wait")
    assert r.returncode == 0, r.stderr
    inst = f"127.0.0.1:{leader.rest_port}"
    others = [m for m in c.members if m is not leader]
    t0 = time.monotonic()
    leader.kill_node()
    try:
        mon.wait_fires("TandemAgentDown", t0, instance=inst)
        # No leader: from the kill (its samples go stale at the failed scrape) for ttl + 2 loop_wait.
        mon.wait_fires("TandemNoLeader", t0, scope=scope)
        if streaming:
            for m in others:
                mon.wait_fires("TandemReplicaNotStreaming", t0, scope=scope, name=m.name)
    finally:
        t1 = time.monotonic()  # before the resume: a leader may be elected while it waits
        r = c.tandemctl("resume", "--wait")
        assert r.returncode == 0, r.stderr
    new = c.wait_leader(not_name=leader.name)
    mon.wait_resolves("TandemNoLeader", t1, 0, scope=scope)
    if failovers:
        mon.wait_fires("TandemFailover", t1, scope=scope)
    leader.start()
    c.wait_healthy()
    mon.wait_resolves("TandemAgentDown", t1, 0, instance=inst)
    if streaming:
        for m in others:
            if m is not new:
                mon.wait_resolves("TandemReplicaNotStreaming", t1, 0, scope=scope, name=m.name)
    missing = [n for n, ok in (("patroni_postgres_streaming", streaming),
                               ("tandem_failovers_total", failovers)) if not ok]
    if missing:
        pytest.skip(f"TandemReplicaNotStreaming/TandemFailover not checked: tandemd does not "
                    f"expose {missing}")


def switch_wal(leader):
    leader.query("CREATE TABLE IF NOT EXISTS alerts_e2e (v int)")
    leader.query("INSERT INTO alerts_e2e SELECT generate_series(1, 10)")
    leader.query("SELECT pg_switch_wal()")


def test_archive_broken(mon, healthy):
    c, leader = healthy
    # Archiving works first (a success recorded), so that a failure is newer than it.
    switch_wal(leader)
    wait_until(lambda: mon.api("/api/v1/query", query=(
        f'tandem_archive_last_success_timestamp_seconds{{name="{leader.name}"}} > 0'))["result"],
        60 * SLOW, "a WAL segment archived", interval=0.5)
    os.chmod(c.repo, 0)
    try:
        t0 = time.monotonic()
        switch_wal(leader)
        # archive-push fails after pgBackRest's archive-timeout (5 s), then the rule's `for`.
        wait_until(lambda: mon.api("/api/v1/query", query=(
            f'tandem_archive_last_failure_timestamp_seconds{{name="{leader.name}"}} > '
            f'tandem_archive_last_success_timestamp_seconds'))["result"],
            60 * SLOW, "archive-push failing", interval=0.5)
        mon.wait_fires("TandemArchiveFailing", t0, scope=c.scope, name=leader.name)
    finally:
        os.chmod(c.repo, 0o750)
    t1 = time.monotonic()
    switch_wal(leader)
    mon.wait_resolves("TandemArchiveFailing", t1, 60 * SLOW, scope=c.scope, name=leader.name)


def test_hellod_stopped(mon, api, healthy):
    t0 = time.monotonic()
    api.stop()
    try:
        mon.wait_fires("HellodDown", t0, instance=f"127.0.0.1:{api.port}")
    finally:
        # from before the start: Prometheus may see hellod up (its /metrics) before /readyz
        # says ready, and the resolution may be posted meanwhile
        t1 = time.monotonic()
        api.start()
        api.wait_ready()
    mon.wait_resolves("HellodDown", t1, 0, instance=f"127.0.0.1:{api.port}")


# Metrics that exist only in a situation this cluster is not in (the tandemd code that renders
# them says so): left out of the live check, by name.
SITUATIONAL = {
    "tandem_site_lag_seconds": "only on a standby cluster's standby leader",
    "tandem_site_lag_bytes": "only on a standby cluster's standby leader",
    "tandem_backup_last_success_timestamp_seconds": "only once a backup succeeded",
    "tandem_drill_last_ok": "only once a restore drill ran",
    "tandem_drill_last_success_timestamp_seconds": "only once a restore drill ran",
    "tandem_drill_duration_seconds": "only once a restore drill ran",
}


def test_every_named_metric_exists_on_the_live_scrape(mon, healthy):
    """Every metric the dashboard and the rules read is scraped (pg_* only with an exporter,
    and not those of SITUATIONAL)."""
    names = kit.kit_metric_names()
    exporter = mon.has_metric("pg_up")
    want = {n: w for n, w in names.items()
            if (exporter or not n.startswith("pg_")) and n not in SITUATIONAL}
    missing = kit.missing_on_live(f"http://127.0.0.1:{mon.prom_port}", want)
    assert not missing, "not on the live scrape: " + ", ".join(
        f"{n} ({', '.join(sorted(want[n]))})" for n in missing)
