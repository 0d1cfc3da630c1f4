"""TLS everywhere (issue 11, finding 2): a cluster run from docs/examples/tls/tandemd.yml (paths
and addresses substituted) with its REST API on https, etcd on https with client certificates,
PostgreSQL with ssl on and hostssl lines, HAProxy checking over check-ssl, and hellod from
docs/examples/tls/hellod.yml. The certificates are made here with the openssl command.

Checked: the members publish https api_urls; a client with the CA reaches them and one without
fails verification; restapi.verify_client optional refuses the changing endpoints to a client
without a certificate of the CA (and reads stay open), required refuses the TLS handshake itself;
tandemctl works over TLS (and fails against a CA that did not sign the members); HAProxy's checks
mark the leader up; switchover; failsafe confirmations between the agents over TLS; replication
and hellod's database connections over TLS; an encrypted REST key with restapi.keyfile_password;
client certificates count as the protection of the changing endpoints that lets tandemd listen
beyond loopback without a password, and on SIGHUP only the running TLS counts.
"""

from __future__ import annotations

import base64
import copy
import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import tempfile
import time

import pytest
import yaml

from cluster import HAPROXY, TANDEMD, TTL, T_BOOT, T_CHANGE, Cluster
from conftest import HELLOD, SLOW, Hellod, free_port, http_request, wait_until

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "tls"
TLS_DIR = "/etc/tandem/tls/"

pytestmark = pytest.mark.skipif(not shutil.which("openssl") or not shutil.which("curl"),
                                reason="needs the openssl and curl commands")


# ---------------------------------------------------------------------------------------------
# certificates


def openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


class Pki:
    """The cluster's CA; node.crt (127.0.0.1, server and client), client.crt (an operator's,
    client only), serveronly.crt (the CA's, but not for TLS clients); and a CA of strangers with
    a certificate of its own (other.crt)."""

    def __init__(self, d: pathlib.Path):
        self.dir = d
        self.ca, self.other_ca = d / "ca.crt", d / "other-ca.crt"
        for ca in ("ca", "other-ca"):
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d / f"{ca}.key",
                    "-out", d / f"{ca}.crt", "-days", "2", "-subj", f"/CN=tandem test {ca}")
        self.issue("node", "ca", "serverAuth,clientAuth")
        self.issue("client", "ca", "clientAuth")
        self.issue("serveronly", "ca", "serverAuth")
        self.issue("other", "other-ca", "serverAuth,clientAuth")
        # node.key again, encrypted (PKCS#8), for restapi.keyfile_password
        self.key_password = "pw-" + os.urandom(6).hex()
        openssl("pkcs8", "-topk8", "-in", d / "node.key", "-out", d / "node-enc.key", "-v2",
                "aes-256-cbc", "-passout", f"pass:{self.key_password}")
        for p in d.iterdir():
            shutil.chown(p, "postgres", "postgres")
            os.chmod(p, 0o600 if p.suffix == ".key" else 0o644)
        shutil.chown(d, "postgres", "postgres")
        os.chmod(d, 0o755)

    def issue(self, name, ca, usage):
        d = self.dir
        ext = d / f"{name}.ext"
        ext.write_text(f"subjectAltName=IP:127.0.0.1\nextendedKeyUsage={usage}\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / f"{name}.key", "-out",
                d / f"{name}.csr", "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", d / f"{name}.csr", "-CA", d / f"{ca}.crt", "-CAkey",
                d / f"{ca}.key", "-CAcreateserial", "-out", d / f"{name}.crt", "-days", "2",
                "-extfile", ext)

    def pair(self, name):
        return str(self.dir / f"{name}.crt"), str(self.dir / f"{name}.key")

    def context(self, client=None, ca=None):
        ctx = ssl.create_default_context(cafile=str(ca or self.ca))
        if client:
            ctx.load_cert_chain(*self.pair(client))
        return ctx


