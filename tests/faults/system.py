"""The system under test, on a Topology: three etcd hosts (a 3-member etcd cluster), three
database hosts (PostgreSQL 15 + tandemd; sites A, A, B), and one client host with HAProxy (from
`tandemctl haproxy-config`) and hellod writing through HAProxy's rw port.

Each database host has its own data disk (a tmpfs, disk.py) and its own wall clock
(libfaketime, clock.py), so that the nemesis can fill the one and skew the other.

The orchestrating process moves itself into the client host's namespace (Topology.enter), so its
probes (REST, SQL, etcd) and the workload are that host's clients.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import psycopg

import archive
import clock
from disk import Disk
from topology import Topology, children, signal_pids

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
from conftest import wait_until  # noqa: E402  (the integration tests' helper)


REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("TANDEM_BUILD") or (REPO / "build")).resolve()
TANDEMD = BUILD / "src" / "tandemd" / "tandemd"
TANDEMCTL = BUILD / "src" / "tandemctl" / "tandemctl"
HELLOD = BUILD / "src" / "hellod" / "hellod"
ETCD = os.environ.get("ETCD_BIN", "/usr/bin/etcd")
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
PGBACKREST = "/usr/bin/pgbackrest"

ETCD_HOSTS = [("e1", 11, "A"), ("e2", 12, "A"), ("e3", 13, "B")]
DB_HOSTS = [("d1", 21, "A"), ("d2", 22, "A"), ("d3", 23, "B")]
CLIENT = ("c1", 31, None)
REST_PORT, PG_PORT, RW_PORT, RO_PORT, HELLOD_PORT = 8008, 5432, 5000, 5001, 8080
REST_USER = "tandem"
PRIMARY_ROLES = ("master", "primary")
DISK_MB = 1024  # each member's data disk (tmpfs: only what is written takes memory)


def tail(path, n=40):
    try:
        return "\n".join(pathlib.Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no file)"


class Node:
    """A database host: PostgreSQL + tandemd."""

    def __init__(self, system, host):
        self.system = system
        self.host = host
        self.name = host.name
        self.dir = system.base / self.name
        self.disk = Disk(self.dir / "disk", DISK_MB)
        self.clock = clock.Clock(self.dir / "clock")
        self.data = self.disk.path / "data"
        self.config_path = self.dir / "tandemd.yml"
        self.log_path = self.dir / "tandemd.log"
        self.pg_log_path = self.dir / "postgresql.log"
        self.proc = None

    def config_text(self):
        s = self.system
        etcd = ", ".join(f"{h.addr}:2379" for h in s.etcd_hosts)
        return f"""\
scope: {s.scope}
name: {self.name}
restapi:
  listen: {self.host.addr}:{REST_PORT}
  # Beyond loopback, tandemd starts only with the changing endpoints authenticated.
  authentication:
    username: {REST_USER}
    password: {s.password}api
  # The members' network: the REST credentials go only to api_urls in it (docs/security.md).
  allowlist: [10.213.0.0/24]
etcd3:
  hosts: [{etcd}]
bootstrap:
  dcs:
    ttl: {s.ttl}
    loop_wait: {s.loop_wait}
    retry_timeout: {s.retry_timeout}
    maximum_lag_on_failover: {s.max_lag}
    synchronous_mode: {"true" if s.sync else "false"}
    synchronous_mode_strict: {"true" if s.sync else "false"}
    postgresql:
      use_pg_rewind: true
      parameters:
        max_connections: 60
        shared_buffers: 16MB
postgresql:
  listen: {self.host.addr}:{PG_PORT}
  connect_address: {self.host.addr}:{PG_PORT}
  data_dir: {self.data}
  parameters:
    unix_socket_directories: '{self.dir}'
  authentication:
    superuser:
      username: postgres
      password: {s.password}
    replication:
      username: replicator
      password: {s.password}r
  pg_hba:
    - local all all trust
    - host all all 10.213.0.0/24 scram-sha-256
    - host replication replicator 10.213.0.0/24 scram-sha-256
tags:
  site: {self.host.site}
