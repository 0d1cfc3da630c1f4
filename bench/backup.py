#!/usr/bin/python3
"""Backup benchmark: pgBackRest as tandem drives it, against pg_basebackup (make bench-backup).

    bench/backup.py [--scale N] [--keep]

One PostgreSQL 15 server on loopback, run as the postgres OS user in a temporary directory, with
WAL archived through pgBackRest (archive-async, process-max 2, compress-type zst, as tandem
configures it), filled by `pgbench -i -s N` (default 134: about 2 GB). It measures, once each:

  full backup        `pgbackrest backup --type=full` of the database;
  restore (empty)    `pgbackrest restore --delta` into an empty directory;
  restore (stale)    `pgbackrest restore --delta` over that restored copy after a few MB of
                     changes (a new 100k-row table, 1,000 updated rows) and a differential
                     backup: only the files that changed are copied ("MB copied" counts the files whose
                     content differs afterwards, by SHA-1, not timed);
  pg_basebackup      `pg_basebackup -X stream` of the same database into an empty directory,
                     the fallback replica method;

and prints a table: seconds, MB/s (database size / seconds) and the size of the data copied
(for the full backup: the repository's size, compressed). Then, as `tandemctl drill` does, the
RTO of a restore drill (the latest backup restored to a fresh directory, recovered to a restore
point and promoted), and the RPO bound of `archive_timeout` (60 s, tandem's default): a row
acknowledged every 100 ms for 100 s, then the whole server lost and restored to `latest` from the
repository: how many acknowledged rows are missing, and how old the oldest of them was.
Progress goes to stderr, the table to stdout; --keep keeps the directory.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

PG_BIN = pathlib.Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
START = time.monotonic()


def progress(msg):
    print(f"[{time.monotonic() - START:7.1f}s] {msg}", file=sys.stderr, flush=True)


def as_postgres(*args, check=True, capture=False, env=None):
    cmd = ["runuser", "-u", "postgres", "--"] + [str(a) for a in args]
    r = subprocess.run(cmd, check=False, text=True, env=env,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))}: exit {r.returncode}: {r.stderr[-2000:]}")
    return r.stdout if capture else r.returncode


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def du(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def digests(path):
    """{relative path: (size, sha1)} of every file under `path`."""
    import hashlib
    out = {}
    for root, _dirs, files in os.walk(path):
        for f in files:
            full = os.path.join(root, f)
            h = hashlib.sha1()
            try:
                with open(full, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
                out[os.path.relpath(full, path)] = (os.lstat(full).st_size, h.hexdigest())
            except OSError:
                pass
    return out


def timed(what, fn):
    progress(f"{what} ...")
    t0 = time.monotonic()
    fn()
    dt = time.monotonic() - t0
    progress(f"{what}: {dt:.1f} s")
    return dt


class Bench:
    def __init__(self, base, scale):
        self.base = pathlib.Path(base)
        self.scale = scale
        self.data = self.base / "data"
        self.repo = self.base / "repo"
        self.spool = self.base / "spool"
        self.conf = self.base / "pgbackrest.conf"
        self.port = free_port()
        self.stanza = "bench"

    def pgbr(self, *args, pg_path=None):
        extra = [f"--pg1-path={pg_path}"] if pg_path else []
        return as_postgres("pgbackrest", f"--config={self.conf}", f"--stanza={self.stanza}",
                           *extra, *args)

    def setup(self):
        for d in (self.repo, self.spool):
            d.mkdir()
        shutil.chown(self.base, "postgres", "postgres")
        for d in (self.repo, self.spool):
            shutil.chown(d, "postgres", "postgres")
        self.conf.write_text(
            "[global]\n"
            f"repo1-path={self.repo}\nrepo1-retention-full=2\ncompress-type=zst\n"
            f"archive-async=y\nspool-path={self.spool}\nlock-path={self.spool}/lock\n"
            f"log-path={self.spool}/log\nprocess-max=2\nstart-fast=y\n"
            f"[{self.stanza}]\npg1-path={self.data}\npg1-port={self.port}\n"
            f"pg1-socket-path={self.base}\n")
        shutil.chown(self.conf, "postgres", "postgres")
        os.chmod(self.conf, 0o600)
        as_postgres(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.base}'\nfsync = off\n"
                    "archive_mode = on\nmax_wal_size = 4GB\narchive_timeout = 60\n"
                    f"archive_command = 'pgbackrest --config={self.conf} "
                    f"--stanza={self.stanza} archive-push %p'\n")
        as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.base / "pg.log", "-w", "start")
        self.pgbr("stanza-create")

    def psql(self, sql):
        return as_postgres("psql", "-h", self.base, "-p", self.port, "-U", "postgres", "-Atqc",
                           sql, capture=True).strip()

    def fill(self):
        timed(f"pgbench -i -s {self.scale}", lambda: as_postgres(
            "pgbench", "-h", self.base, "-p", self.port, "-U", "postgres", "-i", "-q",
            "-s", self.scale, "postgres"))
        # Vacuumed and frozen before the full backup, as a database is some time after a bulk
        # load: otherwise the first vacuum rewrites every page and no copy stays "stale by a
        # little".
        timed("VACUUM (FREEZE, ANALYZE)", lambda: self.psql("VACUUM (FREEZE, ANALYZE)"))
        self.psql("CHECKPOINT")
        return int(self.psql("SELECT pg_database_size('postgres')"))

    def small_change(self):
        """A copy gone stale by a little: 100k new rows in a new table and 1,000 rows updated at
        the head of pgbench_accounts (a few MB of the 2 GB)."""
        self.psql("CREATE TABLE stale AS SELECT g AS id, md5(g::text) AS v FROM "
                  "generate_series(1, 100000) g; "
                  "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= 1000; "
                  "CHECKPOINT")

    def run(self):
        rows = []
        self.setup()
        size = self.fill()
        total = du(self.data)
        progress(f"database {size / 1e6:.0f} MB, data directory {total / 1e6:.0f} MB")
        t = timed("full backup", lambda: self.pgbr("backup", "--type=full"))
        rows.append(("full backup (pgbackrest)", t, size, du(self.repo / "backup")))

        restored = self.base / "restored"
        restored.mkdir(mode=0o700)
        shutil.chown(restored, "postgres", "postgres")
        t = timed("delta restore into an empty directory",
                  lambda: self.pgbr("restore", "--delta", pg_path=restored))
        rows.append(("restore, empty directory (pgbackrest --delta)", t, size, du(restored)))

        timed("a few MB of changes", self.small_change)
        self.pgbr("backup", "--type=diff")
        before = digests(restored)
        t = timed("delta restore over the stale copy",
                  lambda: self.pgbr("restore", "--delta", pg_path=restored))
        after = digests(restored)
        # what the restore had to write: files new or different from the stale copy's
        changed = sum(size for p, (size, h) in after.items() if before.get(p, (0, None))[1] != h)
        rows.append(("restore, stale copy (pgbackrest --delta)", t, size, changed))

        bb = self.base / "basebackup"
        t = timed("pg_basebackup", lambda: as_postgres(
            PG_BIN / "pg_basebackup", "-h", self.base, "-p", self.port, "-U", "postgres",
            "-D", bb, "-X", "stream", "-c", "fast"))
        rows.append(("pg_basebackup -X stream", t, size, du(bb)))
        shutil.rmtree(bb, ignore_errors=True)
        shutil.rmtree(restored, ignore_errors=True)
        rto = self.drill_rto()
        rows.append(("restore drill: restore + recover + promote (RTO)", rto, size, None))
        self.rpo = self.rpo_bound()
        return size, rows

    def start_copy(self, data, port):
        with open(data / "postgresql.auto.conf", "a") as f:
            f.write(f"port = {port}\narchive_mode = off\nunix_socket_directories = '{self.base}'\n"
                    "listen_addresses = ''\n")
        as_postgres(PG_BIN / "pg_ctl", "-D", data, "-l", f"{data}.log", "-w", "-t", "600",
                    "start")

    def copy_sql(self, port, sql):
        return as_postgres("psql", "-h", self.base, "-p", port, "-U", "postgres", "-Atqc", sql,
                           capture=True).strip()

    def drill_rto(self):
        """As tandemctl drill does: a marker row and a restore point on the primary, its WAL
        archived, then the latest backup restored into a scratch directory, recovered to the
        point and promoted; the RTO runs from the restore's start to the promotion."""
        token = f"rto{int(time.time())}"
        # each its own transaction: the point must come after the marker's commit
        self.psql("CREATE TABLE IF NOT EXISTS drill (v text)")
        self.psql(f"INSERT INTO drill VALUES ('{token}')")
        self.psql(f"SELECT pg_create_restore_point('{token}')")
        self.psql("SELECT pg_switch_wal()")
        wal = self.psql("SELECT last_archived_wal FROM pg_stat_archiver")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.psql("SELECT last_archived_wal FROM pg_stat_archiver") != wal:
                break
            time.sleep(0.2)
        time.sleep(2)  # archive-async: acknowledged from the spool, pushed just after
        scratch = self.base / "drill"
        scratch.mkdir(mode=0o700)
        shutil.chown(scratch, "postgres", "postgres")
        port = free_port()
        t0 = time.monotonic()
        self.pgbr("restore", "--type=name", f"--target={token}", "--target-action=promote",
                  pg_path=scratch)
        self.start_copy(scratch, port)
        while self.copy_sql(port, "SELECT pg_is_in_recovery()") != "f":
            time.sleep(0.1)
        rto = time.monotonic() - t0
        assert self.copy_sql(port, f"SELECT count(*) FROM drill WHERE v = '{token}'") == "1"
        progress(f"drill RTO: {rto:.1f} s")
        as_postgres(PG_BIN / "pg_ctl", "-D", scratch, "-m", "immediate", "stop", check=False)
        shutil.rmtree(scratch, ignore_errors=True)
        return rto

    def rpo_bound(self, seconds=100):
        """A row acknowledged every 100 ms for `seconds` with archive_timeout 60 s, then the
        whole server lost (PostgreSQL killed, its data directory gone): a restore to `latest`
        from the repository brings back which of them? Returns (age of the oldest lost row at
        the loss, how many lost, how many written)."""
        self.psql("CREATE TABLE rpo (id int, at double precision)")
        acked = []
        t_end = time.monotonic() + seconds
        import psycopg
        with psycopg.connect(host=str(self.base), port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as c:
            i = 0
            while time.monotonic() < t_end:
                i += 1
                c.execute("INSERT INTO rpo VALUES (%s, %s)", (i, time.time()))
                acked.append((i, time.time()))
                time.sleep(0.1)
        lost_at = time.time()
        progress("the whole server lost")
        as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(mode=0o700)
        shutil.chown(self.data, "postgres", "postgres")
        self.pgbr("restore")  # to the end of the archived WAL, then promoted
        port = free_port()
        self.start_copy(self.data, port)
        while self.copy_sql(port, "SELECT pg_is_in_recovery()") != "f":
            time.sleep(0.1)
        back = {int(x) for x in self.copy_sql(port, "SELECT id FROM rpo").split()}
        lost = [(i, t) for i, t in acked if i not in back]
        oldest = max((lost_at - t for _, t in lost), default=0.0)
        progress(f"RPO: {len(lost)} of {len(acked)} acknowledged rows lost, the oldest "
                 f"{oldest:.1f} s old at the loss")
        self.data_restored_port = port
        return oldest, len(lost), len(acked)

    def stop(self):
        as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "stop", check=False)
        for d in self.base.glob("drill"):
            as_postgres(PG_BIN / "pg_ctl", "-D", d, "-m", "immediate", "stop", check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=134)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    base = tempfile.mkdtemp(prefix="tandem-bench-backup.")
    b = Bench(base, a.scale)
    try:
        size, rows = b.run()
    finally:
        b.stop()
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            progress(f"kept {base}")
    print(f"\nBackup and restore of a {size / 1e9:.2f} GB database (pgbench scale {a.scale}),"
          " one run\n")
    print(f"| {'what':<48} | {'seconds':>8} | {'MB/s':>7} | {'MB copied':>9} |")
    print(f"|{'-' * 50}|{'-' * 10}|{'-' * 9}|{'-' * 11}|")
    for what, t, sz, copied in rows:
        mbs = f"{sz / 1e6 / t:7.0f}" if copied is not None else f"{'':7}"
        cp = f"{copied / 1e6:9.0f}" if copied is not None else f"{'':9}"
        print(f"| {what:<48} | {t:8.1f} | {mbs} | {cp} |")
    oldest, nlost, nacked = b.rpo
    print(f"\nRPO with archive_timeout 60 s, the whole server lost after {nacked} rows "
          f"acknowledged (one every 100 ms), restored to latest: {nlost} lost, the oldest "
          f"{oldest:.1f} s old at the loss (goal: none older than 65 s)")


if __name__ == "__main__":
    main()
