#!/usr/bin/python3
"""Writes tandem's Prometheus alert rules (monitoring/rules/*.yml) from the cluster's timing.

Every threshold that depends on time comes from Patroni's timing keys, so that rules for a cluster
with other timings are one command away:

    monitoring/gen_rules.py --ttl 30 --loop-wait 10 --scrape-interval 15 --out monitoring/rules
    make monitoring-rules TTL=30 LOOP_WAIT=10 SCRAPE_INTERVAL=15

The checked-in files are this script's output for the defaults (ttl 30, loop_wait 10, a 15 s
scrape); monitoring/check.py fails when they differ from it. The end-to-end test
(tests/integration/test_alerts_e2e.py) runs it with its cluster's timings (ttl 5, loop_wait 1, a
1 s scrape) instead of copying the rules by hand.

The derived durations (docs/monitoring.md, "Alerts", explains each):
* settle = max(loop_wait, 2 scrape intervals): how long a state a member publishes once per HA pass
  must last before it is more than a scrape that straddled a change;
* failover = ttl + 2 loop_wait: the longest a healthy failover takes (the lease runs out after at
  most ttl, a replica notices within a loop_wait and promotes within the next);
* lease = max(ttl, 2 scrape intervals): a member gone for longer than its lease has lost its place.
Thresholds that are not about time have options too (--help), with defaults an SRE would start
from. Annotations use $labels only, never $value, so that monitoring/check.py can fill in what the
unit tests expect from them.
"""

from __future__ import annotations

import argparse
import pathlib
import sys


def dur(seconds: float) -> str:
    """A Prometheus duration: whole seconds, in the largest unit that divides them."""
    s = int(round(seconds))
    if s <= 0:
        return "0s"
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s"


class Timing:
    def __init__(self, a):
        self.ttl, self.loop_wait, self.scrape = a.ttl, a.loop_wait, a.scrape_interval
        self.settle = max(a.loop_wait, 2 * a.scrape_interval)
        self.failover = a.ttl + 2 * a.loop_wait
        self.lease = max(a.ttl, 2 * a.scrape_interval)
        # A window a rate() or increase() can see at least four samples in.
        self.window = max(4 * a.scrape_interval, 3 * a.loop_wait, 60)
        self.a = a


def alert(name, expr, for_, severity, summary, description):
    return dict(alert=name, expr=expr, for_=for_, severity=severity, summary=summary,
                description=description)


