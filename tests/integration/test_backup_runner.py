"""The backup runner with real pgBackRest (issue 12, "Exactly one backup runner per cluster"):
`tandemctl backup --type full --wait`, the schedule firing once per minute across three members,
the runner on a healthy replica (pgBackRest's backup-standby), and a runner killed halfway
through a backup, whose backup the next runner runs again, never two at once.

One 3-member cluster (tests/integration/cluster.py) with a pgBackRest repository in a temporary
directory owned by postgres. Until tandemd sets archiving up itself, the test does: archive_mode
on, each member's archive_command pushing to the repository (unless the `hold` file exists, which
makes archiving fail so that a backup waits at its end for its last WAL segment, up to pgBackRest's
archive-timeout of 20 s: a window to kill its runner or switch over in), and `stanza-create` once
the leader runs. The incremental schedule is `* * * * *`.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import threading
import time
import urllib.request

import pytest

from cluster import ETCD, SLOW, T_CHANGE, TANDEMCTL, TANDEMD, Cluster, serve, wait_until

PGBACKREST = "/usr/bin/pgbackrest"

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not (os.path.exists(ETCD) and TANDEMCTL.exists()),
                       reason="needs etcd and tandemctl"),
    pytest.mark.skipif(not os.path.exists(PGBACKREST), reason="needs pgbackrest"),
]

T_BACKUP = 240.0 * SLOW


def repo(c):
    return c.base / "repo"


def archive_conf(c):
    return c.base / "archive.conf"


def member_extra(c):
    return f"""backup:
  pgbackrest:
    repo1-path: {repo(c)}
    archive-timeout: '20'
  schedule:
    full: none
    diff: none
    incr: '* * * * *'
  time_zone: UTC
"""


def local_parameters(c):
    hold = c.base / "hold"
    cmd = (f"test ! -e {hold} && {PGBACKREST} --config={archive_conf(c)} --stanza={c.scope} "
           f'--pg1-path="$PWD" archive-push %p')
    return {"archive_command": cmd}


def prepare(c):
    """The repository and the configuration archive_command uses, owned by postgres."""
    for d in (repo(c), c.base / "pgbr"):
        d.mkdir()
        os.chown(d, *postgres_ids())
    archive_conf(c).write_text(
        f"[global]\nrepo1-path={repo(c)}\nlog-path={c.base}/pgbr\nlock-path={c.base}/pgbr\n"
        f"log-level-file=info\n")
    os.chown(archive_conf(c), *postgres_ids())


def postgres_ids():
    p = pwd.getpwnam("postgres")
    return p.pw_uid, p.pw_gid


def pgbackrest(c, *args, pg=True, check=True):
    """pgbackrest as postgres, with the leader as pg1 when `pg`."""
    cmd = [PGBACKREST, f"--config={archive_conf(c)}", f"--stanza={c.scope}"]
    if pg:
        m = c.member(c.dcs_leader())
        cmd += [f"--pg1-path={m.data}", f"--pg1-port={m.pg_port}", f"--pg1-socket-path={m.dir}"]
    cmd += args
    r = subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True,
                       timeout=T_CHANGE, cwd="/")
    if check:
        assert r.returncode == 0, f"pgbackrest {' '.join(args)}: {r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def cl():
    c = Cluster(3, pg_parameters={"archive_mode": "on", "archive_timeout": "60"},
                member_extra=member_extra, local_parameters=local_parameters)
    prepare(c)
    gen = serve(c)
    cluster = next(gen)
    pgbackrest(cluster, "stanza-create")
    yield cluster
    (c.base / "hold").unlink(missing_ok=True)
    with pytest.raises(StopIteration):
        next(gen)


@pytest.fixture
def healthy(cl, attach_logs):
    for src in cl.log_sources():
        attach_logs(src)
    (cl.base / "hold").unlink(missing_ok=True)
    for m in cl.members:
        if not m.alive():
            m.start()
    cl.wait_healthy(T_CHANGE)
    return cl


def state(c):
    try:
        text = c.etcd.get(c.key("backup"))
    except OSError:
        return {}
    return json.loads(text) if text else {}


def runner_key(c):
    try:
        return c.etcd.get(c.key("backup/runner"))
    except OSError:
        return None


def info(c):
    r = pgbackrest(c, "info", "--output=json", pg=False)
    return json.loads(r.stdout)[0].get("backup", [])


class BackupProcesses:
    """Samples `pgbackrest ... backup` processes every 50 ms: which of this cluster's members'
    ran at once (a member is told apart by the backup.conf in its spool directory; another
    cluster's, of a suite running beside this one, is not counted)."""

    def __init__(self, c):
        self.c, self.max_at_once, self.seen = c, 0, set()
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(5)

    def run(self):
        while not self.stop.is_set():
            members = set()
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        argv = f.read().split(b"\0")
                except OSError:
                    continue
                if not argv or not argv[0].endswith(b"pgbackrest") or b"backup" not in argv:
                    continue
                for a in argv:
                    m = re.match(rb"--config=(.*)\.pgbackrest/backup\.conf$", a)
                    # only this cluster's members: CI runs two suites side by side
                    if m and m.group(1).decode().startswith(str(self.c.base) + "/"):
                        members.add(m.group(1).decode())
            self.seen |= members
            self.max_at_once = max(self.max_at_once, len(members))
            time.sleep(0.05)


def runs(st):
    return st.get("history", [])


def no_overlap(history):
    """The runs, by start: each ended before the next began (the interrupted one ended when the
    next runner took it over)."""
    spans = sorted((r["start"], r.get("end", r["start"])) for r in history)
    for (s1, e1), (s2, _) in zip(spans, spans[1:]):
        assert e1 <= s2, f"two runs at once: {spans}"


def test_tandemctl_backup_wait(healthy):
    c = healthy
    r = c.tandemctl("backup", "--type", "full", "--wait", timeout=T_BACKUP)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"backup (\S+): ok: full (\S+),", r.stdout)
    assert m, r.stdout + r.stderr
    rid, label = m.group(1), m.group(2)
    assert label in [b["label"] for b in info(c)]
    st = state(c)
    done = [h for h in runs(st) if h.get("request") == rid]
    assert done and done[-1]["status"] == "ok" and done[-1]["verify"] is True, st
    assert done[-1]["done_type"] == "full"
    # Run on a healthy replica, from the standby.
    leader = c.dcs_leader()
    assert done[-1]["runner"] != leader, st
    assert runner_key(c) != leader
    # tandemctl list shows it; /metrics has it on every member.
    out = c.tandemctl("list").stdout
    assert "Last backup: " in out and "verify ok" in out, out
    for mem in c.members:
        body = urllib.request.urlopen(
            f"http://127.0.0.1:{mem.rest_port}/metrics", timeout=5).read().decode()
        assert re.search(r'tandem_backup_last_success_timestamp_seconds\{[^}]*type="full"\} '
                         r"\d", body), body
        assert re.search(r"tandem_backup_verify_ok\{[^}]*\} 1", body), body
    # A bad type is refused before anything is asked for.
    bad = c.tandemctl("backup", "--type", "weekly")
    assert bad.returncode == 2 and "full, diff or incr" in bad.stderr


