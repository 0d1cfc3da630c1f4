"""The programs are built hardened (meson.build, docs/security.md): position-independent, with a
read-only GOT bound at start (RELRO + BIND_NOW), stack canaries and, in optimised builds, the
_FORTIFY_SOURCE checked variants of the libc calls. Checked on the binaries with readelf.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("TANDEM_BUILD") or (REPO / "build")).resolve()
PROGRAMS = ["src/hellod/hellod", "src/tandemd/tandemd", "src/tandemd/tandemd-fence",
            "src/tandemctl/tandemctl"]

pytestmark = pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf")


def readelf(flag, path):
    return subprocess.run(["readelf", "-W", flag, str(path)], check=True, capture_output=True,
                          text=True).stdout


def optimised():
    """Whether the build optimises (_FORTIFY_SOURCE only works then)."""
    opts = json.loads((BUILD / "meson-info" / "intro-buildoptions.json").read_text())
    level = next(o["value"] for o in opts if o["name"] == "optimization")
    return level not in ("0", "g")


@pytest.fixture(params=PROGRAMS)
def binary(request):
    p = BUILD / request.param
    if not p.exists():
        pytest.fail(f"{p} not built (set TANDEM_BUILD)")
    return p


def test_position_independent(binary):
    assert re.search(r"Type:\s+DYN", readelf("-h", binary)), f"{binary} is not PIE"
    assert re.search(r"FLAGS_1.*\bPIE\b", readelf("-d", binary)), f"{binary} is not PIE"


def test_full_relro(binary):
    assert "GNU_RELRO" in readelf("-l", binary), f"{binary} has no RELRO segment"
    dyn = readelf("-d", binary)
    assert re.search(r"\(BIND_NOW\)|FLAGS\).*\bBIND_NOW\b|FLAGS_1\).*\bNOW\b", dyn), \
        f"{binary} is not linked with -z now:\n{dyn}"


def test_stack_protector_and_fortify(binary):
    syms = set(re.findall(r"\b(__\w+_chk(?:_fail)?)\b", readelf("--dyn-syms", binary)))
    assert "__stack_chk_fail" in syms, f"{binary} has no stack protector"
    if optimised():
        fortified = syms - {"__stack_chk_fail"}
        assert fortified, f"{binary} calls no _FORTIFY_SOURCE checked function"
