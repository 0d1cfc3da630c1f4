"""Credentials between the members (docs/security.md, "PostgreSQL connections between members"
and "Rotating credentials"), on one 3-member cluster whose PostgreSQL runs with ssl = on (a CA
and a server certificate for 127.0.0.1 made with the openssl CLI at test time):

* replication connects with postgresql.authentication.replication sslmode verify-full,
  sslrootcert and channel_binding require: the leader's pg_stat_ssl shows TLS on every
  walsender, and a certificate that does not verify stops replication;
* the passfile holds lines only for the local server and the upstream, never `*:*:*`;
* changing the superuser, replication and REST passwords in every member's YAML and sending
  SIGHUP changes them with no restart and no failover: the leader alters the roles, replicas
  keep streaming after their walsenders are terminated (they reconnect with the new password),
  the old passwords are refused and the new ones accepted, by PostgreSQL and by the REST API."""

from __future__ import annotations

import base64
import os
import pathlib
import shutil
import signal
import subprocess

import psycopg
import pytest

from cluster import ETCD, T_CHANGE, TANDEMCTL, TANDEMD, Cluster, serve, wait_until
from conftest import http_request

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl CLI"),
]

REST_USER = "admin"


def make_certs(d):
    """A CA, and a server certificate for 127.0.0.1 signed by it, owned by postgres (key 0600)."""
    d.mkdir()

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=tandem-test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
        "-out", "server.csr")
    (d / "san.ext").write_text("subjectAltName = IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
    # A second CA that signed nothing here: a replica told to trust it must refuse the server.
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other-ca",
        "-keyout", "other.key", "-out", "other.crt")
    for p in [d, *d.iterdir()]:
        shutil.chown(p, "postgres", "postgres")
    os.chmod(d / "server.key", 0o600)


class Setup:
    def __init__(self):
        self.c = Cluster(3, prefix="tandem-it-cred-")
        self.certs = self.c.base / "certs"
        make_certs(self.certs)
        self.rest_password = "rest-old"
        self.rootcert = self.certs / "ca.crt"
        for m in self.c.members:
            self.write(m)

    def config(self, m):
        text = m.config_text()
        listen = f"  listen: 127.0.0.1:{m.rest_port}\n"
        text = text.replace(listen, listen + f"""\
  authentication:
    username: {REST_USER}
    password: {self.rest_password}
""", 1)
        auth = "  authentication:\n    superuser:\n"
        assert text.count(auth) == 1
        text = text.replace(auth, f"""\
  parameters:
    ssl: 'on'
    ssl_cert_file: {self.certs}/server.crt
    ssl_key_file: {self.certs}/server.key
{auth}""")
        repl = f"      password: {self.c.replication_password}\n"
        assert text.count(repl) == 1
        return text.replace(repl, repl + f"""\
      sslmode: verify-full
      sslrootcert: {self.rootcert}
      channel_binding: require
""")

    def write(self, m):
        m.config_path.write_text(self.config(m))


@pytest.fixture(scope="module")
def setup():
    if not os.path.exists(ETCD):
        pytest.skip("needs etcd")
    s = Setup()
    for _ in serve(s.c):
        yield s


def walsenders(leader):
    return leader.query(
        "SELECT r.application_name, r.state, s.ssl, s.version FROM pg_stat_replication r "
        "JOIN pg_stat_ssl s USING (pid) ORDER BY 1")


def streaming(leader, n):
    rows = walsenders(leader)
    return len(rows) == n and all(r[1] == "streaming" for r in rows)


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def rest_status(m, password):
    return http_request(m.rest_port, "POST", "/reload", body="{}", timeout=10,
                        headers={"Content-Type": "application/json",
                                 **basic(REST_USER, password)}).status


def passfile_lines(m):
    return pathlib.Path(str(m.data) + ".pgpass").read_text().splitlines()


def test_replication_over_verified_tls_with_channel_binding(setup):
    c = setup.c
    leader = c.wait_healthy()
    wait_until(lambda: streaming(leader, 2), T_CHANGE, "both replicas to stream")
    rows = walsenders(leader)
    assert all(r[2] is True and r[3].startswith("TLS") for r in rows), rows
    replica = next(m for m in c.members if m is not leader)
    conninfo = replica.query("SHOW primary_conninfo")[0][0]
    for part in ("sslmode='verify-full'", f"sslrootcert='{setup.rootcert}'",
                 "channel_binding='require'", f"port='{leader.pg_port}'"):
        assert part in conninfo, conninfo


def test_passfile_is_scoped_to_the_hosts_in_use(setup):
    c = setup.c
    leader = c.wait_healthy()
    for m in c.members:
        lines = passfile_lines(m)
        assert lines and not any(l.startswith("*:*:") for l in lines), lines
        assert f"localhost:{m.pg_port}:*:postgres:{c.superuser_password}" in lines, lines
        if m is not leader:
            assert f"127.0.0.1:{leader.pg_port}:*:replicator:{c.replication_password}" \
                in lines, lines
        assert not any(l.startswith("127.0.0.1:") and f":{m.pg_port}:" in l for l in lines)


