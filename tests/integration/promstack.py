"""A real Prometheus, Alertmanager and webhook receiver for the end-to-end alert tests
(test_alerts_e2e.py, test_alerts_sites.py; docs/monitoring.md, "Alerts").

Prometheus (Debian's, run as the postgres user on loopback, scraping and evaluating every second)
evaluates the rules monitoring/gen_rules.py writes for the cluster's timing (derived, never copied
or edited) and sends alerts to Alertmanager, whose webhook receiver is this module: the tests read
what it received. Optionally it runs Debian's prometheus-postgres-exporter with tandem's query
file (monitoring/postgres_exporter/queries.yaml) against given servers, scraped as job "postgres".
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

import yaml

from cluster import kill_pid
from conftest import SLOW, wait_until

REPO = pathlib.Path(__file__).resolve().parents[2]
RESOLVE_MARGIN = 30.0
sys.path.insert(0, str(REPO / "monitoring"))
import check as kit  # noqa: E402  (monitoring/check.py)

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager")
EXPORTER = shutil.which("prometheus-postgres-exporter")
QUERIES = REPO / "monitoring" / "postgres_exporter" / "queries.yaml"
SCRAPE = 1.0  # seconds: scrape and evaluation interval
# Alertmanager's delivery after Prometheus fires (group_wait 0, a POST on loopback), and room for
# a loaded machine; multiplied by SLOW under ASan.
DELIVERY = 3.0


def port_in_range(lo, hi):
    """A free loopback port from a test's range (other suites take theirs from elsewhere)."""
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


def parse_duration(s):
    n = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(s[:-1]) * n[s[-1]]


class Monitoring:
    """Prometheus, Alertmanager, the webhook and any exporters, in `base`/monitoring.

    `jobs`: {job name: [host:port, ...]} to scrape; `exporters`: {name: libpq URL} of servers
    to run one prometheus-postgres-exporter each for (job "postgres"); `rule_args`: gen_rules.py
    options; `ports`: the (lo, hi) range this test takes its ports from."""

    def __init__(self, base, *, ttl, loop_wait, jobs, rule_args=(), exporters=None,
                 ports=(22000, 22999)):
        self.dir = pathlib.Path(base) / "monitoring"
        self.dir.mkdir()
        self.rules = self.dir / "rules"
        subprocess.run([sys.executable, str(REPO / "monitoring" / "gen_rules.py"),
                        "--ttl", str(ttl), "--loop-wait", str(loop_wait),
                        "--scrape-interval", str(int(SCRAPE)), *map(str, rule_args),
                        "--out", str(self.rules)], check=True)
        self.for_ = {name: parse_duration(r.get("for", "0s"))
                     for name, r in kit.load_rules(self.rules).items()}
        self.prom_port, self.am_port, hook_port = (port_in_range(*ports) for _ in range(3))
        self.exporters = {name: (port_in_range(*ports), dsn)
                          for name, dsn in (exporters or {}).items()}
        jobs = dict(jobs)
        if self.exporters:
            jobs["postgres"] = [f"127.0.0.1:{p}" for p, _ in self.exporters.values()]
        self.ntargets = sum(len(t) for t in jobs.values())
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
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}
                               for job, targets in jobs.items()]}))
        for p in self.dir.rglob("*"):
            shutil.chown(p, "postgres", "postgres")
        shutil.chown(self.dir, "postgres", "postgres")
        self.procs = []

    def spawn(self, name, argv, env=None):
        log = open(self.dir / f"{name}.log", "ab")
        p = subprocess.Popen(argv, user="postgres", group="postgres", extra_groups=[],
                             cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, env=env)
        log.close()
        self.procs.append(p)

    def start(self):
        for name, (port, dsn) in self.exporters.items():
            # The DSN (with its password) in the environment, not on a command line.
            self.spawn(f"exporter-{name}", [
                EXPORTER, f"--extend.query-path={QUERIES}",
                f"--web.listen-address=127.0.0.1:{port}"],
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATA_SOURCE_NAME": dsn})
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

    def query(self, expr):
        """An instant query's result (a list of samples; empty when nothing matches)."""
        return (self.api("/api/v1/query", query=expr) or {}).get("result", [])

    def ready_targets(self):
        t = self.api("/api/v1/targets")
        return t and len(t["activeTargets"]) == self.ntargets and all(
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

    def wait_fires(self, alert, since, extra=0.0, **labels):
        """`alert` with `labels` posted firing after `since`, within its deadline plus `extra`
        seconds (what the fault itself takes before the rule's input shows it)."""
        try:
            wait_until(lambda: self.state(alert, since, **labels) == "firing",
                       self.deadline(alert) + extra * SLOW, f"{alert} {labels} to fire",
                       interval=0.1)
        except AssertionError as e:
            raise AssertionError(f"{e}; Prometheus says {self.api('/api/v1/alerts')}") from None

    def wait_resolves(self, alert, since, timeout, **labels):
        # No bound is promised for a resolution (the healed thing must come back first: a
        # restarted hellod, a rejoining member); RESOLVE_MARGIN absorbs a loaded machine.
        wait_until(lambda: self.state(alert, since, **labels) == "resolved",
                   timeout + self.deadline(alert) + RESOLVE_MARGIN * SLOW,
                   f"{alert} {labels} to resolve", interval=0.1)


def started(m):
    """`m` started; on a failure its logs printed and whatever started stopped."""
    try:
        return m.start()
    except BaseException:
        print(m.logs())
        m.stop()
        raise
