"""Who may talk to hellod, and how: the allow-list, IPv6, and TLS."""

import http.client
import re
import ssl
import subprocess

import pytest

from conftest import http_request, ipv6_loopback_available


def refused_or_403(port, source, host="127.0.0.1"):
    """True when a client from `source` is turned away (closed connection, reset, or 403)."""
    try:
        r = http_request(port, "GET", "/healthz", host=host, source=source, timeout=5)
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
            http.client.RemoteDisconnected, http.client.BadStatusLine):
        return True
    return r.status == 403


def served(port, source, host="127.0.0.1"):
    r = http_request(port, "GET", "/healthz", host=host, source=source, timeout=5)
    return r.status == 200 and r.json() == {"status": "ok"}


def refused_total(srv):
    m = re.search(r"^hellod_refused_clients_total (\S+)$", srv.get("/metrics").body.decode(), re.M)
    assert m, "no hellod_refused_clients_total in /metrics"
    return float(m.group(1))


def test_allow_list_refuses_other_sources(hellod):
    srv = hellod("--allow", "127.0.0.1/32")
    before = refused_total(srv)
    for _ in range(3):
        assert refused_or_403(srv.port, "127.0.0.2")
    assert served(srv.port, "127.0.0.1")
    assert refused_total(srv) == before + 3
    # Refused clients never reach the API: nothing stored.
    try:
        r = http_request(srv.port, "PUT", "/hello/Intruder", source="127.0.0.2",
                         json_body={"dateOfBirth": "1990-01-01"}, timeout=5)
        assert r.status == 403
    except (OSError, http.client.HTTPException):
        pass
    assert srv.get_user("Intruder").status == 404


def test_default_allow_list_serves_loopback(hellod):
    srv = hellod()
    assert served(srv.port, "127.0.0.1")
    assert served(srv.port, "127.0.0.2")
    assert refused_total(srv) == 0


@pytest.mark.skipif(not ipv6_loopback_available(), reason="::1 is not available")
def test_ipv6(hellod):
    srv = hellod("--allow", "::1/128", host="::1")
    assert served(srv.port, None, host="::1")
    assert srv.put_user("Sixer", "1996-06-06").status == 204
    r = srv.get_user("Sixer")
    assert r.status == 200 and r.json()["message"].startswith("Hello, Sixer!")
    assert "listening on [::1]:" in srv.log()


@pytest.mark.skipif(not ipv6_loopback_available(), reason="::1 is not available")
def test_ipv6_client_outside_allow_list_is_refused(hellod):
    srv = hellod("--allow", "127.0.0.0/8", host="::1", wait=None)
    srv.wait_log(r"serving with \d+ workers")
    for _ in range(3):
        assert refused_or_403(srv.port, None, host="::1")
    assert srv.alive()


@pytest.mark.skipif(not ipv6_loopback_available(), reason="IPv6 is not available")
def test_ipv4_clients_on_an_ipv6_socket_match_ipv4_blocks(hellod):
    """On an IPv6 socket IPv4 peers arrive as ::ffff:a.b.c.d; IPv4 blocks must still apply."""
    srv = hellod("--allow", "127.0.0.1/32", host="::ffff:127.0.0.1", wait=None)
    srv.host = "127.0.0.1"  # the IPv4 address the mapped socket answers on
    srv.wait_ready()
    assert served(srv.port, "127.0.0.1")
    assert refused_or_403(srv.port, "127.0.0.2")
    assert refused_total(srv) == 1


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )
    key.chmod(0o600)
    return cert, key


def test_tls(hellod, cert):
    srv = hellod(tls=cert)  # waits for /readyz over verified https
    assert "(TLS)" in srv.log()
    r = srv.get("/healthz")
    assert r.status == 200 and r.json() == {"status": "ok"}
    assert srv.put_user("Secure", "1988-08-08").status == 204
    r = srv.get_user("Secure")
    assert r.status == 200 and r.json()["message"].startswith("Hello, Secure!")
    # Also with verification off, as many clients do.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    assert srv.get("/healthz", ssl_context=ctx).status == 200


def test_plain_http_to_tls_port_fails(hellod, cert):
    srv = hellod(tls=cert)
    try:
        r = http_request(srv.port, "GET", "/healthz", timeout=5)
    except (OSError, http.client.HTTPException):
        pass
    else:
        assert r.status != 200, "plain HTTP was served on the TLS port"
    assert srv.alive()
    assert srv.get("/healthz").status == 200


def test_tls_with_a_bad_key_fails_to_start(hellod, cert, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    bad.chmod(0o600)
    srv = hellod(tls=(cert[0], bad), wait=None)
    srv.expected_rc = 2
    rc = srv.proc.wait(20)
    assert rc == 2, srv.log()
    assert "TLS" in srv.log()


def test_tls_key_that_others_can_read_is_refused(hellod, cert, tmp_path):
    key = tmp_path / "key.pem"
    key.write_bytes(cert[1].read_bytes())
    key.chmod(0o644)
    srv = hellod(tls=(cert[0], key), wait=None)
    srv.expected_rc = 2
    rc = srv.proc.wait(20)
    assert rc == 2, srv.log()
    assert f"tls-key: {key}: holds a secret but group or others can access it" in srv.log()
    assert "chmod 600" in srv.log()
    key.chmod(0o600)
    srv = hellod(tls=(cert[0], key))
    assert srv.get("/healthz").status == 200


def test_config_with_a_password_that_others_can_read_is_warned_about(hellod, tmp_path, database):
    cfg = tmp_path / "hellod.yaml"
    cfg.write_text(f"database: {database.conninfo} password=not-needed\n")
    cfg.chmod(0o644)
    srv = hellod("--config", cfg, database=False)
    srv.wait_log(rf"{cfg} holds passwords and every user can read it: chmod o-rwx")
    assert "not-needed" not in srv.log()
    assert srv.stop() == 0
    cfg.chmod(0o640)
    srv = hellod("--config", cfg, database=False)
    assert "holds passwords" not in srv.log()
