"""tandemd's side of systemd's notification protocol (sd_notify(3)), which tandemd@.service
(Type=notify, WatchdogSec=) relies on: a datagram socket stands in for systemd's NOTIFY_SOCKET.
READY=1 only after the first HA pass, STATUS= with the role, WATCHDOG=1 while the loop runs and
none while the agent is frozen (SIGSTOP: what makes systemd restart it), STOPPING=1 on SIGTERM.

This machine's PID 1 is not systemd, so systemd itself (the restart of a frozen agent, the stop
sequence) is checked by tests/package/check.sh as far as it can be (docs/deploy.md)."""

from __future__ import annotations

import os
import queue
import signal
import socket
import tempfile
import threading
import time

import pytest

from cluster import T_BOOT, Cluster
from conftest import SLOW

WATCHDOG_USEC = 1_000_000  # tandemd pings every half period: 0.5 s


class NotifySocket:
    """Reads every datagram as systemd does, at once (a full socket queue would block the
    sender), into a queue the tests take from."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tandem-it-notify-")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)  # tandemd runs as postgres
        self.queue = queue.Queue()
        self.seen = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            self.queue.put(data.decode())

    def recv(self, timeout):
        """The next message, or None when none comes within `timeout` seconds."""
        try:
            msg = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        self.seen.append(msg)
        return msg

    def wait_for(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.recv(max(0.05, deadline - time.monotonic()))
            if msg is not None and pred(msg):
                return msg
        raise AssertionError(f"no such message in {timeout}s; seen: {self.seen[-20:]}")

    def drain(self):
        while self.recv(0.05) is not None:
            pass

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


@pytest.fixture(scope="module")
def notify():
    n = NotifySocket()
    yield n
    n.close()


@pytest.fixture(scope="module")
def cluster(notify):
    """One member, started before its etcd (the first test starts etcd)."""
    c = Cluster(1, prefix="tandem-it-notify-")
    c.members[0].extra_env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    try:
        c.members[0].start()
        yield c
    finally:
        problems = c.cleanup()
        assert not problems, "\n\n".join(problems)


def test_ready_only_after_the_first_pass(cluster, notify):
    # etcd is not running: the loop runs (STATUS=, WATCHDOG=1) but no HA pass can: not ready.
    notify.wait_for(lambda m: m.startswith("STATUS="), 10 * SLOW)
    for _ in range(3):
        notify.wait_for(lambda m: m == "WATCHDOG=1", 5 * SLOW)
    assert not any("READY=1" in m for m in notify.seen), notify.seen
    cluster.etcd.start()
    notify.wait_for(lambda m: m == "READY=1", 30 * SLOW)
    cluster.wait_healthy(T_BOOT)
    notify.wait_for(lambda m: m.startswith("STATUS=primary, running, leader m1"), 10 * SLOW)


def test_watchdog_pings_stop_while_frozen(cluster, notify):
    m = cluster.members[0]
    notify.wait_for(lambda msg: msg == "WATCHDOG=1", 5 * SLOW)
    m.proc.send_signal(signal.SIGSTOP)
    try:
        notify.drain()  # what was sent before the stop took effect
        # Frozen: nothing for several watchdog periods (systemd would restart it after one).
        got = notify.recv(3 * WATCHDOG_USEC / 1e6)
        assert got is None, f"a frozen tandemd sent {got!r}"
    finally:
        m.proc.send_signal(signal.SIGCONT)
    notify.wait_for(lambda msg: msg == "WATCHDOG=1", 5 * SLOW)


def test_stopping_on_sigterm(cluster, notify):
    m = cluster.members[0]
    notify.drain()
    assert m.stop() == 0
    notify.wait_for(lambda msg: msg == "STOPPING=1", 1)
