"""tandemd-fence watchdog on its own (src/tandemd/fence/fence_main.c): deadlines on stdin, the fencing of
the process named in the pid file, and the hardware watchdog protocol, with a FIFO standing in
for /dev/watchdog (this machine has no watchdog device).

The "postmaster" is a `sleep` whose pid is in the pid file: SIGQUIT ends it as it ends PostgreSQL.
Deadlines are CLOCK_MONOTONIC milliseconds, which Python's time.monotonic() reads too.
"""

from __future__ import annotations

import os
import resource
import select
import signal
import subprocess
import time

import pytest

from conftest import BUILD, SLOW, wait_until

FENCE = BUILD / "src" / "tandemd" / "tandemd-fence"

pytestmark = pytest.mark.skipif(not FENCE.exists(), reason="tandemd-fence is not built")


FENCED = 3  # FENCE_EXIT_FENCED (src/tandemd/core/fence.h): the exit status after fencing


def now_ms():
    return int(time.monotonic() * 1000)


def victim_signals():
    """The stand-in postmaster takes SIGQUIT as PostgreSQL's postmaster does (it sets its own
    handler): a test run in the background (CI's `&`) inherits SIGQUIT ignored. No core file:
    its dump could outlast the fence's 2 s on a busy disk (then SIGKILL ends it)."""
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Fence:
    def __init__(self, tmp_path, device=None, timeout_s=1):
        self.victim = subprocess.Popen(["sleep", "1000"], preexec_fn=victim_signals)
        self.pidfile = tmp_path / "postmaster.pid"
        self.pidfile.write_text(f"{self.victim.pid}\n/data\n")
        args = [str(FENCE), "watchdog", str(self.pidfile)]
        if device is not None:
            args += [str(device), str(timeout_s)]
        self.log = tmp_path / "fence.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=log)

    def send(self, line):
        self.proc.stdin.write(f"{line}\n".encode())
        self.proc.stdin.flush()

    def victim_dead(self):
        return self.victim.poll() is not None

    def stderr(self):
        return self.log.read_text()

    def close(self):
        for p in (self.proc, self.victim):
            if p.poll() is None:
                p.kill()
                p.wait(10)


@pytest.fixture
def fence_factory(tmp_path):
    made = []

    def make(**kw):
        f = Fence(tmp_path, **kw)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def test_a_passed_deadline_stops_the_postmaster(fence_factory):
    f = fence_factory()
    f.send(now_ms() + 300)
    wait_until(f.victim_dead, 5 * SLOW, "the fence to stop the postmaster")
    assert f.victim.returncode == -signal.SIGQUIT
    assert f.proc.wait(5 * SLOW) == FENCED  # the agent then says so at warning level
    assert "did not renew its deadline" in f.stderr()


def test_renewed_deadlines_and_disarming_leave_it_alone(fence_factory):
    f = fence_factory()
    for _ in range(8):
        f.send(now_ms() + 300)
        time.sleep(0.1)
    f.send(0)  # disarmed: no deadline at all
    time.sleep(0.6)
    assert not f.victim_dead()
    f.send("exit")
    assert f.proc.wait(5 * SLOW) == 0
    assert not f.victim_dead()


def test_the_agent_gone_stops_the_postmaster(fence_factory):
    f = fence_factory()
    f.proc.stdin.close()  # as when the agent dies: the pipe closes
    wait_until(f.victim_dead, 5 * SLOW, "the fence to stop the postmaster")
    assert f.proc.wait(5 * SLOW) == FENCED
    assert "the agent is gone" in f.stderr()


def test_malformed_lines_keep_the_old_deadline(fence_factory):
    f = fence_factory()
    f.send(now_ms() + 400)
    f.send("soon")
    f.send(f"{now_ms() + 60000} 5")  # a lease ending before its deadline: refused
    wait_until(f.victim_dead, 5 * SLOW, "the fence to stop the postmaster")
    assert "malformed" in f.stderr()


class Device:
    """A FIFO read in the background: every byte the fence writes, with the time it was read."""

    def __init__(self, path):
        self.path = path
        os.mkfifo(path)
        # The reader end first: the fence opens the writer end without blocking.
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.bytes = []  # (monotonic ms, byte)

    def drain(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([self.fd], [], [], 0.02)
            if r:
                data = os.read(self.fd, 64)
                t = now_ms()
                self.bytes += [(t, b) for b in data]

    def close(self):
        os.close(self.fd)


def test_hardware_watchdog_pinged_only_while_a_reset_would_come_in_time(fence_factory, tmp_path):
    dev = Device(tmp_path / "watchdog")
    try:
        f = fence_factory(device=dev.path, timeout_s=1)
        t0 = now_ms()
        deadline, lease_end = t0 + 2500, t0 + 3000
        f.send(f"{deadline} {lease_end}")
        dev.drain(3.5 * SLOW)
        wait_until(f.victim_dead, 5 * SLOW, "the fence to stop the postmaster")
        dev.drain(0.5)
    finally:
        dev.close()
    pings = [t for t, b in dev.bytes if b == 0]
    magic = [t for t, b in dev.bytes if b == ord("V")]
    assert len(pings) >= 4, dev.bytes
    # A reset 1 s after the last ping must not come after the lease's end. The reader sees a byte
    # no earlier than it was written, so this can only err towards failing.
    assert max(pings) + 1000 <= lease_end + 250 * SLOW, (max(pings) - t0, lease_end - t0)
    # The postmaster stopped, the fence closed the device with the magic 'V': no reset.
    assert magic and dev.bytes[-1][1] == ord("V"), dev.bytes[-5:]
    assert "armed, timeout 1000 ms" in f.stderr()


def test_hardware_watchdog_closed_when_disarmed(fence_factory, tmp_path):
    dev = Device(tmp_path / "watchdog")
    try:
        f = fence_factory(device=dev.path, timeout_s=1)
        f.send(f"{now_ms() + 60000} {now_ms() + 61000}")
        dev.drain(0.8)
        f.send(0)  # no longer the leader
        dev.drain(0.5)
        n = len(dev.bytes)
        dev.drain(0.6)  # nothing more while disarmed
        assert len(dev.bytes) == n
        f.send("exit")
        assert f.proc.wait(5 * SLOW) == 0
    finally:
        dev.close()
    assert [b for _, b in dev.bytes][-1] == ord("V")
    assert not f.victim_dead()


def test_no_device_no_hardware_watchdog_but_still_a_fence(fence_factory, tmp_path):
    f = fence_factory(device=tmp_path / "missing", timeout_s=1)
    f.send(now_ms() + 300)
    wait_until(f.victim_dead, 5 * SLOW, "the fence to stop the postmaster")
    assert "running without a hardware watchdog" in f.stderr()


def test_bad_arguments(tmp_path):
    r = subprocess.run([str(FENCE), "watchdog", str(tmp_path / "pid"), "/dev/null", "0"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "TIMEOUT_S" in r.stderr
