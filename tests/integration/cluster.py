"""A harness for cluster-level tests of tandemd (tests/integration/test_cluster.py).

`Cluster(n)` builds, on loopback and in a temporary directory owned by the `postgres` OS user:

* its own single-member etcd on free ports (stop/kill/start it on the same data to simulate an
  outage);
* N members, each with a Patroni-style YAML (short timings: ttl 5, loop_wait 1, retry_timeout 2),
  a REST port and a PostgreSQL port, and a `tandemd` started as the postgres user (the Popen pid is
  tandemd itself, so SIGKILL/SIGSTOP reach it, not a runuser wrapper);
* optionally an HAProxy started with `tandemctl haproxy-config` output.

It can kill the agent, the postmaster (pid from DATA/postmaster.pid) or both, freeze/thaw an
agent, read each member's REST /patroni, run SQL on members with psycopg (superuser password from
the config, host 127.0.0.1) and wait for conditions with deadlines (polls, never fixed sleeps).
`cleanup()` stops everything it started, even after failures, and `logs()` returns the tails of
every member's tandemd log and PostgreSQL log (DATA.log) for failure reports.

Timeouts scale with conftest.SLOW (an ASan build of tandemd is slower).
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
import ssl
import subprocess
import tempfile
import urllib.request
import uuid

import psycopg

from conftest import BUILD, SLOW, free_port, pid_alive, wait_until

ETCD = os.environ.get("ETCD_BIN", "/usr/bin/etcd")
TANDEMD = BUILD / "src" / "tandemd" / "tandemd"
TANDEMCTL = BUILD / "src" / "tandemctl" / "tandemctl"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
PATRONICTL = shutil.which("patronictl")
PG_BIN = pathlib.Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))

TTL, LOOP_WAIT, RETRY_TIMEOUT = 5, 1, 2
# How long anything a healthy cluster does may take (bootstrap, a failover, a rejoin).
T_BOOT = 90.0 * SLOW
T_CHANGE = 60.0 * SLOW
T_STOP = 30.0 * SLOW

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

PRIMARY_ROLES = ("master", "primary")


def tail(path, n=60):
    try:
        lines = pathlib.Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no file)"
    return "\n".join(lines[-n:])


def kill_pid(pid, sig=signal.SIGKILL, timeout=T_STOP):
    """Signals a process that need not be our child and waits until it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    wait_until(lambda: not pid_alive(pid), timeout, f"pid {pid} to exit after signal {sig}")


def pids_under(path):
    """Pids of processes whose arguments mention `path` (everything the harness started)."""
    needle = str(path)
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        if needle.encode() in raw:
            out.append(int(d))
    return out


class LogSource:
    """What conftest's failure-report hook expects: `log_path` and `log()` (here a tail)."""

    def __init__(self, path, n=80):
        self.log_path = pathlib.Path(path)
        self.n = n

    def log(self):
        return tail(self.log_path, self.n)


# ---------------------------------------------------------------------------------------------
# etcd


