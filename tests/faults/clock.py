"""A database host's wall clock, skewable while its processes run: tandemd (and PostgreSQL and the
fence watchdog, which inherit its environment) run under libfaketime (Debian `faketime`), which
reads the offset from a file (`<member>/clock`, "+0" = the real time) at most once a second.

The library is preloaded by `env` after the switch to the postgres user (a preloaded root process
would create libfaketime's shared semaphore, `/dev/shm/sem.faketime_sem_<pid>`, which the agent
could then not open). libfaketime leaves that semaphore and `/dev/shm/faketime_shm_<pid>` behind;
`forget(pid)` removes them once the agent with that pid is gone.

Only the wall clock moves (FAKETIME_DONT_FAKE_MONOTONIC=1): that is what NTP steps and a bad RTC
do to a host, and tandemd times its lease and fence with the monotonic clock. Writing the file is a
clock jump, forward or back; writing "+0" jumps back to the real time.
"""

from __future__ import annotations

import os
import pathlib

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def available():
    return os.path.exists(LIBFAKETIME)


class Clock:
    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.offset = 0

    def argv(self, cmd):
        """`cmd` run on this clock (through env, which execs: the pid stays the program's)."""
        return ["/usr/bin/env", f"LD_PRELOAD={LIBFAKETIME}",
                f"FAKETIME_TIMESTAMP_FILE={self.path}", "FAKETIME_CACHE_DURATION=1",
                "FAKETIME_DONT_FAKE_MONOTONIC=1"] + [str(c) for c in cmd]

    @staticmethod
    def forget(pid):
        """Removes what libfaketime left in /dev/shm for the process tree rooted at `pid`."""
        for f in (f"/dev/shm/sem.faketime_sem_{pid}", f"/dev/shm/faketime_shm_{pid}"):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass

    def set(self, seconds):
        """Sets the offset from the real time (a jump, seen within a second)."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{int(seconds):+d}s\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)
        self.offset = int(seconds)
