#!/usr/bin/python3
"""Sums JUnit XML reports (meson test, pytest) into passed/failed/skipped counts.

A report named X.rerun.xml holds the tests of X.xml that failed and were run once more on their
own (.ci/run, scripts/ci_rerun.py): its result replaces theirs. The tests that passed only then
are listed on standard error, so that a CI log names every flaky test.

Usage: ci_count.py REPORT.xml ...   prints "passed failed skipped"
"""
import sys
import xml.etree.ElementTree as ET


def outcome(case):
    if case.find("failure") is not None or case.find("error") is not None:
        return "failed"
    if case.find("skipped") is not None:
        return "skipped"
    return "passed"


def main():
    results = {}  # (report, classname, name) -> outcome
    broken = 0
    reruns = [p for p in sys.argv[1:] if p.endswith(".rerun.xml")]
    for path in [p for p in sys.argv[1:] if p not in reruns] + reruns:
        base = path[: -len(".rerun.xml")] + ".xml" if path in reruns else path
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError):
            broken += 1
            continue
        for case in root.iter("testcase"):
            key = (base, case.get("classname"), case.get("name"))
            now = outcome(case)
            if path in reruns and results.get(key) == "failed" and now == "passed":
                print(f"passed only when run again: {key[1]}::{key[2]}", file=sys.stderr)
            if path not in reruns or key in results:
                results[key] = now
    counts = {"passed": 0, "failed": broken, "skipped": 0}
    for v in results.values():
        counts[v] += 1
    print(counts["passed"], counts["failed"], counts["skipped"])


if __name__ == "__main__":
    main()
