"""Client threads on the client host, each operation recorded with its outcome.

* hellod writers: `PUT /hello/<unique user>` with a date derived from the user's number, then
  `GET /hello/<user>` back with the PUT's Tandem-Consistency-Token (with hellod's local reads the
  GET must see the write wherever it is answered). 204 is ok; 4xx (and a refused connection: nothing was sent) failed;
  503/500, a timeout or a connection lost after sending are *unknown* (the write may be in).
* direct writers: `INSERT INTO faults_w` of a unique value through HAProxy's rw port, autocommit,
  `RETURNING inet_server_addr(), pg_current_wal_lsn()` and the server's timeline (from the WAL
  file name), so every acknowledged write says which server, on which timeline, acknowledged it.
  An error with a SQLSTATE that proves nothing was committed (read-only transaction, a failed
  connection attempt, 53100 disk full: PostgreSQL could not extend the table, the statement
  failed before its commit) is *failed*; any other error is *unknown*.

An operation still in flight when the workload stops is unknown (in strict synchronous mode a
commit may wait for a standby for as long as there is none; the thread is abandoned, not
cancelled: cancelling a commit that waits for a synchronous standby makes PostgreSQL report it
committed, which would be an acknowledgement the test itself manufactured).
"""

from __future__ import annotations

import datetime
import http.client
import itertools
import json
import threading
import time

import psycopg

from system import HELLOD_PORT

DEFINITE = {"25006", "23505", "42P01", "28P01", "28000", "3D000", "57P03", "08001", "08004",
            "53100"}
SCHEMA = ("CREATE TABLE IF NOT EXISTS faults_w (v text PRIMARY KEY, scenario text NOT NULL, "
          "at timestamptz NOT NULL DEFAULT clock_timestamp())")
INSERT = ("INSERT INTO faults_w (v, scenario) VALUES (%s, %s) RETURNING inet_server_addr()::text, "
          "pg_current_wal_lsn()::text, substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")

_counter = itertools.count(1)
_lock = threading.Lock()


def letters(n, width=0):
    s = ""
    while True:
        s = chr(ord("a") + n % 26) + s
        n //= 26
        if n == 0:
            break
    return s.rjust(width, "a")


def date_for(n):
    return (datetime.date(1901, 1, 1) + datetime.timedelta(days=n % 40000)).isoformat()


def next_id():
    with _lock:
        return next(_counter)


class Workload:
    def __init__(self, system, scenario_index, scenario, direct=2, hellod=2, pause=0.02):
        self.system = system
        self.scenario = scenario
        self.user_prefix = "s" + letters(scenario_index, 3) + "u"
        self.value_prefix = f"{scenario}/"
        self.ops = []
        self.ops_lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.pause = pause
        self.threads = ([threading.Thread(target=self._direct, args=(i,), daemon=True)
                         for i in range(direct)] +
                        [threading.Thread(target=self._hellod, args=(i,), daemon=True)
                         for i in range(hellod)])
        self.t0 = self.t1 = None
        self.start_lsn = None  # the primary's WAL position when the writers started

    def now(self):
        return time.monotonic()

    def _record(self, **kw):
        op = dict(kw, start=self.now(), end=None, status="unknown")
        with self.ops_lock:
            self.ops.append(op)
        return op

    def start(self):
        with self.system.rw_connect() as c:
            c.execute(SCHEMA)
            self.start_lsn = c.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        self.t0 = self.now()
        for t in self.threads:
            t.start()
        return self

    def stop(self, grace=10.0):
        self.stop_ev.set()
        deadline = self.now() + grace
        for t in self.threads:
            t.join(max(0.0, deadline - self.now()))
        self.t1 = self.now()
        with self.ops_lock:
            # In-flight operations stay unknown; snapshot so that late completions change nothing.
            return [dict(o) for o in self.ops]

    # -- direct writes through HAProxy

    def _direct(self, tid):
        conn = None
        while not self.stop_ev.is_set():
            v = f"{self.value_prefix}{tid}/{next_id()}"
            op = self._record(kind="direct", key=v)
            try:
                if conn is None:
                    try:
                        conn = self.system.rw_connect(timeout=2)
                    except psycopg.Error as e:
                        op.update(status="failed", end=self.now(), err=f"connect: {_short(e)}")
                        time.sleep(0.1)
                        continue
                row = conn.execute(INSERT, (v, self.scenario)).fetchone()
                op.update(status="ok", end=self.now(), server=row[0].split("/")[0], lsn=row[1],
                          tl=int(row[2], 16))
            except psycopg.Error as e:
                st = getattr(e, "sqlstate", None)
                op.update(status="failed" if st in DEFINITE else "unknown", end=self.now(),
                          err=f"{st}: {_short(e)}")
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
                time.sleep(0.05)
            time.sleep(self.pause)
        if conn is not None:
            conn.close()

    # -- hellod

    def _hellod(self, tid):
        addr = self.system.client.addr
        while not self.stop_ev.is_set():
            n = next_id()
            user = self.user_prefix + letters(n)
            body = json.dumps({"dateOfBirth": date_for(n)})
            op = self._record(kind="hellod", key=user, date=date_for(n))
            conn = http.client.HTTPConnection(addr, HELLOD_PORT, timeout=12)
            try:
                try:
                    conn.connect()
                except OSError as e:
                    op.update(status="failed", end=self.now(), err=f"connect: {e}")
                    time.sleep(0.1)
                    continue
                try:
                    conn.request("PUT", f"/hello/{user}", body,
                                 {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                except (OSError, http.client.HTTPException) as e:
                    op.update(status="unknown", end=self.now(), err=f"{type(e).__name__}: {e}")
                    continue
                token = r.getheader("Tandem-Consistency-Token")
                if r.status == 204:
                    op.update(status="ok", end=self.now())
                elif 400 <= r.status < 500:
                    op.update(status="failed", end=self.now(), err=f"HTTP {r.status}")
                else:
                    op.update(status="unknown", end=self.now(), err=f"HTTP {r.status}")
                if op["status"] == "ok":
                    g = self._record(kind="hellod_get", key=user)
                    try:
                        # the PUT's token: a local read must see the write
                        conn.request("GET", f"/hello/{user}", headers={
                            "Tandem-Consistency-Token": token} if token else {})
                        r = conn.getresponse()
                        r.read()
                        g.update(status="ok" if r.status == 200 else
                                 ("missing" if r.status == 404 else "failed"),
                                 end=self.now(), err=f"HTTP {r.status}")
                    except (OSError, http.client.HTTPException) as e:
                        g.update(status="failed", end=self.now(), err=str(e))
            finally:
                conn.close()
            time.sleep(self.pause)


def _short(e):
    return " ".join(str(e).split())[:120]
