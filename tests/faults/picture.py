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

    def add(self, tag, text=None, tip=None, **attrs):
        """An element; `tip`: a <title> child, which a browser shows on hover."""
        a = " ".join(f'{k.rstrip("_").replace("_", "-")}="{html.escape(str(v), quote=True)}"'
                     for k, v in attrs.items())
        if tip is not None:
            self.parts.append(f"<{tag} {a}><title>{html.escape(tip)}</title></{tag}>")
        elif text is None:
            self.parts.append(f"<{tag} {a}/>")
        else:
            self.parts.append(f"<{tag} {a}>{html.escape(str(text))}</{tag}>")


def _ticks(span):
    """A tick step giving 5-15 ticks over `span` seconds."""
    for step in (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600):
        if span / step <= 15:
            return step
    return 1200


class _Picture:
    """The layout of one picture (heights from its notes, faults and members) and its layers,
    drawn in order: faults under the bars, the bars, the gap and losses over them, the axis, the
    role lanes, the legend."""

    def __init__(self, timeline):
        self.tl = timeline
        self.t0, self.t1 = timeline["t0"], timeline["t1"]
        self.span = max(self.t1 - self.t0, BUCKET)
        self.plot_w = WIDTH - LEFT - RIGHT
        self.notes = timeline.get("notes", [])
        self.members = sorted(timeline.get("roles", {}))
        self.faults = timeline.get("faults", [])
        self.top = 34 + 14 * len(self.notes)
        # room above the tallest bar for the faults' names (a row each, in turn), the gap's
        # length and the losses' count
        self.bars_top = 28 + 12 * min(max(len(self.faults), 1), LABEL_ROWS)
        self.label_y = self.top + self.bars_top - 12
        self.axis_y = self.top + ACK_H
        self.lanes_y = self.axis_y + ERR_H + 30
        self.lanes_end = self.lanes_y + len(self.members) * (LANE_H + LANE_GAP)
        self.legend_y = self.lanes_end + 24
        self.lost = [t for t in timeline.get("lost", []) if t is not None]
        self.legend = self.legend_items()
        self.height = self.legend_y + 20 * self.legend[-1][3] + 30
        self.s = _Svg()

    def segments(self, member):
        """(start, end, role) of each of a member's roles that shows in the window."""
        changes = sorted(self.tl["roles"][member], key=lambda c: c[0])
        for j, (t, role) in enumerate(changes):
            end = changes[j + 1][0] if j + 1 < len(changes) else self.t1
            if end > self.t0 and t < self.t1:
                yield t, end, role

    def legend_items(self):
        """[(label, colour, x, row)]: what the picture uses, in rows that fit its width."""
        roles = {r for m in self.members for _, _, r in self.segments(m)}
        items = [("acknowledged writes", ACK), ("failed/unknown writes", ERR),
                 ("fault", FAULT), ("longest write gap", GAP)]
        if self.lost:
            items.append(("lost write", LOST))
        items += [(r or "no answer", ROLE_COLOURS[r])
                  for r in ("primary", "standby_leader", "replica", None) if r in roles]
        if any(r not in ROLE_COLOURS for r in roles):
            items.append(("other state", OTHER_ROLE))
        out, lx, row = [], 10, 0
        for label, colour in items:
            w = 26 + 6.5 * len(label)
            if lx + w > WIDTH and lx > 10:
                lx, row = 10, row + 1
            out.append((label, colour, lx, row))
            lx += w
        return out

    def rel(self, t):
        """A time as the picture's axis shows it."""
        return f"{max(t, self.t0) - self.t0:.2f}"

    def x(self, t):
        return LEFT + (min(max(t, self.t0), self.t1) - self.t0) / self.span * self.plot_w

    def svg(self):
        s = self.s
        s.add("rect", x=0, y=0, width=WIDTH, height=self.height, fill="white")
        s.add("text", self.tl.get("title", ""), x=10, y=20, font_size=15, font_weight="bold")
        for i, n in enumerate(self.notes):
            s.add("text", n, x=10, y=36 + 14 * i, font_size=11, fill="#444")
        for layer in (self.draw_faults, self.draw_writes, self.draw_gap, self.draw_lost,
                      self.draw_axis, self.draw_roles, self.draw_legend):
            layer()
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
                f'height="{self.height:.0f}" viewBox="0 0 {WIDTH} {self.height:.0f}" '
                f'font-family="sans-serif">\n' + "\n".join(s.parts) + "\n</svg>\n")

    def draw_faults(self):
        """Each fault shaded over the whole height, from injection to heal, with its name."""
        for i, f in enumerate(self.faults):
            fx = self.x(f["start"])
            fw = max(self.x(f["end"] if f.get("end") is not None else self.t1) - fx, 1.5)
            end = f.get("end") if f.get("end") is not None else self.t1
            self.s.add("rect", class_="fault", x=f"{fx:.1f}", y=self.top, width=f"{fw:.1f}",
                       height=self.lanes_end - self.top, fill=FAULT, fill_opacity="0.28",
                       tip=f"{f['name']}: {self.rel(f['start'])}-{self.rel(end)} s")
            self.s.add("text", f["name"], class_="fault-label", x=f"{fx + 3:.1f}",
                       y=self.top + 11 + 12 * (i % LABEL_ROWS), font_size=11, fill="#7a5a00")

    def draw_writes(self):
        """Acknowledged writes per 100 ms above the axis, failed and unknown ones below."""
        s, axis_y = self.s, self.axis_y
        ok, bad = buckets(self.tl)
        peak = max(ok + bad + [1])
        bw = self.plot_w / len(ok)
        scale = (ACK_H - self.bars_top) / peak
        for i, (a, b) in enumerate(zip(ok, bad)):
            bx = LEFT + i * bw
            if a:
                s.add("rect", class_="ack", x=f"{bx:.1f}", y=f"{axis_y - a * scale:.1f}",
                      width=f"{max(bw - 0.3, 0.6):.1f}", height=f"{a * scale:.1f}", fill=ACK)
            if b:
                s.add("rect", class_="err", x=f"{bx:.1f}", y=axis_y,
                      width=f"{max(bw - 0.3, 0.6):.1f}",
                      height=f"{min(b * scale, ERR_H - 4):.1f}", fill=ERR)
        s.add("line", x1=LEFT, y1=axis_y, x2=LEFT + self.plot_w, y2=axis_y, stroke="#333")
        s.add("text", "acknowledged", x=LEFT - 6, y=axis_y - ACK_H / 2, font_size=11,
              text_anchor="end")
        s.add("text", f"per 100 ms (max {peak})", x=LEFT - 6, y=axis_y - ACK_H / 2 + 13,
              font_size=10, text_anchor="end", fill="#555")
        s.add("text", "failed/unknown", x=LEFT - 6, y=axis_y + 16, font_size=11,
              text_anchor="end")

    def draw_gap(self):
        """The longest gap between acknowledged writes: a dashed box with its length."""
        g0, g1 = gap(self.tl)
        gx0, gx1, gy = self.x(g0), self.x(g1), self.label_y
        self.s.add("rect", class_="gap", x=f"{gx0:.1f}", y=gy, width=f"{max(gx1 - gx0, 1.5):.1f}",
                   height=self.axis_y - gy, fill=GAP, fill_opacity="0.10", stroke=GAP,
                   stroke_dasharray="4 3", tip=f"no write acknowledged from {self.rel(g0)} to "
                   f"{self.rel(g1)} s")
        self.s.add("text", f"gap {g1 - g0:.2f} s", class_="gap-label",
                   x=f"{(gx0 + gx1) / 2:.1f}", y=gy - 3, font_size=12, font_weight="bold",
                   fill=GAP, text_anchor="middle")

    def draw_lost(self):
        """Every lost write marked where it was acknowledged, and their count."""
        gy = self.label_y
        for t in self.lost:
            lx = self.x(t)
            self.s.add("path", class_="lost", fill=LOST,
                       d=f"M{lx:.1f},{gy + 12} l-5,-10 h10 z M{lx - 0.6:.1f},{gy + 12} h1.2 "
                         f"V{self.axis_y} h-1.2 z")
        if self.lost:
            n = len(self.lost)
            self.s.add("text", f"{n} acknowledged write{'s' if n != 1 else ''} lost",
                       class_="lost-label", x=LEFT + self.plot_w, y=gy - 3, font_size=12,
                       font_weight="bold", fill=LOST, text_anchor="end")

    def draw_axis(self):
        y = self.axis_y + ERR_H
        step = _ticks(self.span)
        k = 0
        while k * step <= self.span + 1e-9:
            tx = LEFT + k * step / self.span * self.plot_w
            self.s.add("line", x1=f"{tx:.1f}", y1=y, x2=f"{tx:.1f}", y2=y + 5, stroke="#333")
            self.s.add("text", f"{k * step:g}", x=f"{tx:.1f}", y=y + 16, font_size=10,
                       text_anchor="middle")
            k += 1
        self.s.add("text", "seconds", x=LEFT - 6, y=y + 16, font_size=10, text_anchor="end")

    def draw_roles(self):
        """A lane per member: a segment per role, named where it fits."""
        for i, m in enumerate(self.members):
            ly = self.lanes_y + i * (LANE_H + LANE_GAP)
            self.s.add("text", m, x=LEFT - 6, y=ly + LANE_H - 5, font_size=12, text_anchor="end")
            for t, end, role in self.segments(m):
                rx, rw = self.x(t), max(self.x(end) - self.x(t), 0.8)
                label = role or "no answer"
                self.s.add("rect", class_="role", x=f"{rx:.1f}", y=ly, width=f"{rw:.1f}",
                           height=LANE_H, fill=ROLE_COLOURS.get(role, OTHER_ROLE), data_role=role,
                           tip=f"{m}: {label}, {self.rel(t)}-{self.rel(end)} s")
                if rw >= 6.2 * len(label) + 8:
                    self.s.add("text", label, x=f"{rx + 4:.1f}", y=ly + LANE_H - 5, font_size=11,
                               fill="white" if role in ("primary", "standby_leader") else "#222")

    def draw_legend(self):
        for label, colour, lx, row in self.legend:
            y = self.legend_y + 20 * row
            self.s.add("rect", x=lx, y=y, width=12, height=12, fill=colour)
            self.s.add("text", label, x=lx + 16, y=y + 10, font_size=11)


def render(timeline):
    """The SVG text of a timeline."""
    return _Picture(timeline).svg()


def write(path, timeline):
    """Writes the picture (`path`, .svg) and the timeline it was drawn from (.json beside it)."""
    path.write_text(render(timeline))
    path.with_suffix(".json").write_text(json.dumps(timeline))
    return path
