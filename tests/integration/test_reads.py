"""hellod's local reads with read-your-writes (read-from local, docs/hellod.md "Local reads"):
a real primary (the session's PostgreSQL) and a streaming replica cloned from it with
pg_basebackup; replay is paused with pg_wal_replay_pause() to hold the replica behind.

What is checked: a PUT answers with a Tandem-Consistency-Token; a GET presenting it never returns
the value it replaced, even with replay paused (the read waits read-wait, then goes to the
primary), and is served by the replica once it has replayed the token; a waiting GET is answered
by the replica as soon as replay resumes; a token from another timeline goes to the primary; the
metrics count each case."""

import contextlib
import re
import shutil
import threading
import uuid

import psycopg
import pytest

from conftest import PG_BIN, SLOW, PgServer, wait_until

TOKEN = "Tandem-Consistency-Token"


class Replica(PgServer):
    """A streaming replica of `primary`, cloned with pg_basebackup."""

    def __init__(self, primary):
        super().__init__()
        self.primary = primary

    def init(self):
        self._as_postgres("mkdir", "-p", self.sockdir)
        self._as_postgres(
            PG_BIN / "pg_basebackup", "-h", self.primary.host, "-p", self.primary.port,
            "-U", "postgres", "-D", self.data, "-R", "-X", "stream", "--no-sync",
        )
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"\nport = {self.port}\nunix_socket_directories = '{self.sockdir}'\n"
                    "hot_standby = on\n")


@pytest.fixture(scope="module")
def replica(pg):
    pg.ensure_running()
    r = Replica(pg)
    try:
        r.init()
        r.start()
        yield r
    finally:
        with contextlib.suppress(Exception):
            r.cleanup()
        shutil.rmtree(r.base, ignore_errors=True)


def on_replica(replica, dbname, sql):
    with psycopg.connect(replica.conninfo(dbname), autocommit=True, connect_timeout=10) as c:
        return c.execute(sql).fetchall()


