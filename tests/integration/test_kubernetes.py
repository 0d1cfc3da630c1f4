"""tandemd's Pod role label (kubernetes.role_label, src/tandemd/agent/agent_k8s.c and
src/lib/k8s_pod.c) against a small https server that stands in for the Kubernetes API server:
there is no API server on this machine. The server checks what a real one would (method, path,
content type of a JSON merge patch, bearer token) and keeps each Pod's labels from the patches it
accepts, so the tests read the labels as the read-write Service would select on them.

Also: /liveness answers 200 through an etcd outage (the manifests' liveness probe relies on it),
while the leader that lost etcd gives up the primary label.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import ssl
import threading
import time

import pytest

from cluster import SLOW, T_CHANGE, healthy_cluster
from conftest import wait_until
from test_credentials import make_certs  # a CA and a server certificate for 127.0.0.1

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl CLI")

NAMESPACE = "tandem-it"
PORTS = range(25000, 26000)


class ApiServer:
    """PATCH /api/v1/namespaces/NS/pods/NAME with a JSON merge patch of metadata.labels."""

    def __init__(self, certs):
        self.lock = threading.Lock()
        self.requests = []  # (method, path, headers, body text, status answered)
        self.labels = {}  # pod -> {label: value}
        self.tokens = {"token-1"}
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PATCH(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                status, obj = api.patch(self.path, self.headers, body)
                with api.lock:
                    api.requests.append(("PATCH", self.path, dict(self.headers), body, status))
                self.answer(status, obj)

            def other(self):
                with api.lock:
                    api.requests.append((self.command, self.path, dict(self.headers), "", 405))
                self.answer(405, {"kind": "Status", "code": 405})

            do_GET = do_PUT = do_POST = do_DELETE = other

        for port in PORTS:
            try:
                self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:
                continue
        self.port = self.httpd.server_address[1]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs / "server.crt", certs / "server.key")
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def patch(self, path, headers, body):
        prefix = f"/api/v1/namespaces/{NAMESPACE}/pods/"
        if headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return 401, {"kind": "Status", "code": 401, "reason": "Unauthorized"}
        if headers.get("Content-Type") != "application/merge-patch+json":
            return 415, {"kind": "Status", "code": 415}
        if not path.startswith(prefix) or "/" in path[len(prefix):]:
            return 404, {"kind": "Status", "code": 404}
        try:
            labels = json.loads(body)["metadata"]["labels"]
        except (ValueError, KeyError, TypeError):
            return 400, {"kind": "Status", "code": 400}
        pod = path[len(prefix):]
        with self.lock:
            self.labels.setdefault(pod, {}).update(labels)
            return 200, {"kind": "Pod", "metadata": {"name": pod, "labels": self.labels[pod]}}

    def role(self, pod):
        with self.lock:
            return self.labels.get(pod, {}).get("role")

    def seen(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def setup():
    box = {}

    def extra(c):
        return (f"kubernetes:\n  role_label: role\n  namespace: {NAMESPACE}\n"
                f"  cacert: {c.base / 'certs' / 'ca.crt'}\n  token_file: {c.base / 'token'}\n")

    def prepare(c):
        # Files the members read live in the cluster's directory, which postgres can enter.
        make_certs(c.base / "certs")
        box["api"] = ApiServer(c.base / "certs")
        box["token"] = c.base / "token"
        box["token"].write_text("token-1\n")
        shutil.chown(box["token"], "postgres", "postgres")
        os.chmod(box["token"], 0o600)
        c.extra_env.update(KUBERNETES_SERVICE_HOST="127.0.0.1",
                           KUBERNETES_SERVICE_PORT=str(box["api"].port))

    gen = healthy_cluster(2, prefix="tandem-it-k8s-", member_extra=extra, prepare=prepare)
    c = next(gen)
    try:
        yield c, box["api"], box["token"]
    finally:
        box["api"].stop()
        next(gen, None)


def leader_of(c):
    return c.member(c.dcs_leader())


def wait_roles(api, want, timeout=T_CHANGE):
    wait_until(lambda: all(api.role(p) == r for p, r in want.items()), timeout,
               f"the API server to have the labels {want} (has {api.labels})")


def test_labels_follow_roles(setup):
    c, api, _ = setup
    leader = leader_of(c)
    replica = next(m for m in c.members if m is not leader)
    wait_roles(api, {leader.name: "primary", replica.name: "replica"})
    method, path, headers, body, status = next(
        r for r in api.seen() if r[1].endswith("/" + leader.name) and r[4] == 200
        and "primary" in r[3])
    assert method == "PATCH"
    assert path == f"/api/v1/namespaces/{NAMESPACE}/pods/{leader.name}"
    assert headers["Content-Type"] == "application/merge-patch+json"
    assert headers["Authorization"] == "Bearer token-1"
    assert json.loads(body) == {"metadata": {"labels": {"role": "primary"}}}
    # Only PATCHes, and only of the members' own Pods.
    assert {r[0] for r in api.seen()} == {"PATCH"}
    assert {r[1].rsplit("/", 1)[1] for r in api.seen()} <= {m.name for m in c.members}


def test_switchover_moves_the_label(setup):
    c, api, _ = setup
    old = leader_of(c)
    new = next(m for m in c.members if m is not old)
    r = c.tandemctl("switchover", "--leader", old.name, "--candidate", new.name, "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_roles(api, {new.name: "primary", old.name: "replica"})


def test_refused_requests_are_retried_with_a_rotated_token(setup):
    c, api, token = setup
    c.wait_healthy()  # the previous test's switchover: its former leader back as a replica
    old = leader_of(c)
    new = next(m for m in c.members if m is not old)
    before = len(api.seen())
    api.tokens = {"token-2"}  # the token the members hold has expired
    last = []

    def switched():  # refused (409) until the candidate is a synchronous standby again
        r = c.tandemctl("switchover", "--leader", old.name, "--candidate", new.name, "--force")
        last[:] = [r.stdout + r.stderr]
        return r.returncode == 0
    try:
        wait_until(switched, T_CHANGE, f"the switchover to {new.name} to be accepted",
                   interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}: {last}") from None
    wait_until(lambda: sum(1 for x in api.seen()[before:] if x[4] == 401) >= 2, T_CHANGE,
               "both members to be refused")
    assert api.role(new.name) == "replica" and api.role(old.name) == "primary"
    wait_until(lambda: "HTTP 401" in new.log(), 10 * SLOW, "the refusal to be logged")
    token.write_text("token-2\n")  # the kubelet rotates the projected token
    wait_roles(api, {new.name: "primary", old.name: "replica"})
    assert api.seen()[-1][2]["Authorization"] == "Bearer token-2"


def test_liveness_holds_through_an_etcd_outage(setup):
    c, api, _ = setup
    leader = leader_of(c)
    wait_roles(api, {leader.name: "primary"})
    c.etcd.stop()
    try:
        # The leader cannot renew its lease: it stops being the primary, and says so on its Pod.
        wait_until(lambda: api.role(leader.name) == "replica", T_CHANGE,
                   "the leader without etcd to give up the primary label")
        # For two TTLs more without etcd, no member's /liveness fails (the kubelet would
        # restart it): polled, 10 times a second.
        until = time.monotonic() + 2 * c.ttl
        while time.monotonic() < until:
            for m in c.members:
                assert m.health("/liveness") == 200, f"{m.name} /liveness during the outage"
            time.sleep(0.1)
    finally:
        c.etcd.start()
    c.wait_healthy()
    wait_roles(api, {leader_of(c).name: "primary"})
