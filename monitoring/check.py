#!/usr/bin/python3
"""Checks tandem's monitoring kit without a server (CI runs it through .ci/run):

1. monitoring/rules/ is exactly what gen_rules.py writes for the defaults;
2. `promtool check rules` passes on every rule file;
3. `promtool test rules` passes on every test in monitoring/tests/: the tests give the expected
   labels, this script fills in the expected annotations from the rules' templates (they use
   $labels only) and runs promtool on the result;
4. every alert has a test case where it fires and one where it does not, a severity, and a
   runbook that is a section of docs/monitoring.md;
5. the dashboard (monitoring/dashboards/tandem.json) is what gen_dashboard.py writes, a Grafana
   dashboard model with the rows
   the kit promises, and every PromQL expression in it parses (`promtool check rules` on a rule
   file holding each as a recording rule).

`metric_names()` and `missing_on_live()` serve the end-to-end test, which checks that every
metric the dashboard and the rules name exists on a live Prometheus.
Exit status 0 when everything holds; each problem is printed.
"""

from __future__ import annotations

import filecmp
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

import yaml

HERE = pathlib.Path(__file__).resolve().parent
RULES = HERE / "rules"
TESTS = HERE / "tests"
DASHBOARD = HERE / "dashboards" / "tandem.json"
PROMTOOL = "promtool"
ROWS = ["Sites and roles", "Replication and lag", "Failovers", "Backups and drills", "HA loop",
        "hellod traffic and latency"]
# Grafana's variables, replaced by something PromQL parses.
VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m", "$scope": "x",
             "$job": "x", "$instance": "x"}


def load_rules(rule_dir=RULES):
    """{alertname: rule} over every rule file."""
    out = {}
    for f in sorted(rule_dir.glob("*.yml")):
        for g in yaml.safe_load(f.read_text())["groups"]:
            for r in g["rules"]:
                if "alert" in r:
                    out[r["alert"]] = r
    return out


def render(template, labels):
    def sub(m):
        return str(labels.get(m.group(1), ""))
    return re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", sub, template)


def expand_test(path, rules, outdir):
    """The test file with exp_annotations filled in and rule_files made absolute; returns the
    written path and {alertname: [fires?, ...]} for the coverage check."""
    doc = yaml.safe_load(path.read_text())
    doc["rule_files"] = [str((path.parent / f).resolve()) for f in doc["rule_files"]]
    cases = {}
    for t in doc.get("tests", []):
        for c in t.get("alert_rule_test", []):
            name = c["alertname"]
            exp = c.get("exp_alerts") or []
            cases.setdefault(name, []).append(bool(exp))
            rule = rules.get(name)
            if rule is None:
                continue
            for e in exp:
                labels = e.get("exp_labels", {})
                e["exp_annotations"] = {k: render(v, labels)
                                        for k, v in rule.get("annotations", {}).items()}
    out = outdir / path.name
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out, cases


def check_generated(problems):
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, str(HERE / "gen_rules.py"), "--out", d],
                           capture_output=True, text=True)
        if r.returncode != 0:
            problems.append(f"gen_rules.py failed: {r.stderr}")
            return
        cmp = filecmp.dircmp(d, RULES)
        for f in cmp.left_only + cmp.right_only + cmp.diff_files:
            problems.append(f"monitoring/rules/{f} is not what gen_rules.py writes "
                            "(run `make monitoring-rules`)")


def run(cmd, problems, what):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"{what} failed:\n{r.stdout}{r.stderr}")
    return r.returncode == 0


def check_tests(rules, problems):
    with tempfile.TemporaryDirectory() as d:
        files, cases = [], {}
        for f in sorted(TESTS.glob("*.yml")):
            out, c = expand_test(f, rules, pathlib.Path(d))
            files.append(str(out))
            for k, v in c.items():
                cases.setdefault(k, []).extend(v)
        if files:
            run([PROMTOOL, "test", "rules", *files], problems, "promtool test rules")
    for name in sorted(rules):
        got = cases.get(name, [])
        if True not in got:
            problems.append(f"alert {name} has no test case where it fires")
        if False not in got:
            problems.append(f"alert {name} has no test case where it does not fire")
    for name in sorted(set(cases) - set(rules)):
        problems.append(f"tests name alert {name}, which no rule defines")


def dashboard_exprs(dash):
    """Every PromQL expression of the dashboard: panel targets and templating queries."""
    out = []

    def panels(ps):
        for p in ps:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append(t["expr"])
            panels(p.get("panels", []))

    panels(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and q:
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q.strip())
            out.append(m.group(1) if m else q)
    return out


