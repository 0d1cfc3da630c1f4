"""Hosts on one machine: network namespaces joined by veth pairs to a bridge in its own namespace.

Every namespace this module creates is named `<prefix>-<host>` (prefix unique per run) and
recorded; `Topology.cleanup()` kills every process that lives in one of them, then deletes them.
It runs at exit and on SIGINT/SIGTERM/SIGHUP. Nothing is ever configured in the host's own
namespace: each veth pair is created directly between a host namespace and the bridge namespace,
addresses (a private test range, 10.213.0.0/24) exist only inside those namespaces, and no
namespace has a default route, so test traffic has nowhere to go but the bridge.

Faults on links are nft rules in the *host's* namespace (table `inet tfaults`): drop everything,
a random share, or whatever exceeds a rate, to and/or from some addresses, in one or both
directions (there is no tc netem in this kernel: a "slow" link drops what is over its rate).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import time

SUBNET = "10.213.0"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def run(*args, check=True, timeout=30, **kw):
    if "input" not in kw:
        kw["stdin"] = subprocess.DEVNULL
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} exited {r.returncode}: {r.stderr.strip()}")
    return r


def ns_inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def pids_in_netns(inode):
    """Pids of every process whose network namespace is `inode`."""
    out = []
    if inode is None:
        return out
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if int(d) != os.getpid() and os.stat(f"/proc/{d}/ns/net").st_ino == inode:
                out.append(int(d))
        except OSError:
            continue
    return out


def children(pid):
    """Direct children of `pid` (from /proc/*/stat)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if ppid == pid:
            out.append(int(d))
    return out


def signal_pids(pids, sig):
    done = []
    for p in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, sig)
            done.append(p)
    return done


class Host:
    def __init__(self, topo, name, index, site=None):
        self.topo = topo
        self.name = name
        self.ns = f"{topo.prefix}-{name}"
        self.addr = f"{SUBNET}.{index}"
        self.site = site
        self.cuts = []  # tags of the cuts in place
        self._seq = 0

    def __repr__(self):
        return f"<Host {self.name} {self.addr}>"

    @property
    def nspath(self):
        return f"/run/netns/{self.ns}"

    def argv(self, cmd, user=None):
        """argv running `cmd` in this host's namespace (as `user`), exec'ing all the way down so
        that the pid Popen returns is the program itself."""
        pre = ["nsenter", f"--net={self.nspath}", "--"]
        if user:
            pre += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]
        return pre + [str(c) for c in cmd]

    def popen(self, cmd, log_path, user=None, env=None, cwd=None):
        with open(log_path, "ab") as log:
            return subprocess.Popen(self.argv(cmd, user), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                    start_new_session=True)

    def run(self, cmd, user=None, check=True, timeout=30, env=None):
        return run(*self.argv(cmd, user), check=check, timeout=timeout, env=env)

    def pids(self):
        return pids_in_netns(ns_inode(self.nspath))

    # -- link faults (nft inside this host's namespace)

    def nft(self, script):
        return run("ip", "netns", "exec", self.ns, "nft", "-f", "-", input=script)

    def drop(self, peers, direction="both"):
        """Drops packets between this host and `peers` (Hosts or addresses): direction 'in'
        (from the peers to us), 'out' (from us to the peers) or 'both'. Each call gets its own
        base chains, so that its heal (the returned function) leaves other cuts in place."""
        return self._cut(peers, direction, "")

    def lossy(self, peers, percent, direction="both"):
        """Like drop(), for a random `percent` of the packets (nft numgen: a lossy link)."""
        return self._cut(peers, direction, f"numgen random mod 100 < {int(percent)}")

    def throttle(self, peers, kbytes, direction="both"):
        """Like drop(), for the packets over `kbytes` KiB/s (one bucket per direction): a slow
        link that polices rather than queues, as there is no tc netem here."""
        return self._cut(peers, direction, f"limit rate over {int(kbytes)} kbytes/second")

    def _cut(self, peers, direction, match):
        addrs = sorted({p.addr if isinstance(p, Host) else p for p in peers})
        self._seq += 1
        tag = f"c{self._seq}"
        s = "{ " + ", ".join(addrs) + " }"
        script = "add table inet tfaults\n"
        if direction in ("in", "both"):
            script += (f"add chain inet tfaults {tag}_in {{ type filter hook input priority -10; "
                       f"policy accept; }}\nadd rule inet tfaults {tag}_in ip saddr {s} {match} "
                       f"drop\n")
        if direction in ("out", "both"):
            script += (f"add chain inet tfaults {tag}_out {{ type filter hook output priority "
                       f"-10; policy accept; }}\n"
                       f"add rule inet tfaults {tag}_out ip daddr {s} {match} drop\n")
        self.nft(script)
        self.cuts.append(tag)

        def heal():
            if tag in self.cuts:
                self.cuts.remove(tag)
                for c in (f"{tag}_in", f"{tag}_out"):
                    run("ip", "netns", "exec", self.ns, "nft", "delete", "chain", "inet",
                        "tfaults", c, check=False)
        return heal

    def heal_links(self):
        """Removes every cut on this host."""
        run("ip", "netns", "exec", self.ns, "nft", "delete", "table", "inet", "tfaults",
            check=False)
        self.cuts = []

    def link_down(self):
        run("ip", "-n", self.ns, "link", "set", "eth0", "down")

    def link_up(self):
        run("ip", "-n", self.ns, "link", "set", "eth0", "up")


class Topology:
    generation = 0

    def __init__(self, prefix=None):
        Topology.generation += 1
        letter = chr(ord("a") + Topology.generation % 26)
        self.prefix = prefix or f"tf{os.getpid()}{letter}"
        self.bridge_ns = f"{self.prefix}-br"
        self.hosts = {}
        self.made = []  # namespaces created, in order
        self.started = []  # Popen objects of everything we started
        self.on_cleanup = []
        self._cleaned = False
        atexit.register(self.cleanup)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, self._on_signal)

    def _on_signal(self, signum, frame):
        self.cleanup()
        os._exit(128 + signum)

    def _add_ns(self, name):
        run("ip", "netns", "add", name)
        self.made.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")

    def create(self, hosts):
        """hosts: [(name, index, site)]; index is the last octet of the host's address."""
        self._add_ns(self.bridge_ns)
        run("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        for name, index, site in hosts:
            h = Host(self, name, index, site)
            self._add_ns(h.ns)
            port = f"v{index}"
            # Both ends are created inside namespaces: nothing appears in the host's namespace.
            run("ip", "-n", h.ns, "link", "add", "eth0", "type", "veth", "peer", "name", port,
                "netns", self.bridge_ns)
            run("ip", "-n", self.bridge_ns, "link", "set", port, "master", "br0")
            run("ip", "-n", self.bridge_ns, "link", "set", port, "up")
            run("ip", "-n", h.ns, "addr", "add", f"{h.addr}/24", "dev", "eth0")
            run("ip", "-n", h.ns, "link", "set", "eth0", "up")
            self.hosts[name] = h
        return self

    def enter(self, name):
        """Moves this process (call before starting any thread) into host `name`'s namespace, so
        that the workload and the probes run as that host's clients."""
        fd = os.open(self.hosts[name].nspath, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        finally:
            os.close(fd)

    def popen(self, host, cmd, log_path, **kw):
        p = self.hosts[host].popen(cmd, log_path, **kw)
        self.started.append(p)
        return p

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        for fn in self.on_cleanup:
            with contextlib.suppress(Exception):
                fn()
        inodes = [ns_inode(f"/run/netns/{n}") for n in self.made]
        for attempt in range(10):
            pids = [p for i in inodes for p in pids_in_netns(i)]
            pids += [p.pid for p in self.started if p.poll() is None]
            if not pids:
                break
            signal_pids(pids, signal.SIGCONT)
            signal_pids(pids, signal.SIGKILL)
            for p in self.started:
                with contextlib.suppress(Exception):
                    p.poll()
            time.sleep(0.2)
        for n in reversed(self.made):
            run("ip", "netns", "del", n, check=False)
        self.made = []

