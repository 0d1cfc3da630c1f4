#!/usr/bin/python3
"""Failover benchmark: tandem against Patroni on this machine (make bench-failover).

    bench/failover.py [--runs N] [--only tandem|patroni] [--quick] [--keep]
                      [--patroni-haproxy docs|tandem] [--idle-seconds S]
    bench/failover.py --steady SECONDS [--keep] [--json FILE]     (make bench-steady)

For each system it builds, as tests/integration/cluster.py does (and reusing it), a cluster of three
members on loopback with its own single-member etcd and an HAProxy in front, run as the postgres OS
user, in a temporary directory. A client writes a numbered row every 20 ms through HAProxy's
read-write port (psycopg, autocommit, connect_timeout 1 s, reconnect after every error) and records
for each row the send time and the ack time or the error. It then measures:

  (a) SIGKILL of the whole leader node: the agent (tandemd and its tandemd-fence watchdog, or the
      patroni process), the postmaster and the postmaster's children, all at once;
  (b) SIGKILL of the leader's postmaster only (its agent stays);
  (c) a planned switchover to a replica (`tandemctl switchover` when it exists, else
      `tandemctl failover --candidate X --force`; `patronictl switchover --candidate X --force`).

The write gap of a fault is the longest time between two consecutive acknowledged writes from the
last ack before the fault until the cluster is healthy again (normally the gap between the last ack
before and the first ack after). After (a) the killed node stays down until another member leads,
then its agent is started again (heal). After every fault the bench waits for a healthy cluster
(one leader, both other members streaming from it, HAProxy's rw port on the leader), reads back
every acknowledged row from the leader and counts the acknowledged rows that are missing.

Every fault runs N times (default 3) in asynchronous mode and in synchronous strict mode
(synchronous_mode: true, synchronous_mode_strict: true); a synchronous run counts only when the
leader's synchronous_standby_names is non-empty, otherwise the row says "n/a (synchronous mode not
active)". On a healthy idle cluster the bench also measures each agent's resident memory (VmRSS;
tandemd plus its tandemd-fence child, or the patroni process) and CPU (utime+stime from
/proc/PID/stat over --idle-seconds, default 30, as % of one core).

Systems: tandem with its default timings (none in the configuration), Patroni with its defaults
(ttl 30, loop_wait 10, retry_timeout 10) and Patroni with the smallest timings it works with
(PATRONI_SMALL below; Patroni 3.0.2 validates none of them, see bench/README.md).

HAProxy: tandem's cluster uses `tandemctl haproxy-config`; Patroni's uses the configuration from
Patroni's documentation (option httpchk GET /primary, http-check expect status 200, default-server
inter 3s fall 3 rise 2 on-marked-down shutdown-sessions), or tandem's generated one with
--patroni-haproxy tandem.

--steady SECONDS runs only the steady-state measurement instead: tandem with its defaults, healthy,
the same client writing a row every 20 ms through HAProxy for SECONDS (make bench-steady: 600) and
no fault. Nothing failed, so nothing should fail over: it reports leader changes (the DCS leader
key sampled every second, new DCS history entries, leader and timeline at start and end), write
errors, the longest gap between acknowledged writes, lost rows, and each agent's RSS (sampled every
second) and CPU over the whole run.

Every fault run also draws its picture (tests/faults/picture.py): an SVG timeline of the
acknowledged writes per 100 ms, each member's role (its /patroni polled every 100 ms), the fault
shaded, the gap and the lost writes marked, in --pictures DIR (default a new
/tmp/tandem-bench-pictures-*, kept) with an index.html that links them all; its path is printed
after the table (bench/failover_pictures.py).

Progress goes to stderr, the table to stdout. --keep keeps every directory and log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.append(str(REPO / "tests" / "faults"))  # the pictures: picture.py, roles.py, album.py

import psycopg  # noqa: E402

import cluster as C  # noqa: E402
from album import Album  # noqa: E402
from failover_pictures import draw, timeline  # noqa: E402
from conftest import free_port, pid_alive, wait_until  # noqa: E402
from roles import RolePoller  # noqa: E402

PATRONI = shutil.which("patroni") or "/usr/bin/patroni"
PATRONI_DEFAULT = (30, 10, 10)
# Patroni 3.0.2 accepts any integers (no validation); below ttl 5 / retry_timeout 2 etcd's 2 s
# minimum lease and Patroni's own retries leave it without a leader.  loop_wait + 2*retry_timeout
# <= ttl keeps its loop inside the lease.
PATRONI_SMALL = (5, 1, 2)

INTERVAL = 0.020
T_BOOT = 240.0

START = time.monotonic()


def progress(msg):
    print(f"[{time.monotonic() - START:7.1f}s] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# /proc


def proc_stat(pid):
    """(ppid, utime+stime in ticks, comm) of a process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), comm


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] == pid:
                out.append((int(d), st[2]))
    return out


# ---------------------------------------------------------------------------------------------
# members and clusters