def substitute(expr):
    for k in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(k, VARIABLES[k])
    return expr


def check_dashboard(problems):
    sys.path.insert(0, str(HERE))
    import gen_dashboard
    try:
        if DASHBOARD.read_text() != gen_dashboard.text():
            problems.append(f"{DASHBOARD} is not what gen_dashboard.py writes "
                            "(run `make monitoring-rules`)")
    except OSError as e:
        problems.append(f"{DASHBOARD}: {e}")
    try:
        dash = json.loads(DASHBOARD.read_text())
    except (OSError, ValueError) as e:
        problems.append(f"{DASHBOARD}: {e}")
        return
    for key in ("title", "uid", "panels", "schemaVersion"):
        if key not in dash:
            problems.append(f"dashboard: no '{key}'")
    rows = [p.get("title") for p in dash.get("panels", []) if p.get("type") == "row"]
    for r in ROWS:
        if r not in rows:
            problems.append(f"dashboard: no row '{r}' (rows: {rows})")
    ids = [p.get("id") for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        problems.append("dashboard: panel ids repeat")
    for p in dash.get("panels", []):
        if p.get("type") != "row" and not p.get("targets"):
            problems.append(f"dashboard: panel '{p.get('title')}' has no query")
    exprs = dashboard_exprs(dash)
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": substitute(e)} for i, e in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump(rules, f)
        f.flush()
        run([PROMTOOL, "check", "rules", f.name], problems, "the dashboard's PromQL")


METRIC = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?=\s*(\{|\[|\)|$|\s*[<>=!+\-*/]|\s+(and|or|unless|on|by)\b))")
KEYWORDS = {"sum", "max", "min", "avg", "count", "rate", "increase", "delta", "deriv",
            "histogram_quantile", "time", "by", "on", "without", "ignoring", "and", "or",
            "unless", "bool", "group_left", "group_right", "changes", "label_values", "offset",
            "max_over_time", "min_over_time", "avg_over_time", "clamp_min", "clamp_max", "abs",
            "topk", "bottomk", "vector", "scalar", "le", "inf", "nan", "absent", "resets",
            "irate", "sort", "sort_desc", "predict_linear", "x", "count_over_time"}


def metric_names(expr):
    """The metric names an expression reads (selectors' names; not functions or labels)."""
    expr = substitute(expr)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "{}", expr)  # matchers
    expr = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)  # ranges
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        w = m.group(0)
        rest = expr[m.end():].lstrip()
        if w.lower() in KEYWORDS or rest.startswith("("):
            continue
        if re.fullmatch(r"\d.*|[0-9.e+-]+", w):
            continue
        names.add(w)
    return names


def kit_metric_names():
    """{metric: [where it is used]} over the dashboard and the rules."""
    out = {}
    dash = json.loads(DASHBOARD.read_text())
    for e in dashboard_exprs(dash):
        for n in metric_names(e):
            out.setdefault(n, set()).add("dashboard")
    for name, r in load_rules().items():
        for n in metric_names(r["expr"]):
            out.setdefault(n, set()).add(name)
    return out


def missing_on_live(prometheus_url, names):
    """The names Prometheus has no series of (its /api/v1/label/__name__/values)."""
    with urllib.request.urlopen(
            prometheus_url.rstrip("/") + "/api/v1/label/__name__/values", timeout=10) as r:
        have = set(json.load(r)["data"])
    return sorted(n for n in names if n not in have)


def check_runbooks(rules, problems):
    """Every alert's runbook points to a section of docs/monitoring.md that exists."""
    doc = HERE.parent / "docs" / "monitoring.md"
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.*)$", doc.read_text(), re.M)}
    for name, r in sorted(rules.items()):
        rb = r.get("annotations", {}).get("runbook", "")
        if not rb.startswith("docs/monitoring.md#") or rb.split("#", 1)[1] not in anchors:
            problems.append(f"alert {name}: runbook {rb!r} is no section of {doc.name}")
        if r.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            problems.append(f"alert {name}: no severity")


def main():
    problems = []
    check_generated(problems)
    run([PROMTOOL, "check", "rules", *map(str, sorted(RULES.glob("*.yml")))], problems,
        "promtool check rules")
    rules = load_rules()
    check_tests(rules, problems)
    check_runbooks(rules, problems)
    check_dashboard(problems)
    for p in problems:
        print(p)
    print(f"monitoring: {len(rules)} alerts, "
          f"{'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
