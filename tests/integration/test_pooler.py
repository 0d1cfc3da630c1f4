"""PgBouncer in front of a cluster (docs/pooler.md): `tandemctl pgbouncer-config` renders a
configuration Debian's PgBouncer accepts, routed to the primary through HAProxy's read-write port;
during a planned switchover the leader pauses PgBouncer before it stops PostgreSQL and resumes it
once the new primary answers through the route, so that clients writing through PgBouncer all the
time see no error at all.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

import psycopg
import pytest

from cluster import T_CHANGE, serve, tail
from conftest import wait_until
from pooler import PGBOUNCER, pooled_cluster, start_pooler

pytestmark = pytest.mark.skipif(not os.path.exists(PGBOUNCER), reason="pgbouncer is not installed")

WRITERS = 6


@pytest.fixture(scope="module")
def pooled():
    c = pooled_cluster(3, prefix="tandem-it-pooler-")
    gen = serve(c)
    next(gen)
    bouncer = None
    try:
        bouncer = start_pooler(c)
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
