"""Fixtures for hellod's integration tests.

* `pg`: one PostgreSQL server for the session, in a temporary directory, run as the `postgres` OS
  user (PostgreSQL refuses root), listening on 127.0.0.1 on a free port with trust auth.
* `database` / `module_database`: a fresh database (CREATE DATABASE) per test or per module.
* `hellod` / `module_hellod`: a factory that starts the hellod binary (from $TANDEM_BUILD, default
  the repository's `build` directory) on a free port, waits for /healthz (and /readyz by default),
  logs its stderr to a file, and at teardown stops it with SIGTERM and checks that it exits 0. The
  logs of the servers a test used are attached to its report when it fails.

Every wait is a poll with a deadline; no test leaves a process behind, even when it fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import http.client
import json
import os
import pathlib
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid

import psycopg
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("TANDEM_BUILD") or (REPO / "build")).resolve()
HELLOD = BUILD / "src" / "hellod" / "hellod"
PG_BIN = pathlib.Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))

# ASan/UBSan builds are several times slower to start and to answer.
SLOW = 3.0 if "asan" in str(BUILD).lower() or os.environ.get("TANDEM_SLOW") else 1.0
START_TIMEOUT = 20.0 * SLOW
STOP_TIMEOUT = 20.0 * SLOW


# ---------------------------------------------------------------------------------------------
# small helpers


class WaitTimeout(TimeoutError, AssertionError):
    """wait_until ran out of time: a failed assertion to the tests, a TimeoutError to the fault
    suite and the benchmarks, which share this helper."""


def wait_until(pred, timeout, what="a condition", interval=0.02):
    """Polls `pred` until it returns something true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


_ports_given = set()
_port_random = random.Random(os.getpid() ^ time.time_ns())


