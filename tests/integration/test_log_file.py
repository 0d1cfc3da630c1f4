"""Patroni's log section on a real tandemd (docs/tandemd.md, "Patroni's keys"): with log.dir the
log goes to DIR/tandemd.log, not standard error, rotated by log.file_size keeping log.file_num
files; Python-only keys and remove_data_directory_on_* are accepted with one warning each at
start. tandemd runs against an etcd that is not there, which logs enough lines to rotate."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from cluster import T_CHANGE, TANDEMD, wait_until
from conftest import free_port

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
]


def files(logs):
    """The log directory's names and contents at one moment: a rotation renames the files one by
    one, and `tandemd.log` is missing between its rename and the new file's creation."""
    for _ in range(200):
        try:
            names = sorted(x.name for x in logs.iterdir())
            text = {name: (logs / name).read_bytes() for name in names}
            if "tandemd.log" in names and names == sorted(x.name for x in logs.iterdir()):
                return names, text
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"no steady view of {logs}")


def test_log_dir_rotation_and_warnings():
    base = pathlib.Path(tempfile.mkdtemp(prefix="tandem-it-log-"))
    logs = base / "logs"
    logs.mkdir()
    for p in (base, logs):
        shutil.chown(p, "postgres", "postgres")
    config = base / "tandemd.yml"
    config.write_text(f"""scope: logs
name: m1
restapi:
  listen: 127.0.0.1:{free_port()}
etcd3:
  hosts: 127.0.0.1:9
postgresql:
  data_dir: {base}/data
  remove_data_directory_on_rewind_failure: true
watchdog:
  mode: off
log:
  level: INFO
  dir: {logs}
  file_num: 2
  file_size: 4096
  format: '%(asctime)s %(levelname)s: %(message)s'
  loggers:
    urllib3: WARNING
""")
    shutil.chown(config, "postgres", "postgres")
    os.chmod(config, 0o600)
    out = base / "stderr"
    with open(out, "wb") as f:
        p = subprocess.Popen([str(TANDEMD), str(config)], user="postgres", group="postgres",
                             extra_groups=[], stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, cwd=base, start_new_session=True)
    try:
        current, first, second = logs / "tandemd.log", logs / "tandemd.log.1", logs / "tandemd.log.2"
        wait_until(lambda: second.exists(), T_CHANGE, "the log to be rotated twice")
        assert p.poll() is None, out.read_text()
        early = second.read_text()
        for warning in ("log.format is set", "log.loggers is set",
                        "remove_data_directory_on_rewind_failure: true: tandem never deletes"):
            assert early.count(warning) == 1, early
        wait_until(lambda: "tandemd.log.2" in str(list(logs.iterdir())) and
                   "log.format is set" not in second.read_text(), T_CHANGE,
                   "the oldest file to be dropped")
        names, text = files(logs)
        assert names == ["tandemd.log", "tandemd.log.1", "tandemd.log.2"]
        for name in names:
            assert len(text[name]) <= 4096, name
        assert b" [m1] etcd endpoint http://127.0.0.1:9 failed" in text["tandemd.log.1"]
        assert out.read_text() == "", out.read_text()  # nothing on standard error
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)
