"""Routing over two sites: one HAProxy configured by `tandemctl -c A.yml haproxy-config --site
B.yml` lists both sites' members. Its read-write port reaches site A's leader (B's standby leader
answers 503 on /primary) and its read-only port a replica of A (B's members are backup servers);
a writer through the read-write port keeps writing during `tandemctl site-switchover --from A
--to B`: afterwards the port reaches B's leader, every acknowledged row is in B, and the
read-only port still prefers A's (now standby) replica."""

from __future__ import annotations

import subprocess
import threading
import time

import psycopg

import cluster as C
from conftest import free_port, wait_until
from test_sites import ctl, two_sites


class RwWriter:
    """Inserts a numbered row every 20 ms through HAProxy's read-write port, reconnecting after
    an error; records what was acknowledged, and when."""

    def __init__(self, member, port):
        self.member, self.port = member, port
        self.acked = []  # (value, monotonic time)
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n, conn = 0, None
        while not self.stop.is_set():
            n += 1
            try:
                if conn is None or conn.closed:
                    conn = self.member.connect(port=self.port, timeout=2)
                conn.execute("INSERT INTO it_rows (v) VALUES (%s)", (f"hp{n}",))
                self.acked.append((f"hp{n}", time.monotonic()))
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.02)
        if conn is not None:
            conn.close()

    def gap(self):
        times = [t for _, t in self.acked]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def via(member, port):
    """(pg_is_in_recovery(), inet_server_port()) through an HAProxy port, or None."""
    try:
        with member.connect(port=port, timeout=2) as c:
            return tuple(c.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone())
    except psycopg.Error:
        return None


def start_haproxy(a, b, a_yml, b_yml):
    rw, ro = free_port(), free_port()
    r = ctl("-c", a_yml, "haproxy-config", "--site", b_yml, "--rw", f"127.0.0.1:{rw}", "--ro",
            f"127.0.0.1:{ro}")
    assert r.returncode == 0, r.stderr
    for m in a.members + b.members:
        assert f"\tserver {m.name} 127.0.0.1:{m.pg_port} check port {m.rest_port}\n" in r.stdout
    assert f"\tserver {b.members[0].name} 127.0.0.1:{b.members[0].pg_port} check port " \
           f"{b.members[0].rest_port} backup\n" in r.stdout
    cfg = a.base / "haproxy-sites.cfg"
    cfg.write_text(r.stdout)
    chk = subprocess.run([C.HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True,
                         timeout=30)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    log = open(a.base / "haproxy-sites.log", "ab")
    proc = subprocess.Popen([C.HAPROXY, "-db", "-f", str(cfg)], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc, rw, ro


def test_one_haproxy_routes_writes_to_the_primary_site():
    with two_sites() as (a, b, a_leader):
        a_yml, b_yml = a.members[0].config_path, b.members[0].config_path
        # Refused, with nothing printed: a --site file that cannot be read; a site whose
        # member names are already used (here: site A again); an option of haproxy-config given
        # to another command.
        r = ctl("-c", a_yml, "haproxy-config", "--site", a.base / "missing.yml")
        assert r.returncode == 2 and r.stdout == "" and "--site" in r.stderr, r
        r = ctl("-c", a_yml, "haproxy-config", "--site", a_yml)
        assert r.returncode == 1 and r.stdout == "", r
        assert "unique across sites" in r.stderr, r.stderr
        r = ctl("-c", a_yml, "list", "--site", b_yml)
        # --site belongs to haproxy-config (a file) and switchover (a site name), not to list
        assert r.returncode == 2 and "list does not take --site" in r.stderr, r.stderr
        proc, rw, ro = start_haproxy(a, b, a_yml, b_yml)
        try:
            m0 = a.members[0]
            a_replica = next(m for m in a.members if m is not a_leader)
            wait_until(lambda: via(m0, rw) == (False, a_leader.pg_port), 30,
                       "rw port -> site A's leader", interval=0.2)
            wait_until(lambda: via(m0, ro) == (True, a_replica.pg_port), 30,
                       "ro port -> site A's replica", interval=0.2)

            w = RwWriter(m0, rw)
            wait_until(lambda: len(w.acked) > 20, 30, "writes through HAProxy")
            r = ctl("site-switchover", "--from", a_yml, "--to", b_yml, "--force")
            assert r.returncode == 0, r.stdout + r.stderr
            b_leader = b.member(b.dcs_leader())
            wait_until(lambda: via(m0, rw) == (False, b_leader.pg_port), 30,
                       "rw port -> site B's leader", interval=0.2)
            seen = len(w.acked)
            wait_until(lambda: len(w.acked) > seen + 20, 30, "writes after the switch")
            w.stop.set()
            w.thread.join(10)
            present = {v for (v,) in b_leader.query("SELECT v FROM it_rows")}
            lost = [v for v, _ in w.acked if v not in present]
            assert not lost, f"acknowledged and lost: {lost[:10]}"
            print(f"site switchover through one HAProxy: write gap {w.gap():.2f} s, "
                  f"{len(w.acked)} rows, {w.errors} refused attempts, none lost")
            # Reads stay in site A while one of its replicas is up (A is a standby site now:
            # its standby leader answers 503 on /replica, its other member 200).
            a_standby = a.member(a.dcs_leader())
            a_other = next(m for m in a.members if m is not a_standby)
            wait_until(lambda: via(m0, ro) == (True, a_other.pg_port), 60,
                       "ro port -> site A's replica after the switch", interval=0.2)
        finally:
            proc.terminate()
            proc.wait(10)
