"""The site alerts end to end (docs/monitoring.md, "Alerts"): two sites as test_sites.py builds
them (site B a standby cluster of site A, each with its own etcd), a real Prometheus scraping
every tandemd and both etcds with the rules monitoring/gen_rules.py writes for the sites' timing
and a loss budget of LOSS_BUDGET seconds (an option of the script, not an edited rule), and a
real Alertmanager whose webhook receiver is the test (promstack.py).

* Site B cut from A (its standby leader's source pointed at nothing, as test_sites.py cuts it):
  TandemReplicaNotStreaming fires for B's standby leader; reconnected, it resolves.
* Site B behind its loss budget (A commits while B's standby leader receives but does not
  replay): TandemStandbySiteBehind fires; replay resumed, it resolves.
"""

from __future__ import annotations

import os
import time

import pytest

import cluster as C
import promstack
from conftest import SLOW, wait_until
from promstack import ALERTMANAGER, PROMETHEUS, Monitoring
from test_sites import patch_config, standby_source, two_sites, wait_standby_site

LOSS_BUDGET = 2  # seconds

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs tandemd and PostgreSQL as the postgres user"),
    pytest.mark.skipif(not C.TANDEMD.exists(), reason=f"{C.TANDEMD} is not built"),
    pytest.mark.skipif(not (PROMETHEUS and ALERTMANAGER),
                       reason="prometheus and prometheus-alertmanager are not installed"),
]


@pytest.fixture(scope="module")
def sites():
    with two_sites() as (a, b, a_leader):
        m = promstack.started(Monitoring(
            a.base, ttl=a.ttl, loop_wait=a.loop_wait, ports=(30000, 30999),
            rule_args=["--site-loss-budget", LOSS_BUDGET],
            jobs={"tandem": [f"127.0.0.1:{x.rest_port}" for x in a.members + b.members],
                  "etcd": [a.etcd.host, b.etcd.host]}))
        try:
            yield a, b, a_leader, m
        except BaseException:
            print(m.logs())
            raise
        finally:
            m.stop()


def test_site_cut(sites):
    a, b, a_leader, mon = sites
    bl = b.member(b.dcs_leader())
    labels = {"scope": b.scope, "name": bl.name}
    assert mon.query(f'patroni_postgres_streaming{{scope="{b.scope}",name="{bl.name}"}} == 1')
    t0 = time.monotonic()
    patch_config(bl, {"standby_cluster": {"host": "127.0.0.1", "port": "1"}})
    # The cut takes effect once B's leader applies the new source (its walreceiver restarted
    # towards nowhere); the alert's deadline counts from then.
    wait_until(lambda: (bl.patroni() or {}).get("replication_state") != "streaming",
               C.T_CHANGE, "B no longer streaming", interval=0.2)
    mon.wait_fires("TandemReplicaNotStreaming", t0, **labels)
    # What a cut does to the standby site's lag: the agent learns A's position only from its
    # walreceiver, so without one the lag is not known (the series is gone), not large.
    assert not mon.query(f'tandem_site_lag_seconds{{scope="{b.scope}"}}')
    # Unknown for longer than the loss budget counts as behind it.
    mon.wait_fires("TandemStandbySiteBehind", t0, extra=LOSS_BUDGET, **labels)
    t1 = time.monotonic()
    patch_config(bl, {"standby_cluster": standby_source(a)})
    wait_standby_site(b)
    mon.wait_resolves("TandemReplicaNotStreaming", t1, C.T_CHANGE, **labels)
    mon.wait_resolves("TandemStandbySiteBehind", t1, C.T_CHANGE, **labels)


def test_standby_site_behind_its_loss_budget(sites):
    a, b, a_leader, mon = sites
    bl = wait_standby_site(b)
    labels = {"scope": b.scope, "name": bl.name}
    wait_until(lambda: mon.query(f'tandem_site_lag_seconds{{scope="{b.scope}"}} == 0'),
               C.T_CHANGE, "B's lag known and 0", interval=0.3)
    bl.query("SELECT pg_wal_replay_pause()")
    try:
        t0 = time.monotonic()
        a.write_row(a_leader, "behind")
        # The lag grows from the moment B received the commit: past the budget after it.
        mon.wait_fires("TandemStandbySiteBehind", t0, extra=LOSS_BUDGET, **labels)
        assert not b.has_row(bl, "behind")  # received, not replayed
    finally:
        bl.query("SELECT pg_wal_replay_resume()")
    t1 = time.monotonic()
    wait_until(lambda: b.has_row(bl, "behind"), C.T_CHANGE * SLOW, "B replayed the commit")
    mon.wait_resolves("TandemStandbySiteBehind", t1, 0, **labels)
