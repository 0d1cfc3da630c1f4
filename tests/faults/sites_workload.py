"""The two sites' clients: on each site's client host, one direct writer and one hellod writer,
each operation recorded with its outcome, its times and the site that acknowledged it.

* direct writers: the application of its site, writing to whichever site accepts writes: its own
  site's HAProxy rw port first, the other site's when its own has no writable member (HAProxy
  closes the connection: a failed connection attempt, nothing sent). Autocommit `INSERT` of a
  unique value `RETURNING inet_server_addr()`, `pg_current_wal_lsn()` and the timeline (as in
  workload.py), then `SELECT pg_current_wal_lsn()` once the commit returned: the commit record
  lies between the two positions (`lsn`, `lsn_after`), which lets the checker tell which
  acknowledged writes a site that was lost had sent before the other site's last replayed
  position.
* hellod writers: `PUT /hello/<user>` to the site's own hellod (which writes through its site's
  HAProxy, so its acknowledgements are that site's).

Every thread lives in its client host's network namespace (setns on the thread), so that a cut
between the sites cuts the clients too. Outcomes as in workload.py: ok, failed (provably not
committed), unknown.
"""

from __future__ import annotations

import http.client
import json
import threading
import time

import psycopg

from system import HELLOD_PORT
from workload import DEFINITE, INSERT, SCHEMA, _short, date_for, letters, next_id


class SitesWorkload:
    def __init__(self, two, scenario_index, scenario, pause=0.02):
        self.two = two
        self.scenario = scenario
        self.user_prefix = "t" + letters(scenario_index, 3) + "u"
        self.value_prefix = f"{scenario}/"
        self.ops, self.ops_lock = [], threading.Lock()
        self.stop_ev = threading.Event()
        self.pause = pause
        self.threads = []
        for s in two.sites:
            self.threads.append(threading.Thread(target=self._direct, args=(s,), daemon=True))
            self.threads.append(threading.Thread(target=self._hellod, args=(s,), daemon=True))
        self.t0 = self.t1 = self.t_stop = None

    def now(self):
        return time.monotonic()

    def _record(self, **kw):
        op = dict(kw, start=self.now(), end=None, status="unknown")
        with self.ops_lock:
            self.ops.append(op)
        return op

    def start(self):
        with self.two.primary.rw_connect() as c:
            c.execute(SCHEMA)
        self.t0 = self.now()
        for t in self.threads:
            t.start()
        return self

    def stop(self, grace=10.0):
        self.stop_ev.set()
        self.t_stop = self.now()  # writes acknowledged after this are not counted as flowing
        deadline = self.now() + grace
        for t in self.threads:
            t.join(max(0.0, deadline - self.now()))
        self.t1 = self.now()
        with self.ops_lock:
            return [dict(o) for o in self.ops]

    def acked(self):
        with self.ops_lock:
            return [dict(o) for o in self.ops if o["status"] == "ok"]

    def _connect(self, order):
        for s in order:
            try:
                return s.rw_connect(timeout=2), s
            except psycopg.Error:
                continue
        return None, None

    def _direct(self, home):
        self.two.topo.enter(home.client.name)
        order = [home] + [s for s in self.two.sites if s is not home]
        conn = None
        while not self.stop_ev.is_set():
            v = f"{self.value_prefix}{home.name}/{next_id()}"
            op = self._record(kind="direct", key=v, client=home.name)
            try:
                if conn is None:
                    conn, via = self._connect(order)
                    if conn is None:
                        op.update(status="failed", end=self.now(), err="connect: no site")
                        time.sleep(0.05)
                        continue
                    op["via"] = via.name
                row = conn.execute(INSERT, (v, self.scenario)).fetchone()
                op.update(status="ok", end=self.now(), server=row[0].split("/")[0], lsn=row[1],
                          tl=int(row[2], 16), site=self.two.site_of(row[0].split("/")[0]))
                try:
                    op["lsn_after"] = conn.execute(
                        "SELECT pg_current_wal_lsn()::text").fetchone()[0]
                except psycopg.Error:
                    raise _Drop() from None
            except _Drop:
                conn = _close(conn)
            except psycopg.Error as e:
                st = getattr(e, "sqlstate", None)
                op.update(status="failed" if st in DEFINITE else "unknown", end=self.now(),
                          err=f"{st}: {_short(e)}")
                conn = _close(conn)
                time.sleep(0.02)
            time.sleep(self.pause)
        _close(conn)

    def _hellod(self, home):
        self.two.topo.enter(home.client.name)
        addr = home.client.addr
        while not self.stop_ev.is_set():
            n = next_id()
            user = self.user_prefix + letters(n)
            op = self._record(kind="hellod", key=user, date=date_for(n), client=home.name,
                              site=home.name)
            conn = http.client.HTTPConnection(addr, HELLOD_PORT, timeout=12)
            try:
                try:
                    conn.connect()
                except OSError as e:
                    op.update(status="failed", end=self.now(), err=f"connect: {e}")
                    time.sleep(0.1)
                    continue
                try:
                    conn.request("PUT", f"/hello/{user}",
                                 json.dumps({"dateOfBirth": date_for(n)}),
                                 {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                except (OSError, http.client.HTTPException) as e:
                    op.update(status="unknown", end=self.now(), err=f"{type(e).__name__}: {e}")
                    continue
                if r.status == 204:
                    op.update(status="ok", end=self.now())
                elif 400 <= r.status < 500:
                    op.update(status="failed", end=self.now(), err=f"HTTP {r.status}")
                else:
                    op.update(status="unknown", end=self.now(), err=f"HTTP {r.status}")
                    time.sleep(0.2)
            finally:
                conn.close()
            time.sleep(self.pause)


class _Drop(Exception):
    """The write was acknowledged but its connection then failed: start a new one."""


def _close(conn):
    if conn is not None:
        try:
            conn.close()
        except Exception:
            pass
    return None
