"""Safety of tandemd under agent failures, etcd outages and in synchronous strict mode (issue 4).

Two clusters of three members with tandem's default timings (ttl 4, loop_wait 1, retry_timeout 1),
built through tests/integration/cluster.py, one after the other (never both at once):

* an asynchronous one for the agent failures: SIGKILL, SIGSTOP and SIGTERM of the leader's agent
  alone (its PostgreSQL is never touched by the test), and an etcd outage;
* a synchronous strict one (bootstrap.dcs synchronous_mode and synchronous_mode_strict) for a
  kill of the whole leader node under writes, commits blocking without a standby, and an etcd
  outage.

Every test asserts behaviour, never speed: which writes were acknowledged and when relative to
events the test observed itself (a promotion seen through pg_is_in_recovery(), the moment etcd
was stopped), who leads, who streams, which rows survive. Measured durations are printed (run
with -s to see them), not asserted. The deadlines only bound the waits.

How the "no write acknowledged after the promotion" check is conservative: a writer thread
records the monotonic time at which each INSERT's acknowledgement was *received* (later than the
commit itself); a watcher polls pg_is_in_recovery() on every candidate over a kept connection
and keeps the time at which the last query answering true was *sent* (the promotion completed
after that, and a promoted PostgreSQL accepts no write before pg_is_in_recovery() turns false).
Asserting "every ack received < that send time" is stronger than "every commit before the
promotion".
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import threading
import time
import uuid

import psycopg
import pytest

from cluster import ETCD, SLOW, T_BOOT, T_CHANGE, T_STOP, TANDEMD, Cluster, wait_until
from conftest import pid_alive

# tandem's defaults (docs/tandemd.md, "Timing").
TTL, LOOP_WAIT, RETRY_TIMEOUT = 4, 1, 1
FENCE = TANDEMD.parent / "tandemd-fence"

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not (TANDEMD.exists() and FENCE.exists()),
                       reason=f"{TANDEMD} or {FENCE} is not built"),
    pytest.mark.skipif(not os.path.exists(ETCD), reason="needs etcd"),
]


def note(msg):
    print(f"[safety] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# clusters: one at a time


class _Holder:
    def __init__(self):
        self.kind = None
        self.cluster = None

    def drop(self):
        c, self.cluster, self.kind = self.cluster, None, None
        if c is not None:
            problems = c.cleanup()
            assert not problems, "\n\n".join(problems)

    def get(self, kind):
        if self.kind == kind and self.cluster is not None:
            try:
                self.cluster.wait_healthy(T_CHANGE)
                return self.cluster
            except AssertionError as e:
                note(f"the {kind} cluster is not healthy ({e}): building a new one")
        self.drop()
        extra = {"sync": {"synchronous_mode": True, "synchronous_mode_strict": True},
                 "failsafe": {"failsafe_mode": True}}.get(kind, {})
        c = Cluster(3, ttl=TTL, loop_wait=LOOP_WAIT, retry_timeout=RETRY_TIMEOUT,
                    prefix="tandem-it-safety-", dcs_extra=extra)
        try:
            c.start()
            c.wait_healthy(T_BOOT)
        except BaseException:
            print(c.logs())
            c.cleanup()
            raise
        self.kind, self.cluster = kind, c
        return c


@pytest.fixture(scope="module")
def _holder():
    h = _Holder()
    yield h
    h.drop()


def _attach(request, c):
    request.node.__dict__.setdefault("_hellod_servers", []).extend(c.log_sources())


@pytest.fixture
def async_cluster(request, _holder):
    c = _holder.get("async")
    _attach(request, c)
    return c


@pytest.fixture
def failsafe_cluster(request, _holder):
    c = _holder.get("failsafe")
    _attach(request, c)
    return c


@pytest.fixture
def sync_cluster(request, _holder):
    c = _holder.get("sync")
    _attach(request, c)
    return c


# ---------------------------------------------------------------------------------------------
# writers and watchers


class Writer(threading.Thread):
    """Keeps INSERTing single rows, one statement per transaction (autocommit), each with a
    unique value, into `table` on the member `target()` returns (re-evaluated after every
    failure); records every acknowledged value with the monotonic time its ack was received."""

    def __init__(self, cluster, target, table, numbered=False):
        super().__init__(daemon=True)
        self.cluster, self.target, self.table, self.numbered = cluster, target, table, numbered
        self.acks = []  # (value, t_ack, member name)
        self.failures = []  # (t, member name or None, error text)
        self.stop_event = threading.Event()
        self.seq = 0
        self.tag = uuid.uuid4().hex[:6]
        self.lock = threading.Lock()

    def next_value(self):
        self.seq += 1
        return self.seq if self.numbered else f"{self.tag}-{self.seq}"

    def run(self):
        conn, name = None, None
        while not self.stop_event.is_set():
            try:
                if conn is None:
                    m = self.target()
                    if m is None:
                        raise RuntimeError("no target")
                    name = m.name
                    conn = m.connect(timeout=2)
                v = self.next_value()
                conn.execute(f"INSERT INTO {self.table} (v) VALUES (%s)", (v,))
                t = time.monotonic()
                with self.lock:
                    self.acks.append((v, t, name))
            except Exception as e:  # any failure: the write is not acknowledged
                with self.lock:
                    self.failures.append((time.monotonic(), name, str(e).strip()[:200]))
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass
                conn, name = None, None
                time.sleep(0.02)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def snapshot(self):
        with self.lock:
            return list(self.acks), list(self.failures)

    def acks_count(self, name=None):
        with self.lock:
            return sum(1 for a in self.acks if name is None or a[2] == name)

    def finish(self, timeout=20):
        self.stop_event.set()
        self.join(timeout * SLOW)
        # A thread still blocked in an INSERT (a commit waiting for a synchronous standby) is a
        # daemon: its write was never acknowledged and is not in self.acks.
        return self.snapshot()


class RecoveryWatch(threading.Thread):
    """Polls pg_is_in_recovery() on each member over a kept connection; for each member keeps
    the send time of the last query that answered true, and the time of the first false after
    a true."""

    def __init__(self, members):
        super().__init__(daemon=True)
        self.members = members
        self.last_true = {}
        self.first_false = {}
        self.stop_event = threading.Event()

    def run(self):
        conns = {}
        while not self.stop_event.is_set():
            for m in self.members:
                if m.name in self.first_false:
                    continue
                try:
                    if m.name not in conns:
                        conns[m.name] = m.connect(timeout=1)
                    t = time.monotonic()
                    r = conns[m.name].execute("SELECT pg_is_in_recovery()").fetchone()[0]
                    if r:
                        self.last_true[m.name] = t
                    elif m.name in self.last_true:
                        self.first_false[m.name] = time.monotonic()
                except Exception:
                    c = conns.pop(m.name, None)
                    if c is not None:
                        try:
                            c.close()
                        except Exception:
                            pass
            time.sleep(0.01)
        for c in conns.values():
            try:
                c.close()
            except Exception:
                pass

    def promotion_bound(self, name, timeout=T_CHANGE):
        """A time before which `name` certainly accepted no write as a primary."""
        wait_until(lambda: name in self.first_false, timeout,
                   f"the watcher to see {name} leave recovery", interval=0.05)
        return self.last_true[name], self.first_false[name]

    def finish(self):
        self.stop_event.set()
        self.join(10)


def refuses_connections(m):
    try:
        with m.connect(timeout=1):
            return False
    except psycopg.OperationalError as e:
        return "refused" in str(e) or "No such file" in str(e) or "closed" in str(e)


def make_table(leader, table, numbered=False):
    leader.query(f"CREATE TABLE IF NOT EXISTS {table} "
                 f"(v {'bigint' if numbered else 'text'} PRIMARY KEY)")


def present(member, table, values):
    """The subset of `values` present in `table` on `member`."""
    if not values:
        return set()
    rows = member.query(f"SELECT v FROM {table} WHERE v = ANY(%s)", (list(values),))
    return {r[0] for r in rows}


def leader_member(c):
    n = c.dcs_leader()
    return c.member(n) if n else None


def timeline(m):
    s = m.patroni()
    return s and s.get("timeline")


def sync_key(c):
    raw = c.etcd.get(c.key("sync"))
    return json.loads(raw) if raw else None


def sync_names(c):
    s = sync_key(c) or {}
    return [n for n in (s.get("sync_standby") or "").split(",") if n]


def leader_lease_ttl(c):
    """(send time, remaining TTL in whole seconds as etcd reports it, truncated) of the leader
    key's lease, or None."""
    try:
        body = {"key": base64.b64encode(c.key("leader").encode()).decode()}
        req = _post(c.etcd.endpoint + "/v3/kv/range", body)
        kvs = req.get("kvs") or []
        if not kvs or not kvs[0].get("lease"):
            return None
        t = time.monotonic()
        r = _post(c.etcd.endpoint + "/v3/lease/timetolive", {"ID": kvs[0]["lease"]})
        return t, int(r.get("TTL", -1))
    except OSError:
        return None


