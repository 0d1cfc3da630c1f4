"""Planned operations on a real tandemd cluster (issue 4, "Operations"), driven with tandemctl:
switchover to a named member (now and scheduled), maintenance mode (pause/resume), and changes of
the cluster-wide configuration with edit-config (a reloadable parameter, one that needs a restart,
and changes the members refuse).

One 3-member cluster (tests/integration/cluster.py: etcd, tandemd as the postgres user, short
timings) is shared by the whole module; each test starts by waiting for a healthy cluster. The
tests assert behaviour (who leads, where rows are, what PostgreSQL reports), never speed: the
deadlines only bound the waits. On failure the tails of every member's logs are printed.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import signal
import threading
import time

import pytest

from cluster import (
    ETCD,
    SLOW,
    T_BOOT,
    T_CHANGE,
    TANDEMCTL,
    TANDEMD,
    TTL,
    Cluster,
    serve,
    wait_until,
)
from conftest import pid_alive

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not (os.path.exists(ETCD) and TANDEMCTL.exists()),
                       reason="needs etcd and tandemctl"),
]


@pytest.fixture(scope="module")
def cl():
    yield from serve(Cluster(3))


@pytest.fixture
def healthy(cl, attach_logs):
    """The shared cluster, healthy; its logs go into the report of a failed test."""
    for src in cl.log_sources():
        attach_logs(src)
    return cl, cl.wait_healthy(T_CHANGE)


def ctl(c, *args, ok=True, timeout=60):
    r = c.tandemctl(*args, timeout=timeout)
    if ok:
        assert r.returncode == 0, f"tandemctl {' '.join(map(str, args))}: {r.returncode}\n" \
                                  f"{r.stdout}\n{r.stderr}"
    return r


def replicas(c, leader):
    return [m for m in c.members if m is not leader]


def show(member, name):
    return member.query(f"SHOW {name}")[0][0]


def rest(member, method, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", member.rest_port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# switchover


def test_switchover_to_named_member(healthy):
    c, old = healthy
    target = replicas(c, old)[0]
    row = c.write_row(old)
    c.wait_row([target], row)

    r = ctl(c, "switchover", "--leader", "nobody", "--candidate", target.name, "--force",
            ok=False)
    assert r.returncode == 1 and "not the leader" in r.stderr
    assert c.dcs_leader() == old.name

    r = ctl(c, "switchover", "--leader", old.name, "--candidate", target.name, "--force")
    assert f"{target.name} is the leader" in r.stdout
    assert c.wait_leader(not_name=old.name) is target
    # the old leader follows the new one, and the row written before is there
    assert c.wait_healthy().name == target.name
    assert c.has_row(target, row)
    assert old.in_recovery()
    after = c.write_row(target)
    c.wait_row([old], after)


def test_scheduled_switchover(healthy):
    c, old = healthy
    target = replicas(c, old)[1]
    r = ctl(c, "switchover", "--candidate", target.name, "--scheduled",
            "2001-01-01T00:00:00+00:00", "--force", ok=False)
    assert r.returncode == 1 and "past" in r.stderr
    r = ctl(c, "switchover", "--candidate", target.name, "--scheduled", "tomorrow", "--force",
            ok=False)
    assert r.returncode == 2 and "ISO 8601" in r.stderr

    delay = 6.0 * SLOW
    # Whole seconds: the time given is the time the switchover is due, not up to 1 s later.
    at = (datetime.datetime.now(datetime.timezone.utc) +
          datetime.timedelta(seconds=delay)).replace(microsecond=0)
    at_text = at.isoformat()
    r = ctl(c, "switchover", "--candidate", target.name, "--scheduled", at_text, "--force")
    assert "scheduled" in r.stdout
    listed = ctl(c, "list").stdout
    assert "Failover requested" in listed and target.name in listed
    # not before the time
    while time.time() < at.timestamp() - 1.0:
        assert c.dcs_leader() == old.name, "the switchover happened before its time"
        time.sleep(0.2)
    # after it
    assert c.wait_leader(not_name=old.name) is target
    assert time.time() >= at.timestamp() - 0.5
    assert c.wait_healthy().name == target.name


# ---------------------------------------------------------------------------------------------
# maintenance mode


def test_pause_and_resume(healthy):
    c, leader = healthy
    r = ctl(c, "pause", "--wait")
    assert "Maintenance mode: on" in r.stdout
    for m in c.members:
        assert (m.patroni() or {}).get("pause") is True, m.name
    assert "Maintenance mode: on" in ctl(c, "list").stdout
    r = ctl(c, "pause", ok=False)
    assert r.returncode == 1 and "already" in r.stderr

    pid = leader.kill_postgres()
    # for longer than the ttl: PostgreSQL is not started again, nobody takes over
    deadline = time.monotonic() + (TTL + 3) * SLOW
    while time.monotonic() < deadline:
        assert c.dcs_leader() in (leader.name, None), "a failover while paused"
        now_pid = leader.postmaster_pid()
        assert now_pid in (None, pid), f"{leader.name}'s PostgreSQL was restarted while paused"
        for m in replicas(c, leader):
            s = m.patroni()
            assert s is None or s.get("role") == "replica", f"{m.name} was promoted: {s}"
        time.sleep(0.3)
    assert leader.postmaster_pid() is None

    r = ctl(c, "resume", "--wait")
    assert "Maintenance mode: off" in r.stdout
    assert "Maintenance mode" not in ctl(c, "list").stdout
    # it recovers: a healthy cluster again, whoever leads
    new = c.wait_healthy(T_CHANGE)
    c.write_row(new)


def test_named_switchover_and_failover_while_paused(healthy):
    """Maintenance mode stops automatic actions, not the ones an operator names (Patroni's
    rule): a switchover to a named member happens, the old leader comes back as a replica, and
    with the leader gone a failover to a named member promotes it."""
    c, old = healthy
    ctl(c, "pause", "--wait")
    try:
        r = ctl(c, "switchover", "--force", ok=False)  # nobody named
        assert r.returncode == 1 and "candidate" in r.stderr, r.stderr
        target = replicas(c, old)[0]
        row = c.write_row(old)
        c.wait_row([target], row)
        ctl(c, "switchover", "--leader", old.name, "--candidate", target.name, "--force")
        assert c.wait_leader(not_name=old.name) is target
        wait_until(lambda: old.in_recovery() is True, T_CHANGE,
                   f"{old.name} to come back as a replica while paused")
        chosen = next(m for m in c.members if m not in (old, target))
        after = c.write_row(target)
        c.wait_row([old, chosen], after)

        # The leader's node dies: no automatic failover while paused...
        target.kill_node()
        deadline = time.monotonic() + (TTL + 2) * SLOW
        while time.monotonic() < deadline:
            assert c.dcs_leader() in (target.name, None), "an automatic failover while paused"
            time.sleep(0.3)
        wait_until(lambda: c.dcs_leader() is None, T_CHANGE, "the dead leader's key to expire")
        # ...but a failover naming a member promotes it.
        ctl(c, "failover", "--candidate", chosen.name, "--force")
        assert c.wait_leader() is chosen
        c.write_row(chosen)
        assert c.has_row(chosen, after)
    finally:
        ctl(c, "resume", "--wait")
    target.start()
    c.wait_healthy(T_CHANGE)


# ---------------------------------------------------------------------------------------------
# edit-config


def test_edit_config_reloadable_parameter(healthy):
    c, _ = healthy
    r = ctl(c, "edit-config", "--pg", "work_mem=7MB", "--force")
    assert "+    work_mem: \"7MB\"" in r.stdout
    for m in c.members:
        wait_until(lambda m=m: show(m, "work_mem") == "7MB", T_CHANGE, f"work_mem on {m.name}")
    assert "work_mem: \"7MB\"" in ctl(c, "show-config").stdout
    # the same again: nothing to change
    r = ctl(c, "edit-config", "--set", "postgresql.parameters.work_mem=7MB", "--force")
    assert "No changes" in r.stdout
    # null removes it
    r = ctl(c, "edit-config", "--set", "postgresql.parameters.work_mem=null", "--force")
    assert "-    work_mem: \"7MB\"" in r.stdout
    for m in c.members:
        wait_until(lambda m=m: show(m, "work_mem") == "4MB", T_CHANGE, f"work_mem on {m.name}")


def test_edit_config_parameter_needing_restart(healthy):
    c, _ = healthy
    before = int(show(c.members[0], "max_connections"))
    want = before + 10
    ctl(c, "edit-config", "--pg", f"max_connections={want}", "--force")

    def all_pending():
        return all((m.patroni() or {}).get("pending_restart") for m in c.members)

    wait_until(all_pending, T_CHANGE, "pending_restart on every member", interval=0.2)
    # Each member's key says it once its agent has seen it (a pass later than /patroni).
    wait_until(lambda: all(m["pending_restart"]
                           for m in json.loads(ctl(c, "list", "--json").stdout)["members"]),
               T_CHANGE, "pending_restart in every member key", interval=0.2)
    assert "Pending restart" in ctl(c, "list").stdout
    assert int(show(c.members[0], "max_connections")) == before

    ctl(c, "restart", "--all", "--force")

    def cleared():
        return not any((m.patroni() or {"pending_restart": True}).get("pending_restart")
                       for m in c.members)

    wait_until(cleared, T_CHANGE, "pending_restart to clear", interval=0.2)
    c.wait_healthy()
    for m in c.members:
        assert int(show(m, "max_connections")) == want, m.name
    assert "Pending restart" not in ctl(c, "list").stdout
    r = ctl(c, "restart", "--pending", "--force")
    assert "No member" in r.stdout


def test_edit_config_refused(healthy):
    c, leader = healthy
    before = ctl(c, "show-config", "--json").stdout
    # the timing rule: loop_wait + 2 * retry_timeout <= ttl
    r = ctl(c, "edit-config", "--set", "ttl=3", "--force", ok=False)
    assert r.returncode == 1, r
    assert "ttl" in r.stderr and "HTTP 400" in r.stderr
    r = ctl(c, "edit-config", "--set", "pause=maybe", "--force", ok=False)
    assert r.returncode == 1 and "pause" in r.stderr
    # a configuration that is not a mapping: refused by tandemctl, and by the REST API
    bad = c.base / "bad.yml"
    bad.write_text("- 1\n- 2\n")
    r = ctl(c, "edit-config", "--apply", bad, "--force", ok=False)
    assert r.returncode == 2 and "mapping" in r.stderr
    status, body = rest(leader, "PATCH", "/config", "[1, 2]")
    assert status == 400 and "JSON object" in body
    status, body = rest(leader, "PUT", "/config", '"ttl"')
    assert status == 400
    # nothing changed
    assert ctl(c, "show-config", "--json").stdout == before


# ---------------------------------------------------------------------------------------------
# a configuration write still waiting for etcd when tandemd stops


def test_config_write_in_flight_at_shutdown(attach_logs):
    """A PATCH /config waits (suspended) for etcd, which is frozen, when tandemd gets SIGTERM:
    the client gets an answer and tandemd exits cleanly (under ASan: without a leak)."""
    c = Cluster(1, prefix="tandem-it-ops-stop-")
    try:
        c.start()
        m = c.wait_healthy(T_BOOT)
        for src in c.log_sources():
            attach_logs(src)
        c.etcd.proc.send_signal(signal.SIGSTOP)  # the write will wait for etcd
        answer = {}

        def patch():
            try:
                answer["r"] = rest(m, "PATCH", "/config", json.dumps({"pause": True}))
            except OSError as e:
                answer["r"] = (None, str(e))

        t = threading.Thread(target=patch, daemon=True)
        t.start()
        wait_until(lambda: "patched" in m.log(), T_CHANGE, "the write to reach etcd's client")
        assert m.stop() == 0, "tandemd did not stop cleanly with a write in flight"
        t.join(T_CHANGE)
        # Answered either way: 409 when the write's own deadline (retry_timeout) came first,
        # which is usual as stopping waits that long for etcd too; 503 when tandemd stopped
        # first.
        status, text = answer["r"]
        assert (status == 409 and "timed out" in text) or \
            (status == 503 and "stopping" in text), answer
    finally:
        if c.etcd.running():
            c.etcd.proc.send_signal(signal.SIGCONT)
        problems = c.cleanup()
    assert not problems, "\n\n".join(problems)


# ---------------------------------------------------------------------------------------------
# SIGHUP


def test_sighup_swaps_in_a_new_snapshot(healthy):
    """SIGHUP builds a whole new settings snapshot: the reloadable options (a PostgreSQL
    parameter, a tag) take effect; a changed option that is not reloadable (etcd3.hosts, here
    pointing nowhere) is reported and keeps its running value, so the agent keeps talking to the
    same etcd; a broken file changes nothing."""
    c, _ = healthy
    m = c.members[1]
    original = m.config_path.read_text()

    def reload_with(text):
        m.config_path.write_text(text)
        off = m.log_size()
        m.proc.send_signal(signal.SIGHUP)
        return off

    def tags():
        return (m.patroni() or {}).get("tags") or {}

    try:
        changed = (original
                   .replace("tags:\n", "tags:\n  nofailover: true\n")
                   .replace("  pg_hba:\n", "  parameters:\n    work_mem: 9MB\n  pg_hba:\n")
                   .replace(f"  hosts: {c.etcd.host}\n", "  hosts: 127.0.0.1:9\n"))
        assert changed.count("127.0.0.1:9\n") == 1 and "work_mem: 9MB" in changed
        off = reload_with(changed)
        wait_until(lambda: show(m, "work_mem") == "9MB", T_CHANGE, "work_mem from the YAML")
        wait_until(lambda: tags().get("nofailover") is True, T_CHANGE, "the nofailover tag")
        log = m.log_since(off)
        assert "etcd3.hosts changed, which takes a restart of tandemd to apply" in log, log
        assert "SIGHUP: configuration reloaded" in log, log
        # Still on the running etcd: the member key, written after the reload, has the tag.
        def key_tags():
            v = c.etcd.get(c.key(f"members/{m.name}"))
            return (json.loads(v) if v else {}).get("tags") or {}

        wait_until(lambda: key_tags().get("nofailover") is True, T_CHANGE,
                   "the tag in the member key, through the running etcd")
        c.wait_healthy(T_CHANGE)
        assert m.alive(), m.log()

        off = reload_with("scope: [unterminated\n")
        wait_until(lambda: "keeping the current one" in m.log_since(off), T_CHANGE,
                   "the broken file refused")
        assert show(m, "work_mem") == "9MB" and tags().get("nofailover") is True
    finally:
        reload_with(original)
    wait_until(lambda: show(m, "work_mem") == "4MB", T_CHANGE, "work_mem back")
    wait_until(lambda: "nofailover" not in tags(), T_CHANGE, "the tag gone")
    assert m.alive(), m.log()
