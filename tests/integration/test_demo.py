"""`tandemctl demo`: the embedded default, two sites on a free range of 20 consecutive ports:
site A (its etcd, a1 and a2 with tandemd, an HAProxy, hellod #1) and site B, a standby cluster
of A (its own etcd, b1 and b2, an HAProxy, hellod #2), each HAProxy routing writes to whichever
site is primary.

* --smoke brings everything up, checks both HAProxy read-write ports, a PUT through site B's
  hellod and a GET through site A's, stops, and exits 0 after printing the table of what ran
  where and the Try: lines (a site switchover, a disaster promotion).
* A normal run: B is a standby site (its leader a standby leader, nobody in B writable), a write
  through B's hellod lands in A's leader; killing A's leader (the Try: line) gives hellod's
  clients no error; the Try: site switchover makes B the primary site and the writes through
  either hellod land in B. With Debian's prometheus and prometheus-alertmanager installed, the
  demo also runs them (the two ports after its range), and the alerts page it prints answers
  with tandem's rules loaded. Then SIGINT (Ctrl-C) stops every child and the demo exits 0: no
  process is left with the demo's directory in its command line, and none of the pids it
  printed is alive.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from conftest import BUILD, SLOW, _all_cmdlines, pid_alive, wait_until

TANDEMCTL = BUILD / "src" / "tandemctl" / "tandemctl"
NPORTS = 20
# Offsets from --base-port (tandemctl demo --help): etcd A 0-1, etcd B 2-3, REST 4-7,
# PostgreSQL 8-11 (a1 a2 b1 b2), HAProxy A rw ro stats 12-14, HAProxy B 15-17, hellod 18-19.
REST, PG, RW_A, RO_A, RW_B, HELLOD_A, HELLOD_B = 4, 8, 12, 13, 15, 18, 19
MEMBERS = ("a1", "a2", "b1", "b2")

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
    assert "site B, a standby cluster of site A" in r.stdout
    assert f"use {NPORTS} consecutive ports" in r.stdout
    r = subprocess.run([TANDEMCTL, "demo", "--bogus"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2


def test_demo_refuses_a_taken_port():
    base = free_port_range()
    with socket.socket() as s:
        s.bind(("127.0.0.1", base + RW_B))
        s.listen(1)
        r = subprocess.run([TANDEMCTL, "demo", "--smoke", "--base-port", str(base)],
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert f"127.0.0.1:{base + RW_B} (site B's HAProxy read-write port)" in r.stderr
    assert "--base-port" in r.stderr


def test_demo_smoke():
    base = free_port_range()
    r = subprocess.run([TANDEMCTL, "demo", "--smoke", "--base-port", str(base)],
                       capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "demo: smoke check passed" in r.stdout
    for name in ("etcd site A", "etcd site B", "a1 site A", "a2 site A", "b1 site B",
                 "b2 site B", "haproxy site A", "haproxy site B", "hellod #1 site A",
                 "hellod #2 site B"):
        assert name in r.stdout, out
    assert re.search(r"\| a\d site A \(leader\)", r.stdout), out
    assert re.search(r"\| b\d site B \(standby leader\)", r.stdout), out
    assert len(re.findall(r"\(replica\)", r.stdout)) == 2, out
    assert f"rw 127.0.0.1:{base + RW_A}, ro 127.0.0.1:{base + RO_A}" in r.stdout
    assert f"http://127.0.0.1:{base + HELLOD_B}" in r.stdout
    assert "through hellod #2 (site B, written in site A): 204" in r.stdout
    assert "failover --candidate" in r.stdout
    directory = demo_dir(r.stdout)
    assert re.search(rf"site-switchover --from {directory}/siteA.yml --to {directory}/siteB.yml"
                     r" --force", r.stdout), out
    assert f"-c {directory}/siteB.yml promote-cluster --force" in r.stdout, out
    assert not os.path.exists(directory), "the directory is removed without --keep"
    assert wait_gone(directory, demo_pids(r.stdout), timeout=2) == []


def check_credentials(directory, base, printed):
    """This run's random passwords: in DIR/credentials (0600), printed once, and the ones the
    servers take; the files that hold them are 0600 too."""
    creds = directory / "credentials"
    for f in (creds, directory / "pgpass", directory / "hello-role.sql",
              directory / "a1" / "tandemd.yml", directory / "b1" / "tandemd.yml"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    values = dict(line.split(": ", 1) for line in creds.read_text().splitlines()
                  if not line.startswith("#"))
    for key in ("superuser_password", "replication_password", "hellod_password"):
        assert re.fullmatch(r"[0-9a-f]{32}", values[key]), values
        assert printed.count(values[key]) == 1, (key, printed)
    assert len({values["superuser_password"], values["replication_password"],
                values["hellod_password"]}) == 3
    rw = base + RW_A
    with psycopg.connect(host="127.0.0.1", port=rw, user="postgres", dbname="postgres",
                         password=values["superuser_password"], connect_timeout=5) as conn:
        assert conn.execute("SELECT NOT pg_is_in_recovery()").fetchone()[0]
    with psycopg.connect(host="127.0.0.1", port=rw, user="hello", dbname="hello",
                         password=values["hellod_password"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "hello"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=rw, user="postgres", dbname="postgres",
                        password="tandem-demo", connect_timeout=5).close()


def rest_get(base, i, path):
    """(HTTP status, /patroni's JSON or None) from member i's REST API; status 0: no answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{base + REST + i}{path}", timeout=3) as r:
            body = r.read()
            return r.status, json.loads(body) if path == "/patroni" else None
    except urllib.error.HTTPError as e:
        return e.code, None
    except OSError:
        return 0, None


def put_hello(base, hellod, name, timeout=30):
    """PUT /hello/NAME through hellod (offset HELLOD_A or HELLOD_B): the status, or the error."""
    req = urllib.request.Request(f"http://127.0.0.1:{base + hellod}/hello/{name}",
                                 data=b'{"dateOfBirth":"1990-05-17"}', method="PUT",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        return repr(e)


def users(base, i, password):
    """hellod's users as member i's PostgreSQL has them, and whether it is in recovery."""
    with psycopg.connect(host="127.0.0.1", port=base + PG + i, user="postgres", dbname="hello",
                         password=password, connect_timeout=5) as conn:
        names = {r[0] for r in conn.execute("SELECT username FROM hello_users")}
        return names, conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]


def leader_of(base, site):
    """The index of the member of `site` (0: A, 1: B) answering 200 on /primary, or None."""
    for i in (2 * site, 2 * site + 1):
        if rest_get(base, i, "/primary")[0] == 200:
            return i
    return None


def try_line(text, marker):
    """The command of the Try: line holding `marker` (without its # comment)."""
    line = next((ln for ln in text.splitlines() if marker in ln), None)
    assert line, f"no Try: line with {marker!r} in:\n{text}"
    return line.split("   # ")[0].strip()


class HellodWriter:
    """PUTs a new name every 50 ms through both hellod in turn; records every answer."""

    def __init__(self, base):
        self.base, self.n = base, 0
        self.results = []  # (name, status)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            self.n += 1
            name = "w" + "".join(chr(ord("a") + int(d)) for d in str(self.n))
            hellod = HELLOD_A if self.n % 2 else HELLOD_B
            self.results.append((name, put_hello(self.base, hellod, name)))
            time.sleep(0.05)

    def ok_after(self, count):
        return sum(1 for _, st in self.results[count:] if st == 204)

    def finish(self):
        self.stop.set()
        self.thread.join(60)
        errors = [r for r in self.results if r[1] != 204]
        assert not errors, f"hellod answered errors: {errors[:10]} of {len(self.results)}"
        return {name for name, _ in self.results}


def check_two_sites(text, base, directory):
    """B is a standby site; writes through B's hellod land in A; a leader kill in A gives
    hellod's clients no error; the Try: site switchover moves the writes to B, nothing lost."""
    password = dict(line.split(": ", 1) for line in (directory / "credentials").read_text()
                    .splitlines() if not line.startswith("#"))["superuser_password"]
    roles = {MEMBERS[i]: (rest_get(base, i, "/patroni")[1] or {}).get("role") for i in range(4)}
    assert sorted(roles[m] for m in ("b1", "b2")) == ["replica", "standby_leader"], roles
    assert [rest_get(base, i, "/primary")[0] for i in (2, 3)] == [503, 503]
    assert all(users(base, i, password)[1] for i in (2, 3)), "site B is writable"
    a_leader = leader_of(base, 0)
    assert a_leader is not None, roles
    # The Try: list of site B says how far behind site A it is (asked of A with the demo's
    # pgpass file).
    r = subprocess.run(["bash", "-c", try_line(text, "how far behind A")], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and "bytes behind the primary site" in r.stdout, r.stdout + r.stderr
    # Site A's repository: a first full backup after the start, then the Try: drill.
    site_a = f"{directory}/siteA.yml"

    def backed_up():
        r = subprocess.run([TANDEMCTL, "-c", site_a, "list"], capture_output=True, text=True,
                           timeout=30)
        return " Last backup: " in r.stdout and "none yet" not in r.stdout
    wait_until(backed_up, 180 * SLOW, "site A's first full backup")
    r = subprocess.run(["bash", "-c", try_line(text, "drill --wait")], capture_output=True,
                       text=True, timeout=300 * SLOW)
    assert r.returncode == 0 and "passed" in (r.stdout + r.stderr), r.stdout + r.stderr
    assert try_line(text, "restore --to latest --new-cluster pitr")
    assert put_hello(base, HELLOD_B, "frombsite") == 204
    names, in_recovery = users(base, a_leader, password)
    assert "frombsite" in names and not in_recovery

    # Local reads (the Try: line): bob written through hellod #1 in A, read back at once through
    # hellod #2 from site B's replicas with the write's consistency token.
    r = subprocess.run(["bash", "-c", try_line(text, "read your write")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and " 200 " in r.stdout and "Hello, bob!" in r.stdout, r.stdout
    # an old write without a token: read from B's replicas (the metrics line counts it)
    with urllib.request.urlopen(f"http://127.0.0.1:{base + HELLOD_B}/hello/frombsite",
                                timeout=10) as resp:
        assert resp.status == 200
    r = subprocess.run(["bash", "-c", try_line(text, "served locally")], capture_output=True,
                       text=True, timeout=30)
    local = [ln for ln in r.stdout.splitlines() if 'served="local"' in ln]
    assert local and float(local[0].split()[-1]) >= 1, r.stdout

    # The leader of A killed (the Try: line): hellod's clients see no error.
    w = HellodWriter(base)
    wait_until(lambda: w.ok_after(0) >= 6, 30, "writes through both hellod")
    kill = try_line(text, "# site A's leader")
    assert subprocess.run(["bash", "-c", kill], timeout=30).returncode == 0
    seen = len(w.results)
    wait_until(lambda: leader_of(base, 0) not in (None, a_leader), 60 * SLOW,
               "a new leader in A")
    wait_until(lambda: w.ok_after(seen) >= 10, 60 * SLOW, "writes after the failover")
    acked = w.finish()
    new_leader = leader_of(base, 0)
    assert acked <= users(base, new_leader, password)[0]

    # The site switchover (the Try: line): B becomes the primary site; the writes through both
    # HAProxy (and hellod) follow, nothing acknowledged is lost.
    w = HellodWriter(base)
    wait_until(lambda: w.ok_after(0) >= 4, 30, "writes before the switch")
    r = subprocess.run(["bash", "-c", try_line(text, "site-switchover --from")],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    seen = len(w.results)
    wait_until(lambda: w.ok_after(seen) >= 10, 60 * SLOW, "writes after the switch")
    acked |= w.finish()
    b_leader = leader_of(base, 1)
    assert b_leader is not None and leader_of(base, 0) is None
    names, in_recovery = users(base, b_leader, password)
    assert not in_recovery
    assert acked | {"frombsite"} <= names, sorted(acked - names)[:10]


# Prometheus and Alertmanager join the demo when they are installed (docs/monitoring.md).
MONITORING = bool(shutil.which("prometheus") and shutil.which("prometheus-alertmanager"))


def check_prometheus(text, base):
    """The alerts page the demo printed answers, with tandem's rules loaded."""
    url = f"http://127.0.0.1:{base + NPORTS}/classic/alerts"  # Debian's Prometheus: the classic UI
    assert url in text, text

    def answers():  # 503 while Prometheus still opens its storage
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status == 200
        except OSError:
            return False
    wait_until(answers, 60 * SLOW, f"{url} to answer 200", interval=0.5)
    with urllib.request.urlopen(f"http://127.0.0.1:{base + NPORTS}/api/v1/rules",
                                timeout=10) as r:
        groups = json.load(r)["data"]["groups"]
    names = {rule["name"] for g in groups for rule in g["rules"]}
    assert {"TandemNoLeader", "TandemTwoPrimaries", "TandemAgentDown"} <= names, names


def test_demo_sigint_stops_everything():
    base = free_port_range(NPORTS + 2)  # and Prometheus, Alertmanager after the range
    p = subprocess.Popen([TANDEMCTL, "demo", "--base-port", str(base)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    try:
        deadline = time.monotonic() + 300 * SLOW
        while b"Press Ctrl-C" not in out:
            assert p.poll() is None, out.decode(errors="replace")
            assert time.monotonic() < deadline, out.decode(errors="replace")
            ready, _, _ = select.select([p.stdout], [], [], 1.0)
            if ready:
                out += os.read(p.stdout.fileno(), 65536)
        text = out.decode()
        directory = demo_dir(text)
        pids = demo_pids(text)
        assert len(pids) == 10 + (2 if MONITORING else 0), text
        assert all(pid_alive(pid) for pid in pids), text
        if MONITORING:
            check_prometheus(text, base)
        check_credentials(pathlib.Path(directory), base, text)
        check_two_sites(text, base, pathlib.Path(directory))
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
