#!/usr/bin/python3
"""Writes monitoring/dashboards/tandem.json, tandem's Grafana dashboard (a JSON model to import,
schema 39), from the panel list below; monitoring/check.py fails when the file differs from it.

Rows: sites and roles, replication and lag, failovers, backups and drills, the HA loop, hellod
traffic and latency. Variables: the Prometheus data source, the cluster (`scope`) and hellod's
`job`.
"""

from __future__ import annotations

import json
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parent / "dashboards" / "tandem.json"
S = 'scope=~"$scope"'

# (row title, [(panel title, kind, unit, [(expr, legend)], description)])
ROWS = [
    ("Sites and roles", [
        ("Leader", "stat", "none",
         [(f"max by (scope, name) (tandem_leader{{{S}}}) == 1", "{{scope}} {{name}}")],
         "The member holding each cluster's leader key."),
        ("Writable primaries", "stat", "none",
         [(f"count by (scope) (tandem_primary{{{S}}} == 1)", "{{scope}}")],
         "More than one is the TandemTwoPrimaries alert."),
        ("Site role", "stat", "none",
         [(f"max by (scope) (tandem_site_primary{{{S}}})", "{{scope}} primary site"),
          (f"max by (scope) (tandem_standby_leader{{{S}}})", "{{scope}} standby leader")],
         "1: this cluster is the primary site / has a standby leader."),
        ("Members in the DCS", "timeseries", "none",
         [(f"max by (scope) (tandem_members{{{S}}})", "{{scope}}")], ""),
        ("Agents and PostgreSQL up", "timeseries", "none",
         [('up{job="tandem"}', "agent {{instance}}"),
          (f"tandem_up{{{S}}}", "postgres {{scope}} {{name}}")], ""),
        ("Timeline", "timeseries", "none",
         [(f"tandem_timeline{{{S}}}", "{{scope}} {{name}}")], ""),
    ]),
    ("Replication and lag", [
        ("Replication lag (bytes)", "timeseries", "bytes",
         [(f"tandem_replication_lag_bytes{{{S}}}", "{{scope}} {{replica}}")],
         "On each leader, per replica."),
        ("Replication lag (seconds)", "timeseries", "s",
         [(f"tandem_replication_lag_seconds{{{S}}}", "{{scope}} {{replica}}")],
         "0 when the replica has replayed everything the primary has."),
        ("Standby site lag", "timeseries", "s",
         [(f"tandem_site_lag_seconds{{{S}}}", "{{scope}} seconds")],
         "How much a disaster promotion of the standby site would lose."),
        ("Standby site lag (bytes)", "timeseries", "bytes",
         [(f"tandem_site_lag_bytes{{{S}}}", "{{scope}} bytes")], ""),
        ("Synchronous standbys", "timeseries", "none",
         [(f"tandem_sync_standbys{{{S}}}", "{{scope}} {{name}} now"),
          (f"tandem_sync_required{{{S}}}", "{{scope}} {{name}} required")], ""),
        ("Streaming", "timeseries", "none",
         [(f"patroni_postgres_streaming{{{S}}}", "{{scope}} {{name}}")], ""),
        ("Slot retained WAL", "timeseries", "bytes",
         [("pg_replication_slots_retained_bytes", "{{instance}} {{slot_name}}")], ""),
    ]),
    ("Failovers", [
        ("Failovers and switchovers (1 h)", "timeseries", "none",
         [(f"sum by (scope) (increase(tandem_failovers_total{{{S}}}[1h]))", "{{scope}} failovers"),
          (f"sum by (scope) (increase(tandem_switchovers_total{{{S}}}[1h]))",
           "{{scope}} switchovers")], ""),
        ("Last failover write gap", "stat", "s",
         [(f"max by (scope) (tandem_last_failover_write_gap_seconds{{{S}}})", "{{scope}}")],
         "Estimated time between the old primary's last write and the new one's first."),
        ("Promotions and demotions (1 h)", "timeseries", "none",
         [(f"increase(tandem_promotions_total{{{S}}}[1h])", "{{name}} promotions"),
          (f"increase(tandem_demotions_total{{{S}}}[1h])", "{{name}} demotions")], ""),
        ("Fence", "timeseries", "none",
         [(f"tandem_fence_armed{{{S}}}", "{{name}} armed"),
          (f"increase(tandem_fence_fired_total{{{S}}}[1h])", "{{name}} fired")], ""),
    ]),
    ("Backups and drills", [
        ("Age of the last backup", "stat", "s",
         [(f"time() - max by (scope) (tandem_backup_last_success_timestamp_seconds{{{S}}})",
           "{{scope}}")], ""),
        ("Archiving", "timeseries", "none",
         [(f"rate(tandem_archive_archived_total{{{S}}}[$__rate_interval])", "{{name}} archived/s"),
          (f"rate(tandem_archive_failures_total{{{S}}}[$__rate_interval])", "{{name}} failed/s"),
          (f"tandem_archive_ready_segments{{{S}}}", "{{name}} ready")], ""),
        ("Archive continuity", "stat", "none",
         [(f"min by (scope) (tandem_archive_continuity_ok{{{S}}})", "{{scope}}")],
         "0: a gap after the last promotion."),
        ("Last drill", "stat", "none",
         [(f"max by (scope) (tandem_drill_last_ok{{{S}}})", "{{scope}} ok"),
          (f"max by (scope) (tandem_drill_duration_seconds{{{S}}})", "{{scope}} RTO (s)")], ""),
        ("Age of the last good drill", "stat", "s",
         [(f"time() - max by (scope) (tandem_drill_last_success_timestamp_seconds{{{S}}})",
           "{{scope}}")], ""),
    ]),
    ("HA loop", [
        ("HA pass duration (p50, p99)", "timeseries", "s",
         [(f"histogram_quantile(0.5, sum by (name, le) "
           f"(rate(tandem_ha_pass_duration_seconds_bucket{{{S}}}[$__rate_interval])))",
           "{{name}} p50"),
          (f"histogram_quantile(0.99, sum by (name, le) "
           f"(rate(tandem_ha_pass_duration_seconds_bucket{{{S}}}[$__rate_interval])))",
           "{{name}} p99")], ""),
        ("etcd round trip (p99)", "timeseries", "s",
         [(f"histogram_quantile(0.99, sum by (name, le) "
           f"(rate(tandem_etcd_rtt_seconds_bucket{{{S}}}[$__rate_interval])))", "{{name}}")], ""),
        ("HA passes per second", "timeseries", "ops",
         [(f"rate(tandem_ha_passes_total{{{S}}}[$__rate_interval])", "{{name}}")], ""),
        ("DCS", "timeseries", "none",
         [(f"tandem_dcs_ok{{{S}}}", "{{name}} ok"),
          (f"rate(tandem_dcs_errors_total{{{S}}}[$__rate_interval])", "{{name}} errors/s"),
          (f"tandem_failsafe_active{{{S}}}", "{{name}} failsafe")], ""),
        ("Disk free", "timeseries", "percentunit",
         [(f"tandem_data_fs_avail_bytes{{{S}}} / tandem_data_fs_size_bytes{{{S}}}",
           "{{name}} data"),
          (f"tandem_wal_fs_avail_bytes{{{S}}} / tandem_wal_fs_size_bytes{{{S}}}",
           "{{name}} WAL")], ""),
    ]),
    ("hellod traffic and latency", [
        ("Requests per second by code", "timeseries", "reqps",
         [('sum by (code) (rate(hellod_http_requests_total{job=~"$job"}[$__rate_interval]))',
           "{{code}}")], ""),
        ("5xx ratio", "timeseries", "percentunit",
         [('sum(rate(hellod_http_requests_total{job=~"$job",code=~"5.."}[$__rate_interval])) / '
           'sum(rate(hellod_http_requests_total{job=~"$job"}[$__rate_interval]))', "5xx")], ""),
        ("Latency (p50, p99)", "timeseries", "s",
         [('histogram_quantile(0.5, sum by (le) (rate('
           'hellod_http_request_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))', "p50"),
          ('histogram_quantile(0.99, sum by (le) (rate('
           'hellod_http_request_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))',
           "p99")], ""),
        ("Refused clients, retries, read-your-writes waits", "timeseries", "ops",
         [('rate(hellod_refused_clients_total{job=~"$job"}[$__rate_interval])',
           "{{instance}} refused"),
          ('rate(hellod_db_retries_total{job=~"$job"}[$__rate_interval])', "{{instance}} retries"),
          ('rate(hellod_reads_after_wait_total{job=~"$job"}[$__rate_interval])',
           "{{instance}} reads after a wait")], ""),
    ]),
]