def free_port(host="127.0.0.1"):
    """A port nothing listens on now, and never one this process handed out before: a server
    binds its port only when it starts, and the same free port could be offered twice meanwhile
    (CI saw a member's PostgreSQL given its etcd's port). From 10000-19999: below the kernel's
    ephemeral range (32768-60999), so that no client connection's own port takes it in the
    meantime, and apart from test_demo's ranges (20000-32000)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(1000):
        port = _port_random.randrange(10000, 20000)
        if port in _ports_given:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise OSError("no free port in 10000-19999")


def ipv6_loopback_available():
    try:
        free_port("::1")
        return True
    except OSError:
        return False


def utc_today():
    return datetime.datetime.now(datetime.timezone.utc).date()


def pid_alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X")


def _all_cmdlines():
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        yield int(d), [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]]


def pids_with_cmdline(*needles):
    """Pids whose argv contains every one of `needles` (exact arguments)."""
    return [pid for pid, argv in _all_cmdlines() if argv and all(n in argv for n in needles)]


def pids_with_argv(argv):
    """Pids running exactly `argv` (a hellod and any process it restarted itself as)."""
    want = [str(a) for a in argv]
    return [pid for pid, a in _all_cmdlines() if a == want and pid_alive(pid)]


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36


def set_child_subreaper(on):
    """Makes this process adopt orphaned descendants (so that a process the hellod under test
    detaches becomes our child and its exit status can be collected). Returns success."""
    return _libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0


# ---------------------------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage or dict with lower-case names
        self.body = body

    def header(self, name):
        if isinstance(self.headers, dict):
            return self.headers.get(name.lower())
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


def http_request(
    port,
    method="GET",
    path="/healthz",
    body=None,
    headers=None,
    host="127.0.0.1",
    timeout=10.0,
    scheme="http",
    ssl_context=None,
    source=None,
    json_body=None,
):
    """One request on a fresh connection; returns a Response (raises on transport errors)."""
    headers = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    src = (source, 0) if source else None
    if scheme == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl_context, source_address=src
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout, source_address=src)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, r.headers, data)
    finally:
        conn.close()


def raw_connect(port, host="127.0.0.1", source=None, timeout=10.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def read_response(f, method="GET"):
    """Reads one HTTP/1.1 response from a buffered binary file; None at a clean EOF."""
    line = f.readline(65537)
    if not line:
        return None
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ?(.*)\r\n", line)
    if not m:
        raise AssertionError(f"not an HTTP status line: {line!r}")
    status = int(m.group(1))
    headers = {}
    while True:
        h = f.readline(65537)
        if h in (b"\r\n", b"\n"):
            break
        if not h:
            raise AssertionError("connection closed inside the response headers")
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if method != "HEAD" and status not in (204, 304) and not 100 <= status < 200:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(f.readline().split(b";")[0], 16)
                if size == 0:
                    while f.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += f.read(size)
                f.readline()
        elif "content-length" in headers:
            body = f.read(int(headers["content-length"]))
        else:
            body = f.read()
    return Response(status, m.group(2).decode("latin-1"), headers, body)


def raw_exchange(port, data, host="127.0.0.1", timeout=10.0, count=1, methods=None, source=None):
    """Sends `data` in one write and reads up to `count` responses (fewer if the peer closes)."""
    with raw_connect(port, host=host, timeout=timeout, source=source) as s:
        s.sendall(data)
        f = s.makefile("rb")
        out = []
        for i in range(count):
            r = read_response(f, (methods or ["GET"] * count)[i])
            if r is None:
                break
            out.append(r)
        return out


# ---------------------------------------------------------------------------------------------
# PostgreSQL


class PgServer:
    def __init__(self):
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="hellod-it-pg-"))
        os.chmod(self.base, 0o755)
        shutil.chown(self.base, "postgres", "postgres")
        self.data = self.base / "data"
        self.sockdir = self.base / "sock"
        self.logfile = self.base / "postgres.log"
        self.port = free_port()
        self.host = "127.0.0.1"

    def _as_postgres(self, *args, timeout=120, check=True):
        cmd = ["runuser", "-u", "postgres", "--", *map(str, args)]
        r = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base,
        )
        if check and r.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}\n"
                f"{self.log_tail()}"
            )
        return r

    def log_tail(self, n=40):
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def init(self):
        self._as_postgres("mkdir", "-p", self.sockdir)
        self._as_postgres(
            PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--locale=C",
        )
        conf = f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.sockdir}'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
"""
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(conf)

    def start(self):
        self._as_postgres(
            PG_BIN / "pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "60", "start"
        )

    def stop(self):
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")

    def restart(self):
        self._as_postgres(
            PG_BIN / "pg_ctl", "-D", self.data, "-l", self.logfile, "-m", "fast", "-w", "-t", "60",
            "restart",
        )

    def running(self):
        r = self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "status", check=False)
        return r.returncode == 0

    def ensure_running(self):
        if not self.running():
            self.start()

    def conninfo(self, dbname="postgres"):
        return f"host={self.host} port={self.port} user=postgres dbname={dbname}"

    def connect(self, dbname="postgres", autocommit=True):
        return psycopg.connect(self.conninfo(dbname), autocommit=autocommit, connect_timeout=10)

    def create_database(self):
        name = "hellod_it_" + uuid.uuid4().hex[:12]
        with self.connect() as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return Database(self, name)

    def drop_database(self, name):
        self.ensure_running()
        with self.connect() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def cleanup(self):
        with contextlib.suppress(Exception):
            if self.running():
                self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


class Database:
    def __init__(self, pg, name):
        self.pg = pg
        self.name = name
        self.conninfo = pg.conninfo(name)

    def connect(self, autocommit=True):
        return self.pg.connect(self.name, autocommit=autocommit)

    def query(self, sql, params=None):
        with self.connect() as c:
            cur = c.execute(sql, params)
            return cur.fetchall() if cur.description else None


@pytest.fixture(scope="session")
def pg():
    if os.geteuid() != 0:
        pytest.skip("the PostgreSQL fixture runs the server as the postgres user via runuser")
    server = PgServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def database(pg):
    pg.ensure_running()
    db = pg.create_database()
    yield db
    pg.drop_database(db.name)


@pytest.fixture(scope="module")
def module_database(pg):
    pg.ensure_running()
    db = pg.create_database()
    yield db
    pg.drop_database(db.name)


# ---------------------------------------------------------------------------------------------
# hellod

# hellod refuses to run as root; when the tests run as root it runs as this user (the one the
# PostgreSQL fixture already needs), and the files a test gives it are shared with that user.
HELLOD_USER = "postgres"