def replica_has_db(replica, dbname):
    try:
        on_replica(replica, dbname, "SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def replayed(replica, dbname, token):
    lsn = token.split(":", 1)[1]
    return on_replica(replica, dbname,
                      f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn")[0][0]


def metric(srv, name, labels=None):
    text = srv.get("/metrics").body.decode()
    lab = "" if labels is None else "{" + labels + "}"
    m = re.search(rf"^{re.escape(name + lab)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def counts(srv):
    return {
        "local": metric(srv, "hellod_reads_total", 'served="local"'),
        "primary": metric(srv, "hellod_reads_total", 'served="primary"'),
        "after_wait": metric(srv, "hellod_reads_after_wait_total"),
        "stale": metric(srv, "hellod_stale_reads_prevented_total"),
        "waits": metric(srv, "hellod_read_wait_seconds_count"),
        "waiting": metric(srv, "hellod_reads_waiting"),
    }


def uname():
    return "u" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:10] + "x"


def message_for(srv, name, token=None):
    headers = {TOKEN: token} if token else None
    r = srv.request("GET", f"/hello/{name}", headers=headers)
    assert r.status == 200, (r.status, r.body)
    return r.json()["message"]


@pytest.fixture
def local_hellod(hellod, database, replica):
    wait_until(lambda: replica_has_db(replica, database.name), 30 * SLOW,
               "the replica to replay CREATE DATABASE")

    def start(*extra, read_database=None):
        return hellod("--read-from", "local", "--read-database",
                      read_database or replica.conninfo(database.name), *extra)
    yield start
    with contextlib.suppress(Exception):
        on_replica(replica, "postgres", "SELECT pg_wal_replay_resume()")


def pause(replica):
    on_replica(replica, "postgres", "SELECT pg_wal_replay_pause()")
    wait_until(lambda: on_replica(replica, "postgres", "SELECT pg_get_wal_replay_pause_state()")
               [0][0] == "paused", 10 * SLOW, "replay to pause")


def resume(replica):
    on_replica(replica, "postgres", "SELECT pg_wal_replay_resume()")


def put(srv, name, dob):
    r = srv.put_user(name, dob)
    assert r.status == 204, (r.status, r.body)
    token = r.header(TOKEN)
    assert token and re.fullmatch(r"[1-9][0-9]*:[0-9A-F]{1,8}/[0-9A-F]{1,8}", token), token
    return token


def test_token_read_is_local_once_replayed_and_never_stale_while_paused(
        local_hellod, replica, database):
    srv = local_hellod("--read-wait", "50ms")
    name = uname()
    token = put(srv, name, "1990-01-01")
    wait_until(lambda: replayed(replica, database.name, token), 10 * SLOW,
               "the replica to replay the PUT")
    before = counts(srv)
    old = message_for(srv, name, token)
    after = counts(srv)
    assert after["local"] == before["local"] + 1, (before, after)
    assert after["primary"] == before["primary"]

    # Replay paused: the replica keeps the old date; a read with the new token must not see it.
    pause(replica)
    token2 = put(srv, name, "1990-06-15")
    assert not replayed(replica, database.name, token2)
    rows = on_replica(replica, database.name,
                      f"SELECT date_of_birth::text FROM hello_users WHERE username = '{name}'")
    assert rows == [("1990-01-01",)]  # the replica really is stale

    before = counts(srv)
    new = message_for(srv, name, token2)
    after = counts(srv)
    assert new != old
    assert after["primary"] == before["primary"] + 1, (before, after)
    assert after["local"] == before["local"]
    assert after["stale"] == before["stale"] + 1
    assert after["waits"] == before["waits"] + 1  # it waited read-wait first

    # This instance's own last write counts without a token too.
    before = counts(srv)
    assert message_for(srv, name) == new
    after = counts(srv)
    assert after["primary"] == before["primary"] + 1 and after["stale"] == before["stale"] + 1

    # Once replay resumes and reaches the token, the replica serves it.
    resume(replica)
    wait_until(lambda: replayed(replica, database.name, token2), 10 * SLOW,
               "the replica to replay the second PUT")
    before = counts(srv)
    assert message_for(srv, name, token2) == new
    after = counts(srv)
    assert after["local"] == before["local"] + 1, (before, after)


def test_waiting_read_is_answered_locally_when_replay_resumes(local_hellod, hellod, replica,
                                                              database):
    srv = local_hellod("--read-wait", "8s")
    plain = hellod()  # read-from primary: the answer to expect
    name = uname()
    put(srv, name, "1985-03-03")
    pause(replica)
    token = put(srv, name, "1985-04-04")
    expected = plain.request("GET", f"/hello/{name}")
    assert expected.status == 200

    before = counts(srv)
    result = {}

    def get():
        result["r"] = srv.request("GET", f"/hello/{name}", headers={TOKEN: token}, timeout=30)

    t = threading.Thread(target=get)
    t.start()
    try:
        wait_until(lambda: counts(srv)["waiting"] >= 1, 5 * SLOW, "the GET to wait for replay")
        resume(replica)
    finally:
        t.join(30)
    r = result["r"]
    assert r.status == 200 and r.json() == expected.json()
    after = counts(srv)
    assert after["local"] == before["local"] + 1, (before, after)
    assert after["after_wait"] == before["after_wait"] + 1
    assert after["stale"] == before["stale"] + 1
    assert after["waits"] == before["waits"] + 1
    assert after["waiting"] == 0


def test_token_from_another_timeline_and_bad_tokens(local_hellod, replica, database):
    srv = local_hellod()
    name = uname()
    token = put(srv, name, "1970-07-07")
    wait_until(lambda: replayed(replica, database.name, token), 10 * SLOW, "replay")
    tli, lsn = token.split(":")
    before = counts(srv)
    other = f"{int(tli) + 1}:{lsn}"
    assert message_for(srv, name, other)  # answered, by the primary
    after = counts(srv)
    assert after["primary"] == before["primary"] + 1 and after["local"] == before["local"]

    for bad in ["1:0/", "0:0/1", "1:0/1 x", "x" * 100, "1:123456789/0"]:
        r = srv.request("GET", f"/hello/{name}", headers={TOKEN: bad})
        assert r.status == 400, (bad, r.status, r.body)
        assert TOKEN in r.json()["error"]


def test_read_from_primary_still_answers_with_a_token(hellod):
    srv = hellod()
    name = uname()
    token = put(srv, name, "2001-01-01")
    assert message_for(srv, name, token)
    assert counts(srv)["local"] == 0 and counts(srv)["primary"] == 0


def test_replica_timeline_unknown_without_read_all_stats(local_hellod, replica, database, pg):
    """A read role that cannot see pg_stat_wal_receiver's received_tli cannot prove the replica's
    timeline: every read goes to the primary, none is served by the replica."""
    role = "reader_" + uuid.uuid4().hex[:8]
    database.query(f"CREATE ROLE {role} LOGIN")
    srv = local_hellod()  # creates the schema on the primary
    name = uname()
    token = put(srv, name, "1999-09-09")
    database.query(f"GRANT SELECT ON hello_users TO {role}")
    wait_until(lambda: on_replica(replica, database.name,
                                  f"SELECT has_table_privilege('{role}', 'hello_users', 'SELECT')")
               [0][0], 10 * SLOW, "the grant to reach the replica")
    wait_until(lambda: replayed(replica, database.name, token), 10 * SLOW, "replay")
    conninfo = f"{replica.conninfo(database.name).replace('user=postgres', f'user={role}')}"
    try:
        reader = local_hellod(read_database=conninfo)
        wait_until(lambda: metric(reader, "hellod_db_read_pool_ready") == 2 * 4, 10 * SLOW,
                   "the read pools of both workers to connect")
        before = counts(reader)
        for _ in range(3):
            assert message_for(reader, name, token)
        after = counts(reader)
        assert after["local"] == before["local"], (before, after)
        assert after["primary"] == before["primary"] + 3
        assert "pg_read_all_stats" in reader.log()
    finally:
        with contextlib.suppress(Exception):
            database.query(f"DROP OWNED BY {role}")
            database.query(f"DROP ROLE {role}")


def test_concurrent_writers_always_read_their_own_writes(local_hellod, hellod, replica, database):
    """Writers in parallel (so that PUTs share commits and their post-commit position), each
    reading its write back at once with its token: every read sees that write. The session's
    PostgreSQL runs with synchronous_commit off, whose WAL reaches the replica only when the WAL
    writer flushes it (every 200 ms): on for this database, as in production."""
    database.query(f'ALTER DATABASE "{database.name}" SET synchronous_commit = on')
    srv = local_hellod("--read-wait", "1s")
    plain = hellod()
    dates = ["1980-01-15", "1981-05-20", "1982-09-25"]
    expected = {}
    for d in dates:  # the message each date gives today, from a primary-only instance
        n = uname()
        put(plain, n, d)
        expected[d] = message_for(plain, n).split("! ", 1)[1]
    errors = []

    def writer():
        name = uname()
        try:
            for i in range(12):
                d = dates[i % len(dates)]
                token = put(srv, name, d)
                got = message_for(srv, name, token).split("! ", 1)[1]
                if got != expected[d]:
                    errors.append((name, i, d, got, token))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    c = counts(srv)
    assert c["local"] + c["primary"] == 8 * 12
    assert c["local"] > 0, c