@pytest.fixture(scope="module")
def pki():
    d = pathlib.Path(tempfile.mkdtemp(prefix="tandem-it-tls-"))
    try:
        yield Pki(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# the example configuration, applied to the harness's members


def substitute(v, certdir):
    if isinstance(v, dict):
        return {k: substitute(x, certdir) for k, x in v.items()}
    if isinstance(v, list):
        return [substitute(x, certdir) for x in v]
    if isinstance(v, str):
        return v.replace(TLS_DIR, f"{certdir}/").replace("10.0.0.0/24", "127.0.0.1/32")
    return v


def example_tls(certdir, verify_client=None):
    """The TLS-related parts of docs/examples/tls/tandemd.yml, with this test's files."""
    ex = substitute(yaml.safe_load((EXAMPLE / "tandemd.yml").read_text()), certdir)
    rest = {k: ex["restapi"][k] for k in ("certfile", "keyfile", "cafile", "verify_client",
                                          "authentication")}
    if verify_client:
        rest["verify_client"] = verify_client
    return {
        "restapi": rest,
        "ctl": ex["ctl"],
        "etcd3": {k: ex["etcd3"][k] for k in ("protocol", "cacert", "cert", "key")},
        "failsafe_mode": ex["bootstrap"]["dcs"]["failsafe_mode"],
        "parameters": ex["postgresql"]["parameters"],
        "pg_hba": ex["postgresql"]["pg_hba"],
    }


def apply_tls(c, pki, verify_client=None, encrypted_key=False):
    tls = example_tls(pki.dir, verify_client)
    if encrypted_key:
        tls["restapi"]["keyfile"] = str(pki.dir / "node-enc.key")
        tls["restapi"]["keyfile_password"] = pki.key_password
    for m in c.members:
        conf = yaml.safe_load(m.config_text())
        conf["restapi"].update(copy.deepcopy(tls["restapi"]))
        conf["ctl"] = dict(tls["ctl"])
        conf["etcd3"].update(tls["etcd3"])
        conf["bootstrap"]["dcs"]["failsafe_mode"] = tls["failsafe_mode"]
        conf["postgresql"]["parameters"] = dict(tls["parameters"])
        conf["postgresql"]["pg_hba"] = list(tls["pg_hba"])
        m.config_path.write_text(yaml.safe_dump(conf, sort_keys=False))
        shutil.chown(m.config_path, "postgres", "postgres")
        os.chmod(m.config_path, 0o600)
    c.ctl_config = c.members[0].config_path


def tls_cluster(pki, n, verify_client=None, rest_client=None, encrypted_key=False):
    c = Cluster(n=n, prefix="tandem-it-tls-", etcd_tls=(pki.ca, *pki.pair("node")))
    c.rest_context = pki.context(client=rest_client)
    try:
        apply_tls(c, pki, verify_client, encrypted_key)
        c.start()
        c.wait_healthy(T_BOOT)
    except BaseException:
        print(c.logs())
        c.cleanup()
        raise
    return c


@pytest.fixture(scope="module")
def cluster(pki):
    c = tls_cluster(pki, 2)
    yield c
    problems = c.cleanup()
    assert not problems, "\n\n".join(problems)


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", str(10 * SLOW), *map(str, args)],
                          capture_output=True, text=True, timeout=60 * SLOW)


def rest_url(m, path):
    return f"https://127.0.0.1:{m.rest_port}{path}"


def auth(c):
    conf = yaml.safe_load(c.members[0].config_path.read_text())
    a = conf["restapi"]["authentication"]
    return f"{a['username']}:{a['password']}"


# ---------------------------------------------------------------------------------------------
# verify_client: optional (the example's)


def test_api_urls_are_https_and_verified(cluster, pki):
    c = cluster
    for m in c.members:
        member = yaml.safe_load(c.etcd.get(c.key(f"members/{m.name}")))
        assert member["api_url"] == rest_url(m, "/patroni")
    m = c.members[0]
    assert (f"REST API on 127.0.0.1:{m.rest_port}: https, client certificates required by the "
            "changing endpoints") in m.log()
    ok = curl("--cacert", pki.ca, "-o", "/dev/null", "-w", "%{http_code}", rest_url(m, "/patroni"))
    assert ok.returncode == 0 and ok.stdout == "200", ok
    # Without the cluster's CA: a verification error, not an answer.
    bad = curl("-o", "/dev/null", rest_url(m, "/patroni"))
    assert bad.returncode == 60, bad
    bad = curl("--cacert", pki.other_ca, "-o", "/dev/null", rest_url(m, "/patroni"))
    assert bad.returncode == 60, bad
    # Plain HTTP gets no answer from a TLS port.
    plain = curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{m.rest_port}/")
    assert plain.returncode != 0 and plain.stdout in ("", "000"), plain


