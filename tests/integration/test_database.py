"""hellod and its database: retrying across a PostgreSQL restart, answering 503 when the database
stays away past the request deadline, and many instances migrating one empty database at once."""

import http.client
import signal
import threading
import time
import uuid

from conftest import SLOW, START_TIMEOUT, raw_connect, wait_until


def uname(prefix="u"):
    return prefix.capitalize() + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:16])


class Load:
    """Threads that keep sending GET and PUT requests, each on a fresh connection, recording
    every outcome."""

    def __init__(self, srv, nthreads=3):
        self.srv = srv
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []
        self.slowest = 0.0
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(nthreads)]

    def _run(self, i):
        name = uname(f"load{chr(ord('a') + i)}")
        ghost = uname("ghost")
        n = 0
        while not self.stop.is_set():
            n += 1
            dob = f"19{50 + n % 50:02d}-0{1 + n % 9}-1{n % 10}"
            steps = [("PUT", name, dob, 204), ("GET", name, None, 200), ("GET", ghost, None, 404)]
            for method, who, d, want in steps:
                t0 = time.monotonic()
                try:
                    if method == "PUT":
                        r = self.srv.put_user(who, d, timeout=30)
                    else:
                        r = self.srv.get_user(who, timeout=30)
                    outcome = r.status
                    if method == "GET" and want == 200 and r.status == 200:
                        assert r.json()["message"].startswith(f"Hello, {who}!")
                except (OSError, http.client.HTTPException, AssertionError, ValueError) as e:
                    outcome = repr(e)
                with self.lock:
                    self.slowest = max(self.slowest, time.monotonic() - t0)
                    if outcome == want:
                        self.ok += 1
                    else:
                        self.failures.append((time.monotonic(), method, who, want, outcome,
                                              round(time.monotonic() - t0, 3)))

    def count(self):
        with self.lock:
            return self.ok

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        assert not any(t.is_alive() for t in self.threads), "load threads hung"


def test_requests_survive_a_postgres_restart(hellod, pg):
    srv = hellod(workers=2)
    with Load(srv, nthreads=3) as load:
        wait_until(lambda: load.count() >= 60, 20 * SLOW, "requests before the restart")
        pg.restart()
        after = load.count()
        wait_until(lambda: load.count() >= after + 60, 30 * SLOW, "requests after the restart")
    assert load.failures == [], load.failures[:20]
    print(f"slowest request across the restart: {load.slowest:.3f}s")
    # Some requests waited for PostgreSQL to come back rather than failing.
    assert load.slowest >= 0.05, load.slowest
    # The restart really cut the connections: hellod noticed and reconnected.
    log = srv.log()
    assert "database connection" in log and ("lost" in log or "failed" in log), log[-3000:]
    assert srv.get("/readyz").status == 200


def _readyz_status(srv):
    try:
        return srv.get("/readyz", timeout=5).status
    except (OSError, http.client.HTTPException):
        return None


def test_database_down_longer_than_deadline_is_503(hellod, pg):
    srv = hellod("--request-deadline", "1s", workers=1)
    name = uname()
    assert srv.put_user(name, "1975-05-05").status == 204
    try:
        pg.stop()
        wait_until(lambda: _readyz_status(srv) == 503, 10 * SLOW, "/readyz to say 503")
        r = srv.get("/readyz")
        assert r.status == 503 and "error" in r.json()
        for method in ("GET", "PUT"):
            t0 = time.monotonic()
            if method == "GET":
                r = srv.get_user(name, timeout=15)
            else:
                r = srv.put_user(name, "1976-06-06", timeout=15)
            took = time.monotonic() - t0
            assert r.status == 503, r
            assert r.header("Content-Type").startswith("application/json")
            assert "error" in r.json() and r.json()["error"]
            assert r.header("Retry-After") is not None, r.headers
            assert int(r.header("Retry-After")) >= 1
            assert 0.8 <= took <= 5 * SLOW, f"{method} took {took:.2f}s with a 1s deadline"
        assert srv.get("/healthz").status == 200  # alive, just not ready
    finally:
        pg.ensure_running()
    wait_until(lambda: _readyz_status(srv) == 200, START_TIMEOUT, "/readyz to say 200 again")
    r = srv.get_user(name)
    assert r.status == 200 and r.json()["message"].startswith(f"Hello, {name}!")
    assert srv.put_user(name, "1977-07-07").status == 204
    m = srv.get("/metrics").body.decode()
    assert "hellod_db_timeouts_total 2" in m, m


def test_ten_instances_migrate_one_empty_database(hellod, database):
    servers = [hellod(workers=1, wait=None) for _ in range(10)]
    for s in servers:
        s.wait_ready()
    assert database.query("SELECT version FROM hellod_schema") == [(1,)]
    assert database.query(
        "SELECT count(*) FROM pg_tables WHERE tablename IN ('hellod_schema', 'hello_users')"
    ) == [(2,)]
    for s in servers:
        assert "setup failed" not in s.log(), s.log()
    # They all serve the same data.
    name = uname()
    assert servers[0].put_user(name, "1960-01-01").status == 204
    for i, s in enumerate(servers):
        r = s.get_user(name)
        assert r.status == 200, (i, r)
        own = uname(f"inst{chr(ord('a') + i)}")
        assert s.put_user(own, "1990-01-01").status == 204
        assert servers[(i + 1) % 10].get_user(own).status == 200
    assert database.query("SELECT count(*) FROM hello_users") == [(11,)]


# ---------------------------------------------------------------------------------------------
# requests that wait on the database


def _lock_waiters(db):
    return db.query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )[0][0]


