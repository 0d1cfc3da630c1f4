"""Restore drills (docs/backup.md, "Restore drills") with real pgBackRest on a two-member cluster.

The cluster archives through pgBackRest into a repository in its temporary directory (tandemd
sets archive_command and creates the stanza); the backups are made here with the pgbackrest CLI
and the members' pgbackrest.conf.

* a drill on the replica restores the latest backup plus WAL to its marker, finds the marker and
  the leader's row counts in every database (rows written after the backup included), reports an
  RTO, removes its scratch copy, and its result reaches the DCS, `tandemctl list` and every
  member's metrics; the scratch copy's promotion never archives a new timeline into the
  repository;
* a second drill while one runs is refused (409);
* a drill over a backup with a corrupted file fails with pgBackRest's reason, and removes its
  scratch copy.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import threading
import urllib.error
import urllib.request

import psycopg
import pytest

from cluster import (ETCD, T_CHANGE, TANDEMCTL, TANDEMD, healthy_cluster, wait_until,
                     with_repository)

PGBACKREST = shutil.which("pgbackrest") or "/usr/bin/pgbackrest"

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not (os.path.exists(ETCD) and TANDEMCTL.exists()),
                       reason="needs etcd and tandemctl"),
    pytest.mark.skipif(not os.path.exists(PGBACKREST), reason="needs pgbackrest"),
]

def pgbackrest(c, member, *args):
    """The pgbackrest CLI with `member`'s pgbackrest.conf (the one tandemd writes)."""
    r = subprocess.run(
        ["runuser", "-u", "postgres", "--", PGBACKREST,
         f"--config={member.data}.pgbackrest.conf", f"--stanza={c.scope}", *args],
        capture_output=True, text=True, timeout=T_CHANGE * 3, stdin=subprocess.DEVNULL, cwd="/")
    assert r.returncode == 0, f"pgbackrest {args}: {r.stdout}\n{r.stderr}"
    return r.stdout


def prepare(c):
    """Backups on: tandemd archives and creates the stanza (docs/backup.md)."""
    with_repository(c)


@pytest.fixture(scope="module")
def cl():
    yield from healthy_cluster(2, prefix="tandem-it-drill-", prepare=prepare)


@pytest.fixture(scope="module")
def prepared(cl):
    """Two databases with rows, a full backup, and rows after it."""
    setup_data_and_backup(cl, cl.wait_healthy(T_CHANGE))
    return cl


@pytest.fixture
def healthy(prepared, attach_logs):
    for src in prepared.log_sources():
        attach_logs(src)
    return prepared, prepared.wait_healthy(T_CHANGE)


def replica_of(c, leader):
    return next(m for m in c.members if m is not leader)


def drill_status(m):
    with urllib.request.urlopen(f"http://127.0.0.1:{m.rest_port}/drill", timeout=5) as r:
        return json.loads(r.read())


def post_drill(m):
    req = urllib.request.Request(f"http://127.0.0.1:{m.rest_port}/drill", method="POST", data=b"")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metrics(m):
    with urllib.request.urlopen(f"http://127.0.0.1:{m.rest_port}/metrics", timeout=5) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line.startswith("tandem_drill"):
                name, value = line.split(" ")
                out[name.split("{")[0]] = float(value)
        return out


def scratch(m):
    return pathlib.Path(str(m.data) + ".drill")


