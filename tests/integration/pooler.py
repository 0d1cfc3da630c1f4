"""Debian's PgBouncer in front of a test cluster (tests/integration/cluster.py), for
test_pooler.py and bench/pooler.py (docs/pooler.md).

`pooled_cluster(...)` builds a Cluster whose members name a PgBouncer in their `pgbouncer:` section
(admin console and route through the cluster's HAProxy read-write port); with `pause` False the
members name no console (PgBouncer is not paused around switchovers). After the cluster started, `start_pooler(cluster)`
starts HAProxy and PgBouncer with `tandemctl pgbouncer-config`'s configuration and returns the
Pgbouncer (stop() it before the cluster's cleanup).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid

import psycopg

from cluster import Cluster, Haproxy
from conftest import free_port, wait_until

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class Pgbouncer:
    def __init__(self, cluster, port, admin_password):
        self.cluster, self.port, self.admin_password = cluster, port, admin_password
        self.dir = cluster.base / "pgbouncer"
        self.proc = None
        self.log = None

    def start(self, pool_size=10):
        self.dir.mkdir()
        su = self.cluster.superuser_password
        userlist = self.dir / "userlist.txt"
        userlist.write_text(f'"postgres" "{su}"\n"pgbadmin" "{self.admin_password}"\n')
        # with pgbouncer.admin, PgBouncer listens where its console is; otherwise --listen
        listen = [] if self.cluster.pooler_pause else ["--listen", f"127.0.0.1:{self.port}"]
        r = self.cluster.tandemctl("pgbouncer-config", "--auth-file", userlist, *listen,
                                   "--pool-size", pool_size,
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

    def connect(self, dbname="postgres", user="postgres", password=None):
        # transaction pooling: no server-side prepared statements (psycopg's are off this way)
        return psycopg.connect(host="127.0.0.1", port=self.port, dbname=dbname, user=user,
                               password=password or self.cluster.superuser_password,
                               connect_timeout=3, autocommit=True, prepare_threshold=None)

    def answers(self):
        try:
            with self.connect() as c:
                return c.execute("SELECT NOT pg_is_in_recovery()").fetchone()[0]
        except psycopg.Error:
            return False

    def paused(self):
        """The databases PgBouncer's admin console says are paused (SHOW DATABASES)."""
        with self.connect("pgbouncer", "pgbadmin", self.admin_password) as admin:
            cur = admin.execute("SHOW DATABASES")
            cols = [d.name for d in cur.description]
            rows = [dict(zip(cols, r)) for r in cur.fetchall()]
        assert rows and "paused" in rows[0], rows
        return [r["name"] for r in rows if int(r["paused"])]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.log:
            self.log.close()


def pooled_cluster(n=3, pause=True, **kwargs):
    """A Cluster (not started) whose members pause PgBouncer around switchovers (`pause`)."""
    rw, pb = free_port(), free_port()
    admin = "pgb-" + uuid.uuid4().hex
    su = "su-" + uuid.uuid4().hex
    console = (f"  admin:\n"
               f"    - host=127.0.0.1 port={pb} dbname=pgbouncer user=pgbadmin password={admin}\n")
    extra = (f"pgbouncer:\n{console if pause else ''}"
             f"  route: host=127.0.0.1 port={rw} dbname=postgres user=postgres password={su}\n"
             f"  pause_timeout: 10\n")
    c = Cluster(n, passwords=(su, "repl-" + uuid.uuid4().hex), yaml_extra=extra, **kwargs)
    hp = Haproxy(c)
    hp.rw_port = rw
    c.haproxy = hp
    c.pooler_port, c.pooler_admin, c.pooler_pause = pb, admin, pause
    return c


def start_pooler(c, pool_size=10):
    """Starts the cluster's HAProxy, waits for its routes, starts PgBouncer; returns it."""
    c.haproxy.start()
    c.wait_haproxy_routes(c.member(c.dcs_leader()))
    return Pgbouncer(c, c.pooler_port, c.pooler_admin).start(pool_size)