def _post(url, body):
    import urllib.request
    req = urllib.request.Request(url, method="POST", data=json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=1) as r:
        return json.loads(r.read())


def wait_acks(w, n, name=None, timeout=T_CHANGE):
    base = w.acks_count(name)
    wait_until(lambda: w.acks_count(name) >= base + n, timeout,
               f"{n} more acknowledged writes{' on ' + name if name else ''}", interval=0.05)


# ---------------------------------------------------------------------------------------------
# the agent of the leader dies or freezes: fencing


def _fencing_case(c, how):
    """SIGKILL or SIGSTOP of the old leader's agent with a writer on its PostgreSQL port.
    Returns (old, new) after asserting that the old primary acknowledged nothing after the new
    one's promotion and stopped accepting connections."""
    old = c.wait_healthy()
    cands = [m for m in c.members if m is not old]
    table = f"fence_{how}"
    make_table(old, table)
    pm_pid = old.postmaster_pid()
    assert pm_pid
    watch = RecoveryWatch(cands)
    watch.start()
    w = Writer(c, lambda: old, table)
    w.start()
    try:
        wait_acks(w, 20, old.name)
        wait_until(lambda: all(m.name in watch.last_true for m in cands), T_CHANGE,
                   "the watcher to see every candidate in recovery", interval=0.05)
        size = old.log_size()
        t_sig = time.monotonic()
        if how == "kill":
            old.kill_agent()  # tandemd alone; the test never signals PostgreSQL
        else:
            old.freeze()
        # The old PostgreSQL stops accepting connections (fenced) ...
        wait_until(lambda: refuses_connections(old), T_CHANGE,
                   f"{old.name}'s PostgreSQL to refuse connections after {how} of its agent",
                   interval=0.02)
        t_refused = time.monotonic()
        # ... and another member is promoted.
        new = c.wait_leader(not_name=old.name)
        promo_lo, promo_seen = watch.promotion_bound(new.name)
        # Keep writing at the old port for a while after the promotion: nothing may succeed.
        wait_until(lambda: time.monotonic() > promo_seen + 1.0, 10, "a second after promotion")
        assert refuses_connections(old), f"{old.name}'s PostgreSQL accepts connections again"
    finally:
        acks, fails = w.finish()
        watch.finish()
    on_old = [a for a in acks if a[2] == old.name]
    assert on_old, "the writer got no acknowledgement at all from the old primary"
    last_ack = max(a[1] for a in on_old)
    late = [a for a in on_old if a[1] >= promo_lo]
    assert not late, (f"{len(late)} writes acknowledged by the old primary {old.name} after "
                      f"{new.name}'s promotion (last seen in recovery at +{promo_lo - t_sig:.3f}s "
                      f"after the {how}): first {late[0]}, last ack at "
                      f"+{last_ack - t_sig:.3f}s")
    assert t_refused < promo_seen, "the old PostgreSQL still accepted connections at promotion"
    assert not pid_alive(pm_pid), f"the old postmaster {pm_pid} still runs"
    note(f"{how}: last ack from {old.name} +{last_ack - t_sig:.3f}s after the signal, "
         f"refusing connections by +{t_refused - t_sig:.3f}s, {new.name} promoted after "
         f"+{promo_lo - t_sig:.3f}s (seen +{promo_seen - t_sig:.3f}s); "
         f"{len(on_old)} acks, {len(fails)} failed attempts")
    return old, new, size, table, acks