def test_optional_client_certificate_guards_the_changing_endpoints(cluster, pki):
    c = cluster
    m = c.members[0]
    headers = {"Authorization": "Basic " + base64.b64encode(auth(c).encode()).decode()}

    def post(client=None):
        return http_request(m.rest_port, "POST", "/reload", headers=headers, scheme="https",
                            ssl_context=pki.context(client=client), timeout=10 * SLOW).status

    # Reading endpoints and health checks: no certificate needed.
    r = http_request(m.rest_port, "GET", "/patroni", scheme="https", ssl_context=pki.context())
    assert r.status == 200
    before = m.log_size()
    assert post() == 403
    assert post("serveronly") == 403  # the CA's, but not a client certificate
    # A stranger's certificate (another CA): the handshake may pass, the change may not.
    ctx = pki.context()
    ctx.load_cert_chain(*pki.pair("other"))
    r = http_request(m.rest_port, "POST", "/reload", headers=headers, scheme="https",
                     ssl_context=ctx, timeout=10 * SLOW)
    assert r.status == 403
    wait_until(lambda: "POST /reload refused (403): no client certificate" in m.log_since(before),
               10 * SLOW, "the audit line of the refusal")
    assert post("client") == 202
    assert post("node") == 202


def test_tandemctl_over_tls(cluster, pki):
    c = cluster
    r = c.tandemctl("list")
    assert r.returncode == 0, r.stderr
    assert all(m.name in r.stdout for m in c.members)
    r = c.tandemctl("reload")
    assert r.returncode == 0, r.stdout + r.stderr
    # Against a CA that did not sign the members: refused, not silently trusted.
    r = c.tandemctl("--cacert", pki.other_ca, "reload")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "certificate" in r.stderr.lower(), r.stderr
    # --insecure goes through, and says so.
    r = c.tandemctl("--cacert", pki.other_ca, "--insecure", "reload")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not verified" in r.stderr


def test_haproxy_checks_over_tls(cluster, pki):
    c = cluster
    leader = c.wait_healthy()
    hp = c.start_haproxy()  # `haproxy -c` accepted the generated configuration
    text = hp.config_path.read_text()
    assert text.count(f"check-ssl verify required ca-file {pki.ca}") == 2 * len(c.members), text
    c.wait_haproxy_routes(leader)
    # verify none only when asked for, and said so; HAProxy takes that too.
    r = c.tandemctl("--insecure", "haproxy-config")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(" check-ssl verify none\n") == 2 * len(c.members), r.stdout
    assert "are NOT verified" in r.stdout
    insecure = c.base / "haproxy-insecure.cfg"
    insecure.write_text(r.stdout)
    chk = subprocess.run([HAPROXY, "-c", "-f", str(insecure)], capture_output=True, text=True,
                         timeout=30)
    assert chk.returncode == 0, chk.stdout + chk.stderr


def test_replication_and_clients_use_tls(cluster):
    c = cluster
    leader = c.wait_healthy()
    rows = leader.query("SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)")
    assert rows and all(r[0] for r in rows), rows
    with leader.connect() as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                            ).fetchone()[0] is True