def test_passwords_rotate_by_sighup_without_failover(setup):
    c = setup.c
    leader = c.wait_healthy()
    wait_until(lambda: streaming(leader, 2), T_CHANGE, "both replicas to stream")
    tl = leader.query("SELECT timeline_id FROM pg_control_checkpoint()")[0][0]
    old_su, old_repl, old_rest = c.superuser_password, c.replication_password, setup.rest_password
    assert rest_status(leader, old_rest) == 202
    c.superuser_password, c.replication_password = old_su + "-new", old_repl + "-new"
    setup.rest_password = old_rest + "-new"
    offsets = {m.name: m.log_size() for m in c.members}
    # The replicas first: the leader then alters roles their passfiles already expect.
    for m in sorted(c.members, key=lambda m: m is leader):
        setup.write(m)
        m.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload: the roles' passwords were changed; passfile rewritten"
               in leader.log_since(offsets[leader.name]), T_CHANGE,
               "the leader to alter the roles")
    for m in c.members:
        wait_until(lambda m=m: f"localhost:{m.pg_port}:*:postgres:{c.superuser_password}"
                   in passfile_lines(m), T_CHANGE, f"{m.name}'s passfile to be rewritten")
        assert "takes a restart" not in m.log_since(offsets[m.name]), m.name
    # Replicas reconnect with the new replication password.
    leader.query("SELECT pg_terminate_backend(pid) FROM pg_stat_replication")
    wait_until(lambda: streaming(leader, 2), T_CHANGE,
               "both replicas to stream again with the new password")
    # PostgreSQL: the new superuser password works over TCP, the old one no longer does.
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=leader.pg_port, user="postgres",
                        password=old_su, dbname="postgres", connect_timeout=5).close()
    assert leader.query("SELECT 1")[0][0] == 1
    # REST: old credentials refused, new accepted, on every member.
    for m in c.members:
        assert rest_status(m, old_rest) == 401, m.name
        assert rest_status(m, setup.rest_password) == 202, m.name
    # No failover, no restart.
    assert c.wait_healthy() is leader
    assert leader.query("SELECT timeline_id FROM pg_control_checkpoint()")[0][0] == tl
    for m in c.members:
        assert m.alive(), m.name


def test_a_member_that_leads_later_sets_the_passwords_it_was_given(setup):
    """A reload while not leading (the leader missed it, say during a failover): once that member
    leads, it alters the roles itself; the former leader catches up on its own reload."""
    c = setup.c
    old = c.wait_healthy()
    target = next(m for m in c.members if m is not old)
    old_su = c.superuser_password
    c.superuser_password = old_su + "-later"
    off = target.log_size()
    for m in c.members:
        if m is not old:
            setup.write(m)
            m.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload: new role passwords (the leader changes the roles)"
               in target.log_since(off), T_CHANGE, "the replicas to take the new password")
    # The leader has not reloaded: the role still has the old password.
    with psycopg.connect(host="127.0.0.1", port=old.pg_port, user="postgres", password=old_su,
                         dbname="postgres", connect_timeout=5, autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    r = subprocess.run([str(TANDEMCTL), "-c", str(target.config_path), "switchover", "--leader",
                        old.name, "--candidate", target.name, "--force"],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r
    assert c.wait_leader(not_name=old.name) is target
    wait_until(lambda: "leading now with role passwords taken by a reload while not leading"
               in target.log_since(off), T_CHANGE, "the new leader to set the passwords")
    wait_until(lambda: "reload: the roles' passwords were changed" in target.log_since(off),
               T_CHANGE, "the new leader's ALTER ROLE to succeed")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=target.pg_port, user="postgres", password=old_su,
                        dbname="postgres", connect_timeout=5).close()
    assert target.query("SELECT 1")[0][0] == 1
    setup.write(old)
    old.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: streaming(target, 2), T_CHANGE, "both replicas to stream from the new leader")
    c.wait_healthy()


def test_an_unverifiable_server_certificate_stops_replication(setup):
    """Last, since it changes a replica's trust: verify-full with a CA that did not sign the
    leader's certificate must refuse the connection (the protection, not only the option)."""
    c = setup.c
    leader = c.wait_healthy()
    replica = next(m for m in c.members if m is not leader)
    setup.rootcert = setup.certs / "other.crt"
    setup.write(replica)
    replica.stop()
    replica.start()
    wait_until(lambda: "certificate verify failed" in
               pathlib.Path(str(replica.data) + ".log").read_text(errors="replace"),
               T_CHANGE, "the replica's walreceiver to refuse the leader's certificate")
    assert not any(r[0] == replica.name and r[1] == "streaming" for r in walsenders(leader))
    setup.rootcert = setup.certs / "ca.crt"
    setup.write(replica)
    replica.stop()
    replica.start()
    wait_until(lambda: streaming(leader, 2), T_CHANGE, "the replica to stream again")
