"""A picture of one failure: an SVG timeline written with the standard library only.

The fault suite (run.py) and the failover benchmark (bench/failover.py) draw one per scenario so
that a person sees what happened instead of reading logs:

* acknowledged writes per 100 ms (bars above the axis), failed and unknown writes per 100 ms
  (bars below it);
* each member's role over time (a lane per member: primary, replica, standby leader, other
  states, no answer);
* the faults shaded over the whole height, each with its name;
* the longest gap between acknowledged writes marked, with its length;
* the acknowledged writes that were lost marked where they were acknowledged, with their count.

A timeline is a plain dict (JSON, so that a recorded one can be drawn again, and a test can
draw one from a fixture file):

    {"title": str, "t0": float, "t1": float,                 # the window, monotonic seconds
     "writes": [[start, end or null, status], ...],          # status: ok, failed, unknown
     "lost": [ack time, ...],                                # acknowledged, then missing
     "faults": [{"name": str, "start": float, "end": float}, ...],
     "roles": {"member": [[t, role or null], ...], ...},     # a change at t; null: no answer
     "notes": [str, ...]}                                    # optional lines under the title
"""

from __future__ import annotations

import html
import json
import math

BUCKET = 0.1  # seconds per bar
WIDTH = 1000
LEFT, RIGHT = 120, 20  # margins of the plot area
ACK_H, ERR_H = 170, 40  # heights of the ack bars above and the error bars below the axis
LABEL_ROWS = 3  # rows for the faults' names above the bars (a fault per row, in turn)
LANE_H, LANE_GAP = 18, 6

ROLE_COLOURS = {
    "primary": "#1f4e9c",
    "standby_leader": "#7b3fa0",
    "replica": "#5fae5f",
    None: "#d0d0d0",
}
OTHER_ROLE = "#e39b2d"  # starting, stopped, demoted, unknown...
ACK, ERR, FAULT, GAP, LOST = "#2f6fdf", "#e07070", "#f5c542", "#d62728", "#b00000"


def role_name(patroni):
    """The lane's label for a member's /patroni answer (None: no answer)."""
    if not patroni:
        return None
    role = patroni.get("role")
    if role == "master":
        role = "primary"
    state = patroni.get("state")
    if state not in (None, "running", "streaming"):
        return f"{role} ({state})" if role else state
    return role


def gap(timeline):
    """(start, end) of the longest interval without an acknowledged write in the window, its
    edges counted as the run.py checker counts them."""
    t0, t1 = timeline["t0"], timeline["t1"]
    ends = sorted(w[1] for w in timeline["writes"] if w[2] == "ok" and w[1] is not None
                  and t0 <= w[1] <= t1)
    points = [t0] + ends + [t1]
    return max(zip(points, points[1:]), key=lambda p: p[1] - p[0])


def buckets(timeline):
    """Per 100 ms of the window: (acknowledged writes, failed or unknown writes), counted at the
    acknowledgement (or the error) time; writes with no end at their start."""
    t0, t1 = timeline["t0"], timeline["t1"]
    n = max(1, math.ceil((t1 - t0) / BUCKET))
    ok, bad = [0] * n, [0] * n
    for start, end, status in (w[:3] for w in timeline["writes"]):
        t = end if end is not None else start
        i = int((t - t0) / BUCKET + 1e-9)  # 0.3 / 0.1 is 2.9999...
        if 0 <= i < n:
            if status == "ok":
                ok[i] += 1
            else:
                bad[i] += 1
    return ok, bad


class _Svg:
    def __init__(self):
        self.parts = []

    def add(self, tag, text=None, **attrs):
        a = " ".join(f'{k.rstrip("_").replace("_", "-")}="{html.escape(str(v), quote=True)}"'
                     for k, v in attrs.items())
        if text is None:
            self.parts.append(f"<{tag} {a}/>")
        else:
            self.parts.append(f"<{tag} {a}>{html.escape(str(text))}</{tag}>")


def _ticks(span):
    """A tick step giving 5-15 ticks over `span` seconds."""
    for step in (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600):
        if span / step <= 15:
            return step
    return 1200