def test_schedule_fires_once_per_minute(healthy):
    c = healthy
    start = state(c).get("fired", {}).get("incr", 0)

    def scheduled():
        return [h for h in runs(state(c)) if h.get("reason") == "schedule"
                and h["start"] // 1000 > start and h.get("status") == "ok"]

    with BackupProcesses(c) as procs:
        wait_until(lambda: len(scheduled()) >= 2, T_BACKUP + 120 * SLOW,
                   "two scheduled backups", interval=1)
    st = state(c)
    sched = scheduled()
    minutes = [h["start"] // 60000 for h in sched]
    assert len(minutes) == len(set(minutes)), f"two backups for one minute: {sched}"
    assert procs.max_at_once == 1, procs.seen
    no_overlap(runs(st))
    labels = [h["label"] for h in runs(st) if h.get("status") == "ok"]
    assert len(labels) == len(set(labels)), labels
    assert labels[-1] in [b["label"] for b in info(c)]
    leader = c.dcs_leader()
    assert all(h["runner"] != leader for h in sched), sched


def test_killed_runner_rerun_by_next(healthy):
    c = healthy
    hold = c.base / "hold"
    hold.touch()  # archiving fails: the backup waits for its last segment
    with BackupProcesses(c) as procs:
        r = c.tandemctl("backup", "--type", "full", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        rid = json.loads(r.stdout)["id"]

        def running_ours():
            st = state(c)
            run = st.get("running")
            return run if run and run.get("request") == rid else None

        run = wait_until(running_ours, T_BACKUP, "the requested backup running")
        victim = c.member(run["runner"])
        # pgBackRest of the victim is at work (copying, or waiting for the WAL).
        wait_until(lambda: str(victim.data) in procs.seen, T_CHANGE, "pgbackrest on the runner")
        killed_at = time.time() * 1000
        victim.kill_node()
        hold.unlink()

        def finished():
            st = state(c)
            done = [h for h in runs(st) if h.get("request") == rid]
            return done if done and done[-1]["status"] in ("ok", "failed") else None

        done = wait_until(finished, T_BACKUP, "the killed runner's backup run again")
    assert done[-1]["status"] == "ok", done
    assert done[-1]["reason"] == "rerun" and done[-1]["runner"] != victim.name, done
    assert done[-1]["start"] > killed_at
    interrupted = [h for h in done if h["status"] == "interrupted"]
    assert interrupted and interrupted[0]["runner"] == victim.name, done
    assert procs.max_at_once == 1, procs.seen
    no_overlap(runs(state(c)))
    assert done[-1]["label"] in [b["label"] for b in info(c)]
    victim.start()


def test_failover_during_backup(healthy):
    """A switchover while a replica backs up from its standby (the primary it started and must
    stop the backup on goes away): the backup ends well, run again if it failed; never two."""
    c = healthy
    hold = c.base / "hold"
    hold.touch()
    with BackupProcesses(c) as procs:
        r = c.tandemctl("backup", "--type", "full", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        rid = json.loads(r.stdout)["id"]
        run = wait_until(lambda: (state(c).get("running") or {}).get("request") == rid
                         and state(c)["running"], T_BACKUP, "the requested backup running")
        runner = c.member(run["runner"])
        wait_until(lambda: str(runner.data) in procs.seen, T_CHANGE, "pgbackrest on the runner")
        old = c.dcs_leader()
        target = next(m for m in c.members if m.name not in (old, runner.name))
        sw = c.tandemctl("switchover", "--candidate", target.name, "--force")
        assert sw.returncode == 0, sw.stdout + sw.stderr
        hold.unlink()
        wait_until(lambda: c.dcs_leader() == target.name, T_CHANGE, "the new leader")

        def finished():
            done = [h for h in runs(state(c)) if h.get("request") == rid]
            return done if done and done[-1]["status"] in ("ok", "failed") else None

        done = wait_until(finished, T_BACKUP, "the backup to end")
    assert done[-1]["status"] == "ok", done
    if len(done) > 1:  # pgBackRest failed with its primary gone: run again
        assert done[0]["status"] == "interrupted" and done[-1]["reason"] == "rerun", done
    assert procs.max_at_once == 1, procs.seen
    no_overlap(runs(state(c)))
    assert done[-1]["label"] in [b["label"] for b in info(c)]
