"""tandemctl (src/tandemctl) against a real etcd 3.4 and fake member REST APIs.

etcd runs on free ports with a temporary data directory. Each test writes a cluster in
Patroni's layout under its own scope (initialize, config, leader, members/*, sync, history)
through etcd's JSON gateway, then runs the tandemctl binary and checks its output and exit
status: the table and --json of `list`, `history`, `show-config`, `haproxy-config` and `version`;
exit 2 for usage and configuration errors and for a confirmation without a terminal; 3 when etcd
or a REST API cannot be reached; 1 for refusals and error answers. The members' REST APIs are tiny
Python HTTP servers that record what they are sent (method, path, body, Authorization) and answer
with a status the test chooses. When valgrind is installed, `list` and `failover` also run under
memcheck and must be clean.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading
import urllib.request
import uuid

import pytest

from conftest import BUILD, free_port, sanitized, wait_until

ETCD = os.environ.get("ETCD_BIN", "/usr/bin/etcd")
TANDEMCTL = BUILD / "src" / "tandemctl" / "tandemctl"
VALGRIND = shutil.which("valgrind")
SYSID = "7123456789012345678"
MIB = 1024 * 1024

pytestmark = [
    pytest.mark.skipif(not os.path.exists(ETCD), reason=f"no etcd at {ETCD}"),
    pytest.mark.skipif(not TANDEMCTL.exists(), reason=f"{TANDEMCTL} is not built"),
]


# ---------------------------------------------------------------------------------------------
# etcd


class Etcd:
    def __init__(self):
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="tandemctl-etcd-"))
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        peer = f"http://127.0.0.1:{free_port()}"
        self.log = open(self.base / "etcd.log", "wb")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "ctl", "--data-dir", str(self.base / "data"),
             "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"ctl={peer}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self.ready, 30, "etcd to answer")

    def _post(self, path, body):
        req = urllib.request.Request(self.endpoint + path, method="POST",
                                     data=json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def ready(self):
        assert self.proc.poll() is None, f"etcd exited {self.proc.returncode}"
        try:
            self._post("/v3/kv/range", {"key": "eA=="})
            return True
        except OSError:
            return False

    def put(self, key, value):
        b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
        self._post("/v3/kv/put", {"key": b64(key), "value": b64(value)})

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def etcd():
    e = Etcd()
    yield e
    e.stop()


# ---------------------------------------------------------------------------------------------
# fake member REST APIs


class FakeRest:
    """A member's REST API: records every request and answers `status` with `answer` (GET with
    `get_answer`); `on_request(record)` runs before answering."""

    def __init__(self, status=200, answer="ok"):
        self.status = status
        self.answer = answer
        self.get_answer = "{}"
        self.on_request = None
        self.requests = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode()
                rec = {"method": self.command, "path": self.path, "body": body,
                       "auth": self.headers.get("Authorization"),
                       "type": self.headers.get("Content-Type")}
                fake.requests.append(rec)
                if fake.on_request:
                    fake.on_request(rec)
                get = self.command == "GET"
                data = (fake.get_answer if get else fake.answer).encode()
                self.send_response(200 if get else fake.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PATCH = do_PUT = _serve

            def do_GET(self):
                self._serve()
                fake.requests.pop()  # the polls of --wait are not what the tests count

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/patroni"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rest():
    servers = []

    def make(status=200, answer="ok"):
        s = FakeRest(status, answer)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


# ---------------------------------------------------------------------------------------------
# a cluster in Patroni's layout


CONFIG = {"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "maximum_lag_on_failover": 1048576,
          "postgresql": {"use_pg_rewind": True,
                         "parameters": {"max_connections": 100, "wal_level": "replica"}}}
LEADER_LSN = 80 * MIB


class Cluster:
    def __init__(self, etcd, namespace="/service/"):
        self.etcd = etcd
        self.scope = "c" + uuid.uuid4().hex[:10]
        self.namespace = namespace
        self.prefix = f"{namespace.rstrip('/')}/{self.scope}/"

    def put(self, key, value):
        self.etcd.put(self.prefix + key, value if isinstance(value, str) else json.dumps(value))

    def write(self, api=None, config=CONFIG):
        """pg1 leads; pg2 streams 3 MB behind, tagged nofailover; pg3 is the sync standby."""
        api = api or {}
        url = lambda n: api.get(n, f"http://127.0.0.1:{8008 + n}/patroni")  # noqa: E731
        self.put("initialize", SYSID)
        if config is not None:
            self.put("config", config)
        self.put("leader", "pg1")
        self.put("members/pg1", {
            "conn_url": "postgres://127.0.0.1:5432/postgres", "api_url": url(1),
            "state": "running", "role": "primary", "version": "0.1.0",
            "xlog_location": LEADER_LSN, "timeline": 2})
        self.put("members/pg2", {
            "conn_url": "postgres://127.0.0.2:5433/postgres", "api_url": url(2),
            "state": "running", "role": "replica", "version": "0.1.0",
            "replication_state": "streaming", "xlog_location": LEADER_LSN - 3 * MIB,
            "timeline": 2, "tags": {"nofailover": True}})
        self.put("members/pg3", {
            "conn_url": "postgres://127.0.0.3:5434/postgres", "api_url": url(3),
            "state": "running", "role": "replica", "version": "3.2.0",
            "replication_state": "streaming", "xlog_location": LEADER_LSN, "timeline": 2})
        self.put("sync", {"leader": "pg1", "sync_standby": "pg3"})
        self.put("history", [[1, 25165984, "no recovery target specified",
                              "2026-11-20T10:00:00.000000+00:00", "pg1"]])
        return self


@pytest.fixture
def cluster(etcd):
    return Cluster(etcd).write()


def ctl(*args, env=None, input=None, valgrind=False, timeout=60):
    """Runs tandemctl (stdin is not a terminal); returns the CompletedProcess."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("TANDEMCTL_", "PATRONI_",
                                                                     "TANDEMD_"))}
    e.update(env or {})
    argv = [str(TANDEMCTL), *map(str, args)]
    if valgrind:
        argv = [VALGRIND, "--quiet", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99"] + argv
    return subprocess.run(argv, env=e, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL if input is None else None, input=input)


def conn(etcd, cluster):
    return ["--etcd", f"127.0.0.1:{etcd.port}", "--scope", cluster.scope]


# ---------------------------------------------------------------------------------------------
# reading


def test_list_table(etcd, cluster):
    r = ctl(*conn(etcd, cluster), "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"+ Cluster: {cluster.scope} ({SYSID}) -")
    assert [c.strip() for c in lines[1].strip("|").split("|")] == [
        "Member", "Host", "Role", "State", "TL", "Lag in MB", "Tags"]
    rows = {c[0]: c for c in ([x.strip() for x in ln.strip("|").split("|")]
                              for ln in lines[3:6])}
    assert rows["pg1"] == ["pg1", "127.0.0.1:5432", "Leader", "running", "2", "", ""]
    assert rows["pg2"] == ["pg2", "127.0.0.2:5433", "Replica", "streaming", "2", "3",
                           "nofailover: true"]
    assert rows["pg3"] == ["pg3", "127.0.0.3:5434", "Sync Standby", "streaming", "2", "0", ""]
    assert [ln.split("|")[1].strip() for ln in lines[3:6]] == ["pg1", "pg2", "pg3"]
    assert len({len(ln) for ln in lines[:7]}) == 1, r.stdout  # one width for every line
    assert r.stderr == ""


def test_list_json(etcd, cluster):
    r = ctl(*conn(etcd, cluster), "list", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["scope"] == cluster.scope and j["system_id"] == SYSID and j["leader"] == "pg1"
    assert j["paused"] is False
    m = {x["name"]: x for x in j["members"]}
    assert m["pg1"]["role"] == "leader" and m["pg1"]["lag_mb"] is None
    assert m["pg2"]["role"] == "replica" and m["pg2"]["lag_mb"] == 3
    assert m["pg2"]["lag_bytes"] == 3 * MIB and m["pg2"]["tags"] == {"nofailover": True}
    assert m["pg3"]["role"] == "sync_standby" and m["pg3"]["state"] == "streaming"
    assert m["pg1"]["host"] == "127.0.0.1:5432" and m["pg1"]["timeline"] == 2


def test_list_paused_and_no_leader(etcd):
    c = Cluster(etcd, namespace="/other/").write(config={**CONFIG, "pause": True})
    c.etcd._post("/v3/kv/deleterange",
                 {"key": base64.b64encode((c.prefix + "leader").encode()).decode()})
    r = ctl(*conn(etcd, c), "--namespace", "/other/", "list")
    assert r.returncode == 0, r.stderr
    assert "Maintenance mode: on" in r.stdout
    assert "No leader" in r.stdout
    assert "Leader " not in r.stdout
    # The same scope under the default namespace does not exist.
    r = ctl(*conn(etcd, c), "list")
    assert r.returncode == 1 and "no cluster" in r.stderr


def test_history(etcd, cluster):
    r = ctl(*conn(etcd, cluster), "history")
    assert r.returncode == 0, r.stderr
    row = [x.strip() for x in r.stdout.splitlines()[3].strip("|").split("|")]
    assert row == ["1", "0/18000A0", "no recovery target specified",
                   "2026-11-20T10:00:00.000000+00:00", "pg1"]
    r = ctl(*conn(etcd, cluster), "history", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{
        "timeline": 1, "lsn": 25165984, "lsn_text": "0/18000A0",
        "reason": "no recovery target specified",
        "timestamp": "2026-11-20T10:00:00.000000+00:00", "new_leader": "pg1"}]


def test_show_config(etcd, cluster):
    r = ctl(*conn(etcd, cluster), "show-config")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "loop_wait: 10\n"
        "maximum_lag_on_failover: 1048576\n"
        "postgresql:\n"
        "  parameters:\n"
        "    max_connections: 100\n"
        "    wal_level: replica\n"
        "  use_pg_rewind: true\n"
        "retry_timeout: 10\n"
        "ttl: 30\n")
    r = ctl(*conn(etcd, cluster), "show-config", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == CONFIG


def test_show_config_without_config_key(etcd):
    c = Cluster(etcd).write(config=None)
    r = ctl(*conn(etcd, c), "show-config")
    assert r.returncode == 1
    assert "no configuration key" in r.stderr


def test_haproxy_config(etcd, cluster):
    r = ctl(*conn(etcd, cluster), "haproxy-config", "--rw", "127.0.0.1:6000", "--stats",
            "127.0.0.1:7000")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "bind 127.0.0.1:6000" in out and "bind *:5001" in out
    assert "server pg1 127.0.0.1:5432 check port 8009" in out
    assert "server pg2 127.0.0.2:5433 check port 8010" in out
    assert "server pg3 127.0.0.3:5434 check port 8011" in out
    assert f"{cluster.scope}_primary" in out
    r = ctl(*conn(etcd, cluster), "haproxy-config", "--maxconn", "0")
    assert r.returncode == 2


def test_version(etcd, cluster):
    r = ctl("version")
    assert r.returncode == 0 and r.stdout.startswith("tandemctl version ")
    r = ctl(*conn(etcd, cluster), "version", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["members"] == {"pg1": "0.1.0", "pg2": "0.1.0", "pg3": "3.2.0"}
    assert j["tandemctl"] and j["scope"] == cluster.scope
    r = ctl(*conn(etcd, cluster), "version")
    assert f"{cluster.scope}: pg3: version 3.2.0" in r.stdout


# ---------------------------------------------------------------------------------------------
# configuration and exit codes


def write_config(tmp_path, etcd, scope, extra=""):
    p = tmp_path / "tandemd.yml"
    p.write_text(f"""scope: {scope}
namespace: /service/
etcd3:
  hosts:
  - 127.0.0.1:{etcd.port}
restapi:
  authentication:
    username: admin
    password: s3cret
{extra}""")
    return p


def test_config_file_and_environment(etcd, cluster, tmp_path):
    cfg = write_config(tmp_path, etcd, cluster.scope)
    r = ctl("-c", cfg, "list", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["leader"] == "pg1"
    r = ctl("list", "--json", env={"TANDEMCTL_CONFIG": str(cfg)})
    assert r.returncode == 0, r.stderr
    r = ctl("list", env={"TANDEMCTL_ETCD": f"127.0.0.1:{etcd.port}",
                         "TANDEMCTL_SCOPE": cluster.scope})
    assert r.returncode == 0, r.stderr
    # A full tandemd configuration (name, data_dir, postgresql...) is accepted as it is.
    full = write_config(tmp_path, etcd, cluster.scope,
                        "name: pg1\npostgresql:\n  data_dir: /tmp/x\n  listen: 127.0.0.1:5432\n")
    assert ctl("-c", full, "list").returncode == 0


def test_configuration_errors_exit_2(etcd, cluster, tmp_path):
    r = ctl("-c", tmp_path / "missing.yml", "list")
    assert r.returncode == 2 and "missing.yml" in r.stderr
    bad = write_config(tmp_path, etcd, cluster.scope, "bogus_key: 1\n")
    r = ctl("-c", bad, "list")
    assert r.returncode == 2 and "bogus_key" in r.stderr
    assert ctl("list").returncode == 2  # no cluster named
    assert ctl("--scope", "x", "list").returncode == 2  # no etcd
    assert ctl("--etcd", "ftp://x", "--scope", "x", "list").returncode == 2
    assert ctl("frobnicate").returncode == 2
    assert ctl("list", "--candidate", "pg1", *conn(etcd, cluster)).returncode == 2
    assert ctl("list", "--bogus").returncode == 2
    assert ctl("restart", *conn(etcd, cluster)).returncode == 2  # no member, no --all
    assert ctl("--timeout", "abc", "list").returncode == 2
    r = ctl("--help")
    assert r.returncode == 0 and "Exit status" in r.stdout


def test_etcd_unreachable_exit_3():
    r = ctl("--etcd", f"127.0.0.1:{free_port()}", "--scope", "x", "--timeout", "2", "list")
    assert r.returncode == 3
    assert "cannot read cluster 'x'" in r.stderr
    r = ctl("--etcd", f"127.0.0.1:{free_port()}", "--scope", "x", "version")
    assert r.returncode == 3 and r.stdout.startswith("tandemctl version")


def test_unknown_cluster_exit_1(etcd):
    r = ctl("--etcd", f"127.0.0.1:{etcd.port}", "--scope", "nosuchcluster", "list")
    assert r.returncode == 1 and "no cluster 'nosuchcluster'" in r.stderr


# ---------------------------------------------------------------------------------------------
# actions


@pytest.fixture
def live(etcd, rest):
    """A cluster whose members' api_urls are fake REST servers."""
    servers = {n: rest() for n in (1, 2, 3)}
    c = Cluster(etcd).write(api={n: s.url for n, s in servers.items()})
    return c, servers


def test_force_needed_without_terminal(etcd, live):
    c, servers = live
    for args in (["failover", "--candidate", "pg3"], ["restart", "pg2"], ["reinit", "pg2"]):
        r = ctl(*conn(etcd, c), *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "use --force" in r.stderr
    assert all(not s.requests for s in servers.values())


def test_failover(etcd, live, tmp_path):
    c, servers = live
    cfg = write_config(tmp_path, etcd, c.scope)
    r = ctl("-c", cfg, "failover", "--candidate", "pg3", "--force")
    assert r.returncode == 0, r.stderr
    assert "pg1: done (HTTP 200): ok" in r.stdout
    [req] = servers[1].requests  # sent to the leader
    assert req["path"] == "/failover"
    assert json.loads(req["body"]) == {"leader": "pg1", "candidate": "pg3"}
    assert req["type"] == "application/json"
    assert req["auth"] == "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert not servers[2].requests and not servers[3].requests

    servers[1].status, servers[1].answer = 503, "failover is not possible: no good candidates"
    r = ctl("-c", cfg, "failover", "--force", "--json")
    assert r.returncode == 1
    [res] = json.loads(r.stdout)
    assert res["member"] == "pg1" and res["status"] == 503 and res["ok"] is False
    assert json.loads(servers[1].requests[-1]["body"]) == {"leader": "pg1"}


def test_failover_refusals(etcd, live):
    c, servers = live
    for cand, why in (("pg2", "nofailover"), ("pg1", "leader already"), ("pg9", "no member")):
        r = ctl(*conn(etcd, c), "failover", "--candidate", cand, "--force")
        assert r.returncode == 1, r.stderr
        assert why in r.stderr
    assert all(not s.requests for s in servers.values())


def test_failover_not_confirmed(etcd, live):
    c, servers = live
    # stdin is a pipe here: without a terminal, tandemctl refuses to ask (exit 2), so the
    # "no" answer is only checked through the code path that reads it under script(1).
    script = shutil.which("script")
    if not script:
        pytest.skip("script(1) is not installed")
    cmd = " ".join([str(TANDEMCTL), *conn(etcd, c), "failover", "--candidate", "pg3"])
    r = subprocess.run([script, "-qec", cmd, "/dev/null"], input="n\n", text=True,
                       capture_output=True, timeout=60)
    assert r.returncode == 1, r.stdout
    assert "[y/N]" in r.stdout and "not confirmed" in r.stdout
    assert not servers[1].requests


def test_restart_reload_reinit(etcd, live):
    c, servers = live
    r = ctl(*conn(etcd, c), "restart", "--all", "--force")
    assert r.returncode == 0, r.stderr
    assert [s.requests[-1]["path"] for s in servers.values()] == ["/restart"] * 3
    assert servers[1].requests[-1]["auth"] is None  # no restapi.authentication given

    servers[2].status = 503
    r = ctl(*conn(etcd, c), "restart", "pg2", "pg3", "--force")
    assert r.returncode == 1
    assert "pg2: failed (HTTP 503)" in r.stderr and "pg3: done" in r.stdout
    assert len(servers[1].requests) == 1
    servers[2].status = 200

    r = ctl(*conn(etcd, c), "reload")  # every member, no confirmation needed
    assert r.returncode == 0, r.stderr
    assert [s.requests[-1]["path"] for s in servers.values()] == ["/reload"] * 3

    r = ctl(*conn(etcd, c), "reinit", "pg1", "--force")
    assert r.returncode == 1 and "is the leader" in r.stderr
    r = ctl(*conn(etcd, c), "reinit", "pg2", "--force", "--json")
    assert r.returncode == 0, r.stderr
    assert servers[2].requests[-1]["path"] == "/reinitialize"
    assert json.loads(r.stdout)[0]["answer"] == "ok"
    assert servers[1].requests[-1]["path"] == "/reload"


def test_rest_unreachable_exit_3(etcd, rest):
    dead = f"http://127.0.0.1:{free_port()}/patroni"
    c = Cluster(etcd).write(api={1: dead, 2: dead, 3: dead})
    r = ctl(*conn(etcd, c), "restart", "pg2", "--force", "--timeout", "5")
    assert r.returncode == 3
    assert "pg2" in r.stderr


# ---------------------------------------------------------------------------------------------
# planned operations: switchover, pause/resume, edit-config, restart --pending


def test_operations_need_force_without_terminal(etcd, live):
    c, servers = live
    for args in (["switchover", "--candidate", "pg3"], ["edit-config", "--set", "ttl=40"],
                 ["edit-config"]):
        r = ctl(*conn(etcd, c), *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "--force" in r.stderr or "terminal" in r.stderr
    assert all(not s.requests for s in servers.values())


def test_switchover(etcd, live, tmp_path):
    c, servers = live
    cfg = write_config(tmp_path, etcd, c.scope)
    at = "2030-01-01T03:00:00+00:00"
    r = ctl("-c", cfg, "switchover", "--candidate", "pg3", "--scheduled", at, "--force")
    assert r.returncode == 0, r.stderr
    assert "will happen at " + at in r.stdout
    [req] = servers[1].requests  # to the leader
    assert req["method"] == "POST" and req["path"] == "/switchover"
    assert json.loads(req["body"]) == {"leader": "pg1", "candidate": "pg3", "scheduled_at": at}
    assert req["auth"] == "Basic " + base64.b64encode(b"admin:s3cret").decode()

    # now: tandemctl waits until the leader key names the new leader
    servers[1].answer = "switchover to pg3 started"
    servers[1].status = 202
    servers[1].on_request = lambda rec: c.put("leader", "pg3")
    r = ctl(*conn(etcd, c), "switchover", "--leader", "pg1", "--candidate", "pg3",
            "--scheduled", "now", "--force", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["new_leader"] == "pg3" and out["answer"] == "switchover to pg3 started"
    assert json.loads(servers[1].requests[-1]["body"]) == {"leader": "pg1", "candidate": "pg3"}
    c.put("leader", "pg1")
    servers[1].on_request = None

    # accepted, but nobody takes over in time
    r = ctl(*conn(etcd, c), "switchover", "--force", "--timeout", "1.5")
    assert r.returncode == 1
    assert "did not take over" in r.stderr
    assert json.loads(servers[1].requests[-1]["body"]) == {"leader": "pg1"}

    # the leader refuses: its reason is shown
    servers[1].status, servers[1].answer = 422, "cannot schedule a switchover in the past"
    r = ctl(*conn(etcd, c), "switchover", "--scheduled", "2001-01-01T00:00:00Z", "--force")
    assert r.returncode == 1
    assert "refused by pg1 (HTTP 422): cannot schedule a switchover in the past" in r.stderr
    servers[1].status, servers[1].answer = 200, "ok"

    n = len(servers[1].requests)
    for args, code, why in ((["--leader", "pg2"], 1, "pg2 is not the leader"),
                            (["--candidate", "pg2"], 1, "nofailover"),
                            (["--candidate", "pg1"], 1, "leader already"),
                            (["--candidate", "pg9"], 1, "no member named"),
                            (["--scheduled", "tomorrow"], 2, "ISO 8601"),
                            (["--scheduled", "2030-01-01T03:00:00"], 2, "ISO 8601"),
                            (["pg3"], 2, "takes no arguments"),
                            (["--wait"], 2, "does not take --wait")):
        r = ctl(*conn(etcd, c), "switchover", *args, "--force")
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert why in r.stderr, (args, r.stderr)
    assert len(servers[1].requests) == n


def test_pause_resume(etcd, live):
    c, servers = live
    r = ctl(*conn(etcd, c), "resume")
    assert r.returncode == 1 and "not in maintenance mode" in r.stderr
    r = ctl(*conn(etcd, c), "pause")
    assert r.returncode == 0, r.stderr
    [req] = servers[1].requests
    assert req["method"] == "PATCH" and req["path"] == "/config"
    assert json.loads(req["body"]) == {"pause": True}
    assert req["type"] == "application/json"
    assert "Maintenance mode: on" in r.stdout

    # --wait: until every member's /patroni says so
    for s in servers.values():
        s.get_answer = json.dumps({"state": "running", "pause": True})
    r = ctl(*conn(etcd, c), "pause", "--wait", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["members"] == {"pg1": True, "pg2": True, "pg3": True}
    servers[3].get_answer = json.dumps({"state": "running"})
    r = ctl(*conn(etcd, c), "pause", "--wait", "--timeout", "1")
    assert r.returncode == 1 and "pg3 did not report pause" in r.stderr

    c.put("config", {**CONFIG, "pause": True})
    r = ctl(*conn(etcd, c), "pause")
    assert r.returncode == 1 and "already" in r.stderr
    for s in servers.values():
        s.get_answer = "{}"
    r = ctl(*conn(etcd, c), "resume", "--wait")
    assert r.returncode == 0, r.stderr
    assert json.loads(servers[1].requests[-1]["body"]) == {"pause": False}
    assert "Maintenance mode: off" in r.stdout

    servers[1].status, servers[1].answer = 409, '{"error": "the configuration changed"}'
    r = ctl(*conn(etcd, c), "resume")
    assert r.returncode == 1 and "(HTTP 409): the configuration changed" in r.stderr
    r = ctl(*conn(etcd, c), "pause", "--force")
    assert r.returncode == 2 and "does not take --force" in r.stderr


def test_edit_config_set(etcd, live):
    c, servers = live
    r = ctl(*conn(etcd, c), "edit-config", "--set", "ttl=40", "--pg", "work_mem=8MB",
            "--set", "loop_wait=null", "--set", "postgresql.parameters.max_connections=200",
            "--force")
    assert r.returncode == 0, r.stderr
    [req] = servers[1].requests
    assert req["method"] == "PATCH" and req["path"] == "/config"
    assert json.loads(req["body"]) == {
        "ttl": 40, "loop_wait": None,
        "postgresql": {"parameters": {"work_mem": "8MB", "max_connections": 200}}}
    out = r.stdout
    assert "--- config (in etcd)\n+++ config (new)\n" in out
    for line in ("-loop_wait: 10", "-    max_connections: 100", "+    max_connections: 200",
                 "+    work_mem: \"8MB\"", "-ttl: 30", "+ttl: 40"):
        assert "\n" + line + "\n" in out, (line, out)
    assert "Configuration of cluster" in out and "restart --pending" in out

    # nothing to change: nothing sent
    r = ctl(*conn(etcd, c), "edit-config", "--set", "ttl=30", "--force")
    assert r.returncode == 0 and "No changes" in r.stdout
    assert len(servers[1].requests) == 1

    # the server's reason is shown
    servers[1].status = 400
    servers[1].answer = json.dumps({"error": "invalid configuration: timing rule broken"})
    r = ctl(*conn(etcd, c), "edit-config", "--set", "ttl=3", "--force")
    assert r.returncode == 1
    assert "edit-config refused by pg1 (HTTP 400): invalid configuration: timing rule" \
        in r.stderr

    n = len(servers[1].requests)
    for args, why in ((["--set", "ttl"], "KEY=VALUE"), (["--set", "a..b=1"], "empty part"),
                      (["--pg", "a.b=1"], "no dots"),
                      (["--set", "ttl=1", "--apply", "x.yml"], "without --set"),
                      (["--apply", "/nonexistent.yml"], "/nonexistent.yml"),
                      (["--candidate", "pg1"], "does not take --candidate")):
        r = ctl(*conn(etcd, c), "edit-config", *args, "--force")
        assert r.returncode == 2, (args, r.stderr)
        assert why in r.stderr, (args, r.stderr)
    assert len(servers[1].requests) == n


def test_edit_config_apply(etcd, live, tmp_path):
    c, servers = live
    f = tmp_path / "new.yml"
    f.write_text("ttl: 20\nloop_wait: 5\nretry_timeout: 5\npostgresql:\n  parameters:\n"
                 "    wal_log_hints: 'on'\n    max_connections: 100\n")
    r = ctl(*conn(etcd, c), "edit-config", "--apply", f, "--force")
    assert r.returncode == 0, r.stderr
    [req] = servers[1].requests
    assert req["method"] == "PUT" and req["path"] == "/config"
    assert json.loads(req["body"]) == {
        "ttl": 20, "loop_wait": 5, "retry_timeout": 5,
        "postgresql": {"parameters": {"wal_log_hints": "on", "max_connections": 100}}}
    assert "-maximum_lag_on_failover: 1048576" in r.stdout
    # JSON on stdin
    r = ctl(*conn(etcd, c), "edit-config", "--apply", "-", "--force",
            input=json.dumps({"ttl": 30}))
    assert r.returncode == 0, r.stderr
    assert json.loads(servers[1].requests[-1]["body"]) == {"ttl": 30}
    r = ctl(*conn(etcd, c), "edit-config", "--apply", "-", input="{}")
    assert r.returncode == 2 and "--force" in r.stderr
    for text, why in (("- 1\n- 2\n", "mapping"), ("a: [1\n", "stdin:"), ("a: 1\na: 2\n", "twice")):
        r = ctl(*conn(etcd, c), "edit-config", "--apply", "-", "--force", input=text)
        assert r.returncode == 2 and why in r.stderr, (text, r.stderr)
    assert len(servers[1].requests) == 2


def test_edit_config_editor(etcd, live, tmp_path):
    c, servers = live
    script = shutil.which("script")
    if not script:
        pytest.skip("script(1) is not installed")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i -e 's/^ttl: 30$/ttl: 60/' -e '/^loop_wait:/d' \"$1\"\n")
    editor.chmod(0o755)
    cmd = " ".join([str(TANDEMCTL), *conn(etcd, c), "edit-config"])
    env = {**os.environ, "EDITOR": str(editor)}
    env.pop("VISUAL", None)
    r = subprocess.run([script, "-qec", cmd, "/dev/null"], input="y\n", text=True,
                       capture_output=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout
    assert "+ttl: 60" in r.stdout and "-loop_wait: 10" in r.stdout and "[y/N]" in r.stdout
    [req] = servers[1].requests
    assert req["method"] == "PATCH"
    assert json.loads(req["body"]) == {"ttl": 60, "loop_wait": None}


def test_list_pending_restart_and_restart_pending(etcd, live):
    c, servers = live
    r = ctl(*conn(etcd, c), "list")
    assert "Pending restart" not in r.stdout
    r = ctl(*conn(etcd, c), "restart", "--pending", "--force")
    assert r.returncode == 0 and "No member" in r.stdout
    assert all(not s.requests for s in servers.values())

    c.put("members/pg3", {
        "conn_url": "postgres://127.0.0.3:5434/postgres", "api_url": servers[3].url,
        "state": "running", "role": "replica", "pending_restart": True,
        "xlog_location": LEADER_LSN, "timeline": 2})
    r = ctl(*conn(etcd, c), "list")
    header = next(line for line in r.stdout.splitlines() if "Member" in line)
    assert "Pending restart" in header
    pg3 = next(line for line in r.stdout.splitlines() if "| pg3 " in line)
    assert "*" in pg3
    assert json.loads(ctl(*conn(etcd, c), "list", "--json").stdout)["members"][2][
        "pending_restart"] is True
    r = ctl(*conn(etcd, c), "restart", "--pending", "--force")
    assert r.returncode == 0, r.stderr
    assert [s.requests[-1]["path"] if s.requests else None for s in servers.values()] == \
        [None, None, "/restart"]
    r = ctl(*conn(etcd, c), "restart", "pg1", "--pending", "--force")
    assert r.returncode == 0 and "No member" in r.stdout
    assert not servers[1].requests


@pytest.mark.skipif(not VALGRIND, reason="valgrind is not installed")
@pytest.mark.skipif(sanitized(TANDEMCTL), reason="a sanitized build cannot run under valgrind")
def test_valgrind_clean(etcd, live):
    c, servers = live
    for args in (["list"], ["list", "--json"], ["show-config"], ["history"],
                 ["haproxy-config"], ["failover", "--candidate", "pg3", "--force"],
                 ["reinit", "pg1", "--force"], ["pause"],
                 ["switchover", "--candidate", "pg3", "--scheduled", "2030-01-01T00:00:00Z",
                  "--force"],
                 ["edit-config", "--set", "ttl=40", "--pg", "work_mem=8MB", "--force"],
                 ["edit-config", "--set", "bad", "--force"], ["restart", "--pending", "--force"]):
        r = ctl(*conn(etcd, c), *args, valgrind=True, timeout=120)
        assert r.returncode in (0, 1, 2), (args, r.returncode, r.stderr)
        assert "==" not in r.stderr, (args, r.stderr)
    r = ctl("--etcd", f"127.0.0.1:{free_port()}", "--scope", "x", "list", valgrind=True,
            timeout=120)
    assert r.returncode == 3, r.stderr


# ---------------------------------------------------------------------------------------------
# backup


def test_backup_request(etcd, live, tmp_path):
    """tandemctl backup: POST /backup to the leader with the type and who asks; --type checked
    first; the member's refusal is exit 1 with its reason."""
    c, servers = live
    cfg = write_config(tmp_path, etcd, c.scope)
    servers[1].status, servers[1].answer = 202, '{"id":"17-pg1-1","type":"full"}'
    r = ctl("-c", cfg, "backup", "--type", "full")
    assert r.returncode == 0, r.stderr
    assert "backup 17-pg1-1 requested from pg1" in r.stdout
    [req] = servers[1].requests
    assert req["path"] == "/backup"
    body = json.loads(req["body"])
    assert body["type"] == "full" and body["by"].startswith("tandemctl ")
    assert req["auth"] == "Basic " + base64.b64encode(b"admin:s3cret").decode()
    r = ctl("-c", cfg, "backup", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == "17-pg1-1"
    assert "type" not in json.loads(servers[1].requests[-1]["body"])  # the member's default
    assert ctl("-c", cfg, "backup", "--type", "weekly").returncode == 2
    assert ctl("-c", cfg, "list", "--type", "full").returncode == 2
    servers[1].status, servers[1].answer = 409, "backups are off on pg1"
    r = ctl("-c", cfg, "backup")
    assert r.returncode == 1 and "backups are off on pg1" in r.stderr


def test_backup_wait_follows_the_key(etcd, live, tmp_path):
    """--wait reads the request's run in the `backup` key: exit 0 when it ended ok, 1 with the
    reason when it failed."""
    c, servers = live
    cfg = write_config(tmp_path, etcd, c.scope)
    servers[1].status, servers[1].answer = 202, '{"id":"r1","type":"full"}'
    c.put("backup", {"history": [{"id": "b1", "type": "full", "request": "r1", "runner": "pg2",
                                  "start": 1000, "end": 61000, "status": "ok",
                                  "label": "20261205-010000F", "done_type": "full",
                                  "verify": True}],
                     "last": {"full": {"id": "b1", "type": "full", "runner": "pg2",
                                       "start": 1000, "end": 61000, "status": "ok",
                                       "label": "20261205-010000F", "verify": True}}})
    c.put("backup/runner", "pg2")
    r = ctl("-c", cfg, "backup", "--type", "full", "--wait")
    assert r.returncode == 0, r.stderr
    assert "backup r1: ok: full 20261205-010000F" in r.stdout and "in 60 s on pg2" in r.stdout
    out = ctl("-c", cfg, "list").stdout
    assert "Last backup: full 20261205-010000F" in out and "verify ok" in out, out
    assert "Backup runner: pg2" in out
    j = json.loads(ctl("-c", cfg, "list", "--json").stdout)["backup"]
    assert j["last"]["full"]["label"] == "20261205-010000F" and j["last"]["full"]["verify"]
    assert j["runner"] == "pg2" and j["running"] is None and j["failures"] == 0
    c.put("backup", {"history": [{"id": "b2", "type": "diff", "request": "r1", "start": 1,
                                  "end": 2, "status": "failed", "error": "exit 55: no stanza"}],
                     "failures": 1})
    r = ctl("-c", cfg, "backup", "--wait")
    assert r.returncode == 1 and "failed" in r.stderr and "exit 55: no stanza" in r.stderr
    assert "Last backup FAILED" in ctl("-c", cfg, "list").stdout


def test_site_switchover_refuses_names_used_in_both_sites(etcd, tmp_path):
    """Two sites whose members share names (pg1..pg3 in each): site-switchover refuses before
    it changes anything, naming them; with distinct names it goes on to its other checks."""
    a = Cluster(etcd).write()
    b = Cluster(etcd).write(config={**CONFIG, "standby_cluster": {"host": "127.0.0.1",
                                                                  "port": "5432"}})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a_yml = write_config(tmp_path / "a", etcd, a.scope)
    b_yml = write_config(tmp_path / "b", etcd, b.scope)
    r = ctl("site-switchover", "--from", a_yml, "--to", b_yml, "--force")
    assert r.returncode == 1, r
    assert "member name(s) pg1, pg2, pg3 used in both" in r.stderr, r.stderr
    assert "unique across the sites" in r.stderr
    # Nothing was changed: A is still a primary site, without a switchover mark.
    r = ctl("-c", a_yml, "show-config")
    assert "standby_cluster" not in r.stdout and "site_switchover" not in r.stdout, r.stdout
    # B's members renamed: the name check passes (the switch is then refused for want of a
    # streaming standby leader behind B's fake members).
    etcd_del = {"key": base64.b64encode((b.prefix + "members/").encode()).decode(),
                "range_end": base64.b64encode((b.prefix + "members0").encode()).decode()}
    etcd._post("/v3/kv/deleterange", etcd_del)
    for n in ("b1", "b2"):
        b.put(f"members/{n}", {"conn_url": "postgres://127.0.0.9:5432/postgres",
                               "state": "running", "role": "replica"})
    b.put("leader", "b1")
    r = ctl("site-switchover", "--from", a_yml, "--to", b_yml, "--force")
    assert "used in both" not in r.stderr, r.stderr
    assert r.returncode == 1 and "no standby leader streaming" in r.stderr, r.stderr