def test_hellod_over_tls(cluster, pki, tmp_path):
    c = cluster
    if c.haproxy is None:
        c.start_haproxy()
    leader = c.wait_healthy()
    c.wait_haproxy_routes(leader)
    ex = yaml.safe_load((EXAMPLE / "hellod.yml").read_text())
    port = free_port()
    conf = substitute(ex, pki.dir)
    conf["listen"] = f"127.0.0.1:{port}"
    conf["allow"] = "127.0.0.0/8"
    conf["tls-cert"], conf["tls-key"] = pki.pair("node")
    conf["database"] = (conf["database"].replace("host=10.0.0.30", "host=127.0.0.1")
                        .replace("port=5000", f"port={c.haproxy.rw_port}")
                        .replace("dbname=hello", "dbname=postgres")
                        .replace("user=hello", "user=postgres"))
    conf["database"] += f" password={c.superuser_password}"
    path = pki.dir / "hellod.yml"
    path.write_text(yaml.safe_dump(conf))
    shutil.chown(path, "postgres", "postgres")
    os.chmod(path, 0o600)
    log = tmp_path / "hellod.log"
    srv = Hellod([str(HELLOD), "--config", str(path)], {"PATH": "/usr/bin:/bin"}, "127.0.0.1",
                 port, "https", pki.context(), log)
    srv.shared_dirs = set()
    srv.start()
    try:
        srv.wait_ready()
        assert srv.put_user("tlsuser", "2000-01-01").status == 204
        assert srv.get_user("tlsuser").status == 200
        rows = leader.query("SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                            "WHERE a.application_name LIKE 'hellod%'")
        assert rows and all(r[0] for r in rows), rows
    finally:
        srv.stop()


def test_switchover_over_tls(cluster):
    c = cluster
    leader = c.wait_healthy()
    cand = next(m for m in c.members if m is not leader)
    r = c.tandemctl("switchover", "--candidate", cand.name, "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    new = c.wait_leader(not_name=leader.name)
    assert new is cand
    c.wait_healthy()
    if c.haproxy:
        c.wait_haproxy_routes(new)


def test_failsafe_confirmations_over_tls(cluster):
    """The leader asks every member's POST /failsafe (a changing endpoint: it presents its
    client certificate, and verifies theirs) while etcd is down, and stays the primary."""
    c = cluster
    leader = c.wait_healthy()
    wait_until(lambda: c.etcd.get(c.key("failsafe")), T_CHANGE, "the failsafe key")
    before = {m.name: m.log_size() for m in c.members}
    c.etcd.stop()
    try:
        t0 = time.monotonic()
        while time.monotonic() < t0 + 2 * TTL:
            writable = [m.name for m in c.members if m.writable()]
            assert writable == [leader.name], f"writable without etcd: {writable}"
            time.sleep(0.2)
        s = leader.patroni()
        assert s and s.get("failsafe_mode_is_active"), s
        for m in c.members:
            assert "refused (403)" not in m.log_since(before[m.name])
    finally:
        c.etcd.start()
    new = c.wait_healthy()
    # The leader keeps its key when etcd is back, unless its own loop stalled (a starved machine:
    # TILT, or the fence stopping PostgreSQL), which is a reason to let another member lead.
    if new is not leader:
        log = leader.log_since(before[leader.name])
        assert "TILT" in log or "fence" in log, f"{new.name} leads after the outage without a stall"


# ---------------------------------------------------------------------------------------------
# verify_client: required


@pytest.fixture(scope="module")
def required(pki):
    # Its REST key is encrypted: restapi.keyfile_password opens it for tandemd and tandemctl.
    c = tls_cluster(pki, 1, verify_client="required", rest_client="node", encrypted_key=True)
    yield c
    problems = c.cleanup()
    assert not problems, "\n\n".join(problems)


def test_required_client_certificate_refuses_the_handshake(required, pki):
    c = required
    m = c.members[0]
    ok = curl("--cacert", pki.ca, "--cert", pki.pair("client")[0], "--key", pki.pair("client")[1],
              "-o", "/dev/null", "-w", "%{http_code}", rest_url(m, "/health"))
    assert ok.returncode == 0 and ok.stdout == "200", ok
    for args in ([], ["--cert", pki.pair("other")[0], "--key", pki.pair("other")[1]],
                 ["--cert", pki.pair("serveronly")[0], "--key", pki.pair("serveronly")[1]]):
        bad = curl("--cacert", pki.ca, *args, "-o", "/dev/null", "-w", "%{http_code}",
                   rest_url(m, "/health"))
        # Refused in the handshake: no HTTP status at all (not even a 403). With TLS 1.3 the
        # client hears of it on its first read, so curl's exit status varies (35, 52, 55, 56).
        assert bad.returncode != 0 and bad.stdout in ("", "000"), (args, bad)
    # tandemctl presents the member's certificate (ctl falls back to restapi's files, the
    # encrypted key and its password)...
    r = c.tandemctl("reload")
    assert r.returncode == 0, r.stdout + r.stderr
    # ...and without one, it cannot get in.
    bare = pki.dir / "ctl-nocert.yml"
    conf = yaml.safe_load(m.config_path.read_text())
    for k in ("certfile", "keyfile", "keyfile_password", "cafile", "verify_client"):
        conf["restapi"].pop(k)
    bare.write_text(yaml.safe_dump(conf))
    shutil.chown(bare, "postgres", "postgres")
    os.chmod(bare, 0o600)
    r = c.tandemctl("list", config=bare)
    assert r.returncode == 0, r.stdout + r.stderr  # etcd is fine
    r = c.tandemctl("reload", config=bare)
    assert r.returncode == 3, r.stdout + r.stderr


# ---------------------------------------------------------------------------------------------
# the exposure rule (docs/security.md, "The rule at start") with client certificates


def standalone(pki, tmp_path, restapi):
    """A tandemd alone (its etcd does not answer), REST on every address; returns (Popen, log)."""
    d = tmp_path / "alone"
    d.mkdir(parents=True)
    shutil.chown(d, "postgres", "postgres")
    for up in (tmp_path, *tmp_path.parents):
        if up == pathlib.Path(tempfile.gettempdir()):
            break
        os.chmod(up, os.stat(up).st_mode | 0o011)  # traversable by postgres
    cfg = d / "tandemd.yml"
    log = d / "tandemd.log"

    def write(text):
        cfg.write_text(f"scope: alone\nname: a1\nrestapi:\n  listen: 0.0.0.0:{port}\n"
                       f"  certfile: {pki.dir}/node.crt\n  keyfile: {pki.dir}/node.key\n"
                       f"  cafile: {pki.ca}\n{text}etcd3:\n  hosts: 127.0.0.1:9\n"
                       f"postgresql:\n  data_dir: {d}/data\n")
        shutil.chown(cfg, "postgres", "postgres")
        os.chmod(cfg, 0o600)

    port = free_port()
    write(restapi)
    with open(log, "ab") as f:
        p = subprocess.Popen([str(TANDEMD), str(cfg)], user="postgres", group="postgres",
                             extra_groups=[], stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin",
                                                            **{k: v for k, v in os.environ.items()
                                                               if k.endswith("SAN_OPTIONS")}})
    return p, log, write, port


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30 * SLOW)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def test_client_certificates_guard_changes_beyond_loopback(pki, tmp_path):
    # Client certificates asked for, no password: tandemd starts on every address.
    p, log, _, port = standalone(pki, tmp_path, "  verify_client: optional\n")
    try:
        wait_until(lambda: f"REST API on 0.0.0.0:{port}: https, client certificates required "
                           "by the changing endpoints" in log.read_text(), 30 * SLOW,
                   "the REST API to start", interval=0.1)
        assert p.poll() is None
    finally:
        stop(p)
    # Neither: refused, naming verify_client as a way out.
    p, log, _, _ = standalone(pki, tmp_path / "none", "  verify_client: none\n")
    try:
        assert p.wait(30 * SLOW) == 2
    finally:
        stop(p)
    assert "restapi.verify_client" in log.read_text(), log.read_text()


def test_reload_counts_the_running_tls(pki, tmp_path):
    # Running with a password and no client certificates; a new file drops the password and
    # asks for certificates, which only a restart would bring: refused.
    p, log, write, port = standalone(
        pki, tmp_path, "  verify_client: none\n  authentication:\n    username: a\n"
                       "    password: b\n")
    try:
        wait_until(lambda: f"REST API on 0.0.0.0:{port}: https" in log.read_text(), 30 * SLOW,
                   "the REST API to start", interval=0.1)
        write("  verify_client: optional\n")
        p.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: keeping the current configuration" in log.read_text(),
                   30 * SLOW, "the reload to be refused", interval=0.1)
        assert p.poll() is None
    finally:
        stop(p)
