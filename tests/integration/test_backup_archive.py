"""Archiving through pgBackRest from whoever leads (docs/backup.md, "Archiving" and "Replicas from
the repository"), with the real pgbackrest and a repository in a directory owned by postgres:

* the leader creates the stanza on bootstrap (it belongs to this cluster's system id) and checks
  it; every member has archive_mode on and tandem's archive_command and restore_command;
* WAL is archived; across a switchover and a failover the new leader proves continuity (its
  metric and log);
* a reinitialized replica is rebuilt from the repository with a delta restore and streams;
* the repository unreachable: failures counted, WAL waits, then archiving catches up;
* archive-push's exit code 45 (a WAL file the repository holds with another checksum) raises the
  conflict alert.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess

import pytest

from cluster import TANDEMD, T_CHANGE, healthy_cluster
from conftest import SLOW, wait_until

PGBACKREST = shutil.which("pgbackrest")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not PGBACKREST, reason="pgbackrest is not installed"),
]


def prepare(c):
    c.repo = c.base / "repo"
    c.repo.mkdir(mode=0o750)
    shutil.chown(c.repo, "postgres", "postgres")
    # pgBackRest's own archive-timeout (how long a push waits) short, so that an unreachable
    # repository fails pushes quickly.
    c.yaml_extra = (f"backup:\n  pgbackrest:\n    repo1-path: {c.repo}\n    archive-timeout: '10'\n"
                    f"  archive_timeout: 10\n  archive_push_queue_max: 48MiB\n")
    c.pg_extra = "  create_replica_methods: [pgbackrest, basebackup]\n"
    for m in c.members:
        m.write_config()


@pytest.fixture(scope="module")
def cluster():
    yield from healthy_cluster(3, prefix="tandem-it-archive-", prepare=prepare)


def metrics(m):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", m.rest_port, timeout=3)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    except OSError:
        return {}
    finally:
        conn.close()
    out = {}
    for line in body.splitlines():
        mt = re.match(r"^(tandem_\w+)\{[^}]*\} (\S+)$", line)
        if mt:
            out[mt.group(1)] = float(mt.group(2))
    return out


def wait_metric(m, name, pred, what, timeout=T_CHANGE):
    last = {}

    def ok():
        last.update(metrics(m))
        return name in last and pred(last[name])

    try:
        wait_until(ok, timeout, f"{m.name}: {name} {what}", interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}; last {name}={last.get(name)}\n{m.log()[-3000:]}") from None
    return last[name]


def pgbackrest(c, m, *args, timeout=120):
    conf = f"{m.data}.pgbackrest.conf"
    return subprocess.run(["runuser", "-u", "postgres", "--", PGBACKREST, f"--config={conf}",
                           f"--stanza={c.scope}", *args], capture_output=True, text=True,
                          timeout=timeout * SLOW, cwd="/")


def repo_segments(c):
    return {p.name.split("-")[0] for p in (c.repo / "archive" / c.scope).rglob("0*")
            if p.is_file()}


def switch_wal(leader):
    """Writes, then switches WAL: returns the name of the segment that was closed."""
    leader.query("CREATE TABLE IF NOT EXISTS arch (v int)")
    leader.query("INSERT INTO arch SELECT generate_series(1, 100)")
    return leader.query("SELECT pg_walfile_name(pg_switch_wal())")[0][0]


def wait_archived(c, seg, timeout=T_CHANGE):
    wait_until(lambda: seg in repo_segments(c), timeout, f"{seg} in the repository", interval=0.5)


def test_stanza_created_and_wal_archived(cluster):
    c = cluster
    leader = c.wait_healthy()
    wait_metric(leader, "tandem_backup_stanza_ok", lambda v: v == 1, "== 1")
    assert "stanza " + c.scope + " created" in leader.log()
    r = pgbackrest(c, leader, "info", "--output=json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)[0]
    sysid = leader.query("SELECT system_identifier FROM pg_control_system()")[0][0]
    assert info["db"][-1]["system-id"] == sysid
    # Every member: archive_mode on, tandem's commands (the DCS may not set them).
    for m in c.members:
        rows = dict(m.query("SELECT name, setting FROM pg_settings WHERE name IN "
                            "('archive_mode', 'archive_command', 'restore_command', "
                            "'archive_timeout')"))
        assert rows["archive_mode"] == "on"
        assert "archive-push" in rows["archive_command"] and "045" in rows["archive_command"]
        assert "archive-get" in rows["restore_command"]
        assert rows["archive_timeout"] == "10"
        assert oct(os.stat(f"{m.data}.pgbackrest.conf").st_mode & 0o777) == "0o600"
    seg = switch_wal(leader)
    wait_archived(c, seg)
    wait_metric(leader, "tandem_archive_archived_total", lambda v: v >= 1, ">= 1")
    assert metrics(leader)["tandem_archive_continuity_ok"] == 1
    # tandemctl list: the leader's archive
    r = c.tandemctl("list")
    assert r.returncode == 0, r.stderr
    assert re.search(r" Archive: \d+ WAL files? waiting on " + leader.name + r".*continuity ok",
                     r.stdout), r.stdout
    r = c.tandemctl("list", "--json")
    assert json.loads(r.stdout)["archive"]["continuity_ok"] is True, r.stdout


def backup_lines(m):
    return "\n".join(l for l in m.log().splitlines() if "backups" in l or "pgbackrest" in l)


def check_continuity(c, new, old_tl):
    try:
        wait_until(lambda: f"archive continuity into timeline {old_tl + 1} checked" in new.log(),
                   70 * SLOW, f"{new.name} to prove continuity into timeline {old_tl + 1}",
                   interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{backup_lines(new)}") from None
    assert metrics(new)["tandem_archive_continuity_ok"] == 1
    # The archive goes on from the new leader.
    wait_archived(c, switch_wal(new))


def test_continuity_across_switchover_and_failover(cluster):
    c = cluster
    old = c.wait_healthy()
    tl = old.patroni()["timeline"]
    target = next(m for m in c.members if m is not old)
    r = c.tandemctl("switchover", "--leader", old.name, "--candidate", target.name, "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    new = c.wait_leader(not_name=old.name)
    check_continuity(c, new, tl)
    c.wait_healthy()

    # A failover: the leader's node dies right after closing a segment that its archiver never
    # pushed (stopped here; CI saw a `pgbackrest check`'s WAL switch and then the kill do it).
    # Nobody else archives that segment: the new leader pushes its own copy.
    tl = new.patroni()["timeline"]
    archiver = [r[0] for r in new.query(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'")]
    for pid in archiver:
        os.kill(pid, signal.SIGSTOP)
    new.frozen += archiver
    closed = switch_wal(new)
    end = new.query("SELECT pg_current_wal_lsn()::text")[0][0]
    for m in c.members:
        if m is not new:
            wait_until(lambda m=m: m.query("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                           (end,))[0][0], T_CHANGE, f"{m.name} replaying {end}")
    new.kill_node()
    nxt = c.wait_leader(not_name=new.name)
    check_continuity(c, nxt, tl)
    assert closed in repo_segments(c)
    assert "pushing our copy" in nxt.log(), backup_lines(nxt)
    new.start()
    c.wait_healthy()


def test_replica_rebuilt_from_the_repository(cluster):
    c = cluster
    leader = c.wait_healthy()
    r = pgbackrest(c, leader, "backup", "--type=full", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    replica = next(m for m in c.members if m is not leader)
    before = metrics(replica).get("tandem_replica_restores_total", 0)
    off = replica.log_size()
    r = c.tandemctl("reinit", replica.name, "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_metric(replica, "tandem_replica_restores_total", lambda v: v == before + 1,
                f"== {before + 1}")
    log = replica.log_since(off)
    assert "keeping the data directory for a delta restore" in log
    assert "pg_basebackup" not in log
    c.wait_healthy()
    row = c.write_row(leader)
    c.wait_row([replica], row)
    # tandem's restore_command is the one in force, not one pgBackRest left behind.
    auto = (replica.data / "postgresql.auto.conf").read_text()
    assert "restore_command" not in auto


def test_diverged_former_primary_resynced_by_a_delta_restore(cluster):
    """A former primary with a row only it has, which pg_rewind cannot repair (here: it may not
    run it), is resynchronised in place from the repository, not cloned afresh."""
    c = cluster
    old = c.wait_healthy()
    r = pgbackrest(c, old, "backup", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    base_row = c.write_row(old)
    c.wait_row([m for m in c.members if m is not old], base_row)
    assert len(old.freeze_walsenders()) == 2
    lost = c.write_row(old, "diverged-" + old.name)
    old.kill_node()
    new = c.wait_leader(not_name=old.name)
    row = c.write_row(new)
    normal = old.config_text()
    old.config_path.write_text(normal.replace("use_pg_rewind: true", "use_pg_rewind: false"))
    off = old.log_size()
    try:
        old.start()
        c.wait_healthy()
    finally:
        old.config_path.write_text(normal)
    log = old.log_since(off)
    assert "use_pg_rewind is off" in log, log[-3000:]
    assert "keeping the data directory for a delta restore" in log
    assert "pgbackrest restore succeeded" in log, log[-4000:]
    assert "pg_basebackup" not in log and "moved aside" not in log
    c.wait_row([old], row)
    assert c.has_row(old, base_row)
    assert not c.has_row(old, lost), "the diverged row survived the delta restore"


def test_repository_unreachable_then_back(cluster):
    c = cluster
    leader = c.wait_healthy()
    wait_archived(c, switch_wal(leader))
    failed = metrics(leader).get("tandem_archive_failures_total", 0)
    os.chmod(c.repo, 0)
    try:
        segs = [switch_wal(leader) for _ in range(5)]
        wait_metric(leader, "tandem_archive_failures_total", lambda v: v > failed,
                    f"> {failed}", timeout=90 * SLOW)
        m = metrics(leader)
        assert m["tandem_archive_ready_segments"] >= 1 or m["tandem_archive_wal_dropped_total"] >= 1
    finally:
        os.chmod(c.repo, 0o750)
    # Back: what waited is archived, or dropped beyond the queue bound (and said so); new WAL
    # goes on.
    wait_metric(leader, "tandem_archive_ready_segments", lambda v: v == 0, "== 0",
                timeout=150 * SLOW)
    wait_archived(c, switch_wal(leader), timeout=150 * SLOW)
    dropped = metrics(leader)["tandem_archive_wal_dropped_total"]
    present = repo_segments(c)
    missing = [s for s in segs if s not in present]
    assert not missing or dropped >= len(missing), (missing, dropped)


def test_archive_push_exit_45_raises_the_conflict_alert(cluster):
    c = cluster
    leader = c.wait_healthy()
    wait_archived(c, switch_wal(leader))
    leader.query("INSERT INTO arch VALUES (1)")  # inside the next segment, not at its start
    seg = leader.query("SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0]
    # Another primary's copy of the segment being written: same name, another checksum.
    arch = next(p for p in (c.repo / "archive" / c.scope).iterdir() if p.is_dir())
    d = arch / seg[:16]
    d.mkdir(exist_ok=True)
    shutil.chown(d, "postgres", "postgres")
    fake = d / f"{seg}-{'0' * 40}.gz"
    fake.write_bytes(b"not this cluster's WAL")
    shutil.chown(fake, "postgres", "postgres")
    conflict = pathlib.Path(f"{leader.data}.pgbackrest") / "archive-push-045"
    try:
        switch_wal(leader)
        wait_metric(leader, "tandem_archive_conflict", lambda v: v == 1, "== 1", timeout=90 * SLOW)
        assert metrics(leader)["tandem_archive_conflicts_total"] >= 1
        assert seg in conflict.read_text()
        assert f"archive-push exited 45 for WAL file {seg}" in leader.log()
    finally:
        fake.unlink()
        conflict.unlink(missing_ok=True)

    def cleared():
        # A push that began before the fake was removed may still record one more 45.
        conflict.unlink(missing_ok=True)
        return metrics(leader).get("tandem_archive_conflict") == 0
    wait_until(cleared, 60 * SLOW, "tandem_archive_conflict back to 0", interval=1)
    wait_archived(c, seg, timeout=150 * SLOW)


def test_another_clusters_stanza_is_refused(cluster):
    """A second cluster pointed at the first one's stanza: its leader creates nothing, says whose
    stanza it is, and its stanza gauge stays 0; the first cluster's archive goes on."""
    c = cluster

    def prep(o):
        o.yaml_extra = f"backup:\n  stanza: {c.scope}\n  pgbackrest:\n    repo1-path: {c.repo}\n"
        for m in o.members:
            m.write_config()

    for o in healthy_cluster(1, prefix="tandem-it-archive-other-", prepare=prep):
        m = o.members[0]
        wait_until(lambda: "belongs to another database" in m.log(), T_CHANGE,
                   "the second cluster to refuse the first one's stanza", interval=0.5)
        assert metrics(m)["tandem_backup_stanza_ok"] == 0
        assert "creating it" not in m.log()
    leader = c.wait_healthy()
    wait_archived(c, switch_wal(leader))


