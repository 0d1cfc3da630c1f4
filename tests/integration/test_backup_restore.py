"""Point-in-time recovery into a new cluster with real pgBackRest (issue 12): `tandemctl restore`
to a time between two known writes, to a named restore point made by `tandemctl restore-point`,
and to `latest`; the new cluster's member leads its own scope, is writable and archives into its
own new stanza; `--print-config` gives a configuration tandemd starts from on its own; and the
refusals, each with the reason it names (a target before the first backup or after the end of
the WAL, a wrong stanza, a missing repository, a non-empty data directory or stanza, a name
already in the DCS).

The source is a one-member cluster (tests/integration/cluster.py) whose stanza, archive_command
and first backup the test sets up itself with the pgbackrest CLI. tandemctl restore runs as the
postgres user (it starts tandemd and PostgreSQL).
"""

from __future__ import annotations

import datetime
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from cluster import ETCD, pids_under, SLOW, T_BOOT, T_CHANGE, TANDEMCTL, TANDEMD, Cluster, serve, wait_until
from conftest import free_port, pid_alive

PGBACKREST = shutil.which("pgbackrest")

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not (os.path.exists(ETCD) and TANDEMCTL.exists()),
                       reason="needs etcd and tandemctl"),
    pytest.mark.skipif(not PGBACKREST, reason="needs pgbackrest"),
]

T_RESTORE = 180 * SLOW


def as_postgres(*args, timeout=T_RESTORE, check=False):
    r = subprocess.run([*map(str, args)], user="postgres", group="postgres", extra_groups=[],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                       cwd="/", env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    if check:
        assert r.returncode == 0, f"{args}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def chown(p):
    shutil.chown(p, "postgres", "postgres")


class Source:
    """The source cluster, its repository, and the pgbackrest.conf the test drives it with."""

    def __init__(self, cl):
        self.cl = cl
        self.m = cl.members[0]
        self.repo = cl.base / "repo"
        self.pgbr = cl.base / "pgbr"
        self.conf = self.pgbr / "pgbackrest.conf"
        for d in (self.repo, self.pgbr):
            d.mkdir()
            chown(d)
        self.write_conf({cl.scope: self.m})

    def write_conf(self, stanzas):
        """stanzas: name -> a Member, or (data dir, port) of its PostgreSQL."""
        text = (f"[global]\nrepo1-path={self.repo}\nlog-path={self.pgbr}\n"
                f"lock-path={self.pgbr}/lock\nstart-fast=y\n")
        for name, m in stanzas.items():
            data, port = (m.data, m.pg_port) if hasattr(m, "data") else m
            text += (f"\n[{name}]\npg1-path={data}\npg1-port={port}\n"
                     f"pg1-socket-path={pathlib.Path(data).parent}\npg1-user=postgres\n")
        self.conf.write_text(text)
        chown(self.conf)

    def pgbackrest(self, stanza, *args, check=True):
        return as_postgres(PGBACKREST, f"--config={self.conf}", f"--stanza={stanza}", *args,
                           check=check)

    def archive_command(self, stanza):
        return f"{PGBACKREST} --config={self.conf} --stanza={stanza} archive-push %p"


def source_config(cl, repo, conf):
    """Every member's YAML with archiving into the scope's stanza and the repository."""
    for m in cl.members:
        text = m.config_text()
        text = text.replace("  pg_hba:\n", (
            "  parameters:\n    archive_mode: 'on'\n"
            f"    archive_command: '{PGBACKREST} --config={conf} --stanza={cl.scope} "
            "archive-push %p'\n  pg_hba:\n"), 1)
        text += f"backup:\n  pgbackrest:\n    repo1-path: {repo}\n    log-path: {repo.parent}/pgbr\n"
        m.config_path.write_text(text)
        chown(m.config_path)
        os.chmod(m.config_path, 0o600)


@pytest.fixture(scope="module")
def src():
    cl = Cluster(1, prefix="tandem-it-restore-")
    s = Source(cl)
    source_config(cl, s.repo, s.conf)
    gen = serve(cl)
    next(gen)
    try:
        # tandemd creates the stanza itself (backup: is on); a stanza-create of our own could
        # meet its half-written one ("archive.info exists but backup.info is missing").
        wait_until(lambda: f"stanza {cl.scope} checked" in s.m.log(), T_CHANGE,
                   "tandemd's stanza, created and checked")
        s.m.query("CREATE TABLE IF NOT EXISTS t (v text, at timestamptz DEFAULT now())")
        s.pgbackrest(cl.scope, "backup", "--type=full")
        yield s
    finally:
        for p in pathlib.Path(cl.base).glob("new*/data.tandemd.yml"):
            stop_new_member(p)
        with pytest.raises(StopIteration):
            next(gen)


@pytest.fixture
def source(src, attach_logs):
    for ls in src.cl.log_sources():
        attach_logs(ls)
    return src


def write(s, value):
    s.m.query("INSERT INTO t (v) VALUES (%s)", (value,))


def switch_and_archive(s):
    seg = s.m.query("SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    wait_until(lambda: s.m.query(
        "SELECT coalesce(last_archived_wal >= %s, false) FROM pg_stat_archiver", (seg,))[0][0],
        T_CHANGE, f"segment {seg} archived")


