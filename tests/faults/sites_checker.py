"""Checks a two-site history (sites_workload.py) against what the sites hold afterwards.

Rows (a violation makes the run fail), besides checker.py's phantom, failed-in, wrong-value:
* healed    - every site that was not lost heals by itself: the primary site as checker.py's
              `healed`; the standby site's leader a streaming standby leader, its other member a
              streaming replica, nobody in it writable; every member on one timeline.
* lost      - every acknowledged write is in the primary site. After a disaster, the writes the
              lost site acknowledged may be missing, but only those the history shows came after
              the surviving site's last replayed position (its new timeline's fork point):
              `disaster_loss` below; they are reported.
* standby   - once caught up, every member of the standby site holds exactly the primary's rows.
* sites     - never two writable sites acknowledging writes in overlapping time: `sites_rule`.
* rewind    - no pg_rewind ran during the scenario (a site switch needs none); reported only
              where the scenario kills an agent.
* switch    - (information) the write gap across the change of writable site: from the last
              write the old site acknowledged to the first the new one did.
"""

from __future__ import annotations

import psycopg

from checker import Report, _n, _read_sets, _retry, lsn
from system import wait_until


def sites_rule(acked):
    """Never two writable sites at once. `acked`: acknowledged operations with `site`, `start`,
    `end`, and for direct writes `tl`. Returns (problems, turns): every timeline is written by
    one site; the timelines, in order, make the sites' turns (consecutive timelines of one site
    are one turn); a turn's write that began after a later turn (another site) had acknowledged
    one proves both sites writable at once; so does any write (hellod's too) of a site that
    began after another site's turn had acknowledged, unless its own site has a later turn."""
    direct = [o for o in acked if o["kind"] == "direct"]
    by_tl = {}
    for o in direct:
        by_tl.setdefault(o["tl"], []).append(o)
    problems, turns = [], []
    for tl in sorted(by_tl):
        os_ = by_tl[tl]
        sites = sorted({o["site"] for o in os_})
        if len(sites) > 1:
            problems.append(f"timeline {tl} acknowledged by sites {sites}")
        t = {"site": sites[0], "tls": [tl], "first_end": min(o["end"] for o in os_),
             "last_start": max(o["start"] for o in os_), "last_end": max(o["end"] for o in os_),
             "first_start": min(o["start"] for o in os_)}
        if turns and turns[-1]["site"] == t["site"]:
            u = turns[-1]
            u["tls"].append(tl)
            u["first_end"] = min(u["first_end"], t["first_end"])
            u["first_start"] = min(u["first_start"], t["first_start"])
            u["last_start"] = max(u["last_start"], t["last_start"])
            u["last_end"] = max(u["last_end"], t["last_end"])
        else:
            turns.append(t)
    for i, a in enumerate(turns):
        for b in turns[i + 1:]:
            if a["site"] != b["site"] and a["last_start"] > b["first_end"]:
                problems.append(f"site {a['site']} (timeline {a['tls'][-1]}) began a write "
                                f"{a['last_start'] - b['first_end']:.2f}s after site {b['site']} "
                                f"(timeline {b['tls'][0]}) had acknowledged one")
    for o in acked:
        k = max((i for i, t in enumerate(turns) if t["first_end"] < o["start"]), default=None)
        if k is None or turns[k]["site"] == o["site"]:
            continue
        if o["site"] in {t["site"] for t in turns[k + 1:]}:
            continue
        problems.append(f"{o['kind']} write {o['key']} acknowledged by site {o['site']} began "
                        f"{o['start'] - turns[k]['first_end']:.2f}s after site "
                        f"{turns[k]['site']} had acknowledged one")
    return problems, turns


def switch_gaps(turns):
    """Seconds from the last direct write a turn acknowledged to the first of the next."""
    return [b["first_end"] - a["last_end"] for a, b in zip(turns, turns[1:])]


