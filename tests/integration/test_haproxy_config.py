"""The HAProxy configuration tandem generates, checked by HAProxy itself and then run.

The configuration comes from `haproxy_config_render_cli` (built by Meson under
$TANDEM_BUILD/src/tandemctl). HAProxy runs on free loopback ports in front of two fake members:
each has a fake REST API (http.server answering /primary and /replica with 200 or 503, as the
test decides) and a fake "PostgreSQL" (a TCP server that writes the member's name on accept).
Every wait is a poll with a deadline; HAProxy and the fakes are stopped in teardown.
"""

from __future__ import annotations

import http.server
import os
import pathlib
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("TANDEM_BUILD", ROOT / "build"))
CLI = BUILD / "src" / "tandemctl" / "haproxy_config_render_cli"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

pytestmark = pytest.mark.skipif(not os.path.exists(HAPROXY), reason="haproxy is not installed")


class FakeRest:
    """A member's REST API: /primary and /replica answer 200 or 503 according to `role`."""

    def __init__(self) -> None:
        self.role = "replica"
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                ok = (path == "/primary" and fake.role == "primary") or (
                    path == "/replica" and fake.role == "replica"
                )
                body = b"ok\n" if ok else b"no\n"
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakePg:
    """A TCP server that writes its name to every connection and closes it."""

    def __init__(self, name: str) -> None:
        self.name = name.encode()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.sendall(self.name)
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(timeout=5)


def who(port: int) -> str:
    """Connects through HAProxy and returns what the member wrote ('' when nobody answered)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            data = b""
            while True:
                chunk = s.recv(64)
                if not chunk:
                    break
                data += chunk
            return data.decode()
    except OSError:
        return ""


def wait_for(port: int, want: str, deadline_s: float) -> float:
    """Polls the port until a connection reaches `want`; returns the seconds it took."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < deadline_s:
        last = who(port)
        if last == want:
            return time.monotonic() - start
        time.sleep(0.05)
    pytest.fail(f"port {port} did not reach {want!r} within {deadline_s} s (last: {last!r})")


def wait_stable(port: int, want: str, deadline_s: float, times: int = 10) -> None:
    """Polls until `times` connections in a row reach `want`."""
    start = time.monotonic()
    streak = 0
    last = None
    while time.monotonic() - start < deadline_s:
        last = who(port)
        streak = streak + 1 if last == want else 0
        if streak >= times:
            return
        time.sleep(0.02)
    pytest.fail(f"port {port} did not settle on {want!r} within {deadline_s} s (last: {last!r})")


def render(args: list[str]) -> subprocess.CompletedProcess:
    assert CLI.exists(), f"{CLI} is missing: build with ninja -C {BUILD}"
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def cluster(tmp_path):
    """pg1 primary and pg2 replica behind a running HAProxy with the generated configuration."""
    members = {name: (FakeRest(), FakePg(name)) for name in ("pg1", "pg2")}
    members["pg1"][0].role = "primary"
    ports = {"rw": free_port(), "ro": free_port(), "stats": free_port()}
    args = [
        "--scope", "itest",
        "--rw", f"127.0.0.1:{ports['rw']}",
        "--ro", f"127.0.0.1:{ports['ro']}",
        "--stats", f"127.0.0.1:{ports['stats']}",
    ]
    for name, (rest, pg) in members.items():
        args.append(f"{name},127.0.0.1:{pg.port},127.0.0.1:{rest.port}")
    proc = None
    log_path = tmp_path / "haproxy.log"
    log = open(log_path, "wb")
    try:
        res = render(args)
        assert res.returncode == 0, res.stderr
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(res.stdout)
        check = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True,
                               timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=log,
                                stderr=subprocess.STDOUT)
        yield {"roles": {n: m[0] for n, m in members.items()}, "ports": ports, "proc": proc}
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()
        for rest, pg in members.values():
            rest.stop()
            pg.stop()


def test_haproxy_accepts_generated_config(tmp_path):
    res = render([
        "--rw", "127.0.0.1:5000", "--ro", "[::1]:5001", "--stats", "*:7000",
        "pg1,10.0.0.1:5432,10.0.0.1:8008", "pg2,localhost:5432,10.0.0.2:8008",
        "pg3,[fd00::3]:5432,[fd00::3]:8008",
    ])
    assert res.returncode == 0, res.stderr
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(res.stdout)
    check = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "inter 500ms fastinter 250ms downinter 200ms fall 2 rise 1" in res.stdout