def restore(s, *args, name=None, data=None, listen_port=None):
    name = name or "new" + uuid.uuid4().hex[:6]
    data = data or s.cl.base / name / "data"
    data.parent.mkdir(exist_ok=True)
    chown(data.parent)
    port = listen_port or free_port()
    r = as_postgres(TANDEMCTL, "-c", s.m.config_path, "restore", *args, "--new-cluster", name,
                    "--data-dir", data, "--listen", f"127.0.0.1:{port}")
    return r, name, data, port


def new_member_pid(data):
    cfg = str(data) + ".tandemd.yml"
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                argv = pathlib.Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if len(argv) > 1 and argv[1] == cfg.encode() and argv[0].endswith(b"tandemd"):
                return int(d)
    return None


def stop_new_member(yml):
    pid = new_member_pid(str(yml)[: -len(".tandemd.yml")])
    if pid:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(pid), 60 * SLOW, f"tandemd {pid} stopped")


def rows(s, port):
    with s.m.connect(port=port) as c:
        return {r[0] for r in c.execute("SELECT v FROM t").fetchall()}


def check_new_leader(s, r, name, data, port):
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n" + \
        pathlib.Path(str(data) + ".tandemd.log").read_text(errors="replace")[-4000:]
    assert f"cluster {name}: member {name}-1 leads" in r.stdout
    assert s.cl.etcd.get(f"/service/{name}/leader") == f"{name}-1"
    with s.m.connect(port=port) as c:
        assert c.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        c.execute("INSERT INTO t (v) VALUES ('written in the new cluster')")
        # pgBackRest's recovery settings are gone once promoted
        # (tandem's own restore_command, from the new stanza, is in tandem.conf)
        auto = c.execute("SELECT count(*) FROM pg_file_settings WHERE (name LIKE "
                         "'recovery_target%%' OR name = 'restore_command') AND sourcefile LIKE "
                         "'%%postgresql.auto.conf'").fetchone()[0]
        assert auto == 0
    # the source is untouched and still leads its own scope
    assert s.cl.dcs_leader() == s.m.name


def test_pitr_to_a_time_between_two_writes(source):
    s = source
    write(s, "before")
    time.sleep(1.2)  # the target must fall strictly between the two commits' timestamps
    target = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    time.sleep(1.2)
    write(s, "after")
    switch_and_archive(s)
    # A newer backup that ends after the target: the restore must pick the older one.
    s.pgbackrest(s.cl.scope, "backup", "--type=full")
    r, name, data, port = restore(s, "--to", target)
    check_new_leader(s, r, name, data, port)
    got = rows(s, port)
    assert "before" in got and "after" not in got, got

    # It archives into its own new stanza, never the source's.
    s.write_conf({s.cl.scope: s.m, name: (data, port)})
    s.pgbackrest(name, "stanza-create")
    with s.m.connect(port=port) as c:
        c.autocommit = True
        c.execute(f"ALTER SYSTEM SET archive_command = '{s.archive_command(name)}'")
        c.execute("SELECT pg_reload_conf()")
        seg = c.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
        wait_until(lambda: c.execute("SELECT coalesce(last_archived_wal >= %s, false) FROM "
                                     "pg_stat_archiver", (seg,)).fetchone()[0],
                   T_CHANGE, "the new cluster's segment archived")
    info = s.pgbackrest(name, "info").stdout
    assert "wal archive min/max" in info, info

    # The same name again: refused, it is in the DCS now.
    r2, *_ = restore(s, "--to", "latest", name=name, data=s.cl.base / "other" / "data")
    assert r2.returncode == 1 and "already in the DCS" in r2.stderr, r2.stderr