def _rejoined(c, old, new, table, acks):
    assert c.wait_healthy() is new, "another member leads after the old leader rejoined"
    assert old.in_recovery() is True
    row = c.write_row(new)
    c.wait_row([m for m in c.members if m is not new], row)
    # Every ack the new leader has is also on the rejoined member (same history).
    vals = [a[0] for a in acks]
    on_new = present(new, table, vals)
    wait_until(lambda: present(old, table, vals) == on_new, T_CHANGE,
               f"{old.name} to have the same rows as {new.name}", interval=0.2)
    lost = len(vals) - len(on_new)
    note(f"async mode: {lost} of {len(vals)} acknowledged rows are not on the new leader")


def test_sigkill_of_the_leaders_agent_fences_its_postgres(async_cluster):
    c = async_cluster
    old, new, size, table, acks = _fencing_case(c, "kill")
    assert new is not old
    # Restarted, the member rejoins as a replica of the new leader.
    old.start()
    _rejoined(c, old, new, table, acks)


def test_leaders_agent_killed_and_restarted_at_once_keeps_leading(async_cluster):
    """A tandemd restarted within the TTL finds its leader key on its predecessor's lease: it
    moves the key onto its own lease and restarts PostgreSQL in place, with no failover and
    no new timeline (before, its first pass saw no lease yet and gave the key away)."""
    c = async_cluster
    leader = c.wait_healthy()
    tl = timeline(leader)
    row = c.write_row(leader)
    c.wait_row([m for m in c.members if m is not leader], row)
    for _ in range(3):
        size = leader.log_size()
        leader.kill_agent()
        wait_until(lambda: leader.postmaster_pid() is None, T_STOP,
                   f"the fence to stop {leader.name}'s PostgreSQL")
        leader.start()
        assert c.wait_healthy() is leader
        log = leader.log_since(size)
        assert "release_leader" not in log, log[-3000:]
        assert "restart: PostgreSQL is down on the leader" in log, log[-3000:]
    assert timeline(leader) == tl, "a new timeline: the restarted leader was promoted again"
    later = c.write_row(leader)
    c.wait_row([m for m in c.members if m is not leader], later)


