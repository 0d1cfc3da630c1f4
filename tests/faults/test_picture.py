"""The failure pictures (picture.py): SVG timelines drawn from two fixtures and checked for
what they must show; the recorded one rendered by headless Chromium into a PNG that must not be
blank and must hold the colours of the writes and the roles (the PNG decoded with zlib, the
decoder tested on PNGs made here).

Fixtures: `picture-kill-primary-node-recorded.json`, the timeline run.py recorded for
kill_primary_node (quick, seed 1, synchronous strict: nothing lost), times made relative to the
workload's start; `picture-kill-node.json`, a small history written for the test, in which three
acknowledged writes were lost, so that their marks are checked too.

Run by `make faults` before the scenarios (no root needed for this file)."""

from __future__ import annotations

import json
import pathlib
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import picture  # noqa: E402
from album import Album  # noqa: E402

FIXTURE = HERE / "fixtures" / "picture-kill-node.json"
RECORDED = HERE / "fixtures" / "picture-kill-primary-node-recorded.json"
NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def timeline():
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def recorded():
    return json.loads(RECORDED.read_text())


@pytest.fixture(scope="module")
def svg(timeline):
    return ET.fromstring(picture.render(timeline))


def by_class(root, cls):
    return [e for e in root.iter() if e.get("class") == cls]


# -- what the picture says


def test_gap_is_the_longest_interval_without_an_acknowledgement():
    tl = {"t0": 0.0, "t1": 10.0, "writes": [[0.9, 1.0, "ok"], [1.9, 2.0, "ok"],
                                            [2.0, 6.0, "failed"], [6.5, 7.0, "ok"],
                                            [7.0, None, "unknown"], [9.0, 9.5, "ok"]]}
    assert picture.gap(tl) == (2.0, 7.0)
    tl["writes"] = []
    assert picture.gap(tl) == (0.0, 10.0)  # nothing acknowledged: the whole window


def test_buckets_count_acknowledged_and_failed_writes_per_100_ms():
    tl = {"t0": 0.0, "t1": 0.5, "writes": [[0.0, 0.01, "ok"], [0.0, 0.05, "ok"],
                                           [0.1, 0.25, "failed"], [0.3, None, "unknown"],
                                           [0.3, 0.45, "ok"], [0.3, 7.0, "ok"]]}
    ok, bad = picture.buckets(tl)
    assert ok == [2, 0, 0, 0, 1]
    assert bad == [0, 0, 1, 1, 0]


def test_role_names_from_patroni_answers():
    assert picture.role_name(None) is None
    assert picture.role_name({"role": "master", "state": "running"}) == "primary"
    assert picture.role_name({"role": "replica", "state": "streaming"}) == "replica"
    assert picture.role_name({"role": "replica", "state": "starting"}) == "replica (starting)"
    assert picture.role_name({"role": "standby_leader", "state": "running"}) == "standby_leader"


def test_fault_is_shaded_over_its_time(svg, timeline):
    faults = by_class(svg, "fault")
    assert len(faults) == 1
    f = timeline["faults"][0]
    span = timeline["t1"] - timeline["t0"]
    plot_w = picture.WIDTH - picture.LEFT - picture.RIGHT
    x = float(faults[0].get("x"))
    w = float(faults[0].get("width"))
    assert x == pytest.approx(picture.LEFT + (f["start"] - timeline["t0"]) / span * plot_w, abs=0.1)
    assert w == pytest.approx((f["end"] - f["start"]) / span * plot_w, abs=0.2)
    assert [e.text for e in by_class(svg, "fault-label")] == ["kill_node"]


def test_gap_is_marked_with_its_length(svg, timeline):
    g0, g1 = picture.gap(timeline)
    assert 3.4 < g1 - g0 < 3.7  # the fixture: the primary killed at +3 s, writes back at +6.5 s
    assert len(by_class(svg, "gap")) == 1
    assert [e.text for e in by_class(svg, "gap-label")] == [f"gap {g1 - g0:.2f} s"]


def test_lost_writes_are_marked(svg, timeline):
    assert len(by_class(svg, "lost")) == len(timeline["lost"]) == 3
    assert [e.text for e in by_class(svg, "lost-label")] == ["3 acknowledged writes lost"]


def test_no_lost_mark_when_nothing_was_lost(timeline):
    root = ET.fromstring(picture.render(dict(timeline, lost=[])))
    assert by_class(root, "lost") == [] and by_class(root, "lost-label") == []


def test_write_bars_and_role_lanes(svg, timeline):
    ok, bad = picture.buckets(timeline)
    assert len(by_class(svg, "ack")) == sum(1 for n in ok if n)
    assert len(by_class(svg, "err")) == sum(1 for n in bad if n)
    roles = [e.get("data-role") for e in by_class(svg, "role")]
    # d1: primary, no answer, starting, replica; d2: replica, primary; d3: replica
    assert roles == ["primary", "None", "replica (starting)", "replica", "replica", "primary",
                     "replica"]