class TandemMember(C.Member):
    kind = "tandem"

    def config_text(self):
        c = self.cluster
        out = []
        for line in super().config_text().splitlines():
            if line.strip().split(":")[0] in ("ttl", "loop_wait", "retry_timeout"):
                continue  # tandemd's defaults
            out.append(line)
            if line == "  dcs:" and c.sync:
                out += ["    synchronous_mode: true", "    synchronous_mode_strict: true"]
        return "\n".join(out) + "\n"

    def agent_pids(self):
        if not self.alive():
            return []
        pid = self.proc.pid
        return [pid] + [p for p, comm in children(pid) if comm.startswith("tandemd-fence")]


class PatroniMember(C.Member):
    kind = "patroni"

    def config_text(self):
        c = self.cluster
        return f"""\
scope: {c.scope}
namespace: {c.namespace}
name: {self.name}
log:
  level: INFO
restapi:
  listen: 127.0.0.1:{self.rest_port}
  connect_address: 127.0.0.1:{self.rest_port}
etcd3:
  hosts: {c.etcd.host}
bootstrap:
  dcs:
    ttl: {c.ttl}
    loop_wait: {c.loop_wait}
    retry_timeout: {c.retry_timeout}
    maximum_lag_on_failover: 1048576
    synchronous_mode: {str(c.sync).lower()}
    synchronous_mode_strict: {str(c.sync).lower()}
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        fsync: 'off'
        max_connections: 50
        shared_buffers: 16MB
  initdb:
  - encoding: UTF8
postgresql:
  listen: 127.0.0.1:{self.pg_port}
  connect_address: 127.0.0.1:{self.pg_port}
  data_dir: {self.data}
  bin_dir: {C.PG_BIN}
  pgpass: {self.dir}/pgpass
  parameters:
    unix_socket_directories: {self.dir}
  authentication:
    superuser:
      username: postgres
      password: {c.superuser_password}
    replication:
      username: replicator
      password: {c.replication_password}
    rewind:
      username: postgres
      password: {c.superuser_password}
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 scram-sha-256
    - host replication all 127.0.0.1/32 scram-sha-256
"""

    def start(self):
        assert not self.alive(), f"{self.name}'s patroni already runs"
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.dir), "LANG": "C.UTF-8"}
        with open(self.log_path, "ab") as log:
            log.write(f"### bench: starting patroni {self.config_path}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [PATRONI, str(self.config_path)], user="postgres", group="postgres",
                extra_groups=[], env=env, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def agent_pids(self):
        return [self.proc.pid] if self.alive() else []


class DocsHaproxy(C.Haproxy):
    """HAProxy as Patroni's documentation configures it."""

    def start(self):
        servers = "".join(
            f"    server {m.name} 127.0.0.1:{m.pg_port} maxconn 100 check port {m.rest_port}\n"
            for m in self.cluster.members)
        text = f"""\
# HAProxy for Patroni, as in Patroni's documentation (haproxy.cfg in its repository)
global
    maxconn 100

defaults
    mode tcp
    retries 2
    timeout client 30m
    timeout connect 4s
    timeout server 30m
    timeout check 5s

listen primary
    bind 127.0.0.1:{self.rw_port}
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions
{servers}
listen replicas
    bind 127.0.0.1:{self.ro_port}
    balance roundrobin
    option httpchk GET /replica
    http-check expect status 200
    default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions
{servers}"""
        self.config_path.write_text(text)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([C.HAPROXY, "-db", "-f", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        return self


class BenchCluster(C.Cluster):
    def __init__(self, kind, timings, sync, haproxy_style):
        ttl, loop_wait, retry_timeout = timings or (None, None, None)
        super().__init__(3, ttl, loop_wait, retry_timeout, prefix=f"tandem-bench-{kind}-")
        self.kind, self.sync, self.haproxy_style = kind, sync, haproxy_style
        # How long a fault may take to recover from and the cluster to heal: far above the
        # goals for tandem, above what Patroni needs with ttl 30 / loop_wait 10 for Patroni.
        slow = kind == "patroni" and (ttl or 30) > 10
        self.t_ack = 90.0 if slow else 30.0
        self.t_healthy = 240.0 if slow else 60.0
        cls = TandemMember if kind == "tandem" else PatroniMember
        old = self.members
        self.members = []
        for o in old:
            m = cls(self, o.index)
            m.rest_port, m.pg_port = o.rest_port, o.pg_port
            self.members.append(m)
            m.write_config()

    def start_haproxy(self):
        hp = DocsHaproxy(self) if self.haproxy_style == "docs" else C.Haproxy(self)
        self.haproxy = hp.start()
        return hp

    def leader(self):
        n = self.dcs_leader()
        return self.member(n) if n else None

    def sync_names(self, m):
        try:
            return m.query("SHOW synchronous_standby_names")[0][0]
        except psycopg.Error:
            return None

    def sync_standby(self):
        """The member the DCS sync key names as the synchronous standby, or None."""
        try:
            return (json.loads(self.etcd.get(self.key("sync")) or "{}") or {}).get("sync_standby")
        except (OSError, ValueError, AttributeError):
            return None

    def problem(self):
        """None when healthy: one leader holding the key, primary and writable, both other
        members replicas streaming from it, and HAProxy's rw port on it."""
        m = self.leader()
        if not m:
            return "no leader key"
        s = m.patroni()
        if not s or s.get("role") not in C.PRIMARY_ROLES:
            return f"leader {m.name} says {s and s.get('role')}"
        try:
            rows = m.query("SELECT application_name, state, sync_state FROM pg_stat_replication")
            if m.query("SELECT pg_is_in_recovery()")[0][0]:
                return f"leader {m.name} in recovery"
        except psycopg.Error as e:
            return f"leader {m.name}: {str(e).strip()[:80]}"
        others = {o.name for o in self.members if o is not m}
        streaming = {r[0] for r in rows if r[1] == "streaming"}
        if not others <= streaming:
            return f"streaming to {m.name}: {sorted(streaming)}"
        for o in self.members:
            if o is m:
                continue
            st = o.patroni()
            if not st or st.get("role") != "replica" or st.get("state") != "running":
                return f"{o.name}: {st and (st.get('role'), st.get('state'))}"
        if self.sync and self.kind == "patroni":
            # Patroni switches over only to the standby its sync key names; with
            # synchronous_standby_names '*' (strict, none chosen yet) it refuses.
            if self.sync_standby() not in others or not any(r[2] == "sync" for r in rows):
                return "no synchronous standby in the sync key yet"
        if self.haproxy and self.haproxy.via(self.haproxy.rw_port) != (False, m.pg_port):
            return f"HAProxy rw port not on {m.name}"
        return None

    def wait_ok(self, timeout):
        last = ["?"]

        def ok():
            last[0] = self.problem()
            return last[0] is None

        try:
            wait_until(ok, timeout, "a healthy cluster", interval=0.2)
        except AssertionError as e:
            raise AssertionError(f"{e}: {last[0]}") from None
        return self.leader()


# ---------------------------------------------------------------------------------------------
# the client


class Writer(threading.Thread):
    def __init__(self, port, password, first_id):
        super().__init__(daemon=True)
        self.port, self.password = port, password
        self.next_id = first_id
        self.first_id = first_id
        self.records = []  # (id, send, ack or None, error or None)
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.sync_cancelled = False

    def _notice(self, diag):
        if "synchronous replication" in (diag.message_primary or ""):
            self.sync_cancelled = True

    def _connect(self):
        c = psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                            password=self.password, dbname="postgres", connect_timeout=1,
                            autocommit=True, options="-c statement_timeout=10s")
        c.add_notice_handler(self._notice)
        return c

    def run(self):
        conn = None
        due = time.monotonic()
        while not self.halt.is_set():
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            due = max(due + INTERVAL, time.monotonic())
            i = self.next_id
            self.next_id += 1
            send = time.monotonic()
            try:
                if conn is None:
                    conn = self._connect()
                self.sync_cancelled = False
                conn.execute("INSERT INTO bench_rows (id) VALUES (%s)", (i,))
                if self.sync_cancelled:
                    # Cancelled while waiting for the synchronous standby: committed locally
                    # only, so not an acknowledgement.
                    raise psycopg.OperationalError("synchronous replication wait cancelled")
                rec = (i, send, time.monotonic(), None)
            except Exception as e:  # noqa: BLE001 - every error is a failed write
                rec = (i, send, None, str(e).strip().splitlines()[0][:120] if str(e) else repr(e))
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
            with self.lock:
                self.records.append(rec)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def acks(self):
        with self.lock:
            return [r[2] for r in self.records if r[2] is not None]

    def acked_after(self, t, n=1):
        return sum(1 for a in self.acks() if a > t) >= n

    def stop(self):
        self.halt.set()
        self.join(30)


def write_gap(acks, t_fault):
    acks = sorted(acks)
    before = [a for a in acks if a <= t_fault]
    if not before:
        return None
    seq = [before[-1]] + [a for a in acks if a > before[-1]]
    if len(seq) < 2:
        return None
    return max(b - a for a, b in zip(seq, seq[1:]))


# ---------------------------------------------------------------------------------------------
# faults


def kill_node(cl, m):
    """SIGKILL of the agent (and tandemd's fence child), the postmaster and its children."""
    pids = list(m.agent_pids())
    pm = m.postmaster_pid()
    if pm:
        pids += [pm] + [p for p, _ in children(pm)]
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    with contextlib.suppress(Exception):
        m.proc.wait(30)
    for p in pids:
        with contextlib.suppress(AssertionError):
            C.kill_pid(p, timeout=30)


def has_tandemctl_switchover():
    r = subprocess.run([str(C.TANDEMCTL), "switchover", "--help"], capture_output=True, text=True)
    return r.returncode == 0


def switchover(cl, leader, candidate):
    if cl.kind == "tandem":
        cmd = "switchover" if has_tandemctl_switchover() else "failover"
        r = cl.tandemctl(cmd, "--candidate", candidate.name, "--force")
    else:
        r = cl.patronictl("switchover", "--candidate", candidate.name, "--force")
    if r.returncode != 0 or (cl.kind == "patroni" and "failed" in (r.stdout + r.stderr).lower()):
        raise AssertionError(f"switchover command exited {r.returncode}: {r.stdout}{r.stderr}")


def pick_candidate(cl, leader):
    try:
        rows = leader.query("SELECT application_name, sync_state FROM pg_stat_replication")
    except psycopg.Error:
        rows = []
    names = [m.name for m in cl.members if m is not leader]
    if cl.sync and cl.sync_standby() in names:
        return cl.member(cl.sync_standby())
    sync = [r[0] for r in rows if r[1] == "sync" and r[0] in names]
    return cl.member(sync[0] if sync else names[0])


def one_fault(cl, fault, id_base):
    """Runs one fault on a healthy cluster; returns a result dict (res["timeline"]: what its
    picture shows)."""
    leader = cl.leader()
    res = {"fault": fault, "leader": leader.name, "sync_active": None, "t_ack": cl.t_ack}
    if cl.sync:
        res["sync_names"] = cl.sync_names(leader)
        res["sync_active"] = bool(res["sync_names"])
        with contextlib.suppress(OSError):
            res["sync_key"] = cl.etcd.get(cl.key("sync"))
    hp = cl.haproxy
    roles = RolePoller({m.name: (lambda m=m: m.patroni(timeout=0.5)) for m in cl.members})
    roles.start()
    w = Writer(hp.rw_port, cl.superuser_password, id_base)
    w.start()
    span = [None, None]  # the fault's own time: the kill, or the switchover command
    try:
        wait_until(lambda: len(w.acks()) >= 25, 30, "25 acknowledged writes before the fault",
                   interval=0.05)
        time.sleep(0.3)
        t_fault = span[0] = time.monotonic()
        try:
            if fault == "a":
                kill_node(cl, leader)
                span[1] = time.monotonic()
                cl.wait_leader(not_name=leader.name, timeout=cl.t_ack)
                wait_until(lambda: w.acked_after(t_fault, 5), cl.t_ack, "writes after the fault",
                           interval=0.05)
            elif fault == "b":
                C.kill_pid(leader.postmaster_pid() or 0, timeout=30)
                span[1] = time.monotonic()
                wait_until(lambda: w.acked_after(t_fault, 5), cl.t_ack, "writes after the fault",
                           interval=0.05)
            else:
                cand = pick_candidate(cl, leader)
                res["candidate"] = cand.name
                switchover(cl, leader, cand)
                span[1] = time.monotonic()
                wait_until(lambda: cl.dcs_leader() == cand.name, cl.t_ack,
                           f"{cand.name} to hold the leader key after the switchover",
                           interval=0.05)
                wait_until(lambda: w.acked_after(t_fault, 5), cl.t_ack, "writes after the fault",
                           interval=0.05)
        except Exception as e:  # noqa: BLE001 - recorded; the cluster is healed all the same
            res["error"] = str(e).strip()[:300]
            progress(f"  fault ({fault}) did not recover: {res['error']}")
        if fault == "a":
            span.append(time.monotonic())
            leader.start()  # heal: the killed node's agent again
        t_heal = time.monotonic()
        try:
            new = cl.wait_ok(cl.t_healthy)
            res["heal_s"] = time.monotonic() - t_heal
            time.sleep(1.0)
        except AssertionError as e:
            new = None
            res["unhealed"] = str(e).strip()[:300]
            progress(f"  the cluster did not heal after ({fault}): {res['unhealed']}")
    finally:
        w.stop()
        lanes = roles.stop()
    res["gap"] = None if res.get("error") else write_gap(w.acks(), t_fault)
    res["new_leader"] = new.name if new else None
    with w.lock:
        recs = list(w.records)
    acked = {r[0] for r in recs if r[2] is not None}
    res["writes"], res["acked"] = len(recs), len(acked)
    res["errors"] = len(recs) - len(acked)
    res["lost"] = None
    if new:
        present = {r[0] for r in new.query(
            "SELECT id FROM bench_rows WHERE id >= %s AND id < %s", (w.first_id, w.next_id))}
        res["lost"] = len(acked - present)
    res["next_id"] = w.next_id
    res["timeline"] = timeline(res, recs, present if new else None, span, lanes)
    return res


def idle_measure(cl, seconds):
    """RSS (KiB) and CPU (% of a core) of every member's agent over `seconds` of idleness."""
    tick = os.sysconf("SC_CLK_TCK")
    before = {}
    t0 = time.monotonic()
    for m in cl.members:
        before[m.name] = {p: proc_stat(p)[1] for p in m.agent_pids() if proc_stat(p)}
    time.sleep(seconds)
    dt = time.monotonic() - t0
    out = {}
    for m in cl.members:
        ticks = 0
        for p, t in before[m.name].items():
            st = proc_stat(p)
            if st:
                ticks += st[1] - t
        out[m.name] = {"rss_kib": sum(rss_kib(p) for p in m.agent_pids()),
                       "rss_each_kib": [rss_kib(p) for p in m.agent_pids()],
                       "pids": m.agent_pids(),
                       "cpu_pct": 100.0 * ticks / tick / dt}
    return out


# ---------------------------------------------------------------------------------------------
# steady state: no fault, writes for a long time


def history_len(cl):
    try:
        return len(json.loads(cl.etcd.get(cl.key("history")) or "[]") or [])
    except (OSError, ValueError, TypeError):
        return None


def steady_run(seconds, keep):
    """tandem with its defaults, healthy, a row every 20 ms through HAProxy for `seconds` and
    nothing else: no failover should happen. Returns a result dict."""
    out = {"seconds": seconds, "error": None}
    cl = BenchCluster("tandem", None, False, "tandem")
    progress(f"steady: starting in {cl.base}")
    failed = False
    try:
        cl.start()
        cl.wait_ok(T_BOOT)
        cl.start_haproxy()
        leader = cl.wait_ok(T_BOOT)
        leader.query("CREATE TABLE IF NOT EXISTS bench_rows (id bigint PRIMARY KEY, "
                     "at timestamptz NOT NULL DEFAULT now())")
        time.sleep(2)
        tick = os.sysconf("SC_CLK_TCK")
        out["leader_start"] = leader.name
        out["timeline_start"] = (leader.patroni() or {}).get("timeline")
        out["history_start"] = history_len(cl)
        pids = {m.name: m.agent_pids() for m in cl.members}
        ticks0 = {n: sum(proc_stat(p)[1] for p in ps if proc_stat(p)) for n, ps in pids.items()}
        rss = {n: [] for n in pids}
        leaders, changes, last = [], 0, leader.name
        w = Writer(cl.haproxy.rw_port, cl.superuser_password, 1)
        t0 = time.monotonic()
        w.start()
        progress(f"steady: healthy, leader {leader.name}; writing for {seconds:.0f}s")
        next_report = t0 + 60
        while time.monotonic() - t0 < seconds:
            time.sleep(1.0)
            name = cl.dcs_leader()
            leaders.append(name)
            if name and name != last:
                changes += 1
                progress(f"steady: leader key {last} -> {name}")
                last = name
            for n, ps in pids.items():
                rss[n].append(sum(rss_kib(p) for p in ps))
            if time.monotonic() >= next_report:
                next_report += 60
                with w.lock:
                    errs = sum(1 for r in w.records if r[2] is None)
                    n_w = len(w.records)
                progress(f"steady: {time.monotonic() - t0:.0f}s, {n_w} writes, {errs} errors")
        w.stop()
        dt = time.monotonic() - t0
        ticks1 = {n: sum(proc_stat(p)[1] for p in ps if proc_stat(p)) for n, ps in pids.items()}
        out["alive"] = {n: all(proc_stat(p) for p in ps) for n, ps in pids.items()}
        end = cl.leader()
        out["leader_end"] = end.name if end else None
        out["timeline_end"] = ((end.patroni() or {}) if end else {}).get("timeline")
        out["history_end"] = history_len(cl)
        out["leader_key_changes"] = changes
        out["leader_key_missing_s"] = sum(1 for x in leaders if not x)
        with w.lock:
            recs = list(w.records)
        acks = sorted(r[2] for r in recs if r[2] is not None)
        out["writes"] = len(recs)
        out["errors"] = sum(1 for r in recs if r[2] is None)
        out["error_kinds"] = sorted({r[3] for r in recs if r[3]})[:5]
        out["max_gap"] = max((b - a for a, b in zip(acks, acks[1:])), default=None)
        lat = sorted(r[2] - r[1] for r in recs if r[2] is not None)
        out["p99_latency"] = lat[int(len(lat) * 0.99)] if lat else None
        out["max_latency"] = lat[-1] if lat else None
        acked = {r[0] for r in recs if r[2] is not None}
        present = {r[0] for r in end.query("SELECT id FROM bench_rows")} if end else set()
        out["lost"] = len(acked - present) if end else None
        out["cpu_pct"] = {n: 100.0 * (ticks1[n] - ticks0[n]) / tick / dt for n in pids}
        out["rss_kib"] = rss
        out["duration"] = dt
    except Exception as e:  # noqa: BLE001
        failed = True
        out["error"] = str(e)[:500]
        progress(f"steady: ERROR {e}")
        traceback.print_exc(file=sys.stderr)
        print(cl.logs()[-6000:], file=sys.stderr)
    finally:
        if keep or failed:
            os.environ["TANDEM_KEEP_CLUSTER"] = "1"
        for p in cl.cleanup():
            progress(f"steady: cleanup: {p[:300]}")
        os.environ.pop("TANDEM_KEEP_CLUSTER", None)
        if keep or failed:
            progress(f"steady: kept {cl.base}")
    return out


def steady_table(r):
    if r.get("error"):
        return f"! steady: {r['error']}"
    rss = [v for vals in r["rss_kib"].values() for v in vals]
    cpu = list(r["cpu_pct"].values())
    per_agent_rss = [statistics.median(v) / 1024 for v in r["rss_kib"].values() if v]
    rows = [
        ("leader changes (DCS leader key, sampled every 1 s)", "0", str(r["leader_key_changes"]),
         r["leader_key_changes"] == 0),
        ("seconds without a leader key (samples)", "0", str(r["leader_key_missing_s"]),
         r["leader_key_missing_s"] == 0),
        ("new DCS history entries (failovers)", "0",
         "?" if None in (r["history_start"], r["history_end"]) else
         str(r["history_end"] - r["history_start"]),
         r["history_start"] == r["history_end"]),
        ("leader / timeline at start -> end", "same",
         f"{r['leader_start']} / {r['timeline_start']} -> {r['leader_end']} / "
         f"{r['timeline_end']}",
         (r["leader_start"], r["timeline_start"]) == (r["leader_end"], r["timeline_end"])),
        ("writes (one every 20 ms) / write errors", "0 errors",
         f"{r['writes']} / {r['errors']}", r["errors"] == 0),
        ("longest gap between acknowledged writes", "—",
         f"{r['max_gap']:.3f} s" if r["max_gap"] is not None else "—", None),
        ("write latency p99 / max", "—",
         f"{r['p99_latency'] * 1000:.1f} / {r['max_latency'] * 1000:.1f} ms"
         if r["p99_latency"] is not None else "—", None),
        ("acknowledged rows lost", "0", str(r["lost"]), r["lost"] == 0),
        ("agent resident memory (tandemd + fence; median per agent, max of all samples)",
         "< 8 MB", f"{fmt_range(per_agent_rss, 'MiB', 1)}, max {max(rss) / 1024:.1f} MiB"
         if rss else "—", bool(rss) and max(rss) * 1024 < 8e6),
        ("agent CPU with writes, % of a core (3 agents)", "< 0.2 % (idle goal)",
         fmt_range(cpu, "%", 3), max(cpu) < 0.2),
        ("agents alive at the end", "3",
         str(sum(r["alive"].values())), all(r["alive"].values())),
    ]
    header = ("measurement", "goal", "tandem", "meets goal")
    body = [(a, b, c, "—" if d is None else ("yes" if d else "no")) for a, b, c, d in rows]
    widths = [max(len(x[i]) for x in body + [header]) for i in range(4)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(x, widths)) + " |" for x in body]
    if r.get("error_kinds"):
        lines.append("write errors seen: " + "; ".join(r["error_kinds"]))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# one system in one mode


def run_config(label, kind, timings, sync, runs, haproxy_style, idle_seconds, keep, album):
    """All runs of the three faults on one system in one mode. A fault the cluster does not
    recover from is not repeated; when the cluster does not heal, a new one is built for the
    remaining faults (at most twice)."""
    mode = "sync strict" if sync else "async"
    out = {"label": label, "mode": mode, "runs": [], "idle": None, "error": None,
           "sync_active": None, "bases": []}
    # (b) and (c) before (a) in every run: a node kill is the likeliest not to heal.
    plan = [(r, f) for r in range(runs) for f in "bca"]
    hopeless = set()
    builds = 0
    while plan and builds < 3:
        builds += 1
        cl = BenchCluster(kind, timings, sync, haproxy_style)
        out["bases"].append(str(cl.base))
        progress(f"{label} / {mode}: starting in {cl.base}")
        failed = False
        try:
            t0 = time.monotonic()
            cl.start()
            cl.wait_ok(T_BOOT)
            # After every member has registered: tandemctl haproxy-config lists the members
            # it finds.
            cl.start_haproxy()
            leader = cl.wait_ok(T_BOOT)
            boot = time.monotonic() - t0
            out.setdefault("bootstrap_s", boot)
            leader.query("CREATE TABLE IF NOT EXISTS bench_rows (id bigint PRIMARY KEY, "
                         "at timestamptz NOT NULL DEFAULT now())")
            progress(f"{label} / {mode}: healthy after {boot:.1f}s, leader {leader.name}")
            if sync:
                with contextlib.suppress(AssertionError):
                    wait_until(lambda: cl.sync_names(cl.leader()), 10,
                               "synchronous_standby_names", interval=0.2)
                names = cl.sync_names(cl.leader())
                out["sync_active"] = bool(names)
                progress(f"{label} / {mode}: synchronous_standby_names = {names!r}")
                if not names:
                    progress(f"{label} / {mode}: synchronous mode not active, faults skipped")
                    return out
            if idle_seconds and out["idle"] is None:
                time.sleep(2)
                out["idle"] = idle_measure(cl, idle_seconds)
                progress(f"{label} / {mode}: idle " + ", ".join(
                    f"{n} {v['rss_kib'] / 1024:.1f} MiB {v['cpu_pct']:.3f}%"
                    for n, v in out["idle"].items()))
            next_id = 1
            while plan:
                r, fault = plan.pop(0)
                if fault in hopeless:
                    progress(f"{label} / {mode}: run {r + 1} ({fault}) skipped: no recovery "
                             f"in an earlier run")
                    continue
                res = one_fault(cl, fault, next_id)
                res["run"] = r + 1
                try:
                    progress(f"  picture: {draw(album, f'{label} {mode} run {r + 1}', res)}")
                except OSError as e:
                    progress(f"  no picture: {e}")
                next_id = res["next_id"] + 1
                out["runs"].append(res)
                if res.get("error"):
                    hopeless.add(fault)
                gap = f"{res['gap']:.2f}s" if res["gap"] is not None else "none"
                progress(f"{label} / {mode}: run {r + 1} ({fault}) {res['leader']} -> "
                         f"{res['new_leader']}: gap {gap}, lost {res['lost']}, "
                         f"errors {res['errors']}/{res['writes']}" +
                         (f", healed in {res['heal_s']:.1f}s" if "heal_s" in res else "") +
                         ("" if res["sync_active"] is None else
                          f", sync active {res['sync_active']}"))
                if res.get("unhealed"):
                    failed = True
                    out["error"] = (f"did not heal after ({fault}) in run {r + 1}: "
                                    f"{res['unhealed']}")
                    break  # a new cluster for the rest
        except Exception as e:  # noqa: BLE001
            failed = True
            out["error"] = str(e)[:500]
            progress(f"{label} / {mode}: ERROR {e}")
            traceback.print_exc(file=sys.stderr)
            print(cl.logs()[-6000:], file=sys.stderr)
            plan = []
        finally:
            keep_dir = keep or failed
            if keep_dir:
                os.environ["TANDEM_KEEP_CLUSTER"] = "1"
            problems = cl.cleanup()
            os.environ.pop("TANDEM_KEEP_CLUSTER", None)
            if keep_dir:
                progress(f"{label} / {mode}: kept {cl.base}")
            for p in problems:
                progress(f"{label} / {mode}: cleanup: {p[:300]}")
    return out


# ---------------------------------------------------------------------------------------------
# the table


def fmt_range(vals, unit="s", prec=2):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "—"
    med = statistics.median(vals)
    if len(vals) == 1:
        return f"{med:.{prec}f} {unit}".strip()
    return f"{med:.{prec}f} ({min(vals):.{prec}f}–{max(vals):.{prec}f}) {unit}".strip()


NA_SYNC = "n/a (synchronous mode not active)"


def cell_gap(cfg, fault):
    if cfg is None:
        return "—", None
    if cfg.get("sync_active") is False:
        return NA_SYNC, None
    rs = [r for r in cfg["runs"] if r["fault"] == fault]
    if any(r.get("sync_active") is False for r in rs):
        return NA_SYNC, None
    gaps = [r.get("gap") for r in rs]
    bad = sum(1 for g in gaps if g is None)
    if bad == len(gaps) and rs:
        txt = f"no recovery within {rs[0].get('t_ack', 0):.0f} s"
    else:
        txt = fmt_range(gaps)
        if bad:
            txt += f" [{bad}/{len(rs)} runs: no recovery]"
    if not rs:
        txt = "failed" if cfg.get("error") else "—"
    return txt, [g for g in gaps if g is not None]


def cell_lost(cfg):
    if cfg is None:
        return "—", None
    if cfg.get("sync_active") is False or any(r.get("sync_active") is False for r in cfg["runs"]):
        return NA_SYNC, None
    parts, total = [], 0
    for f in "abc":
        rs = [r for r in cfg["runs"] if r["fault"] == f and r.get("lost") is not None]
        s = sum(r["lost"] for r in rs)
        total += s
        parts.append(str(s) if rs else "—")
    if all(x == "—" for x in parts):
        return "—", None
    return " / ".join(parts), total


def table(results, runs):
    cols = [("tandem", "tandem"), ("patroni-default", "Patroni (defaults 30/10/10)"),
            ("patroni-small", "Patroni (smallest %d/%d/%d)" % PATRONI_SMALL)]
    rows = []

    def get(label, mode):
        return next((r for r in results if r["label"] == label and r["mode"] == mode), None)

    goals = {"a": (5.0, "< 5 s"), "b": (2.0, "< 2 s"), "c": (1.0, "< 1 s")}
    names = {"a": "(a) leader node killed: write gap", "b": "(b) PostgreSQL killed: write gap",
             "c": "(c) switchover: write gap"}
    for mode in ("async", "sync strict"):
        for f in "abc":
            line = [f"{mode}: {names[f]}", goals[f][1]]
            meets = "—"
            for label, _ in cols:
                txt, vals = cell_gap(get(label, mode), f)
                line.append(txt)
                if label == "tandem" and vals:
                    ok = max(vals) < goals[f][0] and len(vals) == len(
                        [r for r in get(label, mode)["runs"] if r["fault"] == f])
                    meets = "yes" if ok else "no"
                elif label == "tandem" and txt == NA_SYNC:
                    meets = "n/a"
            rows.append(line + [meets])
        line = [f"{mode}: acked rows lost (a / b / c, sum of runs)",
                "0" if mode == "sync strict" else "—"]
        meets = "—"
        for label, _ in cols:
            txt, total = cell_lost(get(label, mode))
            line.append(txt)
            if label == "tandem" and mode == "sync strict" and (total is not None or
                                                                 txt == NA_SYNC):
                meets = "n/a" if txt == NA_SYNC else ("yes" if total == 0 else "no")
        rows.append(line + [meets])

    def idle_vals(label, key):
        cfg = get(label, "async")
        if not cfg or not cfg.get("idle"):
            return []
        return [v[key] for v in cfg["idle"].values()]

    line = ["agent resident memory (3 agents)", "< 8 MB"]
    for label, _ in cols:
        v = idle_vals(label, "rss_kib")
        line.append(fmt_range([x / 1024 for x in v], "MiB", 1) if v else "—")
    v = idle_vals("tandem", "rss_kib")
    line.append(("yes" if max(v) * 1024 < 8e6 else "no") if v else "—")
    rows.append(line)
    line = ["agent idle CPU, % of a core (3 agents)", "< 0.2 %"]
    for label, _ in cols:
        v = idle_vals(label, "cpu_pct")
        line.append(fmt_range(v, "%", 3) if v else "—")
    v = idle_vals("tandem", "cpu_pct")
    line.append(("yes" if max(v) < 0.2 else "no") if v else "—")
    rows.append(line)
    line = ["bootstrap to a healthy cluster (async)", "—"]
    for label, _ in cols:
        cfg = get(label, "async")
        line.append(f"{cfg['bootstrap_s']:.1f} s" if cfg and cfg.get("bootstrap_s") else "—")
    rows.append(line + ["—"])

    header = ["measurement", "goal"] + [c[1] for c in cols] + ["tandem meets goal"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=("tandem", "patroni"))
    ap.add_argument("--quick", action="store_true", help="1 run of each fault, 10 s idle window")
    ap.add_argument("--keep", action="store_true", help="keep every directory and log")
    ap.add_argument("--patroni-haproxy", choices=("docs", "tandem"), default="docs",
                    help="HAProxy configuration for Patroni's clusters (default: Patroni's docs)")
    ap.add_argument("--idle-seconds", type=float, default=None)
    ap.add_argument("--modes", default="async,sync", help="comma-separated: async,sync")
    ap.add_argument("--json", metavar="FILE", help="also write the raw results as JSON")
    ap.add_argument("--pictures", metavar="DIR", help="where the fault runs' pictures go")
    ap.add_argument("--steady", type=float, metavar="SECONDS",
                    help="only the steady-state run: tandem, no fault, writes for SECONDS")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (PostgreSQL and the agents run as the postgres user)")
    for p in (C.TANDEMD, C.TANDEMD.parent / "tandemd-fence", C.TANDEMCTL):
        if not p.exists():
            sys.exit(f"{p} is missing: run make first")
    if a.steady:
        return steady_main(a)
    runs = 1 if a.quick else a.runs
    idle = a.idle_seconds if a.idle_seconds is not None else (10 if a.quick else 30)
    modes = [m.strip() == "sync" for m in a.modes.split(",") if m.strip()]
    configs = []
    if a.only in (None, "tandem"):
        configs.append(("tandem", "tandem", None, "tandem"))
    if a.only in (None, "patroni"):
        configs.append(("patroni-small", "patroni", PATRONI_SMALL, a.patroni_haproxy))
        configs.append(("patroni-default", "patroni", PATRONI_DEFAULT, a.patroni_haproxy))
    with open("/proc/loadavg") as f:
        load0 = f.read().split()[:3]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    mtime0 = C.TANDEMD.stat().st_mtime
    git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip() or "?"
    progress(f"load average at start: {' '.join(load0)}; {os.cpu_count()} cores")
    results = []
    album = Album(a.pictures, f"failover benchmark, {started}", "tandem-bench-pictures-")
    for label, kind, timings, hp in configs:
        for sync in modes:
            results.append(run_config(label, kind, timings, sync, runs, hp,
                                      idle if not sync else 0, a.keep, album))
    with open("/proc/loadavg") as f:
        load1 = f.read().split()[:3]
    total = time.monotonic() - START
    progress(f"done in {total / 60:.1f} min; load average at end: {' '.join(load1)}")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(results, indent=1, default=str))
    print(f"Failover benchmark, started {started}, {os.uname().nodename}, "
          f"{os.cpu_count()} cores, {runs} run(s) per fault, HAProxy for Patroni: "
          f"{a.patroni_haproxy}, load average {' '.join(load0)} -> {' '.join(load1)}, "
          f"{total / 60:.1f} min")
    built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(mtime0))
    print(f"tandemd: {C.TANDEMD} built {built} (tree at start: {git}); Patroni: "
          f"{subprocess.run([PATRONI, '--version'], capture_output=True, text=True).stdout.strip()}")
    if C.TANDEMD.stat().st_mtime != mtime0:
        print("! tandemd was rebuilt during the run: clusters started after that ran the new build")
    print(table(results, runs))
    print("Cells: median (min–max) over the runs. Goals apply to tandem with its defaults.")
    print(f"Pictures of every fault run: {album.index}")
    errs = [r for r in results if r.get("error")]
    for r in errs:
        print(f"! {r['label']} / {r['mode']}: {r['error']}")
    return 1 if errs else 0


def steady_main(a):
    with open("/proc/loadavg") as f:
        load0 = f.read().split()[:3]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip() or "?"
    r = steady_run(a.steady, a.keep)
    with open("/proc/loadavg") as f:
        load1 = f.read().split()[:3]
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(r, indent=1, default=str))
    print(f"Steady-state benchmark (no fault, writes every 20 ms through HAProxy), started "
          f"{started}, {os.uname().nodename}, {os.cpu_count()} cores, {a.steady:.0f} s, tandem "
          f"defaults (ttl 4, loop_wait 1), load average {' '.join(load0)} -> {' '.join(load1)}")
    built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(C.TANDEMD.stat().st_mtime))
    print(f"tandemd: {C.TANDEMD} built {built} (tree at start: {git})")
    print(steady_table(r))
    return 1 if r.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