def ha_rules(t: Timing):
    lw, ttl = t.loop_wait, t.ttl
    return [
        alert("TandemTwoPrimaries",
              "count by (scope) (max by (scope, name) (tandem_primary == 1 or patroni_primary == 1))"
              " > 1",
              t.settle, "critical",
              "Cluster {{ $labels.scope }} has more than one writable primary",
              "More than one member of one cluster runs PostgreSQL as a writable primary: writes "
              "may go to a primary that will be rewound."),
        alert("TandemNoLeader",
              "sum by (scope) (tandem_leader) == 0",
              t.failover, "critical",
              "Cluster {{ $labels.scope }} has had no leader for longer than a failover takes",
              f"No member holds the leader key, longer than ttl + 2 loop_wait ({dur(t.failover)}): "
              "nobody is writable (or, in a standby cluster, following the primary site)."),
        alert("TandemLeaderFlapping",
              "sum by (scope) (increase(tandem_failovers_total[1h])) >= 3",
              0, "warning",
              "Cluster {{ $labels.scope }} failed over three times or more in an hour",
              "Several failovers in an hour: something keeps taking leaders down."),
        alert("TandemFailover",
              f"sum by (scope) (increase(tandem_failovers_total[{dur(t.window)}])) > 0",
              0, "warning",
              "Cluster {{ $labels.scope }} failed over",
              "A replica was promoted because the leader was lost (not a switchover)."),
        alert("TandemAgentDown",
              'up{job="tandem"} == 0',
              t.lease, "critical",
              "tandemd at {{ $labels.instance }} does not answer",
              f"The agent's /metrics has not answered for a lease (ttl, {dur(t.lease)}): its "
              "member key is gone; if it led, a failover is due."),
        alert("TandemPostgresDown",
              "tandem_up == 0",
              t.lease, "critical",
              "PostgreSQL of {{ $labels.scope }}/{{ $labels.name }} is not running",
              "The agent runs but its PostgreSQL has not run for a lease (ttl): the agent could "
              "not start it."),
        alert("TandemDcsUnreachable",
              "tandem_dcs_ok == 0",
              t.settle, "critical",
              "{{ $labels.scope }}/{{ $labels.name }} cannot reach etcd",
              "The agent's DCS calls fail: a leader demotes after retry_timeout unless failsafe "
              "mode keeps it; a replica cannot be promoted."),
        alert("TandemHaLoopStalled",
              f"increase(tandem_ha_passes_total[{dur(t.window)}]) == 0",
              0, "critical",
              "The HA loop of {{ $labels.scope }}/{{ $labels.name }} makes no passes",
              f"The agent answers scrapes but ran no HA pass in {dur(t.window)} (loop_wait "
              f"{dur(lw)})."),
        alert("TandemHaLoopSlow",
              "histogram_quantile(0.99, sum by (scope, name, le) "
              f"(rate(tandem_ha_pass_duration_seconds_bucket[{dur(max(t.window, 300))}]))) > "
              f"{lw / 2:g}",
              t.failover, "warning",
              "HA passes of {{ $labels.scope }}/{{ $labels.name }} are slow",
              "The 99th percentile of an HA pass exceeds half of loop_wait: the lease is renewed "
              "late and a slow pass can cost the leader its lock (loop_wait + 2 retry_timeout <= "
              "ttl)."),
        alert("TandemEtcdSlow",
              "histogram_quantile(0.99, sum by (scope, name, le) "
              f"(rate(tandem_etcd_rtt_seconds_bucket[{dur(max(t.window, 300))}]))) > "
              f"{lw / 10:g}",
              t.failover, "warning",
              "etcd round trips of {{ $labels.scope }}/{{ $labels.name }} are slow",
              "The 99th percentile of a DCS round trip exceeds a tenth of loop_wait."),
        alert("TandemEtcdDown",
              'up{job="etcd"} == 0',
              t.lease, "critical",
              "etcd at {{ $labels.instance }} does not answer",
              "An etcd member has not answered for a lease (ttl); with a quorum lost every "
              "leader demotes (or runs on failsafe mode)."),
        alert("TandemSyncDegraded",
              "tandem_sync_required == 1 and on (scope, name) tandem_sync_standbys == 0",
              t.settle, "critical",
              "Leader of {{ $labels.scope }} waits for a synchronous standby",
              "Synchronous mode requires a standby and the leader has none: in strict mode "
              "writes block."),
        alert("TandemReplicaNotStreaming",
              "max by (scope, name) (patroni_replica == 1 or patroni_standby_leader == 1)"
              " unless on (scope, name) patroni_postgres_streaming == 1",
              t.lease, "critical",
              "{{ $labels.scope }}/{{ $labels.name }} does not stream WAL",
              "A replica (or a standby leader) runs but receives no WAL by streaming: it falls "
              "behind and may not be promoted."),
        alert("TandemReplicationLagBytes",
              f"tandem_replication_lag_bytes > {t.a.max_lag_on_failover}",
              t.lease, "warning",
              "Replica {{ $labels.replica }} of {{ $labels.scope }} is too far behind (bytes)",
              "A replica is further behind than maximum_lag_on_failover: it is no failover "
              "candidate."),
        alert("TandemReplicationLagSeconds",
              f"tandem_replication_lag_seconds > {ttl}",
              t.lease, "warning",
              "Replica {{ $labels.replica }} of {{ $labels.scope }} is too far behind (seconds)",
              "A replica has not replayed what the primary wrote more than a ttl ago."),
        alert("TandemFenceFired",
              "increase(tandem_fence_fired_total[1h]) > 0",
              0, "critical",
              "The fence of {{ $labels.scope }}/{{ $labels.name }} fired",
              "tandemd-fence stopped PostgreSQL because the agent died or froze."),
        alert("TandemFailsafeActive",
              "tandem_failsafe_active == 1",
              t.settle, "warning",
              "{{ $labels.scope }} runs on failsafe mode",
              "The primary keeps running through a DCS outage on every member's confirmation."),
        alert("TandemPaused",
              "max by (scope) (tandem_paused) == 1",
              "1h", "warning",
              "{{ $labels.scope }} has been paused for an hour",
              "Maintenance mode: no automatic failover."),
        alert("TandemPendingRestart",
              "tandem_pending_restart == 1",
              "1h", "info",
              "{{ $labels.scope }}/{{ $labels.name }} waits for a restart",
              "A changed setting needs a PostgreSQL restart to apply."),
    ]