def disaster_loss(lost_site_acked, present, fork):
    """The writes a lost site acknowledged, against what the surviving site holds (`present`:
    keys) and its fork point `fork` (the surviving site's last replayed position, as an int).
    Returns (missing, problems, proven): a missing write is explained when nothing shows it
    was sent before the fork. Shown before: a direct write whose position after its commit
    (`lsn_after`) is at or before the fork; any write acknowledged before a present write
    began (commits are written in order). Shown after: a direct write whose position before
    its commit (`lsn`) is at or past the fork, and any write that began after such a write was
    acknowledged; those must be missing. `proven`: how many missing writes are shown past the
    fork (the others fall in between, where either answer is right)."""
    missing = [o for o in lost_site_acked if o["key"] not in present]
    there = [o for o in lost_site_acked if o["key"] in present]
    problems = []
    latest_present_start = max((o["start"] for o in there), default=None)
    after = [o for o in lost_site_acked if o["kind"] == "direct" and lsn(o["lsn"]) >= fork]
    first_after_end = min((o["end"] for o in after), default=None)
    for o in missing:
        if o["kind"] == "direct" and o.get("lsn_after") and lsn(o["lsn_after"]) <= fork:
            problems.append(f"{o['key']} committed by {o['lsn_after']}, before the fork, and "
                            f"missing")
        elif latest_present_start is not None and o["end"] < latest_present_start:
            problems.append(f"{o['key']} acknowledged before a write that is present began, "
                            f"and missing")
    for o in there:
        if o["kind"] == "direct" and lsn(o["lsn"]) >= fork:
            problems.append(f"{o['key']} written at {o['lsn']}, past the fork, yet present")
        elif first_after_end is not None and o["start"] > first_after_end:
            problems.append(f"{o['key']} began after a write past the fork, yet present")
    proven = sum(1 for o in missing
                 if (o["kind"] == "direct" and lsn(o["lsn"]) >= fork) or
                 (first_after_end is not None and o["start"] > first_after_end))
    return missing, problems, proven


def _fork_point(node):
    """The LSN where the node's current timeline began (from its history file), or None."""
    tl = int(node.query("SELECT timeline_id FROM pg_control_checkpoint()")[0][0])
    hist = node.query("SELECT pg_read_file(%s)", (f"pg_wal/{tl:08X}.history",))[0][0]
    lines = [ln.split() for ln in hist.splitlines() if ln.split() and ln.split()[0].isdigit()]
    return lsn(lines[-1][1]) if lines else None


def rewinds(two, marks):
    """pg_rewind runs logged by any agent since `marks` (log sizes at the scenario's start)."""
    out = []
    for s in two.sites:
        for n in s.nodes.values():
            try:
                with open(n.log_path, errors="replace") as f:
                    f.seek(marks.get(n.name, 0))
                    text = f.read()
            except OSError:
                continue
            if "bin/pg_rewind started" in text:
                out.append(n.name)
    return out


def log_marks(two):
    marks = {}
    for s in two.sites:
        for n in s.nodes.values():
            try:
                marks[n.name] = n.log_path.stat().st_size
            except OSError:
                marks[n.name] = 0
    return marks


