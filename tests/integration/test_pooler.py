"""PgBouncer in front of a cluster (docs/pooler.md): `tandemctl pgbouncer-config` renders a
configuration Debian's PgBouncer accepts, routed to the primary through HAProxy's read-write port;
during a planned switchover the leader pauses PgBouncer before it stops PostgreSQL and resumes it
once the new primary answers through the route, so that clients writing through PgBouncer all the
time see no error at all.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid

import psycopg
import pytest

from cluster import Cluster, Haproxy, T_CHANGE, healthy_cluster, tail
from conftest import free_port, wait_until

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"

pytestmark = pytest.mark.skipif(not shutil.which("pgbouncer") and not
                                __import__("os").path.exists(PGBOUNCER),
                                reason="pgbouncer is not installed")

SU = "su-" + uuid.uuid4().hex
REPL = "repl-" + uuid.uuid4().hex
ADMIN = "pgb-" + uuid.uuid4().hex
WRITERS = 6


class Pgbouncer:
    def __init__(self, cluster, port):
        self.cluster, self.port = cluster, port
        self.dir = cluster.base / "pgbouncer"
        self.proc = None

    def start(self):
        self.dir.mkdir()
        userlist = self.dir / "userlist.txt"
        userlist.write_text(f'"postgres" "{SU}"\n"pgbadmin" "{ADMIN}"\n')
        r = self.cluster.tandemctl("pgbouncer-config", "--auth-file", userlist,
                                   "--pool-size", "10",
                                   config=self.cluster.members[0].config_path)
        assert r.returncode == 0, r.stderr
        ini = self.dir / "pgbouncer.ini"
        # no Unix socket: Debian's own PgBouncer may own /tmp's
        ini.write_text(r.stdout + "unix_socket_dir =\n")
        for p in (self.dir, userlist, ini):
            shutil.chown(p, "postgres", "postgres")
        self.log = open(self.dir / "pgbouncer.log", "ab")
        self.proc = subprocess.Popen([PGBOUNCER, str(ini)], user="postgres", group="postgres",
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_until(self.answers, 20, "PgBouncer to answer", interval=0.1)
        return self

    def connect(self, dbname="postgres", user="postgres", password=SU):
        # transaction pooling: no server-side prepared statements (psycopg's are off this way)
        return psycopg.connect(host="127.0.0.1", port=self.port, dbname=dbname, user=user,
                               password=password, connect_timeout=3, autocommit=True,
                               prepare_threshold=None)

    def answers(self):
        try:
            with self.connect() as c:
                return c.execute("SELECT NOT pg_is_in_recovery()").fetchone()[0]
        except psycopg.Error:
            return False

    def paused(self):
        """The databases PgBouncer's admin console says are paused (SHOW DATABASES)."""
        with self.connect("pgbouncer", "pgbadmin", ADMIN) as admin:
            cur = admin.execute("SHOW DATABASES")
            cols = [d.name for d in cur.description]
            rows = [dict(zip(cols, r)) for r in cur.fetchall()]
        assert rows and "paused" in rows[0], rows
        return [r["name"] for r in rows if int(r["paused"])]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def pooled():
    rw, pb = free_port(), free_port()
    extra = (f"pgbouncer:\n"
             f"  admin:\n"
             f"    - host=127.0.0.1 port={pb} dbname=pgbouncer user=pgbadmin password={ADMIN}\n"
             f"  route: host=127.0.0.1 port={rw} dbname=postgres user=postgres password={SU}\n"
             f"  pause_timeout: 10\n")

    def prepare(c):
        hp = Haproxy(c)
        hp.rw_port = rw
        c.haproxy = hp

    gen = healthy_cluster(3, prefix="tandem-it-pooler-", passwords=(SU, REPL), yaml_extra=extra,
                          prepare=prepare)
    c = next(gen)
    c.haproxy.start()
    bouncer = None
    try:
        c.wait_haproxy_routes(c.member(c.dcs_leader()))
        bouncer = Pgbouncer(c, pb).start()
        yield c, bouncer
    finally:
        if bouncer:
            bouncer.stop()
            print(tail(bouncer.dir / "pgbouncer.log", 40))
        next(gen, None)


def test_config_is_accepted_and_routes_to_the_primary(pooled):
    c, bouncer = pooled
    with bouncer.connect() as conn:
        port = conn.execute("SELECT inet_server_port()").fetchone()[0]
    assert port == c.member(c.dcs_leader()).pg_port
    assert bouncer.paused() == [], "a PgBouncer database paused before any switchover"


def writer(bouncer, stop, acked, errors):
    conn = None
    while not stop.is_set():
        v = uuid.uuid4().hex
        try:
            if conn is None:
                conn = bouncer.connect()
            conn.execute("INSERT INTO pooled (v) VALUES (%s)", (v,))
            acked.append(v)
        except psycopg.Error as e:
            errors.append(f"{time.monotonic():.2f} {type(e).__name__}: {e}".strip())
            conn = None
            time.sleep(0.05)
    if conn:
        conn.close()


def test_switchover_under_load_fails_no_request(pooled):
    c, bouncer = pooled
    old = c.member(c.dcs_leader())
    old.query("CREATE TABLE IF NOT EXISTS pooled (v text PRIMARY KEY)")
    offset = old.log_size()
    stop, acked, errors = threading.Event(), [], []
    threads = [threading.Thread(target=writer, args=(bouncer, stop, acked, errors))
               for _ in range(WRITERS)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acked) > 200, 30, "writes through PgBouncer", interval=0.05)
        r = c.tandemctl("switchover", "--force")
        assert r.returncode == 0, r.stdout + r.stderr
        new = c.wait_leader(not_name=old.name, timeout=T_CHANGE)
        before = len(acked)
        wait_until(lambda: len(acked) > before + 200, 30, "writes after the switchover",
                   interval=0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    log = old.log_since(offset)
    assert "pgbouncer: 1 of 1 PgBouncer(s) paused" in log, log
    assert "the new primary answers through pgbouncer.route" in log, log
    assert errors == [], f"{len(errors)} failed writes, first: {errors[:3]}"
    with new.connect() as conn:
        have = {r[0] for r in conn.execute("SELECT v FROM pooled").fetchall()}
    lost = [v for v in acked if v not in have]
    assert not lost, f"{len(lost)} acknowledged writes missing on {new.name}"
    assert bouncer.paused() == [], "PgBouncer was left paused"