def test_sigstop_of_the_leaders_agent_fences_its_postgres(async_cluster):
    c = async_cluster
    old, new, size, table, acks = _fencing_case(c, "stop")
    log = old.log_since(size)
    assert "did not renew its deadline in time" in log, \
        f"no sign of the watchdog in {old.name}'s log:\n{log[-3000:]}"
    # Thawed, the old agent finds it lost the key and rejoins as a replica (rewound if needed).
    old.thaw()
    _rejoined(c, old, new, table, acks)
    assert old.alive(), f"{old.name}'s tandemd exited after SIGCONT"
    # /metrics counts the watchdog's intervention (docs/monitoring.md).
    assert old.metric("tandem_fence_fired_total") == 1
    log = old.log_since(size)
    note("stop: after SIGCONT the old member " +
         ("ran pg_rewind" if "pg_rewind" in log else "rejoined without pg_rewind"))


def test_sigterm_of_the_leaders_agent_hands_over(async_cluster):
    c = async_cluster
    old = c.wait_healthy()
    table = "handover_rows"
    make_table(old, table)
    w = Writer(c, lambda: leader_member(c), table)
    w.start()
    try:
        wait_acks(w, 20, old.name)
        size = old.log_size()
        pg_size = old.pg_log_path.stat().st_size
        t_sig = time.monotonic()
        old.proc.send_signal(signal.SIGTERM)
        new = c.wait_leader(not_name=old.name)
        t_new = time.monotonic()
        rc = old.proc.wait(T_STOP)
        old.exits.append(("SIGTERM", rc))
        assert rc == 0, f"{old.name}'s tandemd exited {rc} on SIGTERM"
        wait_acks(w, 20, new.name)
    finally:
        acks, fails = w.finish()
    log = old.log_since(size)
    assert f"handing leadership to {new.name}" in log, \
        f"{old.name}'s log does not hand leadership to {new.name}:\n{log[-3000:]}"
    # PostgreSQL stopped cleanly (a fast shutdown, not a crash or immediate stop).
    with open(old.pg_log_path, "rb") as f:
        f.seek(pg_size)
        pg_log = f.read().decode(errors="replace")
    assert "database system is shut down" in pg_log, f"no clean shutdown:\n{pg_log[-2000:]}"
    assert "immediate shutdown" not in pg_log, pg_log[-2000:]
    assert old.postmaster_pid() is None and refuses_connections(old)
    # No acknowledged row lost.
    vals = [a[0] for a in acks]
    missing = set(vals) - present(new, table, vals)
    assert not missing, f"{len(missing)} acknowledged rows missing on {new.name}: {sorted(missing)[:10]}"
    on_old = [a for a in acks if a[2] == old.name]
    on_new = [a for a in acks if a[2] == new.name]
    gap = min(a[1] for a in on_new) - max(a[1] for a in on_old)
    note(f"SIGTERM: {new.name} leads +{t_new - t_sig:.3f}s after the signal (ttl {TTL}s); "
         f"write gap {gap:.3f}s; {len(vals)} acks, none lost")
    old.start()
    assert c.wait_healthy() is new
    assert old.in_recovery() is True


