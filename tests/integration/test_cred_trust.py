"""REST credentials go only to members the operator trusts (docs/security.md, "Where the REST
credentials go"): whoever can write a member key in etcd can point its api_url anywhere, and must
not collect the password by doing so.

One member with restapi.authentication, restapi.allowlist [127.0.0.1/32, 127.0.0.3/32] and
failsafe mode. Two member keys are forged straight into etcd: "evil" with an api_url on
127.0.0.2 (not trusted), "listed" on 127.0.0.3 (in the allowlist). A small HTTP server on each
records the Authorization headers it receives. tandemctl's fan-out and the agent's failsafe round
must send the credentials to "listed" and never to "evil"."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading

import pytest

from cluster import ETCD, T_CHANGE, TANDEMCTL, TANDEMD, Cluster, serve, wait_until
from conftest import free_port

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
]

USER, PASSWORD = "admin", "cred-s3cret"


class Recorder:
    """An HTTP server on `host` that answers 200 "{}" and records (method, path, Authorization)."""

    def __init__(self, host):
        self.seen = []
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.answer()

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                self.answer()

            def answer(self):
                rec.seen.append((self.command, self.path, self.headers.get("Authorization")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer((host, self.port), Handler)
        self.url = f"http://{host}:{self.port}/patroni"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posts(self, path):
        return [a for (m, p, a) in list(self.seen) if m == "POST" and p == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def setup():
    if not os.path.exists(ETCD):
        pytest.skip("needs etcd")
    c = Cluster(1, prefix="tandem-it-cred-", dcs_extra={"failsafe_mode": True})
    m = c.members[0]
    text = m.config_path.read_text()
    listen = f"  listen: 127.0.0.1:{m.rest_port}\n"
    m.config_path.write_text(text.replace(listen, listen + f"""\
  authentication:
    username: {USER}
    password: {PASSWORD}
  allowlist: [127.0.0.1/32, 127.0.0.3/32]
"""))
    evil, listed = Recorder("127.0.0.2"), Recorder("127.0.0.3")
    try:
        for _ in serve(c):
            for name, rec in (("evil", evil), ("listed", listed)):
                c.etcd.put(c.key(f"members/{name}"), json.dumps({
                    "conn_url": "postgres://127.0.0.1:9/postgres", "api_url": rec.url,
                    "state": "running", "role": "replica", "version": "3.0.0"}))
            yield c, m, evil, listed
    finally:
        evil.close()
        listed.close()


def tandemctl(m, *args):
    return subprocess.run([str(TANDEMCTL), "-c", str(m.config_path), *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def test_tandemctl_withholds_credentials_from_untrusted_members(setup):
    c, m, evil, listed = setup
    r = tandemctl(m, "reload", "evil", "listed", m.name)
    assert r.returncode == 0, r
    assert evil.posts("/reload") == [None], evil.seen
    assert len(listed.posts("/reload")) == 1 and listed.posts("/reload")[0].startswith("Basic ")
    assert f"not sending the REST credentials to member evil at {evil.url[:-len('/patroni')]}" \
        in r.stderr, r.stderr
    assert "listed" not in r.stderr and m.name not in r.stderr, r.stderr


def test_failsafe_round_withholds_credentials_from_untrusted_members(setup):
    c, m, evil, listed = setup
    wait_until(lambda: set(json.loads(c.etcd.get(c.key("failsafe")) or "{}"))
               == {m.name, "evil", "listed"}, T_CHANGE,
               "the leader to write the forged members into the failsafe key")
    off = m.log_size()
    c.etcd.stop()
    try:
        wait_until(lambda: evil.posts("/failsafe") and listed.posts("/failsafe"), T_CHANGE,
                   "the failsafe round to ask both forged members")
    finally:
        c.etcd.start()
    assert set(evil.posts("/failsafe")) == {None}, evil.seen
    assert all(a and a.startswith("Basic ") for a in listed.posts("/failsafe")), listed.seen
    assert "not sending the REST credentials to member evil at http://127.0.0.2:" \
        in m.log_since(off)
    c.wait_healthy()
