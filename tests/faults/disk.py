"""A database host's data disk: a tmpfs of fixed size, mounted by the run at `<member>/disk`, that
holds the member's data directory (and every copy tandemd moves aside), so that the nemesis can
fill it up.

`fill()` first shrinks the tmpfs to what is in use plus a few MiB (so that filling takes neither
time nor memory), then allocates every free block to one file (`disk/FULL`): PostgreSQL then gets
ENOSPC when it extends a relation or creates a WAL segment. `free()` removes the file and gives
the disk its size back. PostgreSQL's log is kept
off this disk (a symlink to `<member>/postgresql.log`), as a separate log volume would be, so the
log still tells what happened. The mount lives in the machine's mount namespace; `unmount()`
(lazy, so it works while a process still uses it) runs at the topology's cleanup.
"""

from __future__ import annotations

import os
import pathlib
import pwd

from topology import run


class Disk:
    def __init__(self, path, size_mb, owner="postgres"):
        self.path = pathlib.Path(path)
        self.size_mb = size_mb
        self.owner = owner
        self.fill_path = self.path / "FULL"
        self.mounted = False

    def mount(self):
        pw = pwd.getpwnam(self.owner)
        self.path.mkdir(parents=True, exist_ok=True)
        run("mount", "-t", "tmpfs", "-o",
            f"size={self.size_mb}m,mode=0700,uid={pw.pw_uid},gid={pw.pw_gid},nodev,nosuid",
            "tandem-faults", self.path)
        self.mounted = True

    def unmount(self):
        if self.mounted:
            run("umount", "-l", self.path, check=False)
            self.mounted = False

    def free_bytes(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def _resize(self, kbytes):
        return run("mount", "-o", f"remount,size={kbytes}k", self.path, check=False).returncode == 0

    def fill(self):
        """Shrinks the disk, then allocates every free block to disk/FULL; returns the bytes the
        file took."""
        for _ in range(10):  # in use grows meanwhile: then the remount refuses; try again
            st = os.statvfs(self.path)
            if self._resize((st.f_blocks - st.f_bfree) * st.f_frsize // 1024 + 4096):
                break
        fd = os.open(self.fill_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            taken = os.fstat(fd).st_size
            size = self.free_bytes()
            while size > 0:
                try:
                    os.posix_fallocate(fd, taken, size)
                    taken += size
                    size = self.free_bytes()
                except OSError:  # ENOSPC: the free space changed meanwhile
                    size //= 2
            return taken
        finally:
            os.close(fd)

    def free(self):
        try:
            self.fill_path.unlink()
        except FileNotFoundError:
            pass
        if self.mounted:
            self._resize(self.size_mb * 1024)

    def used_percent(self):
        st = os.statvfs(self.path)
        return 100.0 * (1 - st.f_bavail / st.f_blocks) if st.f_blocks else 0.0