class Etcd:
    def __init__(self, base, tls=None):
        """`tls`: (ca, cert, key) files: https, and clients need a certificate of that CA."""
        self.base = pathlib.Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.peer = f"http://127.0.0.1:{free_port()}"
        self.endpoint = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = self.base / "etcd.log"
        self.proc = None
        self.tls_args, self.context = [], None
        if tls:
            ca, cert, key = map(str, tls)
            self.tls_args = ["--cert-file", cert, "--key-file", key, "--client-cert-auth",
                             "--trusted-ca-file", ca]
            self.context = ssl.create_default_context(cafile=ca)
            self.context.load_cert_chain(cert, key)

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [ETCD, "--name", "it", "--data-dir", str(self.base / "data"),
                 "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
                 "--listen-peer-urls", self.peer, "--initial-advertise-peer-urls", self.peer,
                 "--initial-cluster", f"it={self.peer}", *self.tls_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.ready, 30, "etcd to answer", interval=0.05)

    def ready(self):
        assert self.proc.poll() is None, f"etcd exited {self.proc.returncode}:\n{tail(self.log_path)}"
        try:
            self.range(b"x")
            return True
        except OSError:
            return False

    def range(self, key, prefix=False):
        body = {"key": base64.b64encode(key).decode()}
        if prefix:
            end = bytearray(key)
            end[-1] += 1
            body["range_end"] = base64.b64encode(bytes(end)).decode()
        req = urllib.request.Request(self.endpoint + "/v3/kv/range", method="POST",
                                     data=json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=2, context=self.context) as r:
            kvs = json.loads(r.read()).get("kvs", [])
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
                for kv in kvs}

    def get(self, key):
        return self.range(key.encode()).get(key)

    def put(self, key, value):
        """Writes a key directly, as anyone who can reach etcd could."""
        body = {"key": base64.b64encode(key.encode()).decode(),
                "value": base64.b64encode(value.encode()).decode()}
        req = urllib.request.Request(self.endpoint + "/v3/kv/put", method="POST",
                                     data=json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=2, context=self.context) as r:
            r.read()

    def stop(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def running(self):
        return self.proc is not None and self.proc.poll() is None


# ---------------------------------------------------------------------------------------------
# a member


class Member:
    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name = f"{cluster.name_prefix}{index}"
        self.dir = cluster.base / self.name
        self.data = self.dir / "data"
        self.config_path = self.dir / "tandemd.yml"
        self.log_path = self.dir / "tandemd.log"
        self.pg_log_path = pathlib.Path(str(self.data) + ".log")
        self.rest_port = free_port()
        self.pg_port = free_port()
        self.proc = None
        self.extra_env = {}  # more environment for tandemd (NOTIFY_SOCKET, test_systemd_notify)
        self.exits = []  # (how it was stopped, exit status)
        self.frozen = []  # PostgreSQL processes we SIGSTOPped

    def __repr__(self):
        return f"<Member {self.name} rest {self.rest_port} pg {self.pg_port}>"

    # -- configuration and process

    def config_text(self):
        c = self.cluster
        return f"""\
scope: {c.scope}
name: {self.name}
restapi:
  listen: 127.0.0.1:{self.rest_port}
etcd3:
  hosts: {c.etcd.host}
bootstrap:
  dcs:
    ttl: {c.ttl}
    loop_wait: {c.loop_wait}
    retry_timeout: {c.retry_timeout}
    maximum_lag_on_failover: 1048576
{c.dcs_extra_text()}{c.standby_text()}    postgresql:
      use_pg_rewind: true
      parameters:
        fsync: 'off'
        max_connections: 50
        shared_buffers: 16MB
{c.pg_parameters_text()}postgresql:
  listen: 127.0.0.1:{self.pg_port}
  connect_address: 127.0.0.1:{self.pg_port}
  data_dir: {self.data}
{c.local_parameters_text()}  authentication:
    superuser:
      username: postgres
      password: {c.superuser_password}
    replication:
      username: replicator
      password: {c.replication_password}
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 scram-sha-256
    - host replication all 127.0.0.1/32 scram-sha-256
{c.pg_extra}tags:
  site: {c.site_of(self.index)}
{c.yaml_extra}{c.member_extra}"""

    def write_config(self):
        self.dir.mkdir(exist_ok=True)
        self.config_path.write_text(self.config_text())
        for p in (self.dir, self.config_path):
            shutil.chown(p, "postgres", "postgres")
        os.chmod(self.config_path, 0o600)

    def start(self):
        assert not self.alive(), f"{self.name}'s tandemd already runs"
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.dir), "LANG": "C.UTF-8"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        env.update(self.cluster.extra_env)
        env.update(self.extra_env)
        with open(self.log_path, "ab") as log:
            log.write(f"### test harness: starting tandemd {self.config_path}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [str(TANDEMD), str(self.config_path)], user="postgres", group="postgres",
                extra_groups=[], env=env, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=T_STOP):
        """SIGTERM (PostgreSQL stopped fast, lease given up); returns the exit status."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"{self.name}'s tandemd did not stop within {timeout}s of "
                                 f"SIGTERM; killed\n{tail(self.log_path)}")
        self.exits.append(("SIGTERM", rc))
        return rc

    def kill_agent(self):
        """SIGKILL of tandemd alone (its postmaster keeps running)."""
        assert self.alive(), f"{self.name}'s tandemd is not running"
        self.proc.send_signal(signal.SIGCONT)
        self.proc.kill()
        self.proc.wait(T_STOP)
        self.exits.append(("SIGKILL", self.proc.returncode))

    def postmaster_pid(self):
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid) else None

    def kill_postgres(self):
        """SIGKILL of the postmaster; returns its pid. Its children notice and exit."""
        pid = self.postmaster_pid()
        assert pid, f"{self.name} has no running postmaster"
        kill_pid(pid)
        return pid

    def kill_node(self):
        """The whole node: tandemd, then its postmaster (and any frozen walsender), SIGKILL."""
        pid = self.postmaster_pid()
        self.kill_agent()
        if pid and pid_alive(pid):
            kill_pid(pid)
        self.kill_frozen()

    def freeze_walsenders(self):
        """SIGSTOPs this primary's walsenders: WAL written from now on reaches no replica (a
        former primary that diverges whatever its agent does). Returns their pids."""
        pids = [r[0] for r in self.query("SELECT pid FROM pg_stat_replication")]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        self.frozen += pids
        return pids

    def kill_frozen(self):
        """Stopped children would never notice their postmaster's death (and would keep its
        shared memory, so that PostgreSQL could not start again): SIGKILL them."""
        for pid in self.frozen:
            if pid_alive(pid):
                kill_pid(pid)
        self.frozen = []

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    # -- looking at it

    def rest_connection(self, timeout=2.0):
        """An HTTP connection to the REST API (https with the cluster's rest_context)."""
        ctx = self.cluster.rest_context
        if ctx:
            return http.client.HTTPSConnection("127.0.0.1", self.rest_port, timeout=timeout,
                                               context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.rest_port, timeout=timeout)

    def patroni(self, timeout=2.0):
        """GET /patroni as a dict, or None when the REST API does not answer 200."""
        conn = self.rest_connection(timeout)
        try:
            conn.request("GET", "/patroni")
            r = conn.getresponse()
            body = r.read()
            return json.loads(body) if r.status == 200 else None
        except (OSError, http.client.HTTPException, ValueError):
            return None
        finally:
            conn.close()

    def metric(self, name, timeout=5.0):
        """The value of the sample `name{...}` in this member's /metrics (its first one), or None
        when there is none (docs/monitoring.md)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.rest_port, timeout=timeout)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        for ln in text.splitlines():
            if ln.startswith(name + "{"):
                return float(ln.rsplit(" ", 1)[1])
        return None

    def health(self, path, timeout=2.0):
        conn = self.rest_connection(timeout)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            return r.status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def connect(self, port=None, timeout=3):
        return psycopg.connect(host="127.0.0.1", port=port or self.pg_port, user="postgres",
                               password=self.cluster.superuser_password, dbname="postgres",
                               connect_timeout=timeout, autocommit=True)

    def query(self, sql, params=None):
        with self.connect() as c:
            cur = c.execute(sql, params)
            return cur.fetchall() if cur.description else None

    def in_recovery(self):
        """pg_is_in_recovery(), or None when PostgreSQL cannot be queried."""
        try:
            return self.query("SELECT pg_is_in_recovery()")[0][0]
        except psycopg.Error:
            return None

    def writable(self):
        return self.in_recovery() is False

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# HAProxy


class Haproxy:
    def __init__(self, cluster):
        self.cluster = cluster
        self.rw_port = free_port()
        self.ro_port = free_port()
        self.config_path = cluster.base / "haproxy.cfg"
        self.log_path = cluster.base / "haproxy.log"
        self.proc = None

    def start(self):
        r = self.cluster.tandemctl("haproxy-config", "--rw", f"127.0.0.1:{self.rw_port}",
                                   "--ro", f"127.0.0.1:{self.ro_port}")
        assert r.returncode == 0, f"tandemctl haproxy-config exited {r.returncode}: {r.stderr}"
        self.config_path.write_text(r.stdout)
        chk = subprocess.run([HAPROXY, "-c", "-f", str(self.config_path)], capture_output=True,
                             text=True, timeout=30)
        assert chk.returncode == 0, f"haproxy -c refused the configuration:\n{chk.stdout}{chk.stderr}"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        return self

    def via(self, port):
        """(pg_is_in_recovery(), inet_server_port()) through an HAProxy port, or None."""
        assert self.proc.poll() is None, f"haproxy exited:\n{tail(self.log_path)}"
        try:
            with self.cluster.members[0].connect(port=port, timeout=2) as c:
                return tuple(c.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone())
        except psycopg.Error:
            return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# ---------------------------------------------------------------------------------------------
# the cluster


def serve(c, timeout=T_BOOT):
    """For a module's fixture, `yield from serve(Cluster(...))`: starts the cluster and waits
    until it is healthy (printing the logs if it never is), yields it, then stops it and fails
    on an unclean stop (sanitizer reports, processes left)."""
    try:
        c.start()
        c.wait_healthy(timeout)
    except BaseException:
        print(c.logs())
        c.cleanup()
        raise
    yield c
    problems = c.cleanup()
    assert not problems, "\n\n".join(problems)


class Cluster:
    def __init__(self, n=3, ttl=TTL, loop_wait=LOOP_WAIT, retry_timeout=RETRY_TIMEOUT,
                 prefix="tandem-it-cl-", dcs_extra=None, name_prefix="m", standby=None,
                 passwords=None, etcd_tls=None, pg_extra="", yaml_extra="",
                 pg_parameters=None, member_extra="", local_parameters=None, sites=None):
        """`etcd_tls`: (ca, cert, key) for an etcd over https with client certificates. With
        TLS on the REST API, set `rest_context` (an ssl.SSLContext the harness reads /patroni
        with) and `ctl_config` (the file tandemctl is given with -c, instead of --etcd).
        `standby`: bootstrap.dcs.standby_cluster ({"host": ..., "port": ...}), a cluster born a
        standby cluster; it copies the other cluster's roles, so give `passwords` (superuser,
        replication) of that cluster."""
        self.base = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self.base, 0o755)
        shutil.chown(self.base, "postgres", "postgres")
        self.scope = "it" + uuid.uuid4().hex[:8]
        self.namespace = "/service/"
        self.ttl, self.loop_wait, self.retry_timeout = ttl, loop_wait, retry_timeout
        # More bootstrap.dcs keys ({"synchronous_mode": True, ...}): scalars, written as YAML.
        self.dcs_extra = dict(dcs_extra or {})
        # More YAML for every member: under postgresql: (indented two spaces), and at the top.
        self.pg_extra, self.yaml_extra = pg_extra, yaml_extra
        # More PostgreSQL parameters in bootstrap.dcs ({"archive_mode": "on"}) and in each
        # member's own postgresql.parameters (what the DCS may not set: archive_command), and
        # YAML text appended to every member's file (a `backup:` section). local_parameters and
        # member_extra may be functions of the cluster (they see self.base and self.scope).
        self.pg_parameters = dict(pg_parameters or {})
        lp = local_parameters(self) if callable(local_parameters) else local_parameters
        self.local_parameters = dict(lp or {})
        self.member_extra = member_extra(self) if callable(member_extra) else member_extra
        self.superuser_password = "su-" + uuid.uuid4().hex
        self.replication_password = "repl-" + uuid.uuid4().hex
        if passwords:
            self.superuser_password, self.replication_password = passwords
        self.name_prefix = name_prefix
        # Each member's tags.site, in order (default: member 3 in B, the others in A).
        self.sites = list(sites) if sites else None
        self.standby = dict(standby or {})
        self.extra_env = {}  # more environment for every tandemd (KUBERNETES_SERVICE_HOST, ...)
        self.etcd = Etcd(self.base / "etcd", etcd_tls)
        self.rest_context = None
        self.ctl_config = None
        self.members = [Member(self, i + 1) for i in range(n)]
        self.haproxy = None
        self.row_seq = 0
        for m in self.members:
            m.write_config()

    def local_parameters_text(self):
        if not self.local_parameters:
            return ""
        return "  parameters:\n" + "".join(f"    {k}: {json.dumps(str(v))}\n"
                                           for k, v in self.local_parameters.items())

    def pg_parameters_text(self):
        return "".join(f"        {k}: {json.dumps(str(v))}\n"
                       for k, v in self.pg_parameters.items())

    def site_of(self, index):
        """Member `index`'s (1-based) tags.site."""
        if self.sites:
            return self.sites[index - 1]
        return "B" if index == 3 else "A"

    def dcs_extra_text(self):
        def scalar(v):
            return ("true" if v else "false") if isinstance(v, bool) else str(v)
        return "".join(f"    {k}: {scalar(v)}\n" for k, v in self.dcs_extra.items())

    def standby_text(self):
        if not self.standby:
            return ""
        return "    standby_cluster:\n" + "".join(
            f"      {k}: '{v}'\n" for k, v in self.standby.items())

    # -- life

    def start(self):
        self.etcd.start()
        for m in self.members:
            m.start()
        return self

    def start_haproxy(self):
        self.haproxy = Haproxy(self).start()
        return self.haproxy

    def cleanup(self):
        """Stops everything; returns a list of problems (unclean exits, sanitizer reports)."""
        problems = []
        if self.haproxy:
            with contextlib.suppress(Exception):
                self.haproxy.stop()
        for m in self.members:
            if m.proc is not None and m.proc.poll() is None:
                m.thaw()
                try:
                    rc = m.stop()
                except AssertionError as e:
                    problems.append(str(e))
                    continue
                if rc != 0:
                    problems.append(f"{m.name}'s tandemd exited {rc} on SIGTERM:\n"
                                    f"{tail(m.log_path, 30)}")
        for m in self.members:
            text = m.log()
            for mark in SANITIZER_MARKS:
                if mark in text:
                    problems.append(f"{m.name}'s log has a sanitizer report ({mark}):\n"
                                    f"{tail(m.log_path, 80)}")
                    break
        # Postmasters of killed agents, and anything else started on our directories.
        for m in self.members:
            pid = m.postmaster_pid()
            if pid:
                with contextlib.suppress(AssertionError):
                    kill_pid(pid)
            with contextlib.suppress(AssertionError):
                m.kill_frozen()
        for _ in range(3):
            pids = pids_under(self.base)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(AssertionError, PermissionError):
                    kill_pid(pid, timeout=10)
        with contextlib.suppress(Exception):
            self.etcd.stop()
        if os.environ.get("TANDEM_KEEP_CLUSTER"):
            problems and print(f"cluster kept in {self.base}")
        else:
            shutil.rmtree(self.base, ignore_errors=True)
        return problems

    def log_sources(self):
        out = []
        for m in self.members:
            out += [LogSource(m.log_path), LogSource(m.pg_log_path, 40)]
        out.append(LogSource(self.etcd.log_path, 15))
        if self.haproxy:
            out.append(LogSource(self.haproxy.log_path, 15))
        return out

    def logs(self):
        return "\n\n".join(f"==== {s.log_path}\n{s.log()}" for s in self.log_sources())

    # -- the DCS and tools

    def key(self, name):
        return f"{self.namespace}{self.scope}/{name}"

    def dcs_leader(self):
        try:
            return self.etcd.get(self.key("leader"))
        except OSError:
            return None

    def member(self, name):
        return next(m for m in self.members if m.name == name)

    def tandemctl(self, *args, timeout=60, config=None):
        """tandemctl with --etcd and --scope; or, with a configuration (`config`, else
        ctl_config), run as the postgres user whose keys it names."""
        config = config or self.ctl_config
        where = ["-c", str(config)] if config else ["--etcd", self.etcd.host, "--scope", self.scope]
        user = dict(user="postgres", group="postgres", extra_groups=[]) if config else {}
        return subprocess.run(
            [str(TANDEMCTL), *where, *map(str, args)], **user,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout * SLOW)

    def patronictl(self, *args, timeout=60):
        cfg = self.base / "patronictl.yml"
        if not cfg.exists():
            cfg.write_text(f"scope: {self.scope}\nnamespace: {self.namespace}\n"
                           f"etcd3:\n  hosts: {self.etcd.host}\n")
        return subprocess.run([PATRONICTL, "-c", str(cfg), *map(str, args)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "HOME": str(self.base)})

    # -- conditions

    def states(self):
        return {m.name: (m.patroni() if m.alive() else None) for m in self.members}

    def health_problem(self, members=None):
        """None when the cluster is healthy: exactly one leader (holds the key, says it is the
        primary, and is writable), every other running member a replica streaming from it on the
        leader's timeline, all with the same system id. Otherwise a description of what is not."""
        members = [m for m in (members or self.members)]
        leader_name = self.dcs_leader()
        if not leader_name:
            return "no leader key"
        st = {m.name: m.patroni() for m in members}
        primaries = [n for n, s in st.items() if s and s.get("role") in PRIMARY_ROLES]
        if primaries != [leader_name]:
            return f"leader key {leader_name}, members reporting primary: {primaries}"
        leader = self.member(leader_name)
        if not leader.writable():
            return f"leader {leader_name} is not writable"
        lst = st[leader_name]
        for n, s in st.items():
            if n == leader_name:
                continue
            if not s:
                return f"{n}'s REST API does not answer"
            if s.get("role") != "replica" or s.get("replication_state") != "streaming":
                return f"{n}: role {s.get('role')}, replication {s.get('replication_state')}"
            if s.get("timeline") != lst.get("timeline"):
                return f"{n} on timeline {s.get('timeline')}, leader on {lst.get('timeline')}"
            if s.get("database_system_identifier") != lst.get("database_system_identifier"):
                return f"{n} has another system id"
        # What the other members and the tools see: every member key says running, with a
        # WAL position (a replica without one may not be chosen for a failover yet).
        try:
            keys = self.etcd.range(self.key("members/").encode(), prefix=True)
        except OSError as e:
            return f"etcd: {e}"
        for m in members:
            try:
                v = json.loads(keys.get(self.key(f"members/{m.name}"), "null"))
            except ValueError:
                v = None
            if not v or v.get("state") != "running" or "xlog_location" not in v:
                return f"{m.name}'s member key: {v}"
            want = "replica" if m.name != leader_name else None
            if want and v.get("role") != want:
                return f"{m.name}'s member key says role {v.get('role')}"
        return None

    def wait_healthy(self, timeout=T_CHANGE):
        """Waits for health_problem() to be None; returns the leader Member."""
        last = ["?"]

        def ok():
            last[0] = self.health_problem()
            return last[0] is None

        try:
            wait_until(ok, timeout, "a healthy cluster", interval=0.2)
        except AssertionError as e:
            raise AssertionError(f"{e}: {last[0]}") from None
        return self.member(self.dcs_leader())

    def wait_leader(self, not_name=None, timeout=T_CHANGE):
        """Waits for a writable leader (other than `not_name`) holding the key; returns it."""
        def ok():
            n = self.dcs_leader()
            if not n or n == not_name:
                return None
            m = self.member(n)
            s = m.patroni()
            return m if s and s.get("role") in PRIMARY_ROLES and m.writable() else None

        return wait_until(ok, timeout, f"a writable leader other than {not_name}", interval=0.1)

    # -- data

    def ensure_table(self, leader):
        leader.query("CREATE TABLE IF NOT EXISTS it_rows (v text PRIMARY KEY)")

    def write_row(self, member, value=None):
        self.row_seq += 1
        value = value or f"row-{self.row_seq}-{uuid.uuid4().hex[:6]}"
        self.ensure_table(member)
        member.query("INSERT INTO it_rows (v) VALUES (%s)", (value,))
        return value

    def has_row(self, member, value):
        try:
            return bool(member.query("SELECT 1 FROM it_rows WHERE v = %s", (value,)))
        except psycopg.Error:
            return False

    def wait_row(self, members, value, timeout=T_CHANGE):
        for m in members:
            wait_until(lambda: self.has_row(m, value), timeout,
                       f"row {value!r} on {m.name}", interval=0.05)

    def wait_haproxy_routes(self, leader, timeout=20.0 * SLOW):
        """The rw port reaches the leader (writable), the ro port one of the replicas."""
        hp = self.haproxy
        want_rw = (False, leader.pg_port)
        replicas = {m.pg_port for m in self.members if m is not leader}
        seen = {}

        def rw_ok():
            seen["rw"] = hp.via(hp.rw_port)
            return seen["rw"] == want_rw

        def ro_ok():
            seen["ro"] = hp.via(hp.ro_port)
            return seen["ro"] is not None and seen["ro"][0] is True and seen["ro"][1] in replicas

        try:
            wait_until(rw_ok, timeout, f"rw port {hp.rw_port} -> {leader.name}", interval=0.2)
            wait_until(ro_ok, timeout, f"ro port {hp.ro_port} -> a replica", interval=0.2)
        except AssertionError as e:
            raise AssertionError(f"{e}; last answers {seen}") from None


