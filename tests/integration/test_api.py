"""The HTTP API of hellod: the happy paths, birthdays against UTC today, probes and metrics, and
every bad input we can think of (each answered with the right status and a JSON error, leaving the
stored data as it was), plus HTTP-level abuse: huge bodies and headers, pipelining, slow clients."""

import calendar
import datetime
import json
import re
import select
import time
import uuid

import pytest

from conftest import SLOW, raw_connect, raw_exchange, read_response, utc_today

ERR_STATUSES = (400, 404, 405, 413, 415)


# ---------------------------------------------------------------------------------------------
# helpers


def uname(prefix="u"):
    """A fresh username made of letters only."""
    letters = "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:16])
    return prefix.capitalize() + letters


def birthday_in(dob, year):
    """The rule: a 29 February birthday falls on 28 February in years without one."""
    if dob.month == 2 and dob.day == 29 and not calendar.isleap(year):
        return datetime.date(year, 2, 28)
    return datetime.date(year, dob.month, dob.day)


def days_until(dob, today):
    nxt = birthday_in(dob, today.year)
    if nxt < today:
        nxt = birthday_in(dob, today.year + 1)
    return (nxt - today).days


def expected_message(name, dob, today):
    n = days_until(dob, today)
    if n == 0:
        return f"Hello, {name}! Happy birthday!"
    return f"Hello, {name}! Your birthday is in {n} day(s)"


def assert_json_error(r, status):
    assert r.status == status, r
    ctype = r.header("Content-Type") or ""
    assert ctype.startswith("application/json"), (ctype, r)
    doc = json.loads(r.body)
    assert isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"], r
    return doc


def on_stable_day(fn):
    """Runs fn(today) and retries once if the UTC date changed meanwhile (a test at midnight)."""
    for _ in range(2):
        today = utc_today()
        result = fn(today)
        if utc_today() == today:
            return result
    raise AssertionError("the UTC date kept changing")


@pytest.fixture(scope="module")
def api(module_hellod):
    return module_hellod()


@pytest.fixture(autouse=True)
def _attach_api_log(api, attach_logs):
    attach_logs(api)


@pytest.fixture
def user(api):
    """A valid user stored before the test; the test checks it is unchanged at the end."""
    name, dob = uname("keep"), "1985-07-14"
    r = api.put_user(name, dob)
    assert r.status == 204, r
    yield name, dob


def assert_user_intact(api, db, name, dob):
    r = api.get_user(name)
    assert r.status == 200, r
    d = datetime.date.fromisoformat(dob)
    assert r.json() == {"message": expected_message(name, d, utc_today())}
    rows = db.query("SELECT to_char(date_of_birth, 'YYYY-MM-DD') FROM hello_users "
                    "WHERE username = %s", (name,))
    assert rows == [(dob,)]