def test_pitr_to_a_restore_point(source):
    s = source
    write(s, "rp-before")
    r = subprocess.run([TANDEMCTL, "-c", s.m.config_path, "restore-point", "rp1"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr
    assert re.search(r"restore point 'rp1' at LSN [0-9A-F]+/[0-9A-F]+ on m1 .*archived\)",
                     r.stdout), r.stdout
    write(s, "rp-after")
    switch_and_archive(s)
    r, name, data, port = restore(s, "--to", "rp1")
    check_new_leader(s, r, name, data, port)
    got = rows(s, port)
    assert "rp-before" in got and "rp-after" not in got, got


def test_latest_with_force_moving_a_directory_aside(source):
    s = source
    write(s, "latest-row")
    switch_and_archive(s)
    name = "new" + uuid.uuid4().hex[:6]
    data = s.cl.base / name / "data"
    data.mkdir(parents=True)
    (data / "leftover").write_text("x")
    for p in (data.parent, data, data / "leftover"):
        chown(p)
    r, *_ = restore(s, "--to", "latest", name=name, data=data)
    assert r.returncode == 1 and "is not empty" in r.stderr and "--force" in r.stderr, r.stderr
    r, name, data, port = restore(s, "--to", "latest", "--force", name=name, data=data)
    check_new_leader(s, r, name, data, port)
    assert "latest-row" in rows(s, port)
    moved = list(data.parent.glob("data.moved-aside-*"))
    assert len(moved) == 1 and (moved[0] / "leftover").read_text() == "x"


def test_print_config_starts_on_its_own(source):
    s = source
    write(s, "printed")
    switch_and_archive(s)
    name = "new" + uuid.uuid4().hex[:6]
    data = s.cl.base / name / "data"
    port = free_port()
    r = subprocess.run([TANDEMCTL, "-c", s.m.config_path, "restore", "--to", "latest",
                        "--new-cluster", name, "--data-dir", data, "--listen",
                        f"127.0.0.1:{port}", "--print-config"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr
    assert 'method: "pgbackrest"' in r.stdout and f'stanza: "{name}"' in r.stdout
    assert "archive-push" not in r.stdout  # the source's archive_command named its stanza
    assert "#   postgresql.parameters.archive_command: it names the source's stanza" in r.stdout
    assert not data.exists()  # nothing was written
    data.parent.mkdir()
    chown(data.parent)
    yml = pathlib.Path(str(data) + ".tandemd.yml")
    yml.write_text(r.stdout)
    chown(yml)
    os.chmod(yml, 0o600)
    log = open(str(data) + ".tandemd.log", "ab")
    p = subprocess.Popen([TANDEMD, yml], user="postgres", group="postgres", extra_groups=[],
                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         env={"PATH": "/usr/bin:/bin"}, start_new_session=True, cwd="/")
    try:
        wait_until(lambda: s.cl.etcd.get(f"/service/{name}/leader") == f"{name}-1",
                   T_RESTORE, "the printed member leads its cluster", interval=0.5)
        wait_until(lambda: "printed" in rows(s, port), T_CHANGE, "the row restored")
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(60 * SLOW) == 0


def test_refusals_before_anything_is_written(source):
    s = source
    # a target before the first backup
    r, name, data, _ = restore(s, "--to", "2000-01-01T00:00:00+00:00")
    assert r.returncode == 1, r.stderr
    assert re.search(r"no backup before 2000-01-01T00:00:00\+00:00; the first is \d{4}-", r.stderr)
    assert not data.exists()
    # a wrong stanza
    r, *_ = restore(s, "--to", "latest", "--from-stanza", "nosuch")
    assert r.returncode == 1 and "no stanza 'nosuch' in the repository" in r.stderr, r.stderr
    # a name already in the DCS
    s.cl.etcd.put("/service/taken/initialize", "1")
    r, *_ = restore(s, "--to", "latest", name="taken")
    assert r.returncode == 1 and "a cluster named 'taken' is already in the DCS" in r.stderr
    # a new stanza that already holds WAL
    used = "used" + uuid.uuid4().hex[:4]
    s.write_conf({s.cl.scope: s.m, used: s.m})
    s.pgbackrest(used, "stanza-create")
    seg = s.m.query("SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0]
    s.m.query("SELECT pg_switch_wal()")
    s.pgbackrest(used, "archive-push", s.m.data / "pg_wal" / seg)
    r, *_ = restore(s, "--to", "latest", name=used)
    assert r.returncode == 1 and f"stanza '{used}' already holds backups or WAL" in r.stderr
    assert "--force does not override this" in r.stderr
    r, *_ = restore(s, "--to", "latest", "--force", name=used)
    assert r.returncode == 1 and "already holds" in r.stderr
    # a missing repository
    bad = s.cl.base / "missing-repo.yml"
    bad.write_text(s.m.config_path.read_text().replace(f"repo1-path: {s.repo}",
                                                       "repo1-path: /nonexistent/repo"))
    chown(bad)
    r = as_postgres(TANDEMCTL, "-c", bad, "restore", "--to", "latest", "--new-cluster", "x1",
                    "--data-dir", s.cl.base / "x1", "--listen", "127.0.0.1:1")
    assert r.returncode == 1 and "the repository is missing: repo1-path /nonexistent/repo" \
        in r.stderr, r.stderr
    # pgbackrest itself failing
    bad.write_text(s.m.config_path.read_text() + "  command: /bin/false\n")
    r = as_postgres(TANDEMCTL, "-c", bad, "restore", "--to", "latest", "--new-cluster", "x2",
                    "--data-dir", s.cl.base / "x2", "--listen", "127.0.0.1:1")
    assert r.returncode == 1 and "pgbackrest info failed (exit 1)" in r.stderr, r.stderr


def test_target_after_the_end_of_the_wal(source):
    s = source
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
    r, name, data, _ = restore(s, "--to", future.isoformat(timespec="seconds"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "tandemd stopped (exit 1) before it led" in r.stderr, r.stderr
    assert "recovery ended before configured recovery target was reached" in r.stderr, r.stderr
    # nothing deleted: the restore is moved aside, the name is free again
    assert list(data.parent.glob("data.moved-aside-*"))
    assert not s.cl.etcd.range(f"/service/{name}/".encode(), prefix=True)


def test_sigterm_cancels_a_restore(source):
    """A bootstrap from a backup does not hold a stopping tandemd for as long as the restore
    takes: the pgbackrest command is cancelled, nothing is kept as the cluster's, exit 1."""
    s = source
    name = "new" + uuid.uuid4().hex[:6]
    data = s.cl.base / name / "data"
    port = free_port()
    r = subprocess.run([TANDEMCTL, "-c", s.m.config_path, "restore", "--to", "latest",
                        "--new-cluster", name, "--data-dir", data, "--listen",
                        f"127.0.0.1:{port}", "--print-config"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr
    data.parent.mkdir()
    chown(data.parent)
    slow = data.parent / "slow-pgbackrest"
    slow.write_text(f'#!/bin/sh\ncase " $* " in *" restore "*) sleep 600;; esac\nexec {PGBACKREST} "$@"\n')
    os.chmod(slow, 0o755)
    yml = pathlib.Path(str(data) + ".tandemd.yml")
    # backup.command is left at its default in the source: not printed, set here
    assert "\nbackup:\n" in r.stdout and "  command:" not in r.stdout, r.stdout
    yml.write_text(r.stdout.replace("\nbackup:\n", f'\nbackup:\n  command: "{slow}"\n'))
    assert str(slow) in yml.read_text()
    chown(yml)
    os.chmod(yml, 0o600)
    log_path = pathlib.Path(str(data) + ".tandemd.log")
    with open(log_path, "ab") as log:
        p = subprocess.Popen([TANDEMD, yml], user="postgres", group="postgres", extra_groups=[],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env={"PATH": "/usr/bin:/bin"}, start_new_session=True, cwd="/")
    try:
        wait_until(lambda: "bootstrap: restoring stanza" in log_path.read_text(errors="replace"),
                   T_CHANGE, "the restore started", interval=0.2)
        p.send_signal(signal.SIGTERM)
        assert p.wait(30 * SLOW) == 1
    finally:
        if p.poll() is None:
            p.kill()
    text = log_path.read_text(errors="replace")
    assert "pgbackrest restore: cancelled" in text, text[-3000:]
    assert not s.cl.etcd.range(f"/service/{name}/".encode(), prefix=True)
    assert not pids_under(slow)  # its whole process group was killed