# ---------------------------------------------------------------------------------------------
# etcd outage


def _stops_writing_without_etcd(c, leader, w, t0, why="etcd stopped"):
    """After etcd stopped at t0: the leader stops being writable, no member is writable past
    the time any lease could have lasted, and no write was acknowledged after it. etcd received
    no keep-alive after t0, so the lease had certainly expired at t0 + TTL: an ack after that is
    certainly a write without a lease. Returns the time of the last ack."""
    wait_until(lambda: not leader.writable(), T_CHANGE,
               f"{leader.name} to stop being writable without etcd", interval=0.05)
    while time.monotonic() < t0 + TTL + 2:
        writable = [m.name for m in c.members if m.writable()]
        assert not writable, f"writable without etcd: {writable}"
        time.sleep(0.1)
    last = max(a[1] for a in w.snapshot()[0])
    assert last < t0 + TTL, (f"{leader.name} acknowledged a write {last - t0:.3f}s after {why}; "
                             f"the lease had certainly expired at +{TTL}s")
    return last


def _etcd_outage(c, strict):
    leader = c.wait_healthy()
    table = "etcd_rows"
    make_table(leader, table, numbered=True)
    c.wait_row([m for m in c.members if m is not leader], c.write_row(leader))
    w = Writer(c, lambda: leader_member(c), table, numbered=True)
    w.start()
    try:
        wait_acks(w, 20, leader.name)
        # A lower bound of etcd's expiry of the leader's lease: send time + remaining TTL, which
        # etcd truncates to whole seconds (so never later than the real expiry).
        samples = []
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            s = leader_lease_ttl(c)
            if s:
                samples.append(s)
            time.sleep(0.02)
        t0 = time.monotonic()
        c.etcd.stop()
        expiry_lo = max(t + r for t, r in samples) if samples else None
        try:
            last = _stops_writing_without_etcd(c, leader, w, t0)
        finally:
            c.etcd.start()
        new = c.wait_healthy()
        assert [m.name for m in c.members if m.writable()] == [new.name]
        wait_acks(w, 20, new.name)
    finally:
        acks, fails = w.finish()
    vals = [a[0] for a in acks]
    missing = set(vals) - present(new, table, vals)
    mode = "strict" if strict else "async"
    exp = (f"etcd's expiry no earlier than +{expiry_lo - t0:.3f}s"
           if expiry_lo is not None else "no lease sample")
    note(f"etcd outage ({mode}): last ack +{last - t0:.3f}s after etcd stopped ({exp}; "
         f"certainly expired by +{TTL}s); leader after restart {new.name} "
         f"(before: {leader.name}); {len(missing)} of {len(vals)} acknowledged rows missing")
    if strict:
        assert not missing, f"acknowledged rows lost in strict mode: {sorted(missing)[:20]}"


