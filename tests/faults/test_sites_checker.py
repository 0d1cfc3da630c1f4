"""The two-site checker's rules on made-up histories: each rule must catch what it is for
(`make faults` runs these before the scenarios)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sites_checker import disaster_loss, sites_rule, switch_gaps  # noqa: E402


def d(key, site, tl, start, end, lsn="0/0", lsn_after=None):
    return {"kind": "direct", "key": key, "site": site, "tl": tl, "start": start, "end": end,
            "lsn": lsn, "lsn_after": lsn_after or lsn}


def h(key, site, start, end):
    return {"kind": "hellod", "key": key, "site": site, "start": start, "end": end}


def test_a_clean_switch_passes_and_its_gap_is_measured():
    acked = [d("1", "A", 1, 0.0, 0.1), d("2", "A", 1, 0.2, 0.3), h("u1", "A", 0.1, 0.35),
             d("3", "B", 2, 1.5, 1.8), h("u2", "B", 1.0, 2.0)]
    problems, turns = sites_rule(acked)
    assert problems == []
    assert [t["site"] for t in turns] == ["A", "B"]
    assert abs(switch_gaps(turns)[0] - (1.8 - 0.3)) < 1e-9  # direct writes


def test_a_timeline_written_by_two_sites_is_caught():
    problems, _ = sites_rule([d("1", "A", 1, 0.0, 0.1), d("2", "B", 1, 0.2, 0.3)])
    assert any("timeline 1 acknowledged by sites" in p for p in problems)


def test_the_old_site_writing_after_the_new_one_acknowledged_is_caught():
    acked = [d("1", "A", 1, 0.0, 0.1), d("2", "B", 2, 0.5, 0.6), d("3", "A", 1, 0.7, 0.8)]
    problems, _ = sites_rule(acked)
    assert any("site A (timeline 1) began a write" in p for p in problems)


def test_a_hellod_write_of_the_old_site_after_the_switch_is_caught():
    acked = [d("1", "A", 1, 0.0, 0.1), d("2", "B", 2, 0.5, 0.6), h("u", "A", 0.7, 0.9)]
    problems, _ = sites_rule(acked)
    assert any("hellod write u acknowledged by site A" in p for p in problems)
    # ... but not one that began before the new site had acknowledged anything,
    ok = [d("1", "A", 1, 0.0, 0.1), d("2", "B", 2, 0.5, 0.6), h("u", "A", 0.4, 0.9)]
    assert sites_rule(ok)[0] == []
    # ... nor one of a site whose turn comes back later (a switch back).
    back = [d("1", "A", 1, 0.0, 0.1), d("2", "B", 2, 0.5, 0.6), h("u", "A", 0.7, 2.1),
            d("3", "A", 3, 2.0, 2.2)]
    assert sites_rule(back)[0] == []


def test_disaster_losses_past_the_fork_are_explained():
    fork = 0x5000100
    acked = [d("1", "A", 1, 0.0, 0.1, "0/5000000", "0/5000080"),
             d("2", "A", 1, 0.2, 0.3, "0/5000080", "0/5000100"),
             d("3", "A", 1, 0.4, 0.5, "0/5000100", "0/5000180"),
             h("u", "A", 0.6, 0.7)]
    missing, problems, proven = disaster_loss(acked, {"1", "2"}, fork)
    assert problems == []
    assert [o["key"] for o in missing] == ["3", "u"]
    assert proven == 2


def test_a_loss_before_the_fork_is_caught():
    fork = 0x5000100
    acked = [d("1", "A", 1, 0.0, 0.1, "0/5000000", "0/5000080"),
             d("2", "A", 1, 0.2, 0.3, "0/5000080", "0/5000100")]
    _, problems, _ = disaster_loss(acked, {"2"}, fork)
    assert any("1 committed by 0/5000080, before the fork, and missing" in p for p in problems)
    # A hellod write acknowledged before a present write began must be there too.
    acked = [h("u", "A", 0.0, 0.1), d("2", "A", 1, 0.2, 0.3, "0/5000080", "0/5000100")]
    _, problems, _ = disaster_loss(acked, {"2"}, fork)
    assert any("u acknowledged before a write that is present began" in p for p in problems)


def test_a_write_past_the_fork_that_is_present_is_caught():
    acked = [d("1", "A", 1, 0.0, 0.1, "0/5000200", "0/5000280")]
    _, problems, _ = disaster_loss(acked, {"1"}, 0x5000100)
    assert any("past the fork, yet present" in p for p in problems)