""" + (archive.config_text(s, self) + s.backup_schedule_text() if s.backup else "")

    def prepare(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        for p in (self.dir, self.config_path):
            shutil.chown(p, "postgres", "postgres")
        os.chmod(self.config_path, 0o600)
        self.disk.mount()
        # tandemd writes PostgreSQL's log to <data>.log: keep it off the disk that fills up.
        pathlib.Path(str(self.data) + ".log").symlink_to(self.pg_log_path)
        self.clock.set(0)

    def start(self):
        if self.agent_alive():
            return
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.dir), "LANG": "C.UTF-8"}
        with open(self.log_path, "ab") as f:
            f.write(f"### faults: starting tandemd at {time.strftime('%H:%M:%S')}\n".encode())
        self.forget()
        self.proc = self.system.topo.popen(self.name, self.clock.argv([TANDEMD, self.config_path]),
                                           self.log_path, user="postgres", env=env, cwd=self.dir)

    def forget(self):
        """Cleans up after an agent that is gone (libfaketime's files)."""
        if self.proc is not None and self.proc.poll() is not None:
            self.clock.forget(self.proc.pid)

    def agent_alive(self):
        return self.proc is not None and self.proc.poll() is None

    def agent_pid(self):
        return self.proc.pid if self.agent_alive() else None

    def postmaster_pid(self):
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def pg_pids(self):
        pm = self.postmaster_pid()
        return [pm] + children(pm) if pm else []

    def agent_pids(self):
        """tandemd and its helpers other than PostgreSQL (the fence watchdog)."""
        a = self.agent_pid()
        if not a:
            return []
        pg = set(self.pg_pids())
        return [a] + [c for c in children(a) if c not in pg]

    def rest(self, path="/patroni", timeout=1.5):
        conn = http.client.HTTPConnection(self.host.addr, REST_PORT, timeout=timeout)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            return r.status, (json.loads(body) if body[:1] == b"{" else None)
        except (OSError, http.client.HTTPException, ValueError):
            return None, None
        finally:
            conn.close()

    def patroni(self):
        st, body = self.rest()
        return body if st == 200 else None

    def connect(self, timeout=3):
        return psycopg.connect(host=self.host.addr, port=PG_PORT, user="postgres",
                               password=self.system.password, dbname="postgres",
                               connect_timeout=timeout, autocommit=True)

    def query(self, sql, params=None):
        with self.connect() as c:
            cur = c.execute(sql, params)
            return cur.fetchall() if cur.description else None


class System:
    def __init__(self, sync=True, ttl=4, loop_wait=1, retry_timeout=1, max_lag=1048576,
                 base=None, backup=False, etcd_hosts=ETCD_HOSTS, local_reads=False):
        self.base = pathlib.Path(base or tempfile.mkdtemp(prefix="tandem-faults-"))
        os.chmod(self.base, 0o755)
        shutil.chown(self.base, "postgres", "postgres")
        self.sync, self.ttl = sync, ttl
        self.loop_wait, self.retry_timeout = loop_wait, retry_timeout
        self.max_lag = max_lag
        # Backups on (run.py --backup): a pgBackRest repository in the run's directory.
        self.backup = backup
        self.repo = archive.prepare_repo(self.base) if backup else None
        self.scope = "faults" + uuid.uuid4().hex[:6]
        # The backup runner backs up when a fault asks (no schedule); tandemd archives itself.
        self.backup_requests = []  # ids of `tandemctl backup` requests a fault made
        self.password = "pw" + uuid.uuid4().hex
        if not clock.available():
            raise RuntimeError(f"{clock.LIBFAKETIME} missing (Debian faketime; scripts/deps.sh)")
        self.topo = Topology()
        # hellod reads from the replicas through HAProxy's read-only port (stretched.py)
        self.local_reads = local_reads
        self.topo.create(etcd_hosts + DB_HOSTS + [CLIENT])
        h = self.topo.hosts
        self.etcd_hosts = [h[n] for n, _, _ in etcd_hosts]
        self.db_hosts = [h[n] for n, _, _ in DB_HOSTS]
        self.client = h[CLIENT[0]]
        self.etcd_procs = {}
        self.nodes = {hh.name: Node(self, hh) for hh in self.db_hosts}
        self.topo.on_cleanup += [n.disk.unmount for n in self.nodes.values()]
        self.haproxy = self.hellod = None
        self.topo.enter(self.client.name)

    # -- backups

    def backup_schedule_text(self):
        return "  schedule:\n    full: none\n    diff: none\n    incr: none\n"

    def backup_state(self):
        try:
            text = self.etcd_range(self.key("backup")).get(self.key("backup"))
        except OSError:
            return None
        return json.loads(text) if text else {}

    def tandemctl_auth(self, *args, timeout=30):
        """tandemctl with a member's file: etcd, scope and the REST credentials."""
        node = next(iter(self.nodes.values()))
        return subprocess.run([str(TANDEMCTL), "-c", str(node.config_path), *args],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    # -- etcd

    def start_etcd(self, name):
        host = self.topo.hosts[name]
        p = self.etcd_procs.get(name)
        if p is not None and p.poll() is None:
            return
        d = self.base / name
        d.mkdir(exist_ok=True)
        cluster = ",".join(f"{x.name}=http://{x.addr}:2380" for x in self.etcd_hosts)
        self.etcd_procs[name] = self.topo.popen(name, [
            ETCD, "--name", name, "--data-dir", d / "data",
            "--listen-client-urls", f"http://{host.addr}:2379",
            "--advertise-client-urls", f"http://{host.addr}:2379",
            "--listen-peer-urls", f"http://{host.addr}:2380",
            "--initial-advertise-peer-urls", f"http://{host.addr}:2380",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", self.scope], d / "etcd.log")

    def etcd_pid(self, name):
        p = self.etcd_procs.get(name)
        return p.pid if p is not None and p.poll() is None else None

    def etcd_range(self, key, prefix=False, timeout=1.0):
        body = {"key": base64.b64encode(key.encode()).decode()}
        if prefix:
            end = bytearray(key.encode())
            end[-1] += 1
            body["range_end"] = base64.b64encode(bytes(end)).decode()
        last = None
        for h in self.etcd_hosts:
            try:
                req = urllib.request.Request(f"http://{h.addr}:2379/v3/kv/range", method="POST",
                                             data=json.dumps(body).encode())
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    kvs = json.loads(r.read()).get("kvs", [])
                return {base64.b64decode(kv["key"]).decode():
                        base64.b64decode(kv.get("value", "")).decode() for kv in kvs}
            except (OSError, ValueError) as e:
                last = e
        raise OSError(f"no etcd member answers: {last}")

    def key(self, name):
        return f"/service/{self.scope}/{name}"

    def dcs_leader(self):
        try:
            return self.etcd_range(self.key("leader")).get(self.key("leader"))
        except OSError:
            return None

    # -- life

    def start(self, timeout=180):
        for h in self.etcd_hosts:
            self.start_etcd(h.name)
        wait_until(lambda: self._etcd_ok(), 60, "etcd to answer", interval=0.2)
        for n in self.nodes.values():
            n.prepare()
            n.start()
        self.wait_healthy(timeout)
        self.start_client_services()
        return self

    def _etcd_ok(self):
        try:
            self.etcd_range("x")
            return True
        except OSError:
            return False

    def tandemctl(self, *args, timeout=30):
        etcd = ",".join(f"{h.addr}:2379" for h in self.etcd_hosts)
        return subprocess.run([str(TANDEMCTL), "--etcd", etcd, "--scope", self.scope, *args],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def start_client_services(self):
        c = self.client
        r = self.tandemctl("haproxy-config", "--rw", f"{c.addr}:{RW_PORT}", "--ro",
                           f"{c.addr}:{RO_PORT}")
        if r.returncode != 0:
            raise RuntimeError(f"tandemctl haproxy-config: {r.stderr}")
        cfg = self.base / "haproxy.cfg"
        cfg.write_text(r.stdout)
        self.haproxy = self.topo.popen(c.name, [HAPROXY, "-db", "-f", cfg],
                                       self.base / "haproxy.log")
        # The orchestrating process already lives in the client's namespace.
        def rw_ok():
            try:
                with self.rw_connect() as conn:
                    return conn.execute("SELECT NOT pg_is_in_recovery()").fetchone()[0]
            except psycopg.Error:
                return False
        wait_until(rw_ok, 30, "HAProxy's rw port to reach the primary", interval=0.2)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
               "HELLOD_DATABASE": f"host={c.addr} port={RW_PORT} user=postgres dbname=postgres "
                                  f"password={self.password} connect_timeout=2"}
        if self.local_reads:
            env.update(HELLOD_READ_FROM="local",
                       HELLOD_READ_DATABASE=f"host={c.addr} port={RO_PORT} user=postgres "
                                            f"dbname=postgres password={self.password} "
                                            f"connect_timeout=2")
        self.hellod = self.topo.popen(c.name, [
            HELLOD, "--listen", f"{c.addr}:{HELLOD_PORT}", "--allow", "10.213.0.0/24",
            "--workers", "1", "--db-pool-size", "2", "--request-deadline", "8s"],
            self.base / "hellod.log", user="postgres", env=env)  # hellod refuses root

        def ready():
            try:
                url = f"http://{c.addr}:{HELLOD_PORT}/readyz"
                with urllib.request.urlopen(url, timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_until(ready, 60, "hellod /readyz", interval=0.2)

    def rw_connect(self, timeout=2):
        return psycopg.connect(host=self.client.addr, port=RW_PORT, user="postgres",
                               password=self.password, dbname="postgres", connect_timeout=timeout,
                               autocommit=True, keepalives=1, keepalives_idle=2,
                               keepalives_interval=1, keepalives_count=2)

    # -- health

    def health_problem(self):
        """None when healed: one leader key, that member primary and writable, every other
        member a streaming replica on the leader's timeline, every etcd member up, all agents
        running."""
        for h in self.etcd_hosts:
            if not self.etcd_pid(h.name):
                return f"etcd {h.name} not running"
        for n in self.nodes.values():
            if not n.agent_alive():
                return f"{n.name}'s tandemd not running"
        leader = self.dcs_leader()
        if not leader:
            return "no leader key"
        st = {n.name: n.patroni() for n in self.nodes.values()}
        primaries = sorted(k for k, s in st.items() if s and s.get("role") in PRIMARY_ROLES)
        if primaries != [leader]:
            return f"leader key {leader}, members reporting primary: {primaries}"
        try:
            if self.nodes[leader].query("SELECT pg_is_in_recovery()")[0][0]:
                return f"leader {leader} in recovery"
        except psycopg.Error as e:
            return f"leader {leader} not queryable: {str(e).strip()[:80]}"
        lt = st[leader].get("timeline")
        for k, s in st.items():
            if k == leader:
                continue
            if not s:
                return f"{k}'s REST API does not answer"
            if s.get("role") != "replica" or s.get("replication_state") != "streaming":
                return f"{k}: role {s.get('role')}, replication {s.get('replication_state')}"
            if s.get("timeline") != lt:
                return f"{k} on timeline {s.get('timeline')}, leader on {lt}"
        if self.sync:
            try:
                sync = self.etcd_range(self.key("sync")).get(self.key("sync"))
            except OSError:
                sync = None
            if not sync or not json.loads(sync).get("sync_standby"):
                return f"no synchronous standby in the sync key ({sync})"
        return None

    def wait_healthy(self, timeout=90):
        last = ["?"]

        def ok():
            last[0] = self.health_problem()
            return last[0] is None
        try:
            wait_until(ok, timeout, "a healed cluster", interval=0.3)
        except TimeoutError as e:
            raise TimeoutError(f"{e}: {last[0]}") from None
        return self.nodes[self.dcs_leader()]

    def leader_node(self):
        """The member that says it is the primary (REST), else the key holder, else None."""
        for n in self.nodes.values():
            s = n.patroni()
            if s and s.get("role") in PRIMARY_ROLES:
                return n
        k = self.dcs_leader()
        return self.nodes.get(k) if k else None

    # -- logs

    def log_paths(self):
        out = []
        for n in self.nodes.values():
            out += [n.log_path, n.pg_log_path]
        out += [self.base / h.name / "etcd.log" for h in self.etcd_hosts]
        out += [self.base / "haproxy.log", self.base / "hellod.log"]
        return out

    def log_tails(self, n=40):
        return "\n\n".join(f"==== {p}\n{tail(p, n)}" for p in self.log_paths())

    def stop(self):
        """Stops what runs (SIGTERM to the agents first, so PostgreSQL stops cleanly), then the
        topology's cleanup kills whatever is left in our namespaces and deletes them."""
        for p in self.topo.started:
            with contextlib.suppress(Exception):
                os.kill(p.pid, signal.SIGCONT)
        for h in self.topo.hosts.values():
            h.heal_links()
        for n in self.nodes.values():
            signal_pids(n.pg_pids(), signal.SIGCONT)
            if n.agent_alive():
                n.proc.terminate()
        for n in self.nodes.values():
            with contextlib.suppress(Exception):
                n.proc.wait(20)
        self.topo.cleanup()
        for n in self.nodes.values():
            n.forget()
