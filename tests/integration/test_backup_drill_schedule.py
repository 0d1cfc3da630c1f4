"""The scheduled restore drill (docs/backup.md, "The backup runner and the schedule"):
`backup.schedule.drill` fires and the backup runner, a healthy replica of a two-member cluster,
runs a drill on its own host, by itself; its result reaches the DCS `drill` key and every
member's /metrics.

The schedule is cron's, to the minute: `* * * * *` fires at the next minute boundary after the
runner took the runner key, so the test waits at most a minute for it (plus the drill, a few
seconds), rather than faking the clock. The backup is made with the pgbackrest CLI as soon as the
stanza exists; a drill the schedule started before that fails (no backup) and the next minute's
passes, which the test accepts.
"""

from __future__ import annotations

import json

import pytest

import test_backup_drill
from cluster import T_CHANGE, healthy_cluster, wait_until
from test_backup_drill import metrics, pgbackrest, scratch

pytestmark = test_backup_drill.pytestmark

# A minute to the next slot, the drill itself, and one more minute when the first slot came
# before the backup.
T_SCHEDULED = 150


def prepare(c):
    """Backups on (as in test_backup_drill) with a drill every minute and no scheduled
    backups (the test makes its own)."""
    test_backup_drill.prepare(c)
    c.yaml_extra += "  schedule:\n    drill: '* * * * *'\n    full: none\n    diff: none\n"
    for m in c.members:
        m.write_config()


@pytest.fixture(scope="module")
def cl():
    yield from healthy_cluster(2, prefix="tandem-it-drillsched-", prepare=prepare)


def drill_key(c):
    v = c.etcd.get(c.key("drill"))
    return json.loads(v) if v else None


def test_scheduled_drill_runs_on_the_runner(cl, attach_logs):
    c = cl
    for src in c.log_sources():
        attach_logs(src)
    leader = c.wait_healthy(T_CHANGE)
    replica = next(m for m in c.members if m is not leader)
    leader.query("CREATE TABLE sched (id int)")
    leader.query("INSERT INTO sched SELECT g FROM generate_series(1, 40) g")
    wait_until(lambda: (c.repo / "backup" / c.scope / "backup.info").exists(), T_CHANGE,
               "the stanza", interval=0.5)
    # --start-fast: a checkpoint now, so that the backup is there before the first slot most
    # of the time
    pgbackrest(c, leader, "--type=full", "--start-fast", "backup")
    # The runner is the healthy replica; the drill runs where the runner is.
    wait_until(lambda: c.etcd.get(c.key("backup/runner")) == replica.name, T_CHANGE,
               "the replica holds the runner key", interval=0.5)

    # Nobody asked for this drill: no POST /drill, no tandemctl drill.
    try:
        wait_until(lambda: (drill_key(c) or {}).get("ok") is True, T_SCHEDULED,
                   "a scheduled drill passed", interval=1)
    except AssertionError as e:
        raise AssertionError(f"{e}; the drill key: {drill_key(c)}") from None
    res = drill_key(c)
    assert res["member"] == replica.name, res
    assert res["rto_ms"] > 0 and res["tables"] >= 2, res
    assert "the marker is there" in res["reason"], res
    assert "started on the schedule (backup.schedule.drill)" in replica.log()
    assert f"drill {res['id']}: started on the schedule" in replica.log()
    assert "started on the schedule" not in leader.log()
    # Its scratch copy is gone once the drill is over (a later slot may have started another).
    wait_until(lambda: not scratch(replica).exists() or
               (drill_key(c) or {}).get("id") != res["id"], T_CHANGE,
               "the scratch copy removed", interval=0.5)
    # Every member serves the cluster's last drill in /metrics.
    for m in c.members:
        got = metrics(m)
        assert got["tandem_drill_last_success_timestamp_seconds"] * 1000 >= \
            res["finished_unix_ms"] - 1000, got
        assert got["tandem_drill_duration_seconds"] > 0, got
