#!/usr/bin/python3
"""The pytest node ids of the tests that failed in a JUnit XML report, one a line, for CI to run
them once more on their own (.ci/run). A test that failed because two suites shared two cores
passes then; one that fails again stays failed (scripts/ci_count.py).

Usage: ci_rerun.py REPORT.xml
"""
import os
import sys
import xml.etree.ElementTree as ET


def node_id(classname, name):
    """"tests.integration.test_x" + "test_y[p]" -> "tests/integration/test_x.py::test_y[p]";
    a class's tests ("tests.integration.test_x.TestZ") keep the class."""
    parts = classname.split(".")
    for i in range(len(parts), 0, -1):
        path = os.path.join(*parts[:i]) + ".py"
        if os.path.isfile(path):
            return "::".join([path, *parts[i:], name])
    return None


def main():
    try:
        root = ET.parse(sys.argv[1]).getroot()
    except (OSError, ET.ParseError, IndexError):
        return 0
    for case in root.iter("testcase"):
        if case.find("failure") is None and case.find("error") is None:
            continue
        nid = node_id(case.get("classname", ""), case.get("name", ""))
        if nid:
            print(nid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
