"""The failback rows of make bench-sites (bench/sites.py): a lost primary site rejoining the
survivor as a standby cluster by pg_rewind, against a full pg_basebackup of the same database.

One pair of the fault suite's sites (tests/faults/sites.py) with a pgbench database of about
2 GB (`--scale`, 134 by default: 2.0 GB), grown in site A before site B is started (B's members
are cloned from it). Each run on a fresh pair (on one pair the survivor's pg_wal grows from run
to run, and pg_rewind copies all of it):

1. the standby site has replayed everything; a CHECKPOINT in the primary site, then every packet
   between the sites dropped, then `--diverge` UPDATEs of random pgbench_accounts rows in the
   primary site (each a page of its own: a few MB of WAL the standby site never receives);
2. the primary site lost (every process SIGKILLed, its links down), `tandemctl promote-cluster
   --force` in the other, 100 UPDATEs there;
3. the fault suite's own failback (tests/faults/sites_run.py `failback`: the lost site's etcd
   back, `demote-cluster` written to it, its members started): the time from starting its members
   to its standby leader replaying from the survivor with every member streaming the survivor's
   timeline, that none was copied afresh, and that the diverged WAL was kept with a REPORT;
4. the bytes pg_rewind copied on each member of the lost site: pg_rewind's own figures (tandemd
   runs it with --progress but does not log its output: the members' `bin_dir` is a copy of
   PostgreSQL's in which pg_rewind is a wrapper that also keeps its output next to the data
   directory);
5. for comparison, `pg_basebackup -X stream -c fast` of the survivor's leader from the operator's
   host: its time and its bytes.

The members' data directories are plain directories on the machine's disk, not the fault
suite's tmpfs disks: four members of 2 GB would take about 10 GB of the shared machine's memory.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "faults"))

from checker import Report  # noqa: E402
from sites import TwoSites  # noqa: E402
from sites_run import Failed, failback  # noqa: E402
from system import PG_PORT, wait_until  # noqa: E402

PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
REWIND_OUT = ".pg_rewind.out"  # next to a member's data directory, written by the wrapper
WRAPPER = f"""#!/bin/bash
# bench/sites_failback.py: PostgreSQL's pg_rewind, its output also kept in <data>{REWIND_OUT}
set -o pipefail
out=/dev/null
for a in "$@"; do
  case "$a" in --target-pgdata=*) out="${{a#--target-pgdata=}}{REWIND_OUT}" ;; esac
done
{PG_BIN}/pg_rewind "$@" 2>&1 | tee -a "$out"
"""


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


class PlainDisk:
    """A member's data disk as a plain directory (what Node.prepare mounts)."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.mounted = False

    def mount(self):
        self.path.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.path, "postgres", "postgres")
        os.chmod(self.path, 0o700)

    def unmount(self):
        pass


def wrapped_bin_dir(base):
    """PostgreSQL's bin directory as symbolic links, pg_rewind replaced by WRAPPER."""
    d = base / "pgbin"
    d.mkdir()
    for f in PG_BIN.iterdir():
        if f.name != "pg_rewind":
            (d / f.name).symlink_to(f)
    w = d / "pg_rewind"
    w.write_text(WRAPPER)
    os.chmod(w, 0o755)
    os.chmod(d, 0o755)
    return d


def with_bin_dir(text, bin_dir):
    marker = "\npostgresql:\n"
    assert marker in text
    return text.replace(marker, f"{marker}  bin_dir: {bin_dir}\n", 1)