def site_rules(t: Timing):
    return [
        alert("TandemTwoPrimarySites",
              "count by (system) (count by (system, scope) "
              "(tandem_site_primary == 1 and on (scope, name) tandem_primary == 1)) > 1",
              t.settle, "critical",
              "Two sites run a writable primary",
              "Two clusters both consider themselves the primary site and have a writable "
              "primary: writes go to both."),
        # Behind by more than the budget, or cut off for longer than it: a standby leader
        # learns its primary site's position only from its walreceiver, so while it is cut off
        # its lag series is absent, not large.
        alert("TandemStandbySiteBehind",
              f"tandem_site_lag_seconds > {t.a.site_loss_budget} or "
              f"(tandem_standby_leader == 1 unless on (scope, name) "
              f"max_over_time(tandem_site_lag_seconds[{dur(t.a.site_loss_budget)}]))",
              t.lease, "critical",
              "Standby site {{ $labels.scope }} is behind its loss budget",
              f"A disaster promotion now would lose more than the loss budget "
              f"({dur(t.a.site_loss_budget)}), or the standby site has not heard from its "
              f"primary site for longer than that."),
    ]


def backup_rules(t: Timing):
    a = t.a
    return [
        alert("TandemArchiveFailing",
              # Not while the member has not verified the stanza (a new cluster's first
              # pushes fail until the leader creates it): TandemBackupStanzaBroken's case.
              "tandem_archive_last_failure_timestamp_seconds > on (scope, name) "
              "tandem_archive_last_success_timestamp_seconds "
              "unless on (scope, name) tandem_backup_stanza_ok == 0",
              t.settle, "critical",
              "WAL archiving fails on {{ $labels.scope }}/{{ $labels.name }}",
              "The last archive-push failed and none succeeded since: point-in-time recovery "
              "stops at the last archived segment and pg_wal grows."),
        alert("TandemArchiveQueueGrowing",
              f"tandem_archive_ready_segments > {a.archive_ready} and "
              f"delta(tandem_archive_ready_segments[{dur(t.window)}]) > 0",
              t.failover, "warning",
              "WAL segments pile up for archiving on {{ $labels.scope }}/{{ $labels.name }}",
              "The archiver falls behind."),
        alert("TandemArchiveGap",
              "tandem_archive_continuity_ok == 0",
              0, "critical",
              "Archive gap after a promotion in {{ $labels.scope }}",
              "After the last promotion the repository lacks the new timeline's history file or "
              "the previous timeline's last segments."),
        alert("TandemArchiveConflict",
              "tandem_archive_conflict == 1",
              0, "critical",
              "Two primaries archive to the repository of {{ $labels.scope }}",
              "archive-push found a WAL file with another checksum in the repository."),
        alert("TandemBackupTooOld",
              f"time() - max by (scope) (tandem_backup_last_success_timestamp_seconds) > "
              f"{a.backup_max_age}",
              t.failover, "warning",
              "Last backup of {{ $labels.scope }} is too old",
              f"No backup succeeded in {dur(a.backup_max_age)}."),
        alert("TandemBackupStanzaBroken",
              "tandem_backup_stanza_ok == 0 and on (scope, name) tandem_leader == 1",
              t.failover + 2 * (a.archive_timeout + a.stanza_retry), "critical",
              "The pgBackRest stanza of {{ $labels.scope }} is not usable",
              "The leader has not verified the stanza (pgbackrest check fails, or it belongs to "
              "another system): neither archiving nor backups work."),
        alert("TandemDrillFailed",
              "max by (scope) (tandem_drill_last_ok) == 0",
              0, "warning",
              "The last restore drill of {{ $labels.scope }} failed",
              "The latest backup could not be restored and checked."),
        alert("TandemDrillTooOld",
              f"time() - max by (scope) (tandem_drill_last_success_timestamp_seconds) > "
              f"{a.drill_max_age}",
              t.failover, "warning",
              "No successful restore drill of {{ $labels.scope }} recently",
              f"No restore drill succeeded in {dur(a.drill_max_age)}."),
    ]


