"""The failover benchmark's pictures (bench/failover.py): each fault run's timeline for
tests/faults/picture.py, drawn into the run's album (tests/faults/album.py)."""

from __future__ import annotations

import time

FAULT_NAMES = {"a": "kill leader node", "b": "kill leader postmaster", "c": "switchover"}


def timeline(res, recs, present, span, lanes):
    """The fault run's picture: `recs` the writer's records (id, send, ack or None, error),
    `present` the ids the new leader holds (None: no leader to ask), `span` [the fault's start,
    its end (the kill done, the switchover command returned), the killed node's restart],
    `lanes` the members' roles (roles.RolePoller)."""
    lost = [] if present is None else [r[2] for r in recs if r[2] is not None and
                                       r[0] not in present]
    gap = f"{res['gap']:.2f} s" if res.get("gap") is not None else "none"
    notes = [f"leader {res['leader']} -> {res['new_leader']}; write gap {gap}; lost "
             f"{res['lost']}; errors {res['errors']} of {res['writes']} writes"
             + (f"; healed {res['heal_s']:.1f} s after the fault" if "heal_s" in res else "")]
    notes += [res[k] for k in ("error", "unhealed") if res.get(k)]
    name = FAULT_NAMES[res["fault"]]
    faults = []
    if span[0] is not None:
        faults.append({"name": name, "start": span[0],
                       "end": span[1] if span[1] is not None else span[0]})
    if len(span) > 2:  # (a): the killed node stays down until another member leads
        faults.append({"name": f"{res['leader']} down", "start": span[1] or span[0],
                       "end": span[2]})
    return {"title": f"({res['fault']}) {name}",
            "t0": recs[0][1] if recs else (span[0] or time.monotonic()), "t1": time.monotonic(),
            "writes": [[r[1], r[2] if r[2] is not None else r[1],
                        "ok" if r[2] is not None else "failed"] for r in recs],
            "lost": lost, "notes": notes, "roles": lanes, "faults": faults}


def draw(album, name, res):
    """The run's picture in the album; its timeline leaves the result (and so the --json).
    Returns the SVG's path."""
    tl = res.pop("timeline")
    tl["title"] = f"{name} {tl['title']}"
    verdict = ("FAIL" if res.get("error") or res.get("unhealed") else
               f"lost {res['lost']}" if res.get("lost") else "ok")
    gap = f"{res['gap']:.2f} s" if res.get("gap") is not None else "none"
    return album.add(len(album.entries), tl["title"], tl, verdict,
                     f"gap {gap}, lost {res['lost']}, errors {res['errors']}/{res['writes']}")