class RowLock:
    """Holds a row of hello_users locked (SELECT ... FOR UPDATE) until released, so that a PUT
    of that user waits inside PostgreSQL."""

    def __init__(self, db, name):
        self.db = db
        self.conn = db.connect(autocommit=False)
        self.conn.execute("SELECT * FROM hello_users WHERE username = %s FOR UPDATE", (name,))

    def wait_for_waiters(self, n=1):
        wait_until(lambda: _lock_waiters(self.db) >= n, 10 * SLOW, f"{n} lock waiter(s)")

    def release(self):
        if not self.conn.closed:
            self.conn.commit()
            self.conn.close()


def _in_thread(fn):
    out = {}

    def run():
        try:
            out["r"] = fn()
        except Exception as e:  # noqa: BLE001 - inspected by the test
            out["e"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_request_waiting_longer_than_idle_timeout_is_answered(hellod, database):
    """A connection whose request is waiting for the database is not idle: it must not be closed
    (nor its request freed) by the idle timeout."""
    srv = hellod("--idle-timeout", "1s", "--request-deadline", "30s", workers=1)
    assert srv.put_user("Patient", "1980-01-01").status == 204
    lock = RowLock(database, "Patient")
    try:
        t, out = _in_thread(lambda: srv.put_user("Patient", "1981-02-02", timeout=30))
        lock.wait_for_waiters()
        # Longer than the idle timeout (1s), meanwhile others are served.
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5:
            assert srv.get("/healthz").status == 200
            time.sleep(0.1)
        assert t.is_alive() and not out
    finally:
        lock.release()
    t.join(30)
    assert "e" not in out, f"the waiting request failed: {out['e']!r}"
    assert out["r"].status == 204, out["r"]
    assert srv.get_user("Patient").status == 200
    assert database.query("SELECT to_char(date_of_birth, 'YYYY-MM-DD') FROM hello_users "
                          "WHERE username = 'Patient'") == [("1981-02-02",)]


def test_client_leaving_while_its_request_waits(hellod, database):
    srv = hellod("--request-deadline", "30s", workers=1)
    assert srv.put_user("Leaver", "1980-01-01").status == 204
    lock = RowLock(database, "Leaver")
    try:
        socks = []
        for i in range(3):
            body = b'{"dateOfBirth": "1982-03-0%d"}' % (i + 1)
            s = raw_connect(srv.port)
            s.sendall(b"PUT /hello/Leaver HTTP/1.1\r\nHost: t\r\nContent-Type: application/json"
                      b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            socks.append(s)
        lock.wait_for_waiters(1)
        for s in socks:
            s.close()  # gone before the answer
        assert srv.get("/healthz").status == 200
    finally:
        lock.release()
    # The answers have nowhere to go; the server must shrug and go on.
    wait_until(lambda: srv.get("/metrics").status == 200 and
               'route="hello",code="204"} 4' in srv.get("/metrics").body.decode(),
               10 * SLOW, "the abandoned requests to be answered")
    assert srv.alive()
    assert srv.get_user("Leaver").status == 200
    assert srv.put_user("Leaver", "1983-04-04").status == 204


def test_request_stuck_past_deadline_is_503_and_others_still_served(hellod, database):
    srv = hellod("--request-deadline", "1s", workers=1)
    assert srv.put_user("Stuck", "1980-01-01").status == 204
    assert srv.put_user("Free", "1980-01-01").status == 204
    lock = RowLock(database, "Stuck")
    try:
        t, out = _in_thread(lambda: srv.put_user("Stuck", "1981-01-01", timeout=15))
        lock.wait_for_waiters()
        for _ in range(5):  # not queued behind the stuck query
            t0 = time.monotonic()
            assert srv.get_user("Free").status == 200
            assert time.monotonic() - t0 < 0.5 * SLOW
        t.join(15)
        assert "e" not in out, out
        r = out["r"]
        assert r.status == 503 and "error" in r.json() and r.header("Retry-After"), r
    finally:
        lock.release()
    assert srv.get_user("Stuck").status == 200
    wait_until(lambda: srv.get("/readyz").status == 200, 10 * SLOW, "/readyz 200")


def test_missing_database_is_reported_by_readyz(hellod, pg):
    srv = hellod("--request-deadline", "500ms", "--database", pg.conninfo("no_such_db"),
                 database=False, workers=1, wait="healthy")
    wait_until(lambda: srv.get("/readyz").status == 503 and
               "no_such_db" in srv.get("/readyz").body.decode(), 10 * SLOW,
               "/readyz to name the missing database")
    r = srv.get_user("Anyone")
    assert r.status == 503 and r.header("Retry-After"), r
    assert "error" in r.json()


def test_sighup_switches_database(hellod, pg, database, tmp_path):
    other = pg.create_database()
    try:
        cfg = tmp_path / "db.yaml"
        cfg.write_text(f"database: '{database.conninfo}'\n")
        srv = hellod("--config", cfg, database=False, workers=2)
        assert srv.put_user("Before", "1970-01-01").status == 204
        cfg.write_text(f"database: '{other.conninfo}'\n")
        srv.send_signal(signal.SIGHUP)
        srv.wait_log("configuration reloaded")
        # Every worker moves to the other database (which hellod migrates on connecting).
        wait_until(lambda: all(srv.get_user("Before").status == 404 for _ in range(6)),
                   10 * SLOW, "requests to go to the new database")
        assert srv.put_user("After", "1971-01-01").status == 204
        assert other.query("SELECT username FROM hello_users") == [("After",)]
        assert database.query("SELECT username FROM hello_users") == [("Before",)]
        assert srv.stop() == 0  # before its database goes away
    finally:
        pg.drop_database(other.name)