def hellod_user_kwargs():
    """Popen arguments that start hellod as HELLOD_USER when we are root (the Popen pid is
    hellod itself, so signals reach it, not a runuser wrapper)."""
    if os.geteuid() != 0:
        return {}
    return dict(user=HELLOD_USER, group=HELLOD_USER, extra_groups=[])


def share_with_hellod(path):
    """Lets HELLOD_USER use the directory `path`: its ancestors become traversable (not
    listable), and it and what it holds become that user's (a TLS key stays 0600, and its own)."""
    if os.geteuid() != 0:
        return
    path = pathlib.Path(path).resolve()
    for d in reversed(path.parents):
        st = d.stat()
        if st.st_uid == 0 and not st.st_mode & 0o001:
            os.chmod(d, (st.st_mode & 0o7777) | 0o011)
    u = pwd.getpwnam(HELLOD_USER)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.lchown(name, u.pw_uid, u.pw_gid)



class Hellod:
    """One hellod process started by the tests."""

    def __init__(self, argv, env, host, port, scheme, ssl_context, log_path):
        self.argv = argv
        self.env = env
        self.host = host
        self.port = port
        self.scheme = scheme
        self.ssl_context = ssl_context
        self.log_path = log_path
        self.proc = None
        self.expected_rc = 0  # what cleanup() expects the process to exit with
        self.extra_pids = []  # processes it detached (SIGUSR2), stopped with it
        self.shared_dirs = set()  # directories shared with HELLOD_USER (share_with_hellod)

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        with open(self.log_path, "ab") as log:
            log.write(f"### starting: {' '.join(map(str, self.argv))}\n".encode())
            log.flush()
            for d in {self.log_path.parent, *self.shared_dirs}:
                share_with_hellod(d)
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env,
                cwd=self.log_path.parent,
                **hellod_user_kwargs(),
            )
        return self

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log().splitlines()[-n:])

    def request(self, method="GET", path="/healthz", **kw):
        kw.setdefault("host", self.host)
        kw.setdefault("scheme", self.scheme)
        kw.setdefault("ssl_context", self.ssl_context)
        return http_request(self.port, method, path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put_user(self, name, dob, **kw):
        return self.request("PUT", f"/hello/{name}", json_body={"dateOfBirth": dob}, **kw)

    def get_user(self, name, **kw):
        return self.request("GET", f"/hello/{name}", **kw)

    def _probe(self, path):
        if self.proc.poll() is not None:
            raise AssertionError(
                f"hellod exited with status {self.proc.returncode} before serving:\n"
                f"{self.log_tail()}"
            )
        try:
            return self.request("GET", path, timeout=2).status == 200
        except (OSError, http.client.HTTPException):
            return False

    def wait_healthy(self, timeout=START_TIMEOUT):
        wait_until(lambda: self._probe("/healthz"), timeout, f"{self.host}:{self.port}/healthz")
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        # /readyz is answered by whichever worker accepts; ask a few times so that every worker's
        # pool is likely up (requests to a worker still connecting would wait, not fail).
        for _ in range(4):
            wait_until(lambda: self._probe("/readyz"), timeout, f"{self.host}:{self.port}/readyz")
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_log(self, pattern, timeout=10.0 * SLOW, count=1):
        rx = re.compile(pattern)
        return wait_until(
            lambda: len(rx.findall(self.log())) >= count,
            timeout,
            f"log line /{pattern}/ (x{count}) in {self.log_path}",
        )

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stops the process (and those it detached); returns its exit status."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
                    raise AssertionError(
                        f"hellod pid {self.proc.pid} did not exit within {timeout}s of "
                        f"signal {sig}; killed. Log:\n{self.log_tail()}"
                    )
            rc = self.proc.returncode
        for pid in self.extra_pids:
            stop_foreign_pid(pid, sig, timeout)
        return rc


def stop_foreign_pid(pid, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
    """Stops a process that may not be our child; returns its exit status when we could reap it
    (it is our child, e.g. adopted as a subreaper), else None."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            wpid, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            if not pid_alive(pid):
                return None
        else:
            if wpid == pid:
                return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    raise AssertionError(f"pid {pid} did not exit within {timeout}s of signal {sig}; killed")


def _register(node, server):
    if node is not None:
        node.__dict__.setdefault("_hellod_servers", []).append(server)


class HellodFactory:
    """Starts hellod processes; `cleanup()` stops them all and checks they exit 0."""

    def __init__(self, tmpdir, database, node=None):
        self.tmpdir = pathlib.Path(tmpdir)
        self.database = database
        self.node = node
        self.servers = []

    def __call__(
        self,
        *args,
        env=None,
        port=None,
        host="127.0.0.1",
        listen=True,
        database=True,
        workers=2,
        tls=None,
        wait="ready",
        clean_env=True,
    ):
        """Starts hellod with `args`.

        listen: add --listen host:port (port: a free one unless given); when False the caller
          configures the address some other way and passes `port` (and `host`) to reach it.
        database: add --database for the test's database. workers: add --workers N (None: no).
        tls: (cert, key) paths, adds --tls-cert/--tls-key and speaks https (verifying with the
          certificate as CA). wait: "ready" (/readyz), "healthy" (/healthz) or None.
        """
        if not HELLOD.exists():
            pytest.fail(f"hellod binary not found at {HELLOD} (set TANDEM_BUILD)")
        port = port or free_port(host)
        argv = [str(HELLOD)]
        if listen:
            addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            argv += ["--listen", addr]
        if database and self.database is not None:
            argv += ["--database", self.database.conninfo]
        if workers is not None:
            argv += ["--workers", str(workers)]
        scheme, ctx = "http", None
        if tls:
            cert, key = tls
            argv += ["--tls-cert", str(cert), "--tls-key", str(key)]
            scheme = "https"
            ctx = ssl.create_default_context(cafile=str(cert))
        argv += [str(a) for a in args]
        e = {k: v for k, v in os.environ.items() if not (clean_env and k.startswith("HELLOD_"))}
        e.update(env or {})
        n = len(self.servers)
        log_path = self.tmpdir / f"hellod-{n}-{port}.log"
        srv = Hellod(argv, e, host, port, scheme, ctx, log_path)
        # The directories of the files it is given (a TLS pair from a module fixture).
        srv.shared_dirs = {pathlib.Path(a).parent for a in [*args, *(tls or ())]
                           if isinstance(a, pathlib.Path)}
        self.servers.append(srv)
        _register(self.node, srv)
        srv.start()
        if wait == "ready":
            srv.wait_ready()
        elif wait == "healthy":
            srv.wait_healthy()
        return srv

    def cleanup(self):
        problems = []
        for srv in reversed(self.servers):
            try:
                rc = srv.stop()
            except AssertionError as e:
                problems.append(str(e))
                continue
            if rc != srv.expected_rc:
                problems.append(
                    f"hellod pid {srv.proc.pid} exited with status {rc} (expected "
                    f"{srv.expected_rc}); log {srv.log_path}:\n{srv.log_tail()}"
                )
        # Processes a server restarted itself as (SIGUSR2) that the test did not stop.
        for srv in self.servers:
            for pid in pids_with_argv(srv.argv):
                problems.append(f"pid {pid} (started by hellod pid {srv.proc.pid}) was left "
                                f"running; stopping it")
                with contextlib.suppress(AssertionError):
                    stop_foreign_pid(pid)
        self.servers = []
        if problems:
            raise AssertionError("\n\n".join(problems))


@pytest.fixture
def hellod(request, database, tmp_path):
    f = HellodFactory(tmp_path, database, request.node)
    yield f
    f.cleanup()


@pytest.fixture(scope="module")
def module_hellod(module_database, tmp_path_factory):
    f = HellodFactory(tmp_path_factory.mktemp("hellod"), module_database)
    yield f
    f.cleanup()


@pytest.fixture
def attach_logs(request):
    """Call with a server (e.g. a module-scoped one) to attach its log to this test's report."""
    return lambda srv: _register(request.node, srv)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in item.__dict__.get("_hellod_servers", []):
            rep.sections.append(
                (f"hellod log ({srv.log_path})", "\n".join(srv.log().splitlines()[-300:]))
            )


def sanitized(path):
    """Whether a program was built with AddressSanitizer (it then cannot run under valgrind)."""
    try:
        return b"__asan_init" in pathlib.Path(path).read_bytes()
    except OSError:
        return False


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cluster: tandemd cluster tests (etcd, PostgreSQL, HAProxy on loopback); "
        "-m 'not cluster' leaves them out")
