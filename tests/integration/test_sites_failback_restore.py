"""Failback when pg_rewind cannot repair the returning site (docs/sites.md, "Failback"): its
former primary falls back to a delta restore from its own site's repository, never to a full
copy. The backup restored is the newest that ended before the fork (a later one holds what the
site wrote after it), its own archive serves the WAL up to the fork and nothing after it (that
archive holds the diverged WAL under the other site's names), and the rest streams from the
other site. pg_rewind's failure is injected: the member's bin_dir has a pg_rewind that runs the
real one with --dry-run (it finds the fork, changes nothing) and then fails."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

import cluster as C
from conftest import SLOW, wait_until
from test_sites import (ctl, logged_and_cleaned, never_writable, patch_config, standby_of,
                        standby_source, wait_row_everywhere, wait_standby_site)

PGBACKREST = shutil.which("pgbackrest")
PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as postgres"),
    pytest.mark.skipif(not C.TANDEMD.exists(), reason=f"{C.TANDEMD} is not built"),
    pytest.mark.skipif(not PGBACKREST, reason="pgbackrest is not installed"),
]

# pg_rewind's own first step (crash recovery in single-user mode, which --dry-run skips), its
# dry run (it connects, reads both histories and prints where they diverged), then a failure.
FAILING_REWIND = f"""#!/bin/sh
for arg in "$@"; do case $arg in --target-pgdata=*) target=${{arg#--target-pgdata=}};; esac; done
{PG_BIN}/postgres --single -D "$target" -c archive_mode=off template1 </dev/null >/dev/null
{PG_BIN}/pg_rewind --dry-run "$@"
echo "pg_rewind: error: failed on purpose by the test after the dry run" >&2
exit 1
"""


def fake_bin(base):
    d = base / "bin"
    d.mkdir()
    for p in PG_BIN.iterdir():
        (d / p.name).symlink_to(p)
    return d


def site_a():
    a = C.Cluster(n=1, name_prefix="a", prefix="tandem-it-fbrA-", sites=("A",))
    a.bin = fake_bin(a.base)
    return C.with_repository(
        a, f"  bin_dir: {a.bin}\n  create_replica_methods: [pgbackrest, basebackup]\n")


def full_backup(a, m):
    r = subprocess.run(["runuser", "-u", "postgres", "--", PGBACKREST,
                        f"--config={m.data}.pgbackrest.conf", f"--stanza={a.scope}", "--type=full",
                        "backup"], capture_output=True, text=True, timeout=300 * SLOW, cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr


def test_failback_by_delta_restore_when_pg_rewind_fails():
    sites = [site_a()]
    with logged_and_cleaned(sites):
        a = sites[0]
        a.start()
        al = a.wait_healthy(C.T_BOOT)
        a.ensure_table(al)
        wait_until(lambda: (a.repo / "backup" / a.scope / "backup.info").exists(), C.T_CHANGE,
                   "the stanza")
        full_backup(a, al)  # before the fork: the one to restore
        sites.append(standby_of(a, prefix="tandem-it-fbrB-"))
        b = sites[1]
        b.start()
        bl = wait_standby_site(b)
        wait_row_everywhere(b, a.write_row(al))

        # B cut off; A writes what B never gets, archives it, and backs it up; A is lost.
        patch_config(bl, {"standby_cluster": {"host": "127.0.0.1", "port": "1"}})
        wait_until(lambda: (bl.patroni() or {}).get("replication_state") != "streaming",
                   C.T_CHANGE, "B no longer streaming")
        lost = [a.write_row(al) for _ in range(20)]
        al.query("SELECT pg_switch_wal()")
        full_backup(a, al)  # after the fork: holds the lost rows, must not be restored
        al.kill_node()
        r = ctl("-c", b.members[0].config_path, "promote-cluster", "--force")
        assert r.returncode == 0, r.stdout + r.stderr
        b.wait_healthy()
        after = b.write_row(bl)

        # A returns as a standby cluster of B, and its pg_rewind fails.
        wait_until(lambda: not a.etcd.range(a.key("members/").encode(), prefix=True),
                   C.T_CHANGE, "A's member key expired")
        src = standby_source(b)
        r = ctl("-c", al.config_path, "demote-cluster", "--host", src["host"], "--port",
                src["port"], "--force")
        assert r.returncode == 0, r.stdout + r.stderr
        rewind = a.bin / "pg_rewind"
        rewind.unlink()
        rewind.write_text(FAILING_REWIND)
        rewind.chmod(0o755)
        offset = al.log_size()
        al.start()
        wait_standby_site(a)
        wait_row_everywhere(a, after)
        never_writable(a)
        log = al.log_since(offset)
        assert "failed on purpose" in log and "a fresh clone comes next" in log, log[-3000:]
        assert "the newest that ended before the fork" in log, log[-3000:]
        assert "pgbackrest restore succeeded" in log, log[-3000:]
        # A delta restore: the data directory stayed for it (not moved aside, not emptied).
        assert "keeping the data directory for a delta restore" in log, log[-3000:]
        assert "moved aside" not in log, log[-3000:]
        assert "pg_basebackup started" not in log, "copied again in full"
        assert not any(a.has_row(al, v) for v in lost), "the diverged rows came back"
        # Its own archive serves only what came before the fork.
        assert "case $f in" in al.query("SHOW restore_command")[0][0]