def postgres_rules(t: Timing):
    a = t.a
    return [
        alert("TandemSlotRetainingWal",
              f"pg_replication_slots_retained_bytes > {a.slot_retained}",
              t.failover, "warning",
              "Slot {{ $labels.slot_name }} retains too much WAL",
              "A replication slot keeps WAL its consumer has not taken."),
        alert("TandemDataDiskAlmostFull",
              f"tandem_data_fs_avail_bytes / tandem_data_fs_size_bytes < {a.disk_free:g}",
              t.failover, "critical",
              "Data file system of {{ $labels.scope }}/{{ $labels.name }} is almost full",
              f"Less than {a.disk_free:.0%} of the data directory's file system is free."),
        alert("TandemWalDiskAlmostFull",
              f"tandem_wal_fs_avail_bytes / tandem_wal_fs_size_bytes < {a.disk_free:g}",
              t.failover, "critical",
              "WAL file system of {{ $labels.scope }}/{{ $labels.name }} is almost full",
              f"Less than {a.disk_free:.0%} of pg_wal's file system is free: PostgreSQL stops "
              "when it is full."),
        alert("TandemWraparoundNear",
              f"pg_database_wraparound_age > {a.xid_age}",
              t.failover, "warning",
              "Database {{ $labels.datname }} nears transaction ID wraparound",
              "Transaction ID age is high: autovacuum cannot keep up or something holds back "
              "the xmin horizon."),
    ]


def hellod_rules(t: Timing):
    a = t.a
    w = dur(max(t.window, 300))
    return [
        alert("HellodDown",
              'up{job="hellod"} == 0',
              t.lease, "critical",
              "hellod at {{ $labels.instance }} does not answer",
              "An API instance's /metrics does not answer."),
        alert("HellodErrorRatio",
              f'sum by (job) (rate(hellod_http_requests_total{{code=~"5.."}}[{w}])) / '
              f"sum by (job) (rate(hellod_http_requests_total[{w}])) > {a.error_ratio:g}",
              t.failover, "critical",
              "Too many of hellod's answers are 5xx",
              f"More than {a.error_ratio:.0%} of requests fail on the server's side."),
        alert("HellodLatencyHigh",
              "histogram_quantile(0.99, sum by (job, le) "
              f"(rate(hellod_http_request_duration_seconds_bucket[{w}]))) > {a.p99:g}",
              t.failover, "warning",
              "hellod's p99 latency is high",
              f"The 99th percentile of request duration exceeds {a.p99:g} s."),
        alert("HellodRefusingClients",
              f"sum by (job, instance) (increase(hellod_refused_clients_total[{w}])) > 0",
              0, "warning",
              "hellod at {{ $labels.instance }} refuses clients",
              "Connections from addresses outside the allow-list were refused."),
    ]


