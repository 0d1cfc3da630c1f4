"""Two sites on one Topology (docs/faults-sites.md): site A and site B, each a tandem
cluster of its own with its own etcd, two database hosts (PostgreSQL 15 + tandemd) and a client
host (HAProxy from `tandemctl haproxy-config`, hellod writing through it); site B is born a
standby cluster of site A (Patroni's `standby_cluster` in its bootstrap DCS configuration).
A ninth host, the operator's (`op`), belongs to neither site: the orchestrating process lives
there (tandemctl, the checker's probes), so that it still reaches the surviving site when the
other one is lost entirely.

| host | address | site |
|---|---|---|
| ea / eb | 10.213.0.41 / .51 | A / B: a one-member etcd each |
| a1, a2 / b1, b2 | .42, .43 / .52, .53 | database hosts |
| ca / cb | .44 / .54 | client hosts |
| op | .61 | neither |

A site is a `System` (system.py) whose hosts are those of its site; its role ("primary" or
"standby") is what the scenario expects of it and what `health_problem` checks.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import tempfile
import time
import urllib.request
import uuid

import psycopg

import clock
from system import (HAPROXY, HELLOD, HELLOD_PORT, PRIMARY_ROLES, RO_PORT, RW_PORT, Node, System,
                    wait_until)
from topology import Topology, signal_pids

SITE_HOSTS = {
    "A": {"etcd": ("ea", 41), "db": [("a1", 42), ("a2", 43)], "client": ("ca", 44)},
    "B": {"etcd": ("eb", 51), "db": [("b1", 52), ("b2", 53)], "client": ("cb", 54)},
}
OPERATOR = ("op", 61, None)


class SiteNode(Node):
    """A database host of a site: Node's configuration, plus `standby_cluster` for a site born
    a standby cluster."""

    def config_text(self):
        text = super().config_text()
        sb = self.system.standby
        if not sb:
            return text
        block = ("    standby_cluster:\n" +
                 "".join(f"      {k}: '{v}'\n" for k, v in sb.items()))
        marker = "    postgresql:\n      use_pg_rewind"
        assert marker in text
        return text.replace(marker, block + marker, 1)


class Site(System):
    """One site: a System on the two sites' shared topology (never its own)."""

    def __init__(self, two, name, standby=None):
        spec = SITE_HOSTS[name]
        self.two, self.name = two, name
        self.base = two.base / f"site{name}"
        self.base.mkdir()
        os.chmod(self.base, 0o755)
        shutil.chown(self.base, "postgres", "postgres")
        self.sync, self.ttl, self.loop_wait, self.retry_timeout = False, 4, 1, 1
        self.max_lag = 1048576
        self.backup = False  # the two-site scenarios run without a repository
        self.scope = f"{two.tag}{name.lower()}"
        self.password = two.password  # the standby site takes the primary site's roles
        self.topo = two.topo
        h = self.topo.hosts
        self.etcd_hosts = [h[spec["etcd"][0]]]
        self.db_hosts = [h[n] for n, _ in spec["db"]]
        self.client = h[spec["client"][0]]
        self.hosts = self.etcd_hosts + self.db_hosts + [self.client]
        self.etcd_procs = {}
        self.standby = dict(standby or {})
        self.role = "standby" if standby else "primary"
        self.nodes = {hh.name: SiteNode(self, hh) for hh in self.db_hosts}
        self.topo.on_cleanup += [n.disk.unmount for n in self.nodes.values()]
        self.haproxy = self.hellod = None
        self.lost = False  # every process killed, links down (a disaster)

    def __repr__(self):
        return f"<Site {self.name} {self.role}>"

    @property
    def config_path(self):
        """A member's YAML: what `tandemctl -c` and site-switchover take for this site."""
        return next(iter(self.nodes.values())).config_path

    def source(self):
        """standby_cluster naming this site's members (host and port lists)."""
        return {"host": ",".join(h.addr for h in self.db_hosts),
                "port": ",".join("5432" for _ in self.db_hosts)}

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
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
               "HELLOD_DATABASE": f"host={c.addr} port={RW_PORT} user=postgres dbname=postgres "
                                  f"password={self.password} connect_timeout=2"}
        self.hellod = self.topo.popen(c.name, [
            HELLOD, "--listen", f"{c.addr}:{HELLOD_PORT}", "--allow", "10.213.0.0/24",
            "--workers", "1", "--db-pool-size", "2", "--request-deadline", "8s"],
            self.base / "hellod.log", user="postgres", env=env)
        # A standby site's hellod has no writable database behind it: alive is enough.
        probe = "/readyz" if self.role == "primary" else "/healthz"

        def up():
            try:
                with urllib.request.urlopen(f"http://{c.addr}:{HELLOD_PORT}{probe}",
                                            timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_until(up, 60, f"site {self.name}'s hellod {probe}", interval=0.2)
        if self.role == "primary":
            wait_until(self.rw_ok, 30, f"site {self.name}'s HAProxy to reach its primary",
                       interval=0.2)

    def rw_ok(self):
        try:
            with self.rw_connect() as conn:
                return conn.execute("SELECT NOT pg_is_in_recovery()").fetchone()[0]
        except psycopg.Error:
            return False

    def health_problem(self):
        if self.role == "primary":
            return super().health_problem()
        for h in self.etcd_hosts:
            if not self.etcd_pid(h.name):
                return f"etcd {h.name} not running"
        for n in self.nodes.values():
            if not n.agent_alive():
                return f"{n.name}'s tandemd not running"
        leader = self.dcs_leader()
        if not leader:
            return "no leader key"
        for n in self.nodes.values():
            s = n.patroni()
            if not s:
                return f"{n.name}'s REST API does not answer"
            want = "standby_leader" if n.name == leader else "replica"
            if s.get("role") != want or s.get("replication_state") != "streaming":
                return (f"{n.name}: role {s.get('role')} (want {want}), replication "
                        f"{s.get('replication_state')}")
            try:
                if not n.query("SELECT pg_is_in_recovery()")[0][0]:
                    return f"{n.name} of a standby site is writable"
            except psycopg.Error as e:
                return f"{n.name} not queryable: {str(e).strip()[:80]}"
        return None

    def writable_members(self):
        """Members that say they are the primary (REST): none in a standby site."""
        out = []
        for n in self.nodes.values():
            s = n.patroni()
            if s and s.get("role") in PRIMARY_ROLES:
                out.append(n.name)
        return out

    def standby_leader(self):
        k = self.dcs_leader()
        return self.nodes.get(k) if k else None

    def replay_lsn(self):
        """The standby leader's replay position (text), or None."""
        n = self.standby_leader()
        try:
            return n.query("SELECT pg_last_wal_replay_lsn()::text")[0][0] if n else None
        except psycopg.Error:
            return None

    def timeline(self):
        """The primary site's leader's current timeline."""
        return self.leader_node().query(
            "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"
        )[0][0]

    def not_following(self, tli):
        """Members whose WAL receiver does not stream timeline `tli`. REST's 'streaming' is not
        enough: a member on a forked timeline says it for a moment each time it connects."""
        out = []
        for n in self.nodes.values():
            try:
                r = n.query("SELECT status, received_tli FROM pg_stat_wal_receiver")
            except psycopg.Error:
                r = None
            if not r or r[0][0] != "streaming" or r[0][1] != tli:
                out.append(f"{n.name}: {r[0] if r else 'no WAL receiver'}")
        return out

    def heal(self):
        """What nemesis.heal_all does, for this site's hosts (a lost site stays lost)."""
        if self.lost:
            return
        for h in self.hosts:
            h.heal_links()
            h.link_up()
            signal_pids(h.pids(), signal.SIGCONT)
        for h in self.etcd_hosts:
            self.start_etcd(h.name)
        for n in self.nodes.values():
            if not n.agent_alive():
                for _ in range(50):
                    if not n.postmaster_pid():
                        break
                    time.sleep(0.1)
                n.start()

    def come_back(self):
        """A lost site returns: its links up and its etcd started, its members not yet (a
        failback makes it a standby cluster before they start)."""
        self.lost = False
        for h in self.hosts:
            h.heal_links()
            h.link_up()
        for h in self.etcd_hosts:
            self.start_etcd(h.name)

    def lose(self):
        """A disaster: SIGKILL every process on every host of the site, then every link down."""
        self.lost = True
        pids = [p for h in self.hosts for p in h.pids()]
        signal_pids(pids, signal.SIGKILL)
        for h in self.hosts:
            h.link_down()
        return len(pids)



class TwoSites:
    def __init__(self):
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="tandem-sites-"))
        os.chmod(self.base, 0o755)
        shutil.chown(self.base, "postgres", "postgres")
        self.tag = "sites" + uuid.uuid4().hex[:5]
        self.password = "pw" + uuid.uuid4().hex
        if not clock.available():
            raise RuntimeError(f"{clock.LIBFAKETIME} missing (Debian faketime; scripts/deps.sh)")
        self.topo = Topology()
        hosts = []
        for site, spec in SITE_HOSTS.items():
            hosts.append((spec["etcd"][0], spec["etcd"][1], site))
            hosts += [(n, i, site) for n, i in spec["db"]]
            hosts.append((spec["client"][0], spec["client"][1], site))
        self.topo.create(hosts + [OPERATOR])
        self.a = Site(self, "A")
        self.b = Site(self, "B", standby=self.a.source())
        self.sites = [self.a, self.b]
        self.topo.enter(OPERATOR[0])

    def start(self, timeout=180):
        self.a.start(timeout)
        self.b.start(timeout)
        return self

    @property
    def primary(self):
        return next(s for s in self.sites if s.role == "primary")

    @property
    def standby(self):
        return next(s for s in self.sites if s.role == "standby")

    def site_of(self, addr):
        for h in self.topo.hosts.values():
            if h.addr == addr:
                return h.site
        return None

    def problem(self):
        for s in self.sites:
            if s.lost:
                continue
            p = s.health_problem()
            if p:
                return f"site {s.name} ({s.role}): {p}"
        if not self.standby.lost and not self.primary.lost:
            tl = {n.name: (n.patroni() or {}).get("timeline")
                  for s in self.sites for n in s.nodes.values()}
            if len(set(tl.values())) != 1:
                return f"timelines differ: {tl}"
        return None

    def wait_healthy(self, timeout=90):
        last = ["?"]

        def ok():
            last[0] = self.problem()
            return last[0] is None
        try:
            wait_until(ok, timeout, "two healed sites", interval=0.3)
        except TimeoutError as e:
            raise TimeoutError(f"{e}: {last[0]}") from None

    def tandemctl(self, *args, timeout=120):
        import subprocess
        from system import TANDEMCTL
        return subprocess.run([str(TANDEMCTL), *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def heal(self):
        for s in self.sites:
            s.heal()

    def log_tails(self, n=40):
        return "\n\n".join(s.log_tails(n) for s in self.sites)

    def stop(self):
        for s in self.sites:
            for n in s.nodes.values():
                signal_pids(n.pg_pids(), signal.SIGCONT)
                if n.agent_alive():
                    n.proc.terminate()
        for s in self.sites:
            for n in s.nodes.values():
                with contextlib.suppress(Exception):
                    n.proc.wait(20)
        self.topo.cleanup()
        for s in self.sites:
            for n in s.nodes.values():
                n.forget()