def test_no_leader_restores_from_the_repository(cluster):
    """Every member stopped and one member's data lost: alone, with no leader to clone, it
    restores from the repository (postgresql.pgbackrest.no_leader) and runs as a standby of
    the archive. Last: it leaves the cluster without a leader."""
    c = cluster
    leader = c.wait_healthy()
    r = pgbackrest(c, leader, "backup", timeout=600)  # incremental, or the first full one
    assert r.returncode == 0, r.stdout + r.stderr
    wait_archived(c, switch_wal(leader))
    lone = next(m for m in c.members if m is not leader)
    for m in c.members:
        assert m.stop() == 0
    shutil.rmtree(lone.data)
    off = lone.log_size()
    lone.start()
    try:
        wait_until(lambda: lone.in_recovery() is True, T_CHANGE,
                   f"{lone.name} to run as a standby", interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{lone.log_since(off)[-4000:]}") from None
    log = lone.log_since(off)
    assert "no data and no leader: restoring from the backup repository" in log, log[-3000:]
    assert "pgbackrest restore succeeded" in log, log[-4000:]
    assert "pg_basebackup" not in log
    assert c.has_row(lone, "never-written") is False  # it answers queries: its data is there
    assert lone.query("SELECT count(*) FROM arch")[0][0] >= 100