def build_sites(two, scale):
    bin_dir = wrapped_bin_dir(two.base)
    for s in two.sites:
        for n in s.nodes.values():
            n.disk = PlainDisk(n.dir / "disk")
            orig = n.config_text
            n.config_text = lambda orig=orig: with_bin_dir(orig(), bin_dir)
    t = time.monotonic()
    two.a.start(180)
    leader = two.a.leader_node()
    log(f"site A up under {two.base}; pgbench -i --scale {scale} on {leader.name}")
    env = dict(os.environ, PGPASSWORD=two.password)
    subprocess.run([PG_BIN / "pgbench", "-i", "-q", "-I", "dtGvp", "--scale", str(scale),
                    "-h", leader.host.addr, "-p", str(PG_PORT), "-U", "postgres", "postgres"],
                   env=env, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    log(f"database {db_size(two.a) / 2**20:.0f} MB after {time.monotonic() - t:.0f}s; "
        f"site B cloning it")
    two.a.wait_healthy(600)
    two.b.start(1200)
    log(f"both sites up after {time.monotonic() - t:.0f}s")


def db_size(site):
    return site.leader_node().query("SELECT pg_database_size('postgres')")[0][0]


def lsn_of(node, sql):
    return node.query(f"SELECT ({sql}) - '0/0'::pg_lsn")[0][0]


def update_random(node, n, seed):
    rows = node.query("SELECT count(*) FROM pgbench_branches")[0][0] * 100000
    rnd = random.Random(seed)
    with node.connect() as c:
        for _ in range(n):
            c.execute("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = %s",
                      (rnd.randint(1, rows),))


def diverge(two, updates, seed):
    """Returns the WAL bytes the primary site wrote that the standby site never received."""
    p, s = two.primary, two.standby
    leader = p.leader_node()
    leader.query("CHECKPOINT")
    at = lsn_of(leader, "pg_current_wal_lsn()")

    def caught_up():
        r = s.standby_leader()
        return r is not None and lsn_of(r, "pg_last_wal_replay_lsn()") >= at
    wait_until(caught_up, 120, f"site {s.name} to replay {p.name}'s checkpoint", interval=0.2)
    for h in p.hosts:
        h.drop(s.hosts)
    update_random(leader, updates, seed)
    wal = int(lsn_of(leader, "pg_current_wal_lsn()") - at)
    time.sleep(1)  # the primary site's own replica receives it
    p.lose()
    return wal


def promote(two, seed):
    p, s = two.primary, two.standby
    r = two.tandemctl("-c", s.config_path, "promote-cluster", "--force")
    if r.returncode != 0:
        raise Failed(f"promote-cluster exited {r.returncode}: {r.stderr[-300:]}")
    p.role, s.role = "standby", "primary"
    # Straight to the members: a site that was lost runs no HAProxy (come_back starts etcd only).

    def writable():
        n = s.leader_node()
        try:
            return n if n and not n.query("SELECT pg_is_in_recovery()")[0][0] else None
        except Exception:
            return None
    update_random(wait_until(writable, 60, f"site {s.name} writable", interval=0.2), 100, seed)


def rewind_copied(node):
    """pg_rewind's figures from the wrapper's output: (bytes copied, bytes planned, source
    directory bytes), or None when it did not run."""
    try:
        text = pathlib.Path(f"{node.data}{REWIND_OUT}").read_text(errors="replace")
    except OSError:
        return None
    plan = re.findall(r"need to copy (\d+) MB \(total source directory size is (\d+) MB\)", text)
    done = re.findall(r"(\d+)/(\d+) kB \(\d+%\) copied", text)
    if not plan:
        return None
    return (int(done[-1][0]) * 1024 if done else None, int(plan[-1][0]) * 2**20,
            int(plan[-1][1]) * 2**20)


STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z ")


def rewind_span(node, offset):
    """From the member's tandemd log after `offset`: (seconds from the agent's start to
    pg_rewind's start, seconds pg_rewind ran), or None."""
    with open(node.log_path, "rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()

    def at(pred):
        for ln in lines:
            m = STAMP.match(ln)
            if m and pred(ln):
                return datetime.datetime.fromisoformat(m.group(1)).timestamp()
        return None
    t0 = at(lambda ln: True)
    began = at(lambda ln: "pg_rewind started" in ln)
    ended = at(lambda ln: "pg_rewind succeeded" in ln)
    return (began - t0, ended - began) if t0 and began and ended else None


def basebackup(two, i):
    leader = two.primary.leader_node()
    target = two.base / f"basebackup{i}"
    env = dict(os.environ, PGPASSWORD=two.password + "r")
    t = time.monotonic()
    subprocess.run([PG_BIN / "pg_basebackup", "-h", leader.host.addr, "-p", str(PG_PORT),
                    "-U", "replicator", "-D", target, "-X", "stream", "-c", "fast"],
                   env=env, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    took = time.monotonic() - t
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    shutil.rmtree(target)
    return took, size


def rewinds(site, offsets):
    """What pg_rewind did on each member of `site`: {name: rewind_copied}, {name: rewind_span};
    its own lines logged."""
    copied = {n.name: rewind_copied(n) for n in site.nodes.values()}
    for n in site.nodes.values():
        path = pathlib.Path(f"{n.data}{REWIND_OUT}")
        if path.exists():
            said = [ln[len("pg_rewind: "):] for ln in path.read_text(errors="replace").splitlines()
                    if ln.startswith("pg_rewind: ")]
            log(f"  {n.name}: " + " / ".join(said))
        if copied[n.name] is None:
            lines = [ln for ln in n.log_path.read_text(errors="replace").splitlines()
                     if "rewind" in ln or "diverged" in ln]
            log(f"  {n.name} ran no pg_rewind that copied; its log says: " +
                " / ".join(lines[-3:]))
    return copied, {n.name: rewind_span(n, offsets[n.name]) for n in site.nodes.values()}


def failback_once(two, i, updates):
    p, s = two.primary, two.standby
    size = db_size(p)
    wal = diverge(two, updates, 1000 + i)
    promote(two, 2000 + i)
    for n in p.nodes.values():
        pathlib.Path(f"{n.data}{REWIND_OUT}").unlink(missing_ok=True)
    rep, notes = Report("bench_failback"), []
    offsets = {n.name: n.log_path.stat().st_size for n in p.nodes.values()}
    pg_wal = int(s.leader_node().query("SELECT sum(size) FROM pg_ls_waldir()")[0][0])
    try:
        failback(two, None, rep, notes, {})
    except Failed as e:
        rep.add("scenario", "failed", str(e), violation=True)
    for line in notes:
        log(f"  {line}")
    res = {c: (v, d, bad) for c, v, d, bad in rep.rows}
    bad = [c for c, (_, _, b) in res.items() if b]
    copied, spans = rewinds(p, offsets)
    out = {"db": size, "wal": wal, "pg_wal": pg_wal, "bad": bad, "copied": copied,
           "spans": spans, "site": p.name,
           "time": float(res["failback"][0].rstrip("s")) if "failback" in res else None}
    log(f"failback of site {p.name}: {out['time']}s, database {size / 2**20:.0f} MB, diverged "
        f"WAL {wal / 2**20:.1f} MB, survivor's pg_wal {pg_wal / 2**20:.0f} MB, pg_rewind "
        f"copied {copied}, (its start after the agent's, its run) {spans}, violations {bad}; "
        f"{res.get('kept', ('?', ''))[1]}")
    if not bad:
        two.wait_healthy(300)
        out["bb_time"], out["bb_bytes"] = basebackup(two, i)
        log(f"pg_basebackup of site {s.name}: {out['bb_time']:.1f}s, "
            f"{out['bb_bytes'] / 2**20:.0f} MB")
    return out


def failbacks(runs, scale, updates):
    """Each run on a fresh pair of sites (about 80 s to build on this machine). Returns the
    runs and the time each pair took to build."""
    out, setups = [], []
    for i in range(runs):
        t = time.monotonic()
        two, done = TwoSites(), False
        try:
            build_sites(two, scale)
            setups.append(time.monotonic() - t)
            out.append(failback_once(two, i, updates))
            if out[-1]["bad"]:
                print(two.log_tails(40), file=sys.stderr)
            done = True
        finally:
            two.stop()
            if done and not out[-1]["bad"]:
                shutil.rmtree(two.base, ignore_errors=True)
        log(f"failback run {i + 1}: {time.monotonic() - t:.0f}s with the setup")
        if out[-1]["bad"]:
            break
    return out, setups