def render(timeline):
    """The SVG text of a timeline."""
    t0, t1 = timeline["t0"], timeline["t1"]
    span = max(t1 - t0, BUCKET)
    plot_w = WIDTH - LEFT - RIGHT
    notes = timeline.get("notes", [])
    members = sorted(timeline.get("roles", {}))
    top = 34 + 14 * len(notes)
    axis_y = top + ACK_H
    lanes_y = axis_y + ERR_H + 30
    legend_y = lanes_y + len(members) * (LANE_H + LANE_GAP) + 24
    height = legend_y + 30

    def x(t):
        return LEFT + (min(max(t, t0), t1) - t0) / span * plot_w

    s = _Svg()
    s.add("rect", x=0, y=0, width=WIDTH, height=height, fill="white")
    s.add("text", timeline.get("title", ""), x=10, y=20, font_size=15, font_weight="bold")
    for i, n in enumerate(notes):
        s.add("text", n, x=10, y=36 + 14 * i, font_size=11, fill="#444")

    # faults, shaded over the whole height of the plot, their names in rows of their own
    faults = timeline.get("faults", [])
    bars_top = 28 + 12 * min(max(len(faults), 1), LABEL_ROWS)  # room for the labels above
    for i, f in enumerate(faults):
        fx = x(f["start"])
        fw = max(x(f["end"] if f.get("end") is not None else t1) - fx, 1.5)
        s.add("rect", class_="fault", x=f"{fx:.1f}", y=top, width=f"{fw:.1f}",
              height=lanes_y + len(members) * (LANE_H + LANE_GAP) - top, fill=FAULT,
              fill_opacity="0.28")
        s.add("text", f["name"], class_="fault-label", x=f"{fx + 3:.1f}", y=top + 11 + 12 * (i % LABEL_ROWS),
              font_size=11, fill="#7a5a00")

    # writes per 100 ms
    ok, bad = buckets(timeline)
    peak = max(ok + bad + [1])
    bw = plot_w / len(ok)
    for i, (a, b) in enumerate(zip(ok, bad)):
        bx = LEFT + i * bw
        if a:
            h = a / peak * (ACK_H - bars_top)
            s.add("rect", class_="ack", x=f"{bx:.1f}", y=f"{axis_y - h:.1f}",
                  width=f"{max(bw - 0.3, 0.6):.1f}", height=f"{h:.1f}", fill=ACK)
        if b:
            h = min(b / peak * (ACK_H - bars_top), ERR_H - 4)
            s.add("rect", class_="err", x=f"{bx:.1f}", y=axis_y, width=f"{max(bw - 0.3, 0.6):.1f}",
                  height=f"{h:.1f}", fill=ERR)
    s.add("line", x1=LEFT, y1=axis_y, x2=LEFT + plot_w, y2=axis_y, stroke="#333")
    s.add("text", "acknowledged", x=LEFT - 6, y=axis_y - ACK_H / 2, font_size=11,
          text_anchor="end")
    s.add("text", f"per 100 ms (max {peak})", x=LEFT - 6, y=axis_y - ACK_H / 2 + 13,
          font_size=10, text_anchor="end", fill="#555")
    s.add("text", "failed/unknown", x=LEFT - 6, y=axis_y + 16, font_size=11, text_anchor="end")

    # the longest gap between acknowledged writes
    g0, g1 = gap(timeline)
    gx0, gx1 = x(g0), x(g1)
    gy = top + bars_top - 12
    s.add("rect", class_="gap", x=f"{gx0:.1f}", y=gy, width=f"{max(gx1 - gx0, 1.5):.1f}",
          height=axis_y - gy, fill=GAP, fill_opacity="0.10", stroke=GAP, stroke_dasharray="4 3")
    s.add("text", f"gap {g1 - g0:.2f} s", class_="gap-label", x=f"{(gx0 + gx1) / 2:.1f}",
          y=gy - 3, font_size=12, font_weight="bold", fill=GAP, text_anchor="middle")

    # lost writes, where they were acknowledged
    lost = [t for t in timeline.get("lost", []) if t is not None]
    for t in lost:
        lx = x(t)
        s.add("path", class_="lost", d=f"M{lx:.1f},{gy + 12} l-5,-10 h10 z M{lx - 0.6:.1f},"
              f"{gy + 12} h1.2 V{axis_y} h-1.2 z", fill=LOST)
    if lost:
        s.add("text", f"{len(lost)} acknowledged write{'s' if len(lost) != 1 else ''} lost",
              class_="lost-label", x=LEFT + plot_w, y=gy - 3, font_size=12, font_weight="bold",
              fill=LOST, text_anchor="end")

    # the time axis
    step = _ticks(span)
    k = 0
    while k * step <= span + 1e-9:
        tx = LEFT + k * step / span * plot_w
        s.add("line", x1=f"{tx:.1f}", y1=axis_y + ERR_H, x2=f"{tx:.1f}", y2=axis_y + ERR_H + 5,
              stroke="#333")
        s.add("text", f"{k * step:g}", x=f"{tx:.1f}", y=axis_y + ERR_H + 16, font_size=10,
              text_anchor="middle")
        k += 1
    s.add("text", "seconds", x=LEFT - 6, y=axis_y + ERR_H + 16, font_size=10, text_anchor="end")

    # the members' roles
    seen = set()
    for i, m in enumerate(members):
        ly = lanes_y + i * (LANE_H + LANE_GAP)
        s.add("text", m, x=LEFT - 6, y=ly + LANE_H - 5, font_size=12, text_anchor="end")
        changes = sorted(timeline["roles"][m], key=lambda c: c[0])
        for j, (t, role) in enumerate(changes):
            end = changes[j + 1][0] if j + 1 < len(changes) else t1
            if end <= t0 or t >= t1:
                continue
            seen.add(role)
            rx, rw = x(t), max(x(end) - x(t), 0.8)
            s.add("rect", class_="role", x=f"{rx:.1f}", y=ly, width=f"{rw:.1f}",
                  height=LANE_H, fill=ROLE_COLOURS.get(role, OTHER_ROLE), data_role=role)
            label = role or "no answer"
            if rw >= 6.2 * len(label) + 8:  # named where it fits
                s.add("text", label, x=f"{rx + 4:.1f}", y=ly + LANE_H - 5, font_size=11,
                      fill="white" if role in ("primary", "standby_leader") else "#222")

    # the legend
    items = [("acknowledged writes", ACK), ("failed/unknown writes", ERR),
             ("fault", FAULT), ("longest write gap", GAP)]
    if lost:
        items.append(("lost write", LOST))
    items += [(r or "no answer", ROLE_COLOURS[r]) for r in ("primary", "standby_leader",
                                                             "replica", None) if r in seen]
    if any(r not in ROLE_COLOURS for r in seen):
        items.append(("other state", OTHER_ROLE))
    lx = 10
    for label, colour in items:
        s.add("rect", x=lx, y=legend_y, width=12, height=12, fill=colour)
        s.add("text", label, x=lx + 16, y=legend_y + 10, font_size=11)
        lx += 26 + 6.5 * len(label)

    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="sans-serif">\n'
            + "\n".join(s.parts) + "\n</svg>\n")


def write(path, timeline):
    """Writes the picture (`path`, .svg) and the timeline it was drawn from (.json beside it)."""
    path.write_text(render(timeline))
    path.with_suffix(".json").write_text(json.dumps(timeline))
    return path
