"""tandemd's PostgreSQL control (src/tandemd/pgctl*.c) against a real PostgreSQL 15.

The checks are in the C program tests/pgctl/pgctl_live.c (built by meson as
$TANDEM_BUILD/tests/pgctl/pgctl_live); this file gives it a temporary directory owned by the
`postgres` OS user and runs it as `postgres` (it runs PostgreSQL as its own user), checks what it
leaves behind, and makes sure no postmaster of its outlives the test.

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

LIVE = BUILD / "tests" / "pgctl" / "pgctl_live"
VALGRIND = shutil.which("valgrind")

STEPS = [
    "initdb_argv", "initdb", "start", "state_primary", "session", "params", "stop_fast", "crash",
    "restart_after_crash", "stop_escalate_fast", "stop_escalate_kill", "standby", "promote", "move_aside", "all",
]


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs PostgreSQL as the postgres user (needs root)"),
    pytest.mark.skipif(not LIVE.exists(), reason=f"{LIVE} is not built"),
    pytest.mark.skipif(not (PG_BIN / "postgres").exists(), reason=f"no PostgreSQL in {PG_BIN}"),
]


@pytest.fixture
def base():
    d = pathlib.Path(tempfile.mkdtemp(prefix="tandem-pgctl-"))
    os.chmod(d, 0o755)
    shutil.chown(d, "postgres", "postgres")
    yield d
    # Whatever happened, no postmaster of this test survives it.
    for pid in pids_with_cmdline("-D", str(d / "data")):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(d, ignore_errors=True)


def run_live(base, valgrind=False, timeout=300):
    cmd = [str(LIVE), str(PG_BIN), str(base), str(free_port())]
    if valgrind:
        cmd = [VALGRIND, "--quiet", "--leak-check=full", "--show-leak-kinds=all",
               "--errors-for-leak-kinds=all", "--error-exitcode=99", *cmd]
    # As the postgres user: pgctl runs PostgreSQL as the user it runs as (tandemd refuses root).
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       user="postgres", group="postgres", extra_groups=[],
                       timeout=timeout)
    log = ""
    try:
        log = (base / "pg.log").read_text(errors="replace")[-4000:]
    except OSError:
        pass
    report = (f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr (end)\n"
              f"{r.stderr[-6000:]}\n--- pg.log (end)\n{log}")
    assert r.returncode == 0, report
    for s in STEPS:
        assert f"ok {s}\n" in r.stdout, f"step {s} missing\n{report}"
    return r


def test_pgctl_live(base):
    r = run_live(base)
    moved = [p for p in base.iterdir() if p.name.startswith("data.moved-aside-")]
    # The data directory was moved aside, never deleted; nothing else was left behind (the
    # password file of initdb is gone).
    assert len(moved) == 1 and (moved[0] / "PG_VERSION").exists(), r.stdout
    assert not (base / "data").exists()
    assert sorted(p.name for p in base.iterdir()) == sorted([moved[0].name, "pg.log"])
    # Files tandem wrote belong to the run user.
    for name in ["tandem.conf", "pg_hba.conf", "postgresql.conf"]:
        assert (moved[0] / name).owner() == "postgres"
    conf = (moved[0] / "postgresql.conf").read_text()
    assert conf.count("include_if_exists = 'tandem.conf'") == 1
    tandem = (moved[0] / "tandem.conf").read_text()
    assert "application_name = 'it''s tandem \\\\ agent'" in tandem
    assert "password" not in tandem
    # The postmaster ran as postgres (the log file is owned by it too).
    assert (base / "pg.log").owner() == "postgres"
    assert "database system is shut down" in (base / "pg.log").read_text()
    assert not pids_with_cmdline("-D", str(base / "data"))
    log = (base / "pg.log").read_text()
    assert "received fast shutdown request" in log  # smart escalated to fast


@pytest.mark.skipif(not VALGRIND, reason="no valgrind")
@pytest.mark.skipif(sanitized(LIVE), reason="an ASan build checks memory itself")
def test_pgctl_valgrind(base):
    run_live(base, valgrind=True, timeout=600)
