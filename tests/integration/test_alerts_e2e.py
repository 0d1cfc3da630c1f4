"""The alert rules end to end (docs/monitoring.md, "Alerts"): a real Prometheus (Debian's, run as
the postgres user on loopback, scraping every second) scrapes every tandemd of a three-member
cluster with pgBackRest archiving, the cluster's etcd and a hellod, evaluates the rules that
monitoring/gen_rules.py writes for this cluster's timing (ttl 5, loop_wait 1, a 1 s scrape:
derived, not copied), and sends alerts to a real Alertmanager whose webhook receiver is this test.

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

import http.server
import json
import os
import pathlib
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from cluster import TANDEMD, LogSource, healthy_cluster, kill_pid
from conftest import HELLOD, SLOW, HellodFactory, wait_until

REPO = pathlib.Path(__file__).resolve().parents[2]
RESOLVE_MARGIN = 30.0
sys.path.insert(0, str(REPO / "monitoring"))
import check as kit  # noqa: E402  (monitoring/check.py)

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager")
PGBACKREST = shutil.which("pgbackrest")
SCRAPE = 1.0  # seconds: scrape and evaluation interval
# Alertmanager's delivery after Prometheus fires (group_wait 0, a POST on loopback), and room for
# a loaded machine; multiplied by SLOW under ASan.
DELIVERY = 3.0

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not (PROMETHEUS and ALERTMANAGER),
                       reason="prometheus and prometheus-alertmanager are not installed"),
    pytest.mark.skipif(not PGBACKREST, reason="pgbackrest is not installed"),
]


def port_in_range(lo=22000, hi=22999):
    """A free loopback port from this test's range (other suites take theirs from elsewhere)."""
    start = random.randrange(lo, hi)
    for p in list(range(start, hi)) + list(range(lo, start)):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
            return p
    raise AssertionError(f"no free port in {lo}-{hi}")


class Hook(http.server.BaseHTTPRequestHandler):
    """Alertmanager's webhook receiver: records (time, status, labels) of every alert posted."""
    events: list = []
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        now = time.monotonic()
        with self.lock:
            for a in body.get("alerts", []):
                self.events.append((now, a["status"], a["labels"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Monitoring:
    """Prometheus, Alertmanager and the webhook, in a directory of the cluster."""

    def __init__(self, c, hellod_port):
        self.c = c
        self.dir = c.base / "monitoring"
        self.dir.mkdir()
        self.rules = self.dir / "rules"
        subprocess.run([sys.executable, str(REPO / "monitoring" / "gen_rules.py"),
                        "--ttl", str(c.ttl), "--loop-wait", str(c.loop_wait),
                        "--scrape-interval", str(int(SCRAPE)),
                        "--archive-timeout", str(c.archive_timeout), "--out", str(self.rules)],
                       check=True)
        self.for_ = {name: parse_duration(r.get("for", "0s"))
                     for name, r in kit.load_rules(self.rules).items()}
        self.prom_port, self.am_port, hook_port = (port_in_range() for _ in range(3))
        Hook.events = []
        self.hook = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Hook)
        threading.Thread(target=self.hook.serve_forever, daemon=True).start()
        (self.dir / "alertmanager.yml").write_text(yaml.safe_dump({
            "route": {"receiver": "test", "group_by": ["..."], "group_wait": "0s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "test", "webhook_configs": [
                {"url": f"http://127.0.0.1:{hook_port}/", "send_resolved": True}]}]}))
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": f"{int(SCRAPE)}s",
                       "evaluation_interval": f"{int(SCRAPE)}s", "scrape_timeout": "900ms"},
            "rule_files": [str(self.rules / "*.yml")],
            "alerting": {"alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]},
            "scrape_configs": [
                {"job_name": "tandem", "static_configs": [
                    {"targets": [f"127.0.0.1:{m.rest_port}" for m in c.members]}]},
                {"job_name": "etcd", "static_configs": [{"targets": [c.etcd.host]}]},
                {"job_name": "hellod", "static_configs": [
                    {"targets": [f"127.0.0.1:{hellod_port}"]}]},
            ]}))
        for p in self.dir.rglob("*"):
            shutil.chown(p, "postgres", "postgres")
        shutil.chown(self.dir, "postgres", "postgres")
        self.procs = []

    def spawn(self, name, argv):
        log = open(self.dir / f"{name}.log", "ab")
        p = subprocess.Popen(argv, user="postgres", group="postgres", extra_groups=[],
                             cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(p)

    def start(self):
        self.spawn("alertmanager", [
            ALERTMANAGER, f"--config.file={self.dir / 'alertmanager.yml'}",
            f"--storage.path={self.dir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{self.am_port}", "--cluster.listen-address="])
        self.spawn("prometheus", [
            PROMETHEUS, f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.dir / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{self.prom_port}",
            "--rules.alert.resend-delay=1s", "--web.enable-lifecycle"])
        wait_until(lambda: self.api("/api/v1/status/buildinfo"), 30 * SLOW, "Prometheus")
        wait_until(lambda: self.ready_targets(), 30 * SLOW, "every target scraped and up")
        return self

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    kill_pid(p.pid)
        self.hook.shutdown()

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.prom_port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.load(r)["data"]
        except OSError:
            return None

    def ready_targets(self):
        t = self.api("/api/v1/targets")
        return t and len(t["activeTargets"]) == len(self.c.members) + 2 and all(
            x["health"] == "up" for x in t["activeTargets"])

    def has_metric(self, name):
        return bool(self.api("/api/v1/series", **{"match[]": name}))

    def logs(self):
        return "\n".join(f"==== {f}\n" + f.read_text(errors="replace")[-3000:]
                         for f in sorted(self.dir.glob("*.log")))

    # -- what the webhook received

    def state(self, alert, since, **labels):
        """The last status ("firing"/"resolved") of `alert` with `labels` posted after `since`."""
        last = None
        with Hook.lock:
            for t, status, lb in Hook.events:
                if t >= since and lb.get("alertname") == alert and all(
                        lb.get(k) == v for k, v in labels.items()):
                    last = status
        return last

    def deadline(self, alert):
        """Its `for`, two scrape intervals, an evaluation, delivery."""
        return (self.for_[alert] + 3 * SCRAPE + DELIVERY) * SLOW

    def wait_fires(self, alert, since, **labels):
        try:
            wait_until(lambda: self.state(alert, since, **labels) == "firing",
                       self.deadline(alert), f"{alert} {labels} to fire", interval=0.1)
        except AssertionError as e:
            raise AssertionError(f"{e}; Prometheus says {self.api('/api/v1/alerts')}") from None

    def wait_resolves(self, alert, since, timeout, **labels):
        # No bound is promised for a resolution (the healed thing must come back first: a
        # restarted hellod, a rejoining member); RESOLVE_MARGIN absorbs a loaded machine.
        wait_until(lambda: self.state(alert, since, **labels) == "resolved",
                   timeout + self.deadline(alert) + RESOLVE_MARGIN * SLOW,
                   f"{alert} {labels} to resolve", interval=0.1)


def parse_duration(s):
    n = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(s[:-1]) * n[s[-1]]


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
    m = Monitoring(cluster, api.port)
    try:
        m.start()
    except BaseException:
        print(m.logs())
        m.stop()
        raise
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
        r = c.tandemctl("resume", "--wait")
        assert r.returncode == 0, r.stderr
    t1 = time.monotonic()
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
        api.start()
        api.wait_ready()
    t1 = time.monotonic()
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
