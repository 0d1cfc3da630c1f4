"""Backups in two sites (docs/sites.md, "Backups in two sites"): each site archives into its
own pgBackRest repository under its own stanza (its scope). A standby site takes no backups and
creates no stanza: it has no primary. When it is promoted, its repository begins at the new
timeline (the earlier ones are in the other site's): its new leader creates the stanza, archives,
does not look for the other site's WAL to prove continuity, and takes a full backup at once
instead of at the next scheduled time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

import cluster as C
from conftest import SLOW, wait_until
from test_sites import ctl, logged_and_cleaned, standby_of, wait_standby_site

PGBACKREST = shutil.which("pgbackrest")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as postgres"),
    pytest.mark.skipif(not C.TANDEMD.exists(), reason=f"{C.TANDEMD} is not built"),
    pytest.mark.skipif(not PGBACKREST, reason="pgbackrest is not installed"),
]


def info(c, m):
    r = subprocess.run(["runuser", "-u", "postgres", "--", PGBACKREST,
                        f"--config={m.data}.pgbackrest.conf", "--output=json", "info"],
                       capture_output=True, text=True, timeout=60 * SLOW, cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr
    return {s["name"]: s for s in json.loads(r.stdout)}


def test_standby_site_backs_up_only_once_promoted():
    a = C.Cluster(n=1, name_prefix="a", prefix="tandem-it-sbkA-", sites=("A",))
    sites = [C.with_repository(a)]
    with logged_and_cleaned(sites):
        a = sites[0]
        a.start()
        al = a.wait_healthy(C.T_BOOT)
        a.ensure_table(al)
        sites.append(C.with_repository(standby_of(a, prefix="tandem-it-sbkB-")))
        b = sites[1]
        b.start()
        bl = wait_standby_site(b)
        b.wait_row = a.write_row(al)
        wait_until(lambda: b.has_row(bl, b.wait_row), C.T_CHANGE, "B replaying A")

        # A standby site: no runner, no stanza of its own, nothing archived.
        log = bl.log()
        assert "runner key" not in log and "stanza" not in log.replace("archiving into stanza", "")
        assert not (b.repo / "archive").exists() or not any((b.repo / "archive").iterdir())
        r = b.tandemctl("backup", "--type", "full")
        assert r.returncode != 0 and "standby cluster, which takes no backups" in r.stderr, \
            r.stdout + r.stderr

        offset = bl.log_size()
        r = ctl("-c", bl.config_path, "promote-cluster", "--force")
        assert r.returncode == 0, r.stdout + r.stderr
        b.wait_healthy()
        wait_until(lambda: "this site was promoted" in bl.log(), C.T_CHANGE,
                   "the promotion's backup request")
        b.write_row(bl)

        def full_backup():
            st = info(b, bl).get(b.scope, {})
            return [x for x in st.get("backup", []) if x.get("type") == "full"]
        wait_until(full_backup, 300 * SLOW, "a full backup in B's repository", interval=2)
        log = bl.log_since(offset)
        # No look for the other site's WAL in this repository (it would fail after 60 s).
        assert "checking archive continuity" not in log and "NOT proven" not in log, log[-3000:]
        assert bl.metric("tandem_archive_continuity_ok") == 1
        # Each site's repository holds its own stanza only.
        assert set(info(b, bl)) == {b.scope}
        assert set(info(a, al)) == {a.scope}
        backups = full_backup()
        assert backups[0]["archive"]["start"].startswith("00000002"), backups[0]
