"""tandemd's replica cloning (src/tandemd/pg/pgctl_clone.c: passfile, pg_basebackup, pg_rewind)
against a real PostgreSQL 15.

The checks are in the C program tests/pgctl/pgctl_clone_live.c (built by meson as
$TANDEM_BUILD/tests/pgctl/pgctl_clone_live); this file gives it a temporary directory owned by the
`postgres` OS user and runs it as `postgres` (it runs PostgreSQL and its tools as its own user),
checks what it leaves behind, and makes sure no postmaster of its outlives the test.

The program prints "ok STEP" per passed step and exits 0 only if every check passed.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import BUILD, PG_BIN, free_port, pids_with_cmdline, sanitized

LIVE = BUILD / "tests" / "pgctl" / "pgctl_clone_live"
VALGRIND = shutil.which("valgrind")

STEPS = [
    "primary", "passfile", "basebackup", "streaming", "refuse_nonempty",
    "basebackup_wrong_password", "basebackup_deadline", "rewind", "rewound_streams", "all",
]


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs PostgreSQL as the postgres user (needs root)"),
    pytest.mark.skipif(not LIVE.exists(), reason=f"{LIVE} is not built"),
    pytest.mark.skipif(not (PG_BIN / "pg_basebackup").exists(), reason=f"no PostgreSQL in {PG_BIN}"),
]


@pytest.fixture
def base():
    d = pathlib.Path(tempfile.mkdtemp(prefix="tandem-pgclone-"))
    os.chmod(d, 0o755)
    shutil.chown(d, "postgres", "postgres")
    yield d
    for name in ["primary", "replica", "bad", "slow"]:
        for pid in pids_with_cmdline("-D", str(d / name)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    shutil.rmtree(d, ignore_errors=True)


def run_live(base, valgrind=False, timeout=400):
    cmd = [str(LIVE), str(PG_BIN), str(base), str(free_port()), str(free_port())]
    if valgrind:
        cmd = [VALGRIND, "--quiet", "--leak-check=full", "--show-leak-kinds=all",
               "--errors-for-leak-kinds=all", "--error-exitcode=99", *cmd]
    # As the postgres user: pgctl runs PostgreSQL as the user it runs as (tandemd refuses root).
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       user="postgres", group="postgres", extra_groups=[],
                       timeout=timeout)
    logs = ""
    for name in ["primary.log", "replica.log"]:
        try:
            logs += f"--- {name} (end)\n" + (base / name).read_text(errors="replace")[-3000:]
        except OSError:
            pass
    report = (f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr (end)\n"
              f"{r.stderr[-6000:]}\n{logs}")
    assert r.returncode == 0, report
    for s in STEPS:
        assert f"ok {s}\n" in r.stdout, f"step {s} missing\n{report}"
    return r


def test_pgctl_clone_live(base):
    r = run_live(base)
    # The passfile: 0600, owned by the run user, escaped as libpq wants.
    pf = base / "pgpass"
    assert pf.owner() == "postgres" and (pf.stat().st_mode & 0o777) == 0o600
    assert "re\\:pl\\\\i'ca" in pf.read_text()
    # The refused non-empty directory was not touched.
    assert [p.name for p in (base / "nonempty").iterdir()] == ["keep"]
    assert not [p for p in base.iterdir() if p.name.startswith("nonempty.moved-aside-")]
    # The failed clone was moved aside, never deleted.
    moved = [p for p in base.iterdir() if p.name.startswith("bad.moved-aside-")]
    assert len(moved) == 1 and moved[0].is_dir(), r.stdout
    assert not (base / "bad").exists()
    # So was the one killed at its deadline.
    slow = [p for p in base.iterdir() if p.name.startswith("slow.moved-aside-")]
    assert len(slow) == 1 and slow[0].is_dir(), r.stdout
    assert not (base / "slow").exists()
    assert not pids_with_cmdline("-D", str(base / "slow"))
    # The clone and the rewound old primary are replicas now (their data dirs remain).
    for name in ["primary", "replica"]:
        assert (base / name / "PG_VERSION").exists()
        assert not pids_with_cmdline("-D", str(base / name))
    assert (base / "primary" / "standby.signal").exists()
    assert not (base / "replica" / "standby.signal").exists()  # promoted
    # No temporary files of the passfile writes are left.
    assert not [p for p in base.iterdir() if ".tandem-" in p.name]


@pytest.mark.skipif(not VALGRIND, reason="no valgrind")
@pytest.mark.skipif(sanitized(LIVE), reason="an ASan build checks memory itself")
def test_pgctl_clone_valgrind(base):
    run_live(base, valgrind=True, timeout=900)
