"""The etcd client (src/lib/etcd.c) against a real etcd 3.4 and against a fake gateway.

The checks themselves are in the C program tests/etcd/etcd_live.c (built by meson as
$TANDEM_BUILD/tests/etcd/etcd_live); this file provides what it talks to:

* a real etcd on 127.0.0.1 with free client and peer ports and a temporary data directory;
* a dead endpoint (a free port nobody listens on) and a hanging one (a listening socket that
  is never read), for failover and deadlines;
* a second etcd with authentication enabled and a 2-second token TTL;
* a fake gateway (a Python HTTP server) that answers with garbage, HTTP errors, huge bodies,
  answers dribbled a few bytes at a time, and watch streams with split or glued messages.

The program prints "ok STEP" per passed step and exits 0 only if every check passed.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import pathlib
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

from conftest import BUILD, free_port, wait_until, sanitized

ETCD = os.environ.get("ETCD_BIN", "/usr/bin/etcd")
LIVE = BUILD / "tests" / "etcd" / "etcd_live"
VALGRIND = shutil.which("valgrind")


SANITIZED = sanitized(LIVE)

BASIC_STEPS = [
    "kv_put_range", "prefix_range", "delete", "txn_create_if_absent", "txn_compare", "lease",
    "watch_put_delete", "watch_history_and_stop", "parallel_and_large", "cancel_and_free",
    "failover", "deadline", "bad_config",
]
AUTH_STEPS = ["auth_calls_and_watch", "auth_refused", "auth_credentials_swapped",
              "auth_token_renewed", "auth_watch_renewed"]
FAKE_STEPS = ["fake_answers", "fake_watch"]
OUTAGE_STEPS = ["outage_hang", "outage_resume", "outage_kill", "outage_restart"]
TLS_STEPS = ["tls", "tls_refused"]

pytestmark = [
    pytest.mark.skipif(not os.path.exists(ETCD), reason=f"no etcd at {ETCD}"),
    pytest.mark.skipif(not LIVE.exists(), reason=f"{LIVE} is not built"),
]


def b64(s: bytes | str) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def post(endpoint, path, body, token=None, timeout=5.0, context=None):
    req = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", token)
    with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
        return json.loads(r.read())


class Etcd:
    def __init__(self, extra_args=(), tls=None):
        """`tls`: a Tls, for https with client certificates."""
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="tandem-etcd-"))
        self.client_port = free_port()
        self.peer_port = free_port()
        self.tls = tls
        scheme = "https" if tls else "http"
        self.endpoint = f"{scheme}://127.0.0.1:{self.client_port}"
        self.extra_args = list(extra_args)
        if tls:
            self.extra_args += ["--cert-file", tls.cert, "--key-file", tls.key,
                                "--client-cert-auth", "--trusted-ca-file", tls.ca]
        self.log = self.base / "etcd.log"
        self.proc = None
        self.start()

    def start(self):
        peer = f"http://127.0.0.1:{self.peer_port}"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    ETCD, "--name", "it", "--data-dir", str(self.base / "data"),
                    "--listen-client-urls", self.endpoint,
                    "--advertise-client-urls", self.endpoint,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", f"it={peer}", *self.extra_args,
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        wait_until(self.ready, 30, "etcd to answer")

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"etcd exited {self.proc.returncode}:\n{self.log_tail()}")
        try:
            post(self.endpoint, "/v3/kv/range", {"key": b64("ready")}, timeout=1,
                 context=self.tls.context() if self.tls else None)
            return True
        except OSError:
            return False

    def log_tail(self, n=30):
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""

    def kill(self):
        self.proc.kill()
        self.proc.wait(20)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def etcd_server():
    server = Etcd()
    try:
        yield server
    finally:
        server.stop()


class Tls:
    """A CA, and a certificate for 127.0.0.1 that serves both as server and client certificate."""

    def __init__(self, base: pathlib.Path):
        def openssl(*args):
            subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

        self.ca, self.ca_key = str(base / "ca.pem"), str(base / "ca.key")
        self.cert, self.key = str(base / "cert.pem"), str(base / "cert.key")
        csr, ext = base / "cert.csr", base / "ext.cnf"
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.ca_key,
                "-out", self.ca, "-days", "2", "-subj", "/CN=tandem test CA")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out", str(csr),
                "-subj", "/CN=127.0.0.1")
        ext.write_text("subjectAltName=IP:127.0.0.1\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n")
        openssl("x509", "-req", "-in", str(csr), "-CA", self.ca, "-CAkey", self.ca_key,
                "-CAcreateserial", "-out", self.cert, "-days", "2", "-extfile", str(ext))

    def context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


@pytest.fixture(scope="module")
def etcd_tls():
    if not shutil.which("openssl"):
        pytest.skip("no openssl to make certificates")
    certs = pathlib.Path(tempfile.mkdtemp(prefix="tandem-etcd-tls-"))
    server = None
    try:
        tls = Tls(certs)
        server = Etcd(tls=tls)
        yield server
    finally:
        if server:
            server.stop()
        shutil.rmtree(certs, ignore_errors=True)


@pytest.fixture
def etcd_own():
    """An etcd of the test's own, to stop, kill and restart."""
    server = Etcd()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def etcd_auth():
    server = Etcd(["--auth-token-ttl", "2"])
    try:
        ep = server.endpoint
        post(ep, "/v3/auth/user/add", {"name": "root", "password": "s3cret \"pw\""})
        post(ep, "/v3/auth/user/grant", {"user": "root", "role": "root"})
        post(ep, "/v3/auth/enable", {})
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def hanging_endpoint():
    """A port that accepts connections (the kernel completes the handshake) but never reads."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# the fake gateway


def msg(result) -> bytes:
    return json.dumps({"result": result}, separators=(",", ":")).encode()


HEADER = {"cluster_id": "1", "member_id": "2", "revision": "7", "raft_term": "2"}


def hdr(revision):
    return dict(HEADER, revision=str(revision))


def ev(key, value=None, mod=8, delete=False):
    kv = {"key": b64(key), "mod_revision": str(mod)}
    if value is not None:
        kv["value"] = b64(value)
    e = {"kv": kv}
    if delete:
        e["type"] = "DELETE"
    return e


class FakeGateway(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body: bytes, ctype="application/json", pieces=0, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if not pieces:
            self.wfile.write(body)
            return
        for i in range(0, len(body), pieces):
            self.wfile.write(body[i : i + pieces])
            self.wfile.flush()
            time.sleep(0.002)

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        try:
            body = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            body = {}
        try:
            if self.path == "/v3/kv/range":
                self.range(base64.b64decode(body.get("key", "")).decode())
            elif self.path == "/v3/watch":
                key = body.get("create_request", {}).get("key", "")
                self.watch(base64.b64decode(key).decode())
            else:
                self.reply(404, b"Not Found\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def range(self, key):
        ok = json.dumps(
            {"header": HEADER, "kvs": [{"key": b64(key), "value": b64("v"), "mod_revision": "5"}],
             "count": "1"}
        ).encode()
        if key == "ok":
            self.reply(200, ok)
        elif key == "split":
            self.reply(200, ok, pieces=3)
        elif key == "garbage":
            self.reply(200, b"this is not json")
        elif key == "bad-b64":
            self.reply(200, json.dumps({"header": HEADER, "kvs": [{"key": "***"}]}).encode())
        elif key == "e503":
            self.reply(503, b'{"error":"etcdserver: no leader","message":"etcdserver: no leader",'
                       b'"code":14}')
        elif key == "e500text":
            self.reply(500, b"oops", "text/plain")
        elif key == "e404":
            self.reply(404, b"Not Found\n", "text/plain")
        elif key == "e400":
            self.reply(400, b'{"error":"etcdserver: key is not provided","code":3}')
        elif key == "redirect":
            self.reply(302, b"", extra=[("Location", "http://127.0.0.1:1/v3/kv/range")])
        elif key == "close":
            self.close_connection = True
        elif key == "huge":
            size = 70 << 20
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            block = b" " * (1 << 20)
            self.wfile.write(b"{")
            for _ in range(size >> 20):
                self.wfile.write(block)
            self.close_connection = True
        elif key == "slow":
            time.sleep(3)
            self.reply(200, ok)
        else:
            self.reply(400, b'{"error":"unknown test key","code":3}')

    def watch(self, prefix):
        created = msg({"header": HEADER, "created": True})
        if prefix == "/e500/":
            self.reply(500, b'{"error":"illegal base64 data at input byte 0","message":'
                       b'"illegal base64 data at input byte 0","code":2}')
            return
        self.start_stream()
        if prefix == "/silent/":
            time.sleep(8)
            return
        self.chunk(created + b"\n")
        if prefix == "/split/":
            a = msg({"header": hdr(8), "events": [ev("/split/a", "1", 8)]}) + b"\n"
            for i in range(0, len(a), 3):  # a few bytes at a time
                self.chunk(a[i : i + 3])
                time.sleep(0.002)
            # Braces and quotes inside strings must not confuse the message scanner.
            b = msg({"header": hdr(9), "x_note": "}}{{\"\\", "events": [ev("/split/b", '}{"\\', 9)]})
            half = len(b) // 2
            self.chunk(b[:half])
            time.sleep(0.05)
            self.chunk(b[half:])
            # Two messages in one chunk, no newline in between.
            c = msg({"header": hdr(10), "events": [ev("/split/c", None, 10, delete=True)]})
            d = msg({"header": hdr(11), "events": [ev("/split/d", "4", 11)]})
            self.chunk(c + d)
            time.sleep(5)
        elif prefix == "/garbage/":
            self.chunk(b"nonsense\n")
            time.sleep(2)
        elif prefix == "/notjson/":
            self.chunk(b"[1,2,3]\n")
            time.sleep(2)
        elif prefix == "/end/":
            self.end_stream()
        elif prefix == "/compacted/":
            h = dict(HEADER)
            del h["revision"]
            self.chunk(msg({"header": h, "canceled": True, "compact_revision": "5"}) + b"\n")
            time.sleep(2)
        elif prefix == "/stream-error/":
            self.chunk(json.dumps({"error": {"grpc_code": 14, "http_code": 503,
                                             "message": "transport is closing",
                                             "http_status": "Service Unavailable"}}).encode())
            time.sleep(2)


@pytest.fixture(scope="module")
def fake_gateway():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeGateway)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------
# running the program


def run_live(args, steps, valgrind=False, timeout=240):
    cmd = [str(LIVE), *args]
    if valgrind:
        cmd = [VALGRIND, "--quiet", "--leak-check=full", "--show-leak-kinds=all",
               "--errors-for-leak-kinds=all", "--error-exitcode=99", *cmd]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    print(r.stdout)
    report = f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr (end)\n{r.stderr[-6000:]}"
    assert r.returncode == 0, report
    assert "FAIL" not in r.stdout, report
    for s in steps:
        assert f"ok {s}\n" in r.stdout, f"step {s} missing\n{report}"
    assert "PASSED: 0 failures" in r.stdout, report
    return r


def dead_endpoint():
    return f"http://127.0.0.1:{free_port()}"


def test_basic(etcd_server, hanging_endpoint):
    run_live(["basic", etcd_server.endpoint, dead_endpoint(), hanging_endpoint], BASIC_STEPS)


def test_auth(etcd_auth):
    r = run_live(["auth", etcd_auth.endpoint, "root", 's3cret "pw"'], AUTH_STEPS)
    # The expired token was noticed and replaced.
    assert "authenticating again" in r.stderr, r.stderr[-3000:]
    assert "invalid auth token" in r.stdout


def test_fake_gateway(fake_gateway):
    run_live(["fake", fake_gateway], FAKE_STEPS)


def test_tls(etcd_tls):
    t = etcd_tls.tls
    run_live(["tls", etcd_tls.endpoint, t.ca, t.cert, t.key], TLS_STEPS)


def test_outage(etcd_own):
    """etcd hangs (SIGSTOP), resumes, dies (SIGKILL) and comes back: the program, told at each
    stage, checks that calls and watches fail as unavailable and then work again."""
    p = subprocess.Popen([str(LIVE), "outage", etcd_own.endpoint], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    lines = queue.Queue()
    out = []

    def reader():
        for line in p.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    actions = {
        "stop": lambda: etcd_own.proc.send_signal(signal.SIGSTOP),
        "cont": lambda: etcd_own.proc.send_signal(signal.SIGCONT),
        "kill": etcd_own.kill,
        "start": etcd_own.start,
    }
    try:
        while True:
            line = lines.get(timeout=120)
            if line is None:
                break
            out.append(line)
            if line.startswith("stage "):
                actions[line.split()[1]]()
                p.stdin.write("go\n")
                p.stdin.flush()
        p.wait(60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if etcd_own.proc.poll() is None:
            etcd_own.proc.send_signal(signal.SIGCONT)
    stdout = "".join(out)
    print(stdout)
    report = f"exit {p.returncode}\n{stdout}\n--- stderr\n{p.stderr.read()[-4000:]}"
    assert p.returncode == 0, report
    for s in OUTAGE_STEPS:
        assert f"ok {s}\n" in stdout, report


@pytest.mark.skipif(not VALGRIND, reason="no valgrind")
@pytest.mark.skipif(SANITIZED, reason="an ASan build checks memory itself; valgrind runs on the plain build")
@pytest.mark.parametrize("suite", ["basic", "auth", "fake", "tls"])
def test_valgrind(suite, request):
    """The same suites under memcheck: no errors and no leaks of any kind."""
    fx = request.getfixturevalue
    if suite == "basic":
        args = ["basic", fx("etcd_server").endpoint, dead_endpoint(), fx("hanging_endpoint")]
        steps = BASIC_STEPS
    elif suite == "auth":
        args = ["auth", fx("etcd_auth").endpoint, "root", 's3cret "pw"']
        steps = AUTH_STEPS
    elif suite == "fake":
        args = ["fake", fx("fake_gateway")]
        steps = FAKE_STEPS
    else:
        t = fx("etcd_tls").tls
        args = ["tls", fx("etcd_tls").endpoint, t.ca, t.cert, t.key]
        steps = TLS_STEPS
    run_live(args, steps, valgrind=True, timeout=600)