def with_repository(c, pg_extra=None):
    """Backups on (docs/backup.md): a pgBackRest repository in c.repo, owned by postgres, named
    in every member's file (and `pg_extra` under postgresql:, when given); returns c."""
    c.repo = c.base / "repo"
    c.repo.mkdir(mode=0o750)
    shutil.chown(c.repo, "postgres", "postgres")
    c.yaml_extra = f"backup:\n  pgbackrest:\n    repo1-path: {c.repo}\n"
    if pg_extra is not None:
        c.pg_extra = pg_extra
    for m in c.members:
        m.write_config()
    return c


def healthy_cluster(*args, prepare=None, **kwargs):
    """For a module-scoped fixture: a started cluster (Cluster's arguments), healthy; yields it,
    then cleans up and fails on what cleanup found. Prints every log when it does not start.
    prepare(cluster), when given, runs before the start (to change the members' files)."""
    c = Cluster(*args, **kwargs)
    try:
        if prepare:
            prepare(c)
        c.start()
        c.wait_healthy(T_BOOT)
    except BaseException:
        print(c.logs())
        c.cleanup()
        raise
    yield c
    problems = c.cleanup()
    assert not problems, "\n\n".join(problems)


@contextlib.contextmanager
def logged_and_cleaned(sites):
    """Prints every log of `sites` (a list of clusters, which the body may still append to) if
    the body fails; cleans them all up; fails on what the cleanup found."""
    try:
        yield
    except BaseException:
        for site in sites:
            print(site.logs())
        raise
    finally:
        problems = [p for site in sites for p in site.cleanup()]
    assert not problems, "\n\n".join(problems)
