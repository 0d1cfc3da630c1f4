"""Each member's role over time, for the pictures (picture.py): one thread per member asks its
REST API (`/patroni`) every 100 ms and records every change as [monotonic time, role], None while
the member does not answer (a stopped member cannot hold up the others' lanes)."""

from __future__ import annotations

import threading
import time

from picture import role_name

INTERVAL = 0.1


class RolePoller:
    def __init__(self, members, interval=INTERVAL):
        """`members`: {name: a function returning that member's /patroni answer or None}."""
        self.interval = interval
        self.changes = {name: [] for name in members}
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._poll, args=(n, ask), daemon=True)
                        for n, ask in members.items()]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _poll(self, name, ask):
        while not self.halt.is_set():
            t = time.monotonic()
            try:
                role = role_name(ask())
            except Exception:  # noqa: BLE001 - a member that cannot be asked has no role
                role = None
            with self.lock:
                c = self.changes[name]
                if not c or c[-1][1] != role:
                    c.append([t, role])
            self.halt.wait(self.interval)

    def stop(self):
        """Stops polling; returns {name: [[t, role], ...]}."""
        self.halt.set()
        for t in self.threads:
            t.join(5)
        with self.lock:
            return {n: [list(c) for c in cs] for n, cs in self.changes.items()}