def test_bad_input_renders_nothing():
    res = render(["--rw", "127.0.0.1:5000", "--ro", "127.0.0.1:5001", "bad name,h:1,h:2"])
    assert res.returncode == 2
    assert res.stdout == ""
    assert "members[0].name" in res.stderr


def test_routing_and_failover(cluster):
    rw, ro = cluster["ports"]["rw"], cluster["ports"]["ro"]
    roles = cluster["roles"]
    # HAProxy starts with every server up until its first check; wait for the checks to settle.
    wait_stable(rw, "pg1", 10)
    wait_stable(ro, "pg2", 10)
    for _ in range(5):
        assert who(rw) == "pg1"
        assert who(ro) == "pg2"

    # Switchover: pg2 becomes the primary, pg1 a replica.
    flipped = time.monotonic()
    roles["pg1"].role = "replica"
    roles["pg2"].role = "primary"
    first = wait_for(rw, "pg2", 3.0)
    wait_stable(rw, "pg2", 3.0)
    took = time.monotonic() - flipped
    wait_stable(ro, "pg1", 3.0)
    for _ in range(5):
        assert who(rw) == "pg2"
        assert who(ro) == "pg1"
    print(f"read-write port: first connection to the new primary after {first:.2f} s, "
          f"only the new primary after {took:.2f} s")
    assert took < 3.0

    # No replica left: the read-only port falls back to the primary (backup servers).
    roles["pg1"].role = "none"
    wait_stable(ro, "pg2", 3.0)
    assert who(rw) == "pg2"

    # No primary at all: the read-write port reaches nobody.
    roles["pg2"].role = "none"
    start = time.monotonic()
    while who(rw) != "" and time.monotonic() - start < 3.0:
        time.sleep(0.05)
    assert who(rw) == ""
    assert cluster["proc"].poll() is None


def test_two_sites_routing(tmp_path):
    """Two sites in one configuration (--site): writes reach whichever site's member answers
    /primary; reads stay with the local site's replica, go to the other site's replica (a backup
    server) when the local one is down, and to the primary when no replica is up anywhere."""
    names = ("a1", "a2", "b1", "b2")
    members = {name: (FakeRest(), FakePg(name)) for name in names}
    roles = {n: m[0] for n, m in members.items()}
    roles["a1"].role = "primary"
    roles["b1"].role = "standby"  # a standby leader: 503 on /primary and /replica
    rw, ro = free_port(), free_port()
    args = ["--scope", "sites", "--rw", f"127.0.0.1:{rw}", "--ro", f"127.0.0.1:{ro}"]
    for site in ("A", "B"):
        args += ["--site", f"site{site}"]
        for name in names:
            if name[0] == site.lower():
                rest, pg = members[name]
                args.append(f"{name},127.0.0.1:{pg.port},127.0.0.1:{rest.port}")
    proc = None
    log = open(tmp_path / "haproxy.log", "wb")
    try:
        res = render(args)
        assert res.returncode == 0, res.stderr
        assert "#   siteA (this HAProxy's site): a1 a2\n" in res.stdout
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(res.stdout)
        check = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True,
                               timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=log,
                                stderr=subprocess.STDOUT)
        wait_stable(rw, "a1", 10)
        wait_stable(ro, "a2", 10)  # b2 is a replica too, but of the other site
        roles["a2"].role = "none"
        wait_stable(ro, "b2", 5)
        # The site switch: B's leader becomes the primary, A's a standby leader.
        roles["a1"].role = "standby"
        roles["b1"].role = "primary"
        wait_stable(rw, "b1", 5)
        roles["a2"].role = "replica"
        wait_stable(ro, "a2", 5)
        roles["a2"].role = "none"
        roles["b2"].role = "none"
        wait_stable(ro, "b1", 5)  # no replica anywhere: the primary
        assert proc.poll() is None
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        log.close()
        for rest, pg in members.values():
            rest.stop()
            pg.stop()
