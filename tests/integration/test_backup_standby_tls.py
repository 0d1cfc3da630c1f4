"""A backup from a standby through pgBackRest's TLS server (docs/backup.md, "Backups from a
replica on another host"; issue 12: the runner on a healthy replica, `backup-standby`).

Two members on loopback, each with backup.tls_server.* (tandemd runs `pgbackrest server` on its
own port from 29000-29999) and backup.tls_client.*; the certificates are made here with openssl:
a CA, a server certificate naming `localhost` (CN and DNS SAN: pgBackRest 2.45 matches the host
only against DNS names), a client certificate whose CN the servers allow. Both members are on one
host, so the replica could read the primary's data directory by its path; the runner prefers the
TLS server whenever the leader publishes one and the member has the client keys, and the test
checks that it went that way: the replica's backup.conf names the primary as pg2 through
`pg2-host=localhost` / `pg2-host-type=tls`, and pgBackRest's log of the backup shows
--backup-standby and --pg2-host=localhost.
The backup is restored by a drill (tandemctl drill: restore, recovery to a marker, row counts).
A server killed outright is started again by its tandemd.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess

import pytest

from cluster import ETCD, T_CHANGE, TANDEMCTL, TANDEMD, Member, healthy_cluster, wait_until
from conftest import free_port

PGBACKREST = shutil.which("pgbackrest") or "/usr/bin/pgbackrest"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not (os.path.exists(ETCD) and TANDEMCTL.exists()),
                       reason="needs etcd and tandemctl"),
    pytest.mark.skipif(not os.path.exists(PGBACKREST), reason="needs pgbackrest"),
    pytest.mark.skipif(not os.path.exists(OPENSSL), reason="needs openssl"),
]

CLIENT_CN = "tandem-backup"


def openssl(*args, cwd):
    r = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr}"


def make_certs(d: pathlib.Path):
    """ca.crt; server.crt for localhost (CN and DNS SAN); client.crt with CN=CLIENT_CN."""
    d.mkdir(mode=0o700)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=tandem test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    for name, cn, ext in (("server", "localhost", "subjectAltName=DNS:localhost"),
                          ("client", CLIENT_CN, "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout",
                f"{name}.key", "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out",
                f"{name}.crt", cwd=d)
    for p in [d, *d.iterdir()]:
        shutil.chown(p, "postgres", "postgres")
        if p.suffix == ".key":
            os.chmod(p, 0o600)


def free_tls_port(used):
    """A free port in 29000-29999 (this test's range), else any."""
    for port in range(29000 + os.getpid() % 900, 30000):
        if port in used:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    return free_port()


def backup_yaml(c, m):
    certs = c.base / "certs"
    return f"""backup:
  pgbackrest:
    repo1-path: {c.repo}
  schedule:
    full: none
    diff: none
    incr: none
    drill: none
  time_zone: UTC
  tls_server:
    address: 127.0.0.1:{m.tls_port}
    host: localhost
    cert_file: {certs}/server.crt
    key_file: {certs}/server.key
    ca_file: {certs}/ca.crt
    auth: [{CLIENT_CN}]
  tls_client:
    cert_file: {certs}/client.crt
    key_file: {certs}/client.key
    ca_file: {certs}/ca.crt
"""


def prepare(c):
    c.repo = c.base / "repo"
    c.repo.mkdir(mode=0o750)
    shutil.chown(c.repo, "postgres", "postgres")
    make_certs(c.base / "certs")
    used = set()
    for m in c.members:
        m.tls_port = free_tls_port(used)
        used.add(m.tls_port)
        m.config_text = (lambda m=m: Member.config_text(m) + backup_yaml(c, m))
        m.write_config()


@pytest.fixture(scope="module")
def cl():
    yield from healthy_cluster(2, prefix="tandem-it-bktls-", prepare=prepare)


@pytest.fixture
def healthy(cl, attach_logs):
    for src in cl.log_sources():
        attach_logs(src)
    return cl, cl.wait_healthy(T_CHANGE)


def state(c):
    text = c.etcd.get(c.key("backup"))
    return json.loads(text) if text else {}


def test_backup_from_standby_through_tls_and_restore(healthy):
    c, leader = healthy
    replica = next(m for m in c.members if m is not leader)
    # Every member runs its TLS server; the leader publishes its own in the backup key.
    for m in c.members:
        wait_until(lambda m=m: f"TLS server listens on 127.0.0.1:{m.tls_port}" in m.log(),
                   T_CHANGE, f"{m.name}'s pgBackRest TLS server")
    wait_until(lambda: state(c).get("primary", {}).get("tls_port") == str(leader.tls_port),
               T_CHANGE, "the leader's TLS server in the backup key")
    prim = state(c)["primary"]
    assert prim["member"] == leader.name and prim["tls_host"] == "localhost", prim
    wait_until(lambda: (c.repo / "backup" / c.scope / "backup.info").exists(), T_CHANGE,
               "the stanza")
    wait_until(lambda: c.etcd.get(c.key("backup/runner")) == replica.name, T_CHANGE,
               "the replica holding the runner key")

    r = c.tandemctl("backup", "--type", "full", "--wait", timeout=600)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    rid = re.search(r"backup (\S+): ok: full", r.stdout).group(1)
    done = [h for h in state(c).get("history", []) if h.get("request") == rid]
    assert done and done[-1]["status"] == "ok" and done[-1]["runner"] == replica.name, done
    # The replica backed up from its standby, reaching the primary through its TLS server.
    log = replica.log()
    assert re.search(r"backup \S+: full backup \(request\) on " + replica.name +
                     r", from this standby \(pgBackRest's backup-standby\), the primary "
                     r"through its TLS server localhost:" + str(leader.tls_port), log), log[-3000:]
    conf = pathlib.Path(f"{replica.data}.pgbackrest/backup.conf").read_text()
    assert f"pg1-path={replica.data}\n" in conf, conf
    assert "pg2-host=localhost\npg2-host-type=tls\n" in conf, conf
    assert f"pg2-host-port={leader.tls_port}\n" in conf, conf
    # pgBackRest's own log of the backup says it copied from the standby.
    blog = pathlib.Path(f"{replica.data}.pgbackrest/log/{c.scope}-backup.log").read_text()
    assert "--backup-standby" in blog and "--pg2-host=localhost" in blog, blog[-3000:]

    # The backup restores: a drill on the replica restores it and recovers to a marker.
    d = c.tandemctl("drill", replica.name, "--wait", "--json", timeout=600)
    assert d.returncode == 0, f"{d.stdout}\n{d.stderr}"
    res = json.loads(d.stdout)
    assert res["ok"] is True and res["member"] == replica.name, res


def test_killed_server_restarts(healthy):
    c, leader = healthy
    m = next(m for m in c.members if m is not leader)
    pat = re.compile(r"TLS server listens on 127\.0\.0\.1:%d \(pid (\d+)," % m.tls_port)
    wait_until(lambda: pat.search(m.log()), T_CHANGE, f"{m.name}'s TLS server")
    pid = int(pat.findall(m.log())[-1])
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: len(pat.findall(m.log())) >= 2 and int(pat.findall(m.log())[-1]) != pid,
               T_CHANGE, f"{m.name}'s TLS server started again")
    assert re.search(r"TLS server \(127\.0\.0\.1:%d\) exited: killed by signal 9" % m.tls_port,
                     m.log()), m.log()[-2000:]
    wait_until(lambda: connects(m.tls_port), T_CHANGE, "the new server accepting")


def connects(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False
