"""Data tandemd must not start, or cannot (docs/tandemd.md, "What it does"): another
cluster's data (its system identifier is not the one in `initialize`) stays stopped until an
operator reinitializes the member; a PostgreSQL that exits before it is ready is started again a
loop later, not a few times a second, and runs once what stopped it is fixed."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

import cluster as C
from conftest import wait_until

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as postgres"),
    pytest.mark.skipif(not C.TANDEMD.exists(), reason=f"{C.TANDEMD} is not built"),
]


def pg_running(m):
    return m.postmaster_pid() is not None


def stopped_replica(c):
    """Starts `c`, waits for it to be healthy, stops a replica's tandemd; returns that member."""
    c.start()
    leader = c.wait_healthy(C.T_BOOT)
    other = next(m for m in c.members if m is not leader)
    other.stop()
    return other


def test_another_clusters_data_is_never_started_until_reinitialized():
    c = C.Cluster(n=2, prefix="tandem-it-foreign-")
    with C.logged_and_cleaned([c]):
        other = stopped_replica(c)
        # An operator's mistake: a data directory of another cluster where this member's was.
        subprocess.run(["rm", "-rf", str(other.data)], check=True)
        subprocess.run(["runuser", "-u", "postgres", "--", str(C.PG_BIN / "initdb"), "-D",
                        str(other.data), "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True)
        other.start()
        wait_until(lambda: "belongs to another cluster" in other.log(), C.T_CHANGE,
                   "the agent refusing the data")
        wait_until(lambda: "tandemctl reinit moves it aside" in other.log(), C.T_CHANGE,
                   "the plan's reason")
        assert not pg_running(other), "another cluster's data was started"
        assert "starting PostgreSQL" not in other.log().split("belongs to another cluster")[-1]
        r = c.tandemctl("reinit", other.name, "--force")
        assert r.returncode == 0, r.stderr
        c.wait_healthy(C.T_BOOT)
        assert "moved aside" in other.log()


def test_a_replica_that_cannot_start_is_retried_a_loop_later_until_fixed():
    c = C.Cluster(n=2, prefix="tandem-it-nostart-")
    with C.logged_and_cleaned([c]):
        other = stopped_replica(c)
        auto = other.data / "postgresql.auto.conf"
        good = auto.read_text()
        auto.write_text(good + "this line is not = a valid = setting\n")
        other.start()
        wait_until(lambda: "exited unexpectedly" in other.log(), C.T_CHANGE, "a failed start")
        before = other.log().count("postmaster started")
        time.sleep(5 * c.loop_wait)
        starts = other.log().count("postmaster started") - before
        # Once per loop_wait at most (PostgreSQL itself exits within a second here): before,
        # about 6 a second.
        assert 1 <= starts <= 6, f"{starts} starts in {5 * c.loop_wait} s"
        assert "syntax error" in other.pg_log_path.read_text()
        auto.write_text(good)
        c.wait_healthy(C.T_CHANGE)
