"""What whoever can write to etcd may do to a tandem cluster (docs/tandemd.md, "Trust"): the
cluster configuration (the DCS `config` key) can set PostgreSQL's parameters, but never one that
runs a program, loads code or points PostgreSQL at other files (dyn_config_param_refused). Here
such a configuration is written straight into etcd, past the REST API's check: the agent must not
write those parameters into PostgreSQL's configuration, and must say so in its log. And tandemd
warns at start that etcd is reached over plain HTTP without authentication.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import time
import uuid

import pytest

from cluster import ETCD, T_CHANGE, TANDEMD, healthy_cluster, wait_until

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not TANDEMD.exists(), reason=f"{TANDEMD} is not built"),
    pytest.mark.skipif(not os.path.exists(ETCD), reason="needs etcd"),
]


def archive_in_bootstrap(c):
    """The member's YAML sets archive_command in bootstrap.dcs, as Patroni's users often do."""
    m = c.members[0]
    text = m.config_path.read_text()
    assert "        fsync: 'off'\n" in text
    m.config_path.write_text(text.replace("        fsync: 'off'\n",
                                          "        fsync: 'off'\n        archive_command: 'exit 0'\n"))


@pytest.fixture(scope="module")
def cl():
    yield from healthy_cluster(1, prepare=archive_in_bootstrap)


def show(member, name):
    return member.query(f"SHOW {name}")[0][0]


def test_open_etcd_warned_at_start(cl):
    log = cl.members[0].log()
    assert log.count("etcd is reached over plain HTTP") == 1, log
    assert log.count("etcd is used without authentication") == 1, log


def test_refused_bootstrap_parameter_stays_local(cl):
    """A refused parameter in the YAML's bootstrap.dcs is this member's own: applied here, but
    never written into the cluster configuration, which would make every member refuse it (and
    the REST API every later change)."""
    m = cl.members[0]
    config = json.loads(cl.etcd.get(cl.key("config")))
    assert "archive_command" not in config["postgresql"]["parameters"], config
    assert config["postgresql"]["parameters"].get("fsync") == "off"
    log = m.log()
    assert log.count("bootstrap.dcs.postgresql.parameters.archive_command runs a program") == 1, log
    read = m.query("SELECT setting FROM pg_file_settings WHERE name = 'archive_command'")
    assert read == [("exit 0",)], read
    status, body = rest_patch(m, {"loop_wait": 1})
    assert status == 200, body


def test_refused_parameters_written_into_etcd(cl, attach_logs):
    for src in cl.log_sources():
        attach_logs(src)
    m = cl.members[0]
    pwned = pathlib.Path(f"/tmp/tandem-pwned-{uuid.uuid4().hex}")
    key = cl.key("config")
    config = json.loads(cl.etcd.get(key))
    params = config.setdefault("postgresql", {}).setdefault("parameters", {})
    params.update({
        "archive_command": f"touch {pwned}",
        "shared_preload_libraries": "tandem_pwned",
        "Restore_Command": f"touch {pwned}",
        # one line of postgresql.conf would become two; before, no member could write it at all
        "log_line_prefix": f"%m \narchive_command = 'touch {pwned}'",
        "bad name": "1",
        "work_mem": "7MB",  # the witness that this configuration was applied
    })
    offset = m.log_size()
    cl.etcd.put(key, json.dumps(config))

    wait_until(lambda: show(m, "work_mem") == "7MB", T_CHANGE, "work_mem from the DCS")
    # SHOW archive_command says "(disabled)" while archive_mode is off: ask what PostgreSQL
    # read from its files, and what it runs with
    assert show(m, "restore_command") == ""
    read = m.query("SELECT lower(name), setting FROM pg_file_settings"
                   " WHERE lower(name) IN ('archive_command', 'restore_command',"
                   " 'shared_preload_libraries')")
    assert not [r for r in read if "pwned" in r[1]], read
    assert m.query("SELECT setting FROM pg_settings WHERE name = 'archive_command'")[0][0] \
        in ("", "(disabled)")
    assert "tandem_pwned" not in show(m, "shared_preload_libraries")
    conf = (m.data / "tandem.conf").read_text()
    assert "pwned" not in conf and "work_mem = '7MB'" in conf
    log = m.log_since(offset)
    assert "pwned" not in show(m, "log_line_prefix")
    for name in ("archive_command", "shared_preload_libraries", "Restore_Command",
                 "log_line_prefix", "bad name"):
        lines = [l for l in log.splitlines() if f"postgresql.parameters.{name} " in l]
        assert len(lines) == 1, (name, log)
        assert "not written" in lines[0]
    # archive_mode is off, but no archiver, restore or anything else ran the command
    assert not pwned.exists()

    # the same configuration through the REST API is refused outright
    status, body = rest_patch(m, {"postgresql": {"parameters": {"archive_command": "true"}}})
    assert status == 400 and "archive_command" in body and "runs a program" in body
    # ... but what is already there does not block other changes (pause, timings), and may be
    # removed
    status, body = rest_patch(m, {"loop_wait": 1})
    assert status == 200, body
    status, body = rest_patch(m, {"postgresql": {"parameters": {"archive_command": None}}})
    assert status == 200, body
    assert "archive_command" not in json.loads(cl.etcd.get(key))["postgresql"]["parameters"]


def rest_patch(member, patch):
    """PATCH /config; asked again (as a client should) while the answer is 409 "the
    configuration changed meanwhile": another writer's change landed between read and write."""
    for _ in range(20):
        status, body = rest_patch_once(member, patch)
        if status != 409 or "changed meanwhile" not in body:
            break
        time.sleep(0.2)
    return status, body


def rest_patch_once(member, patch):
    conn = http.client.HTTPConnection("127.0.0.1", member.rest_port, timeout=10)
    try:
        conn.request("PATCH", "/config", body=json.dumps(patch),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()