def test_etcd_outage_under_writes_async(async_cluster):
    _etcd_outage(async_cluster, strict=False)


# ---------------------------------------------------------------------------------------------
# failsafe mode: while etcd is down, the leader stays primary if every member confirms it


def _rest_post(m, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", m.rest_port, timeout=2)
    try:
        conn.request("POST", path, body=body if isinstance(body, str) else json.dumps(body),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def _rest_get_json(m, path):
    conn = http.client.HTTPConnection("127.0.0.1", m.rest_port, timeout=2)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def _failsafe_active(m):
    s = m.patroni()
    return bool(s and s.get("failsafe_mode_is_active"))


def test_failsafe_key_and_confirmation(failsafe_cluster):
    c = failsafe_cluster
    leader = c.wait_healthy()
    want = {m.name: f"http://127.0.0.1:{m.rest_port}/patroni" for m in c.members}
    wait_until(lambda: json.loads(c.etcd.get(c.key("failsafe")) or "null") == want, T_CHANGE,
               "the leader to write every member into the failsafe key")
    for m in c.members:
        assert _rest_get_json(m, "/failsafe") == (200, want)
        assert not _failsafe_active(m)
    replica = next(m for m in c.members if m is not leader)
    assert _rest_post(replica, "/failsafe", {"name": leader.name}) == (200, "Accepted")
    status, text = _rest_post(leader, "/failsafe", {"name": replica.name})
    assert status == 500 and "primary" in text, (status, text)
    status, text = _rest_post(replica, "/failsafe", "{not json")
    assert status == 400 and "JSON" in text, (status, text)
    status, text = _rest_post(replica, "/failsafe", {"conn_url": "x"})
    assert status == 400 and "name" in text, (status, text)
    # Confirming a leader that still holds its key changes nothing.
    assert c.dcs_leader() == leader.name


def test_failsafe_keeps_the_primary_through_an_etcd_outage(failsafe_cluster):
    c = failsafe_cluster
    leader = c.wait_healthy()
    tl = timeline(leader)
    table = "failsafe_rows"
    make_table(leader, table, numbered=True)
    c.wait_row([m for m in c.members if m is not leader], c.write_row(leader))
    w = Writer(c, lambda: leader, table, numbered=True)
    w.start()
    try:
        wait_acks(w, 20, leader.name)
        t0 = time.monotonic()
        c.etcd.stop()
        # Three TTLs: far past any lease. Only the leader is writable, and it keeps writing.
        while time.monotonic() < t0 + 3 * TTL:
            writable = [m.name for m in c.members if m.writable()]
            assert writable == [leader.name], f"writable without etcd: {writable}"
            time.sleep(0.2)
        wait_acks(w, 20, leader.name)
        assert _failsafe_active(leader)
        c.etcd.start()
        assert c.wait_healthy() is leader
        wait_until(lambda: not _failsafe_active(leader), T_CHANGE,
                   "the leader to run on its lease again")
        wait_acks(w, 20, leader.name)
    finally:
        acks, fails = w.finish()
    assert timeline(leader) == tl, "the leader was demoted or another promoted"
    late = [a for a in acks if a[1] > t0 + TTL]
    assert late, "no write acknowledged after the lease had certainly expired"
    vals = [a[0] for a in acks]
    missing = set(vals) - present(leader, table, vals)
    assert not missing
    gap = max((b[1] - a[1] for a, b in zip(acks, acks[1:])), default=0)
    note(f"failsafe: etcd down {3 * TTL}s; {len(acks)} writes acknowledged, "
         f"{len(late)} after +{TTL}s; longest gap between acks {gap:.3f}s; "
         f"{len(fails)} failed attempts; same leader, same timeline")


def test_failsafe_without_every_member_stops_writing(failsafe_cluster):
    c = failsafe_cluster
    leader = c.wait_healthy()
    frozen = next(m for m in c.members if m is not leader)
    table = "failsafe_partial_rows"
    make_table(leader, table, numbered=True)
    w = Writer(c, lambda: leader_member(c), table, numbered=True)
    w.start()
    try:
        wait_acks(w, 20, leader.name)
        frozen.freeze()  # its REST API no longer answers: it cannot confirm the leader
        t0 = time.monotonic()
        c.etcd.stop()
        last = _stops_writing_without_etcd(
            c, leader, w, t0, f"etcd stopped without {frozen.name}'s confirmation")
    finally:
        frozen.thaw()
        c.etcd.start()
    try:
        new = c.wait_healthy()
        wait_acks(w, 10, new.name)
    finally:
        w.finish()
    note(f"failsafe without {frozen.name}: last ack +{last - t0:.3f}s after etcd stopped; "
         f"leader after restart {new.name}")


# ---------------------------------------------------------------------------------------------
# synchronous strict mode


def _wait_sync_settled(c, leader):
    """The sync key names a streaming standby that PostgreSQL reports synchronous; returns it."""
    def ok():
        s = sync_key(c)
        names = sync_names(c)
        if not s or s.get("leader") != leader.name or len(names) != 1:
            return None
        ssn = leader.query("SHOW synchronous_standby_names")[0][0]
        if ssn != f'FIRST 1 ("{names[0]}")':
            return None
        rep = dict(leader.query("SELECT application_name, sync_state FROM pg_stat_replication"))
        return names[0] if rep.get(names[0]) == "sync" else None

    name = wait_until(ok, T_CHANGE, "the sync key and synchronous_standby_names to agree",
                      interval=0.2)
    return c.member(name)


def test_sync_strict_leader_node_killed_loses_no_acknowledged_row(sync_cluster):
    c = sync_cluster
    old = c.wait_healthy()
    table = "sync_rows"
    make_table(old, table, numbered=True)
    sync_m = _wait_sync_settled(c, old)
    tl = timeline(old)
    w = Writer(c, lambda: leader_member(c), table, numbered=True)
    w.start()
    try:
        wait_acks(w, 50, old.name)
        old.kill_node()  # tandemd and its postmaster, SIGKILL, mid-stream
        listed = sync_names(c)  # the dead leader's last word: who may take over
        assert listed == [sync_m.name], f"sync key changed under us: {listed}"
        new = c.wait_leader(not_name=old.name)
        assert new is sync_m, f"{new.name} took over; the sync key named {listed}"
        wait_acks(w, 20, new.name)
        old.start()
        assert c.wait_healthy() is new
        wait_acks(w, 20, new.name)
    finally:
        acks, fails = w.finish()
    vals = [a[0] for a in acks]
    missing = set(vals) - present(new, table, vals)
    on_old = [a for a in acks if a[2] == old.name]
    on_new = [a for a in acks if a[2] == new.name]
    note(f"sync strict, leader node killed: {len(on_old)} acks on {old.name}, {len(on_new)} on "
         f"{new.name}, write gap {min(a[1] for a in on_new) - max(a[1] for a in on_old):.3f}s; "
         f"{len(missing)} acknowledged rows missing")
    assert not missing, f"acknowledged rows lost: {sorted(missing)[:20]}"
    # And everywhere, once replicated.
    for m in c.members:
        if m is not new:
            wait_until(lambda: present(m, table, vals) == set(vals), T_CHANGE,
                       f"every acknowledged row on {m.name}", interval=0.2)

    # No silent divergence: the rejoined former leader has exactly the new leader's rows (not
    # also rows it wrote locally and never got acknowledged).
    def all_rows(m):
        return {r[0] for r in m.query(f"SELECT v FROM {table}")}

    c.wait_row([old], c.write_row(new))
    extra = all_rows(old) - all_rows(new)
    assert not extra, (f"{old.name} rejoined with {len(extra)} rows the leader {new.name} does "
                       f"not have (diverged without pg_rewind): {sorted(extra)[:10]}")

    # Only the listed standby was promoted: one switch in the history, by it; the other replica
    # never left recovery.
    def switches():
        hist = json.loads(c.etcd.get(c.key("history")) or "[]")
        return [h[-1] for h in hist if h[0] >= tl]

    assert timeline(new) == tl + 1, (f"{new.name} leads on timeline {timeline(new)}, it was "
                                     f"{tl} before the failover: the promotion did not switch "
                                     f"timelines")
    try:
        wait_until(lambda: switches() == [new.name], T_CHANGE, "the switch in the DCS history",
                   interval=0.2)
    except AssertionError:
        raise AssertionError(f"history {c.etcd.get(c.key('history'))!r}, timeline before "
                             f"{tl}, now {timeline(new)}; keys "
                             f"{c.etcd.range(c.key('').encode(), prefix=True)}") from None
    third = next(m for m in c.members if m not in (old, new))
    assert third.in_recovery() is True


def test_sync_strict_commit_waits_for_a_standby(sync_cluster):
    c = sync_cluster
    leader = c.wait_healthy()
    _wait_sync_settled(c, leader)
    table = "wait_rows"
    make_table(leader, table)
    reps = [m for m in c.members if m is not leader]
    for m in reps:
        rc = m.stop()
        assert rc == 0, f"{m.name}'s tandemd exited {rc} on SIGTERM"
    wait_until(lambda: not leader.query("SELECT 1 FROM pg_stat_replication"), T_CHANGE,
               "no standby connected", interval=0.1)
    assert c.dcs_leader() == leader.name and leader.writable()
    result = {}

    def commit():
        try:
            with leader.connect() as conn:
                result["pid"] = conn.info.backend_pid
                conn.execute(f"INSERT INTO {table} (v) VALUES ('waits')")
                result["done"] = time.monotonic()
        except Exception as e:
            result["error"] = repr(e)

    t = threading.Thread(target=commit, daemon=True)
    t.start()
    # The commit waits for a synchronous standby (seen in pg_stat_activity), and keeps waiting.
    wait_until(lambda: "pid" in result and leader.query(
        "SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (result["pid"],))
        == [("SyncRep",)], T_CHANGE, "the commit to wait in SyncRep", interval=0.05)
    t.join(3.0)
    assert t.is_alive() and not result.get("done"), \
        f"the commit completed with no standby connected: {result}"
    ssn = leader.query("SHOW synchronous_standby_names")[0][0]
    assert ssn, "synchronous_standby_names is empty in strict mode"
    assert c.dcs_leader() == leader.name
    # /metrics shows it (docs/monitoring.md): commits must wait, and no standby is synchronous.
    wait_until(lambda: leader.metric("tandem_sync_required") == 1 and
               leader.metric("tandem_sync_standbys") == 0, T_CHANGE,
               "tandem_sync_required 1 and tandem_sync_standbys 0", interval=0.1)
    # A standby comes back: the commit completes.
    back = reps[0]
    t_start = time.monotonic()
    back.start()
    t.join(T_CHANGE)
    assert not t.is_alive(), "the commit still waits after a standby came back"
    assert "error" not in result, result
    wait_until(lambda: leader.metric("tandem_sync_standbys") == 1, T_CHANGE,
               "tandem_sync_standbys 1", interval=0.1)
    note(f"sync strict: commit waited with no standby (ssn {ssn!r}) and completed "
         f"{result['done'] - t_start:.3f}s after {back.name} was restarted")
    assert present(leader, table, ["waits"]) == {"waits"}
    wait_until(lambda: present(back, table, ["waits"]) == {"waits"}, T_CHANGE,
               f"the row on {back.name}", interval=0.1)
    reps[1].start()
    assert c.wait_healthy() is leader


def test_etcd_outage_under_writes_sync_strict(sync_cluster):
    _etcd_outage(sync_cluster, strict=True)
