"""The pictures of a run (picture.py), one per scenario, and the page that links them: the
fault suite (run.py) and the failover benchmark (bench/failover.py) put every scenario's SVG
timeline in one directory with an `index.html` that lists the scenarios with their verdicts and
shows each picture, and print the page's path in their summary."""

from __future__ import annotations

import html
import pathlib
import re
import tempfile

import picture


class Album:
    def __init__(self, directory=None, title="tandem", prefix="tandem-pictures-"):
        self.dir = pathlib.Path(directory or tempfile.mkdtemp(prefix=prefix))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.title = title
        self.entries = []  # (name, svg file name, verdict, summary)

    @property
    def index(self):
        return self.dir / "index.html"

    def add(self, index, name, timeline, verdict, summary=""):
        """Draws one scenario; returns the SVG's path. The page is rewritten every time, so that
        a run cut short still links what it drew."""
        fname = f"{index:03d}-{re.sub(r'[^A-Za-z0-9_.+-]', '_', name)[:80]}.svg"
        path = picture.write(self.dir / fname, timeline)
        self.entries.append((name, fname, verdict, summary))
        self.index.write_text(self.page())
        return path

    def add_report(self, index, rep, log):
        """Draws a fault suite scenario from its report (checker.Report with a `timeline`, see
        scenario_timeline), when it ran far enough to have one; logs the picture's path."""
        tl = getattr(rep, "timeline", None)
        if tl is None:
            return None
        d = {c: res for c, res, _, _ in rep.rows}
        summary = (f"{d.get('operations', '?')}, lost {d.get('lost', '?')}, healed "
                   f"{d.get('healed', '?')}, availability {d.get('availability', '?')}")
        try:
            path = self.add(index, rep.scenario, tl, "FAIL" if rep.violations else "ok", summary)
        except OSError as e:
            log(f"  no picture: {e}")
            return None
        log(f"  picture: {path}")
        return path

    def page(self):
        rows = "\n".join(
            f'<tr><td><a href="#{html.escape(f)}">{html.escape(n)}</a></td>'
            f'<td class="{"bad" if v != "ok" else "good"}">{html.escape(v)}</td>'
            f"<td>{html.escape(s)}</td></tr>" for n, f, v, s in self.entries)
        figures = "\n".join(
            f'<figure id="{html.escape(f)}"><figcaption>{html.escape(n)}: {html.escape(v)} '
            f'(<a href="{html.escape(f)}">{html.escape(f)}</a>)</figcaption>'
            f'<img src="{html.escape(f)}" alt="{html.escape(n)}"></figure>'
            for n, f, v, _ in self.entries)
        return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>
<style>body{{font-family:sans-serif;margin:1em}} td,th{{padding:2px 10px;text-align:left}}
.bad{{color:#b00000;font-weight:bold}} .good{{color:#2a7a2a}} figure{{margin:2em 0}}
img{{max-width:100%;border:1px solid #ccc}}</style></head>
<body><h1>{html.escape(self.title)}</h1>
<table><tr><th>scenario</th><th>verdict</th><th>summary</th></tr>
{rows}
</table>
{figures}
</body></html>
"""


def scenario_timeline(name, wl, ops, rep, spans, lanes):
    """What a fault suite scenario's picture shows: the workload's writes (`ops`, over its
    time), the acknowledged ones the checker found lost (rep.lost_at), the faults (`spans`: {name:
    [start, end]}) and the members' roles (`lanes`, roles.RolePoller)."""
    verdict = "ok" if not rep.violations else \
        "FAIL: " + ", ".join(c for c, *_ in rep.violations)
    rows = [f"{c}: {r} {d}"[:150] for c, r, d, _ in rep.rows
            if c in ("operations", "lost", "healed", "availability")]
    # The window its checker counts availability over: the two-site workload's ends when it was
    # told to stop (a hellod request may block its thread's end for seconds).
    t1 = getattr(wl, "t_stop", None) or wl.t1
    return {"title": f"{name}: {verdict}", "t0": wl.t0, "t1": t1,
            "writes": [[o["start"], o["end"], o["status"]] for o in ops
                       if o["kind"] in ("direct", "hellod")],
            "lost": list(getattr(rep, "lost_at", [])),
            "faults": [{"name": f, "start": a, "end": b} for f, (a, b) in spans.items()],
            "roles": lanes,
            "notes": [n[:150] for n in getattr(rep, "notes", [])[:6]] + rows}