GROUPS = [
    ("tandem-ha", "tandem.ha", ha_rules),
    ("tandem-sites", "tandem.sites", site_rules),
    ("tandem-backup", "tandem.backup", backup_rules),
    ("tandem-postgres", "tandem.postgres", postgres_rules),
    ("hellod", "hellod", hellod_rules),
]


def q(s: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(group, rules, args, interval) -> str:
    out = [
        "# Generated by monitoring/gen_rules.py --ttl %d --loop-wait %d --scrape-interval %d;"
        % (args.ttl, args.loop_wait, args.scrape_interval),
        "# do not edit: change the script, or regenerate for your cluster's timing with",
        "#   make monitoring-rules TTL=<ttl> LOOP_WAIT=<loop_wait> SCRAPE_INTERVAL=<seconds>",
        "# Runbooks: docs/monitoring.md, section \"Alerts\".",
        "groups:",
        f"  - name: {group}",
    ]
    if interval:
        out.append(f"    interval: {interval}")
    out.append("    rules:")
    for r in rules:
        for_ = r["for_"] if isinstance(r["for_"], str) else dur(r["for_"])
        out += [
            f"      - alert: {r['alert']}",
            f"        expr: {q(r['expr'])}",
        ]
        if for_ != "0s":
            out.append(f"        for: {for_}")
        out += [
            "        labels:",
            f"          severity: {r['severity']}",
            "        annotations:",
            f"          summary: {q(r['summary'])}",
            f"          description: {q(r['description'])}",
            f"          runbook: {q(args.runbook_base + '#' + r['alert'].lower())}",
        ]
    return "\n".join(out) + "\n"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ttl", type=int, default=30)
    p.add_argument("--loop-wait", type=int, default=10)
    p.add_argument("--scrape-interval", type=int, default=15)
    p.add_argument("--eval-interval", default="",
                   help="the groups' evaluation interval (default: Prometheus's global one)")
    p.add_argument("--max-lag-on-failover", type=int, default=1048576,
                   help="bytes, Patroni's maximum_lag_on_failover")
    p.add_argument("--site-loss-budget", type=int, default=60,
                   help="seconds a disaster promotion of the standby site may lose")
    p.add_argument("--backup-max-age", type=int, default=26 * 3600, help="seconds")
    p.add_argument("--drill-max-age", type=int, default=8 * 86400, help="seconds")
    p.add_argument("--archive-timeout", type=int, default=60,
                   help="seconds, pgBackRest's archive-timeout (a stanza check waits that long "
                        "for a WAL file to be archived)")
    p.add_argument("--stanza-retry", type=int, default=30,
                   help="seconds tandemd waits before checking a stanza again after a failed "
                        "check (agent_backup.c STANZA_RETRY_MS)")
    p.add_argument("--archive-ready", type=int, default=16,
                   help="segments waiting to be archived before a growing queue alerts")
    p.add_argument("--slot-retained", type=int, default=1 << 30, help="bytes")
    p.add_argument("--disk-free", type=float, default=0.1, help="free fraction")
    p.add_argument("--xid-age", type=int, default=1_000_000_000)
    p.add_argument("--error-ratio", type=float, default=0.01)
    p.add_argument("--p99", type=float, default=0.5, help="seconds")
    p.add_argument("--runbook-base", default="docs/monitoring.md",
                   help="where the runbook sections are (a path or URL)")
    p.add_argument("--out", default=str(pathlib.Path(__file__).parent / "rules"))
    a = p.parse_args(argv)
    if a.ttl <= 0 or a.loop_wait <= 0 or a.scrape_interval <= 0 or a.loop_wait >= a.ttl:
        p.error("need 0 < loop_wait < ttl and a positive scrape interval")
    return a


def main(argv=None):
    args = parse_args(argv)
    t = Timing(args)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for fname, group, fn in GROUPS:
        (out / f"{fname}.yml").write_text(render(group, fn(t), args, args.eval_interval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
