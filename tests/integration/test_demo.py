"""`tandemctl demo`: the embedded default (etcd, three members with tandemd, HAProxy, two hellod)
on a free range of 13 consecutive ports.

* --smoke brings everything up, checks a PUT and a GET through hellod and HAProxy's read-write
  port, stops, and exits 0 after printing the table of what ran where.
* A normal run stops every child on SIGINT (Ctrl-C) and exits 0: no process is left with the
  demo's directory in its command line, and none of the pids it printed is alive.
"""

from __future__ import annotations

import os
import pathlib
import random
import re
import select
import signal
import socket
import stat
import subprocess
import time

import psycopg
import pytest

from conftest import BUILD, _all_cmdlines, pid_alive

TANDEMCTL = BUILD / "src" / "tandemctl" / "tandemctl"
NPORTS = 13

pytestmark = pytest.mark.cluster


def free_port_range(n=NPORTS):
    """The first of `n` consecutive ports that are all free on 127.0.0.1 (and ephemeral-range
    free, so another test's free_port() is unlikely to take one meanwhile)."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free range of ports")


def demo_pids(out):
    """The pids in the table the demo printed."""
    return [int(m) for m in re.findall(r"^\|[^|]+\|[^|]+\|\s*(\d+)\s*\|", out, re.M)]


def demo_dir(out):
    m = re.search(r"^demo: in (\S+)", out, re.M)
    assert m, out
    return m.group(1)


def leftovers(directory, pids):
    left = [(pid, argv) for pid, argv in _all_cmdlines() if any(directory in a for a in argv)]
    left += [(pid, "from the table") for pid in pids if pid_alive(pid)]
    return left


def wait_gone(directory, pids, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        left = leftovers(directory, pids)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def test_demo_help():
    r = subprocess.run([TANDEMCTL, "demo", "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    assert "--smoke" in r.stdout and "--base-port" in r.stdout
    r = subprocess.run([TANDEMCTL, "demo", "--bogus"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2


def test_demo_refuses_a_taken_port():
    base = free_port_range()
    with socket.socket() as s:
        s.bind(("127.0.0.1", base + 8))
        s.listen(1)
        r = subprocess.run([TANDEMCTL, "demo", "--smoke", "--base-port", str(base)],
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert f"127.0.0.1:{base + 8} (HAProxy's read-write port)" in r.stderr
    assert "--base-port" in r.stderr


def test_demo_smoke():
    base = free_port_range()
    r = subprocess.run([TANDEMCTL, "demo", "--smoke", "--base-port", str(base)],
                       capture_output=True, text=True, timeout=150)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "demo: smoke check passed" in r.stdout
    for name in ("etcd", "n1 site A", "n2 site A", "n3 site B", "haproxy", "hellod #1",
                 "hellod #2"):
        assert name in r.stdout, out
    assert re.search(r"\| n\d site \w \(leader\)", r.stdout), out
    assert len(re.findall(r"\(replica\)", r.stdout)) == 2, out
    assert f"rw 127.0.0.1:{base + 8}, ro 127.0.0.1:{base + 9}" in r.stdout
    assert f"http://127.0.0.1:{base + 11}" in r.stdout
    assert "failover --candidate" in r.stdout
    directory = demo_dir(r.stdout)
    assert not os.path.exists(directory), "the directory is removed without --keep"
    assert wait_gone(directory, demo_pids(r.stdout), timeout=2) == []


def check_credentials(directory, base, printed):
    """This run's random passwords: in DIR/credentials (0600), printed once, and the ones the
    servers take; the files that hold them are 0600 too."""
    creds = directory / "credentials"
    for f in (creds, directory / "pgpass", directory / "hello-role.sql",
              directory / "n1" / "tandemd.yml"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    values = dict(line.split(": ", 1) for line in creds.read_text().splitlines()
                  if not line.startswith("#"))
    for key in ("superuser_password", "replication_password", "hellod_password"):
        assert re.fullmatch(r"[0-9a-f]{32}", values[key]), values
        assert printed.count(values[key]) == 1, (key, printed)
    assert len({values["superuser_password"], values["replication_password"],
                values["hellod_password"]}) == 3
    rw = base + 8
    with psycopg.connect(host="127.0.0.1", port=rw, user="postgres", dbname="postgres",
                         password=values["superuser_password"], connect_timeout=5) as conn:
        assert conn.execute("SELECT NOT pg_is_in_recovery()").fetchone()[0]
    with psycopg.connect(host="127.0.0.1", port=rw, user="hello", dbname="hello",
                         password=values["hellod_password"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "hello"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=rw, user="postgres", dbname="postgres",
                        password="tandem-demo", connect_timeout=5).close()


def test_demo_sigint_stops_everything():
    base = free_port_range()
    p = subprocess.Popen([TANDEMCTL, "demo", "--base-port", str(base)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    try:
        deadline = time.monotonic() + 120
        while b"Press Ctrl-C" not in out:
            assert p.poll() is None, out.decode(errors="replace")
            assert time.monotonic() < deadline, out.decode(errors="replace")
            ready, _, _ = select.select([p.stdout], [], [], 1.0)
            if ready:
                out += os.read(p.stdout.fileno(), 65536)
        text = out.decode()
        directory = demo_dir(text)
        pids = demo_pids(text)
        assert len(pids) == 7, text
        assert all(pid_alive(pid) for pid in pids), text
        check_credentials(pathlib.Path(directory), base, text)
        p.send_signal(signal.SIGINT)
        rest, _ = p.communicate(timeout=60)
        text += rest.decode(errors="replace")
        assert p.returncode == 0, text
        assert "SIGINT received" in text and "everything stopped" in text
        assert wait_gone(directory, pids, timeout=2) == [], text
        assert not os.path.exists(directory)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