def panel(pid, title, kind, unit, queries, desc, x, y):
    w = 8 if kind == "stat" else 12
    return {
        "id": pid, "type": kind, "title": title, "description": desc,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 7, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [{"refId": chr(ord("A") + i), "expr": e, "legendFormat": lg,
                     "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                    for i, (e, lg) in enumerate(queries)],
    }


def variable(name, label, query):
    return {"name": name, "label": label, "type": "query",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": {"query": query, "refId": name}, "definition": query,
            "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2,
            "current": {"text": "All", "value": "$__all"}}


def build():
    panels, pid, y = [], 1, 0
    for row, items in ROWS:
        panels.append({"id": pid, "type": "row", "title": row, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid, y, x = pid + 1, y + 1, 0
        for title, kind, unit, queries, desc in items:
            p = panel(pid, title, kind, unit, queries, desc, x, y)
            w = p["gridPos"]["w"]
            if x + w > 24:
                x, y = 0, y + 7
                p["gridPos"].update(x=x, y=y)
            panels.append(p)
            pid, x = pid + 1, x + w
        y += 7
    return {
        "title": "tandem", "uid": "tandem-overview", "editable": True, "schemaVersion": 39,
        "version": 1, "tags": ["tandem", "patroni", "postgresql"], "timezone": "utc",
        "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "description": "tandem: sites, replication, failovers, backups, the HA loop, hellod "
                       "(docs/monitoring.md#dashboard)",
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource",
             "query": "prometheus", "current": {}},
            variable("scope", "cluster", "label_values(tandem_leader, scope)"),
            variable("job", "hellod job", "label_values(hellod_http_requests_total, job)"),
        ]},
        "annotations": {"list": [{
            "name": "Alerts", "enable": True, "iconColor": "red",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "expr": 'ALERTS{alertstate="firing",severity="critical"}',
            "titleFormat": "{{alertname}}", "textFormat": "{{scope}} {{instance}}"}]},
        "panels": panels,
    }


def text():
    return json.dumps(build(), indent=2) + "\n"


def main():
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
