"""tandemd's DCS layer (src/tandemd/dcs/dcs.c, src/patroni/dcs_codec.c) against a real etcd 3.4.

The checks of the leader race, renew/release by holder and non-holder, lease revocation, the
watch and the deadlines are in the C program tests/etcd/dcs_live.c ("race"); this file starts
etcd on free ports with a temporary data directory, runs it (under valgrind too when present),
and checks from the outside ("write") that what tandem wrote is exactly Patroni's shapes, that
tandem's view matches `etcdctl get --prefix`, and that Patroni's own `patronictl list` shows the
members and the leader (when the `patroni` package is installed).
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import urllib.request

import pytest

from conftest import BUILD, free_port, wait_until, sanitized

ETCD = os.environ.get("ETCD_BIN", "/usr/bin/etcd")
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"
LIVE = BUILD / "tests" / "etcd" / "dcs_live"
VALGRIND = shutil.which("valgrind")
PATRONICTL = shutil.which("patronictl")


SANITIZED = sanitized(LIVE)

RACE_STEPS = ["start", "lease_and_members", "acquire_race", "renew_holder",
              "non_holder_refused", "initialize_race", "revoke", "takeover_release",
              "other_keys", "deadline_and_free"]

pytestmark = [
    pytest.mark.skipif(not os.path.exists(ETCD), reason=f"no etcd at {ETCD}"),
    pytest.mark.skipif(not LIVE.exists(), reason=f"{LIVE} is not built"),
]


class Etcd:
    def __init__(self):
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="tandem-dcs-etcd-"))
        self.port = free_port()
        self.peer = f"http://127.0.0.1:{free_port()}"
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = open(self.base / "etcd.log", "wb")
        self.start()

    def start(self):
        peer = self.peer
        self.proc = subprocess.Popen(
            [ETCD, "--name", "dcs", "--data-dir", str(self.base / "data"),
             "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"dcs={peer}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self.ready, 30, "etcd to answer")

    def ready(self):
        assert self.proc.poll() is None, f"etcd exited {self.proc.returncode}"
        req = urllib.request.Request(self.endpoint + "/v3/kv/range", method="POST",
                                     data=json.dumps({"key": "eA=="}).encode())
        try:
            with urllib.request.urlopen(req, timeout=1):
                return True
        except OSError:
            return False

    def get_prefix(self, prefix):
        """`etcdctl get --prefix` as {key: value}."""
        out = subprocess.run([ETCDCTL, "--endpoints", self.endpoint, "get", "--prefix", prefix,
                              "-w", "json"], env={**os.environ, "ETCDCTL_API": "3"},
                             check=True, capture_output=True, timeout=30).stdout
        kvs = json.loads(out).get("kvs", [])
        return {base64.b64decode(kv["key"]).decode(): {
            "value": base64.b64decode(kv["value"]).decode(),
            "lease": int(kv.get("lease", 0)), "mod_revision": int(kv["mod_revision"])}
            for kv in kvs}

    def put(self, key, value):
        subprocess.run([ETCDCTL, "--endpoints", self.endpoint, "put", key, value],
                       env={**os.environ, "ETCDCTL_API": "3"}, check=True, capture_output=True,
                       timeout=30)

    def restart(self):
        """Kills etcd and starts it again on the same ports and data."""
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.start()

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def etcd():
    e = Etcd()
    yield e
    e.stop()


def run_live(args, valgrind=False, timeout=120):
    cmd = [str(LIVE), *args]
    if valgrind:
        cmd = [VALGRIND, "--quiet", "--leak-check=full", "--error-exitcode=99", *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=timeout * (5 if valgrind else 1))
    assert p.returncode == 0, f"{cmd} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.mark.parametrize("valgrind", [False, pytest.param(True, marks=[
    pytest.mark.skipif(not VALGRIND, reason="no valgrind"),
    pytest.mark.skipif(SANITIZED, reason="an ASan build checks memory itself")])],
    ids=["plain", "valgrind"])
def test_race(etcd, valgrind):
    dead = f"http://127.0.0.1:{free_port()}"
    scope = "race-vg" if valgrind else "race"
    out = run_live(["race", etcd.endpoint, dead, scope], valgrind=valgrind)
    for step in RACE_STEPS:
        assert f"ok {step}\n" in out, out
    # after the race: no leader, initialize taken, m2/m1's member keys gone or leased
    keys = etcd.get_prefix(f"/service/{scope}/")
    assert f"/service/{scope}/leader" not in keys
    assert keys[f"/service/{scope}/initialize"]["value"] in ("7301312345678901234",
                                                             "7301312345678909999")


def write_cluster(etcd, scope, ttl=60):
    out = run_live(["write", etcd.endpoint, scope, str(ttl)])
    assert "ok write\n" in out, out
    line = next(x for x in out.splitlines() if x.startswith("VIEW "))
    return json.loads(line[5:])


def test_values_are_patroni_shapes(etcd):
    scope = "shapes"
    view = write_cluster(etcd, scope)
    p = f"/service/{scope}/"
    keys = etcd.get_prefix(p)
    assert set(keys) == {p + k for k in ("initialize", "config", "leader", "members/m1",
                                         "members/m2", "status", "sync", "history")}
    assert keys[p + "initialize"]["value"] == "7301312345678901234"
    assert keys[p + "leader"]["value"] == "m1"  # plain text, not JSON
    assert keys[p + "leader"]["lease"] != 0
    assert keys[p + "leader"]["lease"] == keys[p + "members/m1"]["lease"]
    m1 = json.loads(keys[p + "members/m1"]["value"])
    assert m1 == {"conn_url": "postgres://127.0.0.1:5401/postgres",
                  "api_url": "http://127.0.0.1:8001/patroni", "state": "running",
                  "role": "primary", "version": "3.2.2", "xlog_location": 67108960,
                  "timeline": 1}
    assert list(m1) == ["conn_url", "api_url", "state", "role", "version", "xlog_location",
                        "timeline"]
    m2 = json.loads(keys[p + "members/m2"]["value"])
    assert m2["role"] == "replica" and m2["replication_state"] == "streaming"
    assert isinstance(m2["xlog_location"], int)
    assert keys[p + "members/m2"]["value"].find(" ") == -1  # compact, like json.dumps(separators)
    assert json.loads(keys[p + "status"]["value"]) == {
        "optime": 67108960, "slots": {"m2": 67108000}, "retain_slots": ["m1", "m2"]}
    assert json.loads(keys[p + "sync"]["value"]) == {"leader": "m1", "sync_standby": "m2"}
    assert json.loads(keys[p + "history"]["value"]) == [
        [1, 25165984, "no recovery target specified", "2024-01-15T10:11:12.123456+00:00", "m1"]]
    cfg = json.loads(keys[p + "config"]["value"])
    assert cfg["ttl"] == 30 and cfg["postgresql"]["use_pg_rewind"] is True

    # tandem's view (m2's, fed by its watch) matches etcdctl
    assert view["initialize"] == keys[p + "initialize"]["value"]
    assert view["leader"] == keys[p + "leader"]["value"]
    assert view["leader_lease"] == keys[p + "leader"]["lease"]
    assert view["ttl"] == cfg["ttl"]
    assert view["optime"] == 67108960
    assert view["sync_leader"] == "m1"
    assert view["nhistory"] == 1
    assert view["revision"] >= max(k["mod_revision"] for k in keys.values())
    for name in ("m1", "m2"):
        data = json.loads(keys[p + "members/" + name]["value"])
        assert view["members"][name] == {
            "role": data["role"], "state": data["state"], "conn_url": data["conn_url"],
            "xlog_location": data["xlog_location"],
            "lease": keys[p + "members/" + name]["lease"]}


def patronictl(etcd, scope, *args):
    cfg = pathlib.Path(etcd.base) / f"patronictl-{scope}.yml"
    cfg.write_text(f"scope: {scope}\nnamespace: /service/\netcd3:\n"
                   f"  hosts: 127.0.0.1:{etcd.port}\n")
    p = subprocess.run([PATRONICTL, "-c", str(cfg), *args], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, f"patronictl {args}: {p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.mark.skipif(not PATRONICTL, reason="patronictl not installed (apt-get install patroni)")
def test_patronictl_lists_tandem_cluster(etcd):
    scope = "ctl"
    write_cluster(etcd, scope)
    rows = json.loads(patronictl(etcd, scope, "list", "-f", "json"))
    by_name = {r["Member"]: r for r in rows}
    assert set(by_name) == {"m1", "m2"}
    assert by_name["m1"]["Role"] == "Leader"
    assert by_name["m1"]["Host"] == "127.0.0.1:5401"
    assert by_name["m1"]["State"] == "running"
    assert by_name["m2"]["Role"] in ("Sync Standby", "Replica")
    assert by_name["m2"]["TL"] == 1


@pytest.mark.skipif(not PATRONICTL, reason="patronictl not installed (apt-get install patroni)")
def test_tandem_reads_config_written_by_patronictl(etcd):
    scope = "ctlcfg"
    write_cluster(etcd, scope)
    patronictl(etcd, scope, "edit-config", "--force", "--set", "ttl=25", "--set",
               "postgresql.use_pg_rewind=false", "-p", "max_connections=200", "--set",
               "pause=true", "--set", "tandem_unknown.x=1")
    out = run_live(["read", etcd.endpoint, scope])
    view = json.loads(next(x for x in out.splitlines() if x.startswith("VIEW "))[5:])
    assert view["ttl"] == 25 and view["loop_wait"] == 10
    assert view["pause"] is True and view["use_pg_rewind"] is False
    assert json.loads(view["parameters"]) == {"max_connections": 200}
    # unknown keys are kept: the raw value is exactly what etcd holds
    raw = etcd.get_prefix(f"/service/{scope}/config")[f"/service/{scope}/config"]["value"]
    assert view["config_raw"] == raw
    assert json.loads(raw)["tandem_unknown"] == {"x": 1}
    assert view["leader"] == "m1" and set(view["members"]) == {"m1", "m2"}


def test_watch_recovers_after_etcd_restart():
    """A broken watch is followed by a new range and a new watch (own etcd: it is killed)."""
    e = Etcd()
    p = None
    try:
        scope = "outage"
        p = subprocess.Popen([str(LIVE), "outage", e.endpoint, scope], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "READY"
        e.restart()
        e.put(f"/service/{scope}/leader", "a")
        assert p.stdout.readline().strip() == "SEEN a"
        e.put(f"/service/{scope}/leader", "b")
        assert p.stdout.readline().strip() == "SEEN b"
        out = p.stdout.read()  # the rest, up to its exit
        err = p.stderr.read()
        assert p.wait(timeout=60) == 0, out + err
        assert "ok outage" in out
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        e.stop()