def check_sites(two, wl, ops, marks, settle=90.0, disaster=None, rewind_ok=False):
    """disaster: {"site": the lost site's name} when a site was lost and the other promoted.
    rewind_ok: a rewind is reported, not a violation (an agent was killed: what its restart
    does is tandemd's business within the site, not the switch's)."""
    rep = Report(wl.scenario)
    ok = [o for o in ops if o["status"] == "ok"]
    direct_ok = [o for o in ok if o["kind"] == "direct"]
    put_ok = [o for o in ok if o["kind"] == "hellod"]
    by_site = {s.name: sum(1 for o in ok if o.get("site") == s.name) for s in two.sites}
    rep.add("operations", f"{len(direct_ok)}+{len(put_ok)} ok",
            f"acknowledged by site: {by_site}; direct failed {_n(ops, 'direct', 'failed')}, "
            f"unknown {_n(ops, 'direct', 'unknown')}; hellod failed "
            f"{_n(ops, 'hellod', 'failed')}, unknown {_n(ops, 'hellod', 'unknown')}",
            violation=not ok)
    try:
        t = wl.now()
        two.wait_healthy(settle)
        rep.add("healed", f"{wl.now() - t:.1f}s",
                " ".join(f"{s.name}:{s.role}{'(lost)' if s.lost else ''}" for s in two.sites))
    except TimeoutError as e:
        rep.add("healed", "no", str(e), violation=True)
    primary = two.primary
    leader = primary.leader_node()
    if leader is None:
        rep.add("read-back", "impossible", "no leader in the primary site", violation=True)
        return rep
    try:
        direct, users = _retry(lambda: _read_sets(leader, wl.scenario, wl.user_prefix))
    except RuntimeError as e:
        rep.add("read-back", "failed", str(e), violation=True)
        return rep
    present = direct | set(users)
    if disaster:
        lost_name = disaster["site"]
        try:
            fork = _fork_point(leader)
        except (psycopg.Error, ValueError, IndexError) as e:
            fork = None
            rep.add("lost", "?", f"no fork point: {e}", violation=True)
        if fork is not None:
            from_lost = [o for o in ok if o.get("site") == lost_name]
            missing, problems, proven = disaster_loss(from_lost, present, fork)
            others = [o for o in ok if o.get("site") != lost_name and o["key"] not in present]
            disaster.update(missing=missing, fork=fork, proven=proven)
            span = ""
            if missing:
                ends = sorted(o["end"] for o in missing)
                span = (f"acknowledged by site {lost_name} {ends[0] - wl.t0:.2f}-"
                        f"{ends[-1] - wl.t0:.2f}s into the scenario, in the last "
                        f"{disaster.get('lost_at', ends[-1]) - ends[0]:.2f}s before the loss")
            fork_txt = f"{fork >> 32:X}/{fork & 0xffffffff:X}"
            rep.lost_at = [o["end"] for o in missing + others]  # for the picture
            rep.add("lost", len(missing) + len(others),
                    f"{len(missing)} acknowledged by site {lost_name} after {fork_txt} (the "
                    f"surviving site's last replayed position; {proven} shown past it, "
                    f"{len(missing) - proven} in between)"
                    + "; ".join([""] + ([span] if span else []) + problems[:3] +
                                [f"{o['key']} of site {o.get('site')} lost"
                                 for o in others[:3]]),
                    violation=bool(problems or others))
    else:
        lost = [o for o in ok if o["key"] not in present]
        rep.lost_at = [o["end"] for o in lost]  # for the picture
        rep.add("lost", len(lost), ", ".join(f"{o['key']}@{o.get('site')}" for o in lost[:5]),
                violation=bool(lost))
    attempted_d = {o["key"] for o in ops if o["kind"] == "direct"}
    attempted_u = {o["key"]: o["date"] for o in ops if o["kind"] == "hellod"}
    phantom = sorted((direct - attempted_d) | (set(users) - set(attempted_u)))
    rep.add("phantom", len(phantom), ", ".join(phantom[:5]), violation=bool(phantom))
    failed_in = [o["key"] for o in ops if o["status"] == "failed" and o["key"] in present]
    rep.add("failed-in", len(failed_in), ", ".join(failed_in[:5]), violation=bool(failed_in))
    wrong = [u for u, d in users.items() if u in attempted_u and attempted_u[u] != d]
    rep.add("wrong-value", len(wrong), ", ".join(wrong[:5]), violation=bool(wrong))
    rep.add(*_same_rows(two, leader, wl, direct, users))
    problems, turns = sites_rule(ok)
    order = " -> ".join(f"{t['site']}@tl{','.join(map(str, t['tls']))}" for t in turns)
    rep.add("sites", "one at a time" if not problems else "OVERLAP",
            "; ".join(problems[:3]) or order, violation=bool(problems))
    rw = rewinds(two, marks)
    rep.add("rewind", len(rw), ", ".join(rw) + (" (an agent was killed: reported only)"
                                               if rw and rewind_ok else ""),
            violation=bool(rw) and not rewind_ok)
    gaps = switch_gaps(turns)
    rep.add("switch", f"{max(gaps):.2f}s" if gaps else "-",
            "write gap across the change of writable site" if gaps else "no change of site")
    ends = sorted(o["end"] for o in ok)
    t1 = wl.t_stop or wl.t1  # not the threads' join: a hellod request may block for 8 s
    points = [wl.t0] + [e for e in ends if wl.t0 <= e <= t1] + [t1]
    gap = max(b - a for a, b in zip(points, points[1:]))
    buckets = max(1, int(t1 - wl.t0))
    hit = {int(e - wl.t0) for e in ends if wl.t0 <= e < wl.t0 + buckets}
    rep.add("availability", f"{100.0 * len(hit) / buckets:.0f}%",
            f"longest write gap {gap:.1f}s over {t1 - wl.t0:.0f}s")
    return rep


def _same_rows(two, leader, wl, direct, users):
    """Every other live member (both sites) replays up to the leader and holds its rows."""
    try:
        target = lsn(leader.query("SELECT pg_current_wal_lsn()::text")[0][0])
    except psycopg.Error as e:
        return "standby", "unchecked", f"leader: {e}", False
    bad, n_checked = [], 0
    for s in two.sites:
        if s.lost:
            continue
        for n in s.nodes.values():
            if n is leader:
                continue

            def caught_up():
                try:
                    r = n.query("SELECT pg_last_wal_replay_lsn()::text")[0][0]
                    return r is not None and lsn(r) >= target
                except psycopg.Error:
                    return False
            try:
                wait_until(caught_up, 30, f"{n.name} to replay up to the leader", interval=0.3)
                d, u = _read_sets(n, wl.scenario, wl.user_prefix)
            except (TimeoutError, psycopg.Error) as e:
                bad.append(f"{n.name}: {str(e).strip()[:100]}")
                continue
            n_checked += 1
            if d != direct or u != users:
                bad.append(f"{n.name}: {len(direct ^ d)} direct rows and "
                           f"{len(set(users) ^ set(u))} users differ from the leader")
    return ("standby", "same" if not bad else "differ",
            "; ".join(bad) or f"{n_checked} members hold the leader's rows", bool(bad))