def setup_data_and_backup(c, leader):
    """Two databases with rows, a full backup, then more rows that only WAL brings back."""
    leader.query("CREATE TABLE IF NOT EXISTS drill_a (id serial PRIMARY KEY, v text)")
    leader.query("INSERT INTO drill_a (v) SELECT 'a' || g FROM generate_series(1, 300) g")
    if not leader.query("SELECT 1 FROM pg_database WHERE datname = 'drillapp'"):
        leader.query("CREATE DATABASE drillapp")
    with psycopg.connect(host="127.0.0.1", port=leader.pg_port, user="postgres",
                         password=c.superuser_password, dbname="drillapp",
                         autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS drill_b (id int)")
        conn.execute("INSERT INTO drill_b SELECT g FROM generate_series(1, 70) g")
    # The leader creates the stanza (tandem_backup_stanza_ok); then a full backup.
    wait_until(lambda: (c.repo / "backup" / c.scope / "backup.info").exists(), T_CHANGE,
               "the stanza", interval=0.5)
    pgbackrest(c, leader, "--type=full", "backup")
    leader.query("INSERT INTO drill_a (v) SELECT 'late' || g FROM generate_series(1, 25) g")


def test_drill_passes_and_is_reported(healthy):
    c, leader = healthy
    r = c.tandemctl("drill", "--wait", "--json", timeout=600)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    res = json.loads(r.stdout)
    replica = replica_of(c, leader)
    assert res["ok"] is True and res["member"] == replica.name, res
    assert res["rto_ms"] > 0 and res["databases"] >= 2, res
    # drill_a, drill_b and the marker table at least.
    assert res["tables"] >= 3, res
    assert "the marker is there" in res["reason"], res
    assert not scratch(replica).exists(), "the scratch copy was left behind"
    # The copy was promoted to a new timeline but never archived into the repository.
    history = list((c.repo / "archive" / c.scope).glob("*/*.history"))
    assert history == [], f"the scratch copy archived: {history}"
    # The result is in the DCS, in tandemctl list and in every member's metrics.
    stored = json.loads(c.etcd.get(c.key("drill")))
    assert stored["id"] == res["id"] and stored["ok"] is True
    lst = c.tandemctl("list")
    assert lst.returncode == 0 and "Last drill:" in lst.stdout and "passed, RTO" in lst.stdout, \
        lst.stdout
    assert json.loads(c.tandemctl("list", "--json").stdout)["drill"]["id"] == res["id"]
    for m in c.members:
        got = metrics(m)
        assert got["tandem_drill_last_ok"] == 1, got
        assert got["tandem_drill_last_success_timestamp_seconds"] > 0, got
        assert got["tandem_drill_duration_seconds"] > 0, got
        assert got["tandem_drill_failures_total"] == 0, got
        assert got["tandem_drill_running"] == 0, got
    text = c.tandemctl("drill", "--wait", timeout=600)
    assert text.returncode == 0 and "passed, RTO" in text.stdout, text.stdout + text.stderr
    assert c.tandemctl("drill", "m1", "m2").returncode == 2
    r = c.tandemctl("drill", "nosuch")
    assert r.returncode == 1 and "no member 'nosuch'" in r.stderr, r.stderr


def test_second_drill_refused(healthy):
    c, leader = healthy
    replica = replica_of(c, leader)
    # A directory that is not a drill's is never removed: the drill fails and says why.
    leftover = scratch(replica)
    (leftover / "data").mkdir(parents=True)
    (leftover / "data" / "junk").write_text("someone else's file")
    for p in (leftover, leftover / "data", leftover / "data" / "junk"):
        shutil.chown(p, "postgres", "postgres")
    status, body = post_drill(replica)
    assert status == 202, body
    wait_until(lambda: not drill_status(replica)["running"], T_CHANGE, "the drill to end",
               interval=0.2)
    last = drill_status(replica)["last"]
    assert last["id"] == body["id"] and last["ok"] is False, last
    assert "was not made by a drill" in last["reason"], last
    assert (leftover / "data" / "junk").exists()
    # What a crashed drill left behind (its mark is there) is removed by the next one.
    (leftover / ".tandem-drill").write_text("")
    shutil.chown(leftover / ".tandem-drill", "postgres", "postgres")
    status, body = post_drill(replica)
    assert status == 202, body
    status2, body2 = post_drill(replica)
    assert status2 == 409 and "a drill runs already" in body2, (status2, body2)
    assert "restore drill" in replica.log() and "POST /drill" in replica.log()
    wait_until(lambda: not drill_status(replica)["running"], T_CHANGE * 5,
               "the first drill to end", interval=0.5)
    assert drill_status(replica)["last"]["id"] == body["id"]
    assert drill_status(replica)["last"]["ok"] is True, drill_status(replica)
    assert not leftover.exists()


def test_drill_passes_under_writes(healthy):
    """Rows inserted all through the drill: the tables written across the restore point are
    checked within the two snapshots' bounds, the others exactly, and the drill passes."""
    c, leader = healthy
    stop = threading.Event()
    written = [0]

    def writer():
        with leader.connect() as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO drill_a (v) VALUES ('busy')")
                written[0] += 1

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        r = c.tandemctl("drill", "--wait", "--json", timeout=600)
    finally:
        stop.set()
        t.join(30)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    res = json.loads(r.stdout)
    assert res["ok"] is True and written[0] > 0, (res, written)


def test_drill_fails_on_corrupted_backup(healthy):
    c, leader = healthy
    pgbackrest(c, leader, "--type=full", "backup")
    info = json.loads(pgbackrest(c, leader, "--output=json", "info"))
    label = info[0]["backup"][-1]["label"]
    pg_data = c.repo / "backup" / c.scope / label / "pg_data"
    victim = max((p for p in pg_data.rglob("*") if p.is_file() and "base" in p.parts),
                 key=lambda p: p.stat().st_size)
    victim.write_bytes(b"junk" * 4096)
    try:
        before = json.loads(c.etcd.get(c.key("drill")) or "null")
    except (OSError, ValueError):
        before = None
    r = c.tandemctl("drill", "--wait", "--json", timeout=600)
    assert r.returncode == 1, f"{r.stdout}\n{r.stderr}"
    res = json.loads(r.stdout)
    assert res["ok"] is False and "pgbackrest restore failed" in res["reason"], res
    replica = replica_of(c, leader)
    assert not scratch(replica).exists(), "the scratch copy was left behind"
    # The failure counts; the last success stays what it was.
    got = metrics(leader)
    assert got["tandem_drill_last_ok"] == 0, got
    assert got["tandem_drill_failures_total"] == (before["failures"] if before else 0) + 1, got
    assert got["tandem_drill_last_success_timestamp_seconds"] == \
        (before["last_success_unix_ms"] / 1000 if before else 0), got
    lst = c.tandemctl("list")
    assert "FAILED: pgbackrest restore failed" in lst.stdout, lst.stdout