def metric(text, name, labels=None):
    """The value of one sample in Prometheus text, 0 when absent."""
    lab = "" if labels is None else "{" + labels + "}"
    m = re.search(rf"^{re.escape(name + lab)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


# ---------------------------------------------------------------------------------------------
# happy paths


def test_put_then_get(api, module_database):
    name = uname()
    r = api.put_user(name, "1990-03-15")
    assert r.status == 204 and r.body == b""
    r = api.get_user(name)
    assert r.status == 200
    assert r.header("Content-Type").startswith("application/json")
    today = utc_today()
    assert r.json() == {"message": expected_message(name, datetime.date(1990, 3, 15), today)}
    assert module_database.query(
        "SELECT date_of_birth FROM hello_users WHERE username = %s", (name,)
    ) == [(datetime.date(1990, 3, 15),)]


def test_update_replaces_date(api, module_database):
    name = uname()
    assert api.put_user(name, "1990-03-15").status == 204
    assert api.put_user(name, "1991-11-02").status == 204
    r = api.get_user(name)
    assert r.status == 200
    assert r.json() == {"message": expected_message(name, datetime.date(1991, 11, 2), utc_today())}
    rows = module_database.query(
        "SELECT to_char(date_of_birth, 'YYYY-MM-DD') FROM hello_users WHERE username = %s",
        (name,),
    )
    assert rows == [("1991-11-02",)]


def test_usernames_are_case_sensitive_and_64_letters_allowed(api):
    name = "A" + "b" * 63
    assert api.put_user(name, "2001-01-01").status == 204
    assert api.get_user(name).status == 200
    assert_json_error(api.get_user(name.lower()), 404)


def test_content_type_parameters_accepted(api):
    name = uname()
    for ctype in ("application/json; charset=utf-8", "Application/JSON", "application/json ;x=y"):
        r = api.request("PUT", f"/hello/{name}", body=b'{"dateOfBirth": "1999-12-31"}',
                        headers={"Content-Type": ctype})
        assert r.status == 204, (ctype, r)


def test_query_string_is_ignored(api):
    name = uname()
    assert api.put_user(name, "1970-01-01").status == 204
    r = api.get(f"/hello/{name}?verbose=1")
    assert r.status == 200 and r.json()["message"].startswith(f"Hello, {name}!")


def test_unknown_user_is_404(api):
    r = api.get_user(uname("nobody"))
    doc = assert_json_error(r, 404)
    assert "no user" in doc["error"]


def test_birthday_today(api):
    def check(today):
        year = 2000 if (today.month, today.day) == (2, 29) else today.year - 30
        dob = datetime.date(year, today.month, today.day)
        name = uname()
        assert api.put_user(name, dob.isoformat()).status == 204
        r = api.get_user(name)
        assert r.status == 200
        assert r.json() == {"message": f"Hello, {name}! Happy birthday!"}

    on_stable_day(check)


def test_birthday_tomorrow(api):
    def check(today):
        t = today + datetime.timedelta(days=1)
        dob = datetime.date(2000, t.month, t.day)  # 2000 is a leap year: any day exists
        assert days_until(dob, today) == 1
        name = uname()
        assert api.put_user(name, dob.isoformat()).status == 204
        r = api.get_user(name)
        assert r.json() == {"message": f"Hello, {name}! Your birthday is in 1 day(s)"}

    on_stable_day(check)


def test_birthday_yesterday(api):
    def check(today):
        y = today - datetime.timedelta(days=1)
        dob = datetime.date(2000, y.month, y.day)
        n = days_until(dob, today)
        assert n in (364, 365)
        name = uname()
        assert api.put_user(name, dob.isoformat()).status == 204
        r = api.get_user(name)
        assert r.json() == {"message": f"Hello, {name}! Your birthday is in {n} day(s)"}

    on_stable_day(check)


def test_birthday_29_february(api):
    def check(today):
        name = uname()
        assert api.put_user(name, "2000-02-29").status == 204
        r = api.get_user(name)
        # Independent statement of the rule: the next 29 February in leap years, 28 February in
        # the others, counted from today.
        year = today.year
        while True:
            day = datetime.date(year, 2, 29 if calendar.isleap(year) else 28)
            if day >= today:
                break
            year += 1
        n = (day - today).days
        expected = "Happy birthday!" if n == 0 else f"Your birthday is in {n} day(s)"
        assert r.json() == {"message": f"Hello, {name}! {expected}"}

    on_stable_day(check)


def test_days_until_birthday_matches_the_rule(api):
    """Many dates of birth around today and around the awkward days of the calendar, each checked
    against the rule computed here."""

    def check(today):
        dobs = set()
        for delta in range(-3, 4):
            d = today + datetime.timedelta(days=delta)
            for year in (1999, 2000, 1984, 1900):
                if not (d.month == 2 and d.day == 29 and not calendar.isleap(year)):
                    dobs.add(datetime.date(year, d.month, d.day))
        for md in ((1, 1), (12, 31), (2, 28), (3, 1), (2, 29)):
            for year in (1999, 2000, 2004, 1900, 2001):
                if not (md == (2, 29) and not calendar.isleap(year)):
                    dobs.add(datetime.date(year, *md))
        dobs = sorted(d for d in dobs if d < today)
        names = {}
        for dob in dobs:
            names[dob] = uname()
            assert api.put_user(names[dob], dob.isoformat()).status == 204, dob
        wrong = []
        for dob in dobs:
            r = api.get_user(names[dob])
            want = expected_message(names[dob], dob, today)
            if r.status != 200 or r.json() != {"message": want}:
                wrong.append((dob.isoformat(), r.body.decode(), want))
        return wrong

    assert on_stable_day(check) == []


def test_29_february_only_in_leap_years(api):
    name = uname()
    assert api.put_user(name, "2004-02-29").status == 204
    assert api.put_user(name, "1900-02-29").status == 400  # 1900 was not a leap year
    assert_json_error(api.put_user(name, "2023-02-29"), 400)
    r = api.get_user(name)
    assert r.json() == {"message": expected_message(name, datetime.date(2004, 2, 29), utc_today())}


def test_head(api):
    name = uname()
    assert api.put_user(name, "1980-08-08").status == 204
    g = api.get_user(name)
    h = api.request("HEAD", f"/hello/{name}")
    assert h.status == 200 and h.body == b""
    assert h.header("Content-Length") == str(len(g.body))
    assert h.header("Content-Type").startswith("application/json")
    h = api.request("HEAD", f"/hello/{uname('nobody')}")
    assert h.status == 404 and h.body == b""
    for path in ("/healthz", "/readyz", "/metrics"):
        h = api.request("HEAD", path)
        assert h.status == 200 and h.body == b"", path


def test_probes(api):
    r = api.get("/healthz")
    assert r.status == 200 and r.json() == {"status": "ok"}
    r = api.get("/readyz")
    assert r.status == 200 and r.json() == {"status": "ready"}


def test_metrics_count_requests_by_route_and_code(api):
    before = api.get("/metrics")
    assert before.status == 200
    assert before.header("Content-Type").startswith("text/plain")
    text = before.body.decode()
    assert "# TYPE hellod_http_requests_total counter" in text
    name = uname()
    assert api.put_user(name, "1990-01-01").status == 204
    assert api.get_user(name).status == 200
    assert api.get_user(uname("nobody")).status == 404
    assert api.get("/nowhere").status == 404
    after = api.get("/metrics").body.decode()
    for labels, inc in (
        ('route="hello",code="204"', 1),
        ('route="hello",code="200"', 1),
        ('route="hello",code="404"', 1),
        ('route="other",code="404"', 1),
    ):
        b = metric(text, "hellod_http_requests_total", labels)
        a = metric(after, "hellod_http_requests_total", labels)
        assert a == b + inc, (labels, b, a)
    assert re.search(r'^hellod_http_requests_total\{route="metrics",code="200"\} \d+', after, re.M)
    assert 'hellod_http_request_duration_seconds_bucket{route="hello",le="+Inf"}' in after
    for family in ("hellod_refused_clients_total", "hellod_db_timeouts_total",
                   "hellod_db_pool_ready"):
        assert re.search(rf"^{family} \S+$", after, re.M), family


# ---------------------------------------------------------------------------------------------
# bad bodies and content types: right status, JSON error, data intact

BAD_BODIES = [
    # (id, content type, body, status)
    ("malformed", "application/json", b'{"dateOfBirth": }', 400),
    ("not-json", "application/json", b"dateOfBirth=1990-01-01", 400),
    ("single-quotes", "application/json", b"{'dateOfBirth': '1990-01-01'}", 400),
    ("truncated-object", "application/json", b'{"dateOfBirth": "1990-01-01"', 400),
    ("truncated-string", "application/json", b'{"dateOf', 400),
    ("trailing-garbage", "application/json", b'{"dateOfBirth": "1990-01-01"} x', 400),
    ("empty-body", "application/json", b"", 400),
    ("array", "application/json", b'["1990-01-01"]', 400),
    ("string", "application/json", b'"1990-01-01"', 400),
    ("null", "application/json", b"null", 400),
    ("extra-field", "application/json", b'{"dateOfBirth": "1990-01-01", "name": "x"}', 400),
    ("missing-field", "application/json", b"{}", 400),
    ("wrong-field", "application/json", b'{"dob": "1990-01-01"}', 400),
    ("duplicate-field", "application/json",
     b'{"dateOfBirth": "1990-01-01", "dateOfBirth": "1991-01-01"}', 400),
    ("number", "application/json", b'{"dateOfBirth": 19900101}', 400),
    ("null-date", "application/json", b'{"dateOfBirth": null}', 400),
    ("nul-byte", "application/json", b'{"dateOfBirth": "1990-01-01\\u0000"}', 400),
    ("date-30-feb", "application/json", b'{"dateOfBirth": "2023-02-30"}', 400),
    ("date-month-13", "application/json", b'{"dateOfBirth": "2023-13-01"}', 400),
    ("date-month-0", "application/json", b'{"dateOfBirth": "2023-00-10"}', 400),
    ("date-day-0", "application/json", b'{"dateOfBirth": "2023-01-00"}', 400),
    ("date-short-year", "application/json", b'{"dateOfBirth": "20-01-01"}', 400),
    ("date-no-padding", "application/json", b'{"dateOfBirth": "2023-1-1"}', 400),
    ("date-empty", "application/json", b'{"dateOfBirth": ""}', 400),
    ("date-year-0", "application/json", b'{"dateOfBirth": "0000-01-01"}', 400),
    ("date-time", "application/json", b'{"dateOfBirth": "2023-01-01T00:00:00Z"}', 400),
    ("date-slashes", "application/json", b'{"dateOfBirth": "2023/01/01"}', 400),
    ("date-spaces", "application/json", b'{"dateOfBirth": " 2023-01-01"}', 400),
    ("date-long", "application/json", b'{"dateOfBirth": "' + b"9" * 3000 + b'"}', 400),
    ("no-content-type", None, b'{"dateOfBirth": "1990-01-01"}', 415),
    ("text-plain", "text/plain", b'{"dateOfBirth": "1990-01-01"}', 415),
    ("form", "application/x-www-form-urlencoded", b'{"dateOfBirth": "1990-01-01"}', 415),
    ("json-prefix", "application/jsonx", b'{"dateOfBirth": "1990-01-01"}', 415),
    ("empty-content-type", "", b'{"dateOfBirth": "1990-01-01"}', 415),
]


@pytest.mark.parametrize("ctype,body,status", [c[1:] for c in BAD_BODIES],
                         ids=[c[0] for c in BAD_BODIES])
def test_bad_body(api, module_database, user, ctype, body, status):
    name, dob = user
    headers = {} if ctype is None else {"Content-Type": ctype}
    r = api.request("PUT", f"/hello/{name}", body=body, headers=headers)
    assert_json_error(r, status)
    assert_user_intact(api, module_database, name, dob)


@pytest.mark.parametrize("when", ["today", "tomorrow", "next-year", "far-future"])
def test_dates_not_in_the_past_are_refused(api, module_database, user, when):
    name, dob = user

    def attempt(today):
        d = {
            "today": today,
            "tomorrow": today + datetime.timedelta(days=1),
            "next-year": today + datetime.timedelta(days=366),
            "far-future": datetime.date(9999, 12, 31),
        }[when]
        return api.put_user(name, d.isoformat())

    r = on_stable_day(attempt)
    assert_json_error(r, 400)
    assert_user_intact(api, module_database, name, dob)


def test_yesterday_is_a_valid_date_of_birth(api):
    def attempt(today):
        name = uname()
        r = api.put_user(name, (today - datetime.timedelta(days=1)).isoformat())
        return r, name

    r, name = on_stable_day(attempt)
    assert r.status == 204
    assert api.get_user(name).status == 200


# ---------------------------------------------------------------------------------------------
# bad usernames, routes and methods

BAD_NAMES = [
    ("digits", "abc123"),
    ("only-digits", "123"),
    ("space-encoded", "john%20smith"),
    ("plus", "john+smith"),
    ("dot", "john.smith"),
    ("dash", "john-smith"),
    ("underscore", "john_smith"),
    ("bang", "hey!"),
    ("quote", "o'neil"),
    ("dotdot", ".."),
    ("slash", "a/b"),
    ("percent-A", "%41"),
    ("percent-mixed", "Bob%41"),
    ("utf8-encoded", "Jos%C3%A9"),
    ("utf8-raw", "Jos\u00e9"),
    ("empty", ""),
    ("65-letters", "a" * 65),
    ("10000-letters", "a" * 10000),
]


def _raw(api, method, path, body=None, ctype="application/json"):
    """One request with the path sent byte for byte (UTF-8), which http.client would refuse."""
    head = f"{method} ".encode() + path.encode("utf-8") + b" HTTP/1.1\r\nHost: t\r\n"
    if body is not None:
        head += f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n".encode()
    rs = raw_exchange(api.port, head + b"\r\n" + (body or b""))
    assert rs, f"no answer to {method} {path[:80]!r}"
    return rs[0]


@pytest.mark.parametrize("name", [c[1] for c in BAD_NAMES], ids=[c[0] for c in BAD_NAMES])
def test_bad_username(api, module_database, user, name):
    keep, dob = user
    count = module_database.query("SELECT count(*) FROM hello_users")
    path = "/hello/" + name
    assert_json_error(_raw(api, "GET", path), 400)
    assert_json_error(_raw(api, "PUT", path, b'{"dateOfBirth": "1990-01-01"}'), 400)
    assert_user_intact(api, module_database, keep, dob)
    assert module_database.query("SELECT count(*) FROM hello_users") == count
    if name.startswith("%41"):
        assert_json_error(api.get("/hello/A"), 404)  # %41 was not decoded to "A" and stored


@pytest.mark.parametrize(
    "path",
    ["/", "/hello", "/hellox/abc", "/HELLO/abc", "/healthz/", "/healthz/x", "/metrics/",
     "/readyz.json", "/favicon.ico", "/%2e%2e/etc/passwd", "//hello/abc"],
)
def test_unknown_route_is_404(api, path):
    for method in ("GET", "PUT", "POST"):
        r = api.request(method, path, json_body={"dateOfBirth": "1990-01-01"})
        assert_json_error(r, 404)


@pytest.mark.parametrize("method", ["POST", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_wrong_method_is_405_with_allow(api, module_database, user, method):
    name, dob = user
    r = api.request(method, f"/hello/{name}", json_body={"dateOfBirth": "1990-01-01"})
    assert_json_error(r, 405)
    assert {m.strip() for m in r.header("Allow").split(",")} == {"GET", "HEAD", "PUT"}
    for path in ("/healthz", "/readyz", "/metrics"):
        r = api.request(method, path)
        assert_json_error(r, 405)
        assert {m.strip() for m in r.header("Allow").split(",")} == {"GET", "HEAD"}
    r = api.request("PUT", "/healthz", json_body={"dateOfBirth": "1990-01-01"})
    assert_json_error(r, 405)
    assert_user_intact(api, module_database, name, dob)


# ---------------------------------------------------------------------------------------------
# size limits

def _put_head(name, extra=b""):
    return (f"PUT /hello/{name} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            .encode() + extra)


def _padded_body(size):
    body = b'{"dateOfBirth": "1990-01-01"}'
    return body + b" " * (size - len(body))


def test_body_at_the_limit_is_accepted(api):
    name = uname()
    r = api.request("PUT", f"/hello/{name}", body=_padded_body(4096),
                    headers={"Content-Type": "application/json"})
    assert r.status == 204, r


def test_oversized_body_with_content_length_is_413(api, module_database, user):
    name, dob = user
    body = _padded_body(4097)
    data = _put_head(name, b"Content-Length: %d\r\n\r\n" % len(body)) + body
    rs = raw_exchange(api.port, data)
    assert rs, "no response to an oversized body"
    assert_json_error(rs[0], 413)
    big = b'{"dateOfBirth": "1990-01-01", "pad": "' + b"x" * 100000 + b'"}'
    # announced only, too big to drain: answered at once (Expect: 100-continue asks for that)
    rs = raw_exchange(api.port, _put_head(name, b"Content-Length: %d\r\nExpect: 100-continue\r\n"
                                                b"\r\n" % len(big)))
    assert rs and rs[0].status == 413
    assert_user_intact(api, module_database, name, dob)


def test_oversized_chunked_body_is_413(api, module_database, user):
    """No Content-Length: the limit is found while reading; the answer must still be a 413."""
    name, dob = user
    body = _padded_body(6000)
    data = (_put_head(name, b"Transfer-Encoding: chunked\r\n\r\n")
            + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    rs = raw_exchange(api.port, data)
    assert rs, "the connection was closed without an answer to an oversized chunked body"
    assert_json_error(rs[0], 413)
    assert_user_intact(api, module_database, name, dob)


def test_413_leaves_a_client_that_sends_its_whole_body_able_to_read_it(api, module_database,
                                                                       user):
    """A client that writes its whole body before reading (most do) must get the 413, not a
    reset: the body (here 256 KiB) is read and dropped, and the connection stays usable."""
    name, dob = user
    body = _padded_body(256 * 1024)
    with raw_connect(api.port) as s:
        s.sendall(_put_head(name, b"Content-Length: %d\r\n\r\n" % len(body)) + body)
        f = s.makefile("rb")
        r = read_response(f, "PUT")
        assert_json_error(r, 413)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        r = read_response(f)
        assert r is not None and r.status == 200, r
    assert_user_intact(api, module_database, name, dob)


@pytest.mark.parametrize("line", [
    pytest.param(b"GET /hello/john smith HTTP/1.1", id="space"),
    pytest.param(b"GET /hello/a\x01b HTTP/1.1", id="ctl"),
    pytest.param(b"GET /hello/a\tb HTTP/1.1", id="tab"),
    pytest.param(b"GET /hello/a\x7fb HTTP/1.1", id="del")])
def test_invalid_byte_in_request_line_is_400(api, line):
    rs = raw_exchange(api.port, line + b"\r\nHost: t\r\n\r\n")
    assert rs, "the connection was closed without an answer"
    assert_json_error(rs[0], 400)


def test_413_is_counted_in_metrics(api):
    """413 is one of the codes hellod_http_requests_total has a label for; answering one must
    count it like every other answer."""
    def total_413():
        text = api.get("/metrics").body.decode()
        return sum(float(v) for v in re.findall(
            r'^hellod_http_requests_total\{route="[a-z]+",code="413"\} (\S+)$', text, re.M))

    before = total_413()
    body = _padded_body(5000)
    rs = raw_exchange(api.port, _put_head(uname(), b"Content-Length: %d\r\n\r\n" % len(body))
                      + body)
    assert rs and rs[0].status == 413
    assert total_413() == before + 1


def test_chunked_body_within_limit_is_accepted(api):
    name = uname()
    body = b'{"dateOfBirth": "1990-01-01"}'
    data = (_put_head(name, b"Transfer-Encoding: chunked\r\n\r\n")
            + b"%x\r\n" % 10 + body[:10] + b"\r\n" + b"%x\r\n" % (len(body) - 10) + body[10:]
            + b"\r\n0\r\n\r\n")
    rs = raw_exchange(api.port, data)
    assert rs and rs[0].status == 204, rs
    assert api.get_user(name).status == 200


@pytest.mark.parametrize("shape", ["one-64KiB-header", "one-20KiB-header", "2000-headers",
                                   "64KiB-url"])
def test_oversized_headers_are_refused(api, module_database, user, shape):
    name, dob = user
    if shape == "one-64KiB-header":
        data = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"
    elif shape == "one-20KiB-header":
        data = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20480 + b"\r\n\r\n"
    elif shape == "2000-headers":
        data = b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"".join(
            b"X-H%d: %s\r\n" % (i, b"v" * 20) for i in range(2000)) + b"\r\n"
    else:
        data = b"GET /hello/" + b"a" * 65536 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    try:
        rs = raw_exchange(api.port, data)
    except (ConnectionResetError, BrokenPipeError) as e:
        pytest.fail(f"the connection was reset instead of answered with a 4xx: {e!r}")
    assert rs, "the connection was closed without an answer"
    assert 400 <= rs[0].status < 500, rs[0]
    assert api.alive(), "hellod died"
    assert api.get("/healthz").status == 200
    assert_user_intact(api, module_database, name, dob)


# ---------------------------------------------------------------------------------------------
# connections


def test_pipelined_requests_are_answered_in_order(api):
    name = uname()
    body = b'{"dateOfBirth": "1990-06-01"}'
    data = (
        f"PUT /hello/{name} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        + f"GET /hello/{name} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
        + f"GET /hello/{uname('nobody')} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    )
    rs = raw_exchange(api.port, data, count=3)
    assert [r.status for r in rs] == [204, 200, 404], rs
    assert json.loads(rs[1].body)["message"].startswith(f"Hello, {name}!")
    # The same with probes only, and an error in the middle.
    data = (b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /hello/x1 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"HEAD /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
    rs = raw_exchange(api.port, data, count=3, methods=["GET", "GET", "HEAD"])
    assert [r.status for r in rs] == [200, 400, 200], rs


def _closed_by_peer_now(sock):
    """Non-blocking: True if the peer has closed (EOF/reset), reading whatever was sent."""
    try:
        while select.select([sock], [], [], 0)[0]:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    return False


def test_slow_clients_are_closed_and_others_served(hellod):
    srv = hellod("--idle-timeout", "2s", workers=1)
    slow = []
    try:
        for i in range(4):
            s = raw_connect(srv.port)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")  # and then nothing
            slow.append(s)
        for i in range(2):  # headers done, body never comes
            s = raw_connect(srv.port)
            s.sendall(_put_head("Slowpoke", b"Content-Length: 100\r\n\r\n") + b'{"dateOf')
            slow.append(s)
        t0 = time.monotonic()
        closed_at = {}
        served = 0
        deadline = t0 + 8 * SLOW
        while len(closed_at) < len(slow) and time.monotonic() < deadline:
            start = time.monotonic()
            r = srv.get("/healthz", timeout=5)
            assert r.status == 200
            assert time.monotonic() - start < 1.0 * SLOW, "a normal client waited behind slow ones"
            served += 1
            for i, s in enumerate(slow):
                if i not in closed_at and _closed_by_peer_now(s):
                    closed_at[i] = time.monotonic() - t0
            time.sleep(0.05)
        assert len(closed_at) == len(slow), f"slow connections still open after 8s: {closed_at}"
        assert all(1.0 <= t <= 6 * SLOW for t in closed_at.values()), closed_at
        assert served >= 10
        assert srv.get_user("Slowpoke").status == 404
    finally:
        for s in slow:
            s.close()
