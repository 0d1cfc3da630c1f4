"""Archiving under faults (run.py --backup): the members archive into a pgBackRest repository in
the run's directory; `repo_unreachable` makes it unreadable for a while. After a scenario the
leader must have caught up (no WAL waiting, none dropped with the default queue bound) and the
repository must hold every segment of each timeline between its first and its last: no gap for a
point-in-time recovery to fall into."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import time

from nemesis import Injected, _primary, _switch_wal

REST_PORT = 8008
SEG = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?-")


def prepare_repo(base):
    repo = base / "repo"
    repo.mkdir(mode=0o750)
    shutil.chown(repo, "postgres", "postgres")
    return repo


def config_text(system, node):
    return (f"backup:\n  pgbackrest:\n    repo1-path: {system.repo}\n    archive-timeout: '10'\n"
            f"  config: {node.dir}/pgbackrest.conf\n  spool_path: {node.dir}/pgbackrest\n"
            f"  archive_timeout: 10\n")


def repo_unreachable(s, rng):
    """The repository unreadable (a mount gone, a bucket's credentials revoked) while the primary
    moves to new WAL segments: archive_command fails, WAL waits in pg_wal."""
    n = _primary(s, rng)
    os.chmod(s.repo, 0)
    inj = Injected("repo_unreachable", f"repository {s.repo} unreadable (mode 000)",
                   lambda: os.chmod(s.repo, 0o750))
    inj.what += _switch_wal(n, 4)
    return inj


def metrics(node, timeout=2.0):
    conn = http.client.HTTPConnection(node.host.addr, REST_PORT, timeout=timeout)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return {}
    finally:
        conn.close()
    out = {}
    for line in body.splitlines():
        m = re.match(r"^(tandem_\w+)\{[^}]*\} (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def gaps(repo, stanza):
    """{timeline: [missing segment numbers]} between each timeline's first and last segment."""
    seen = {}
    for _, _, files in os.walk(repo / "archive" / stanza):
        for f in files:
            m = SEG.match(f)
            if m:
                tl = int(m.group(1), 16)
                seen.setdefault(tl, set()).add(int(m.group(2), 16) * 256 + int(m.group(3), 16))
    return {tl: [n for n in range(min(s), max(s)) if n not in s]
            for tl, s in seen.items() if set(range(min(s), max(s) + 1)) - s}


def check(system, rep, timeout=120.0):
    leader = system.leader_node()
    if leader is None:
        rep.add("archive", "no leader", "", violation=True)
        return
    deadline = time.monotonic() + timeout
    m = {}
    while time.monotonic() < deadline:
        m = metrics(leader)
        if m.get("tandem_archive_ready_segments") == 0:
            break
        time.sleep(1.0)
    ready = m.get("tandem_archive_ready_segments")
    rep.add("archive caught up", f"{ready} waiting", f"on {leader.name}", violation=ready != 0)
    rep.add("archive failures", f"{m.get('tandem_archive_failures_total', 0):.0f}",
            "archive_command runs that failed on the leader (information)")
    dropped = m.get("tandem_archive_wal_dropped_total", 0)
    rep.add("WAL dropped", f"{dropped:.0f}", "queue bound 1GiB", violation=dropped != 0)
    g = gaps(system.repo, system.scope)
    rep.add("archive gaps", "none" if not g else str(g)[:80], "", violation=bool(g))