def test_recorded_failover(recorded):
    """The recorded kill_primary_node: d1 (primary) killed, d2 promoted, d1 back as a replica
    after pg_rewind; the gap is the one run.py's checker reported (5.4 s)."""
    root = ET.fromstring(picture.render(recorded))
    g0, g1 = picture.gap(recorded)
    assert round(g1 - g0, 1) == 5.4
    assert [e.text for e in by_class(root, "gap-label")] == [f"gap {g1 - g0:.2f} s"]
    assert [e.text for e in by_class(root, "fault-label")] == ["kill_node"]
    assert by_class(root, "lost") == []
    lanes = {}
    for e in by_class(root, "role"):
        lanes.setdefault(float(e.get("y")), []).append(e.get("data-role"))
    d1, d2, d3 = (lanes[y] for y in sorted(lanes))
    assert d1[0] == "primary" and d1[1] == "None" and d1[-1] == "replica"
    assert "replica (running pg_rewind)" in d1
    assert d2[0] == "replica" and d2[-1] == "primary"
    assert d3 == ["replica"]
    # the fault is shaded where the gap begins: the writes stopped when d1 was killed
    f = recorded["faults"][0]
    assert abs(g0 - f["start"]) < 0.5


def test_album_links_every_picture(tmp_path, timeline):
    album = Album(tmp_path / "pics", "test run")
    p1 = album.add(0, "kill_primary_node", timeline, "ok", "300 ok")
    p2 = album.add(1, "part/primary etcd", timeline, "FAIL", "lost 3")
    page = album.index.read_text()
    assert p1.name in page and p2.name in page and "/" not in p2.name
    assert p1.read_text().startswith("<svg") and json.loads(p1.with_suffix(".json").read_text())
    assert 'class="bad">FAIL' in page


# -- it renders


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is missing (Debian chromium; scripts/deps.sh installs it)")
    return exe


def screenshot(svg_path, png_path, tmp_path, size="1000,520"):
    """Headless Chromium's screenshot of a file (its own profile under tmp_path; no sandbox, as
    the suite runs as root and the file is our own)."""
    r = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                        f"--screenshot={png_path}", f"--window-size={size}",
                        svg_path.as_uri()],
                       capture_output=True, text=True, timeout=120,
                       env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert png_path.exists(), f"no screenshot: exit {r.returncode}: {r.stderr[-2000:]}"


def png_pixels(data):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB or RGBA PNG, decoded with the
    standard library (zlib and the five PNG row filters)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
    w, h, depth, colour, _, _, interlace = ihdr
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unexpected PNG {ihdr}"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return w, h, rows


def colours(rows):
    seen = {}
    for row in rows:
        for px in row:
            seen[px] = seen.get(px, 0) + 1
    return seen


def rgb(hexcolour):
    return tuple(int(hexcolour[i:i + 2], 16) for i in (1, 3, 5))


def make_png(rows, filters):
    """An RGB PNG of `rows` (lists of (r, g, b)), row y encoded with filters[y % len(filters)]
    (0 none, 1 sub, 2 up, 3 average, 4 Paeth): the decoder's counterpart, to test it."""
    w, h = len(rows[0]), len(rows)
    raw, prev = b"", bytes(3 * w)
    for y, row in enumerate(rows):
        line = bytes(c for px in row for c in px)
        f = filters[y % len(filters)]
        out = bytearray()
        for i, v in enumerate(line):
            a = line[i - 3] if i >= 3 else 0
            b, c = prev[i], prev[i - 3] if i >= 3 else 0
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else \
                b if abs(p - b) <= abs(p - c) else c
            out.append((v - (0, a, b, (a + b) // 2, paeth)[f]) & 255)
        raw += bytes([f]) + bytes(out)
        prev = line

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_png_decoder_and_blank_check():
    """The pixel check itself, on PNGs made here with every row filter: a white image is seen
    as white only, a drawn one gives back its pixels exactly."""
    white = [[(255, 255, 255)] * 7 for _ in range(5)]
    _, _, rows = png_pixels(make_png(white, [0, 1, 2, 3, 4]))
    assert set(colours(rows)) == {(255, 255, 255)}
    drawn = [[((x * 37 + y * 11) % 256, (x * y * 5) % 256, 255 - x * 20) for x in range(9)]
             for y in range(10)]
    for filters in ([0], [1], [2], [3], [4], [4, 3, 2, 1, 0]):
        w, h, rows = png_pixels(make_png(drawn, filters))
        assert (w, h) == (9, 10) and rows == [list(r) for r in drawn], filters


def test_chromium_renders_the_recorded_picture(tmp_path, recorded):
    """The recorded timeline, drawn and rendered: a PNG of the SVG's size, not blank, with the
    bars and the role lanes in their colours."""
    timeline = recorded
    svg = picture.write(tmp_path / "kill.svg", timeline)
    root = ET.fromstring(svg.read_text())
    size = f"{root.get('width')},{root.get('height')}"
    png = tmp_path / "kill.png"
    screenshot(svg, png, tmp_path, size)
    w, h, rows = png_pixels(png.read_bytes())
    assert (w, h) == (int(root.get("width")), int(root.get("height")))
    seen = colours(rows)
    white = seen.get((255, 255, 255), 0)
    assert white < 0.95 * w * h, "the picture is (nearly) blank"
    # The bars and the roles are drawn in their own colours, unblended; far more pixels of each
    # than the legend's 12 x 12 swatch of that colour (the recorded picture: about 31000 of the
    # acknowledged bars, 1600 of the failed ones, 12000 and 21000 of the primary and replica
    # lanes at 1000 px wide).
    swatch = 12 * 12
    for name, times in (("ACK", 20), ("ERR", 3)):
        assert seen.get(rgb(getattr(picture, name)), 0) > times * swatch, f"no {name} bars"
    for role in ("primary", "replica"):
        assert seen.get(rgb(picture.ROLE_COLOURS[role]), 0) > 20 * swatch, f"no {role} lane"
