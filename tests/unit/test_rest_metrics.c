/* Unit tests for /metrics' patroni_* families (rest_metrics_patroni.c: Patroni 4's names, types
 * and meanings) and the monitoring kit's tandem_* families (rest_metrics_tandem.c). The fixture
 * (rest_fixture.h): pg1 the primary, pg2 a sync standby 100 bytes behind, pg3 a replica at 0. */
#include "testutil.h"

#include "rest_fixture.h"
#include "rest_render.h"

#define L "{scope=\"batman\",name=\"pg1\"}"

static char *render(const agent_status *st, const agent_counters *c)
{
	strbuf out = STRBUF_INIT;
	rest_render_metrics(&out, st, c);
	return out.data;
}

/* Every family once, with its type, and a sample right after it. */
static void assert_family(const char *text, const char *name, const char *type)
{
	char *t = xasprintf("# TYPE %s %s\n%s", name, type, name);
	assert_contains(text, t);
	char *again = strstr(strstr(text, t) + 1, t);
	if (again)
		fail_msg("%s: two TYPE lines", name);
	free(t);
}

static const struct {
	const char *name, *type;
} patroni[] = {
    {"patroni_version", "gauge"},
    {"patroni_postgres_running", "gauge"},
    {"patroni_postmaster_start_time", "gauge"},
    {"patroni_primary", "gauge"},
    {"patroni_xlog_location", "counter"},
    {"patroni_standby_leader", "gauge"},
    {"patroni_replica", "gauge"},
    {"patroni_sync_standby", "gauge"},
    {"patroni_quorum_standby", "gauge"},
    {"patroni_xlog_received_location", "counter"},
    {"patroni_xlog_replayed_location", "counter"},
    {"patroni_xlog_replayed_timestamp", "gauge"},
    {"patroni_xlog_paused", "gauge"},
    {"patroni_postgres_streaming", "gauge"},
    {"patroni_postgres_in_archive_recovery", "gauge"},
    {"patroni_postgres_server_version", "gauge"},
    {"patroni_cluster_unlocked", "gauge"},
    {"patroni_failsafe_mode_is_active", "gauge"},
    {"patroni_failsafe_mode_enabled", "gauge"},
    {"patroni_failsafe_member", "gauge"},
    {"patroni_postgres_timeline", "counter"},
    {"patroni_dcs_last_seen", "gauge"},
    {"patroni_pending_restart", "gauge"},
    {"patroni_is_paused", "gauge"},
    {"patroni_postgres_state", "gauge"},
    {"patroni_failover_priority", "gauge"},
};

static void test_patroni_primary(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	char *text = render(&f.st, NULL);
	assert_int_equal(sizeof patroni / sizeof patroni[0], 26);
	for (size_t i = 0; i < sizeof patroni / sizeof patroni[0]; i++)
		assert_family(text, patroni[i].name, patroni[i].type);
	static const char *const lines[] = {
	    "patroni_postgres_running" L " 1\n",
	    "patroni_postmaster_start_time" L " 1700000000.12",
	    "patroni_primary" L " 1\n",
	    "patroni_replica" L " 0\n",
	    "patroni_standby_leader" L " 0\n",
	    "patroni_xlog_location" L " 1000\n",
	    "patroni_xlog_received_location" L " 0\n",
	    "patroni_xlog_replayed_location" L " 0\n",
	    "patroni_postgres_streaming" L " 0\n",
	    "patroni_postgres_server_version" L " 150004\n",
	    "patroni_cluster_unlocked" L " 0\n",
	    "patroni_postgres_timeline" L " 3\n",
	    "patroni_dcs_last_seen" L " 1700000100\n",
	    "patroni_postgres_state" L " 5\n",
	    "patroni_failover_priority" L " 0\n", /* mon.failover_priority: 0 in the fixture */
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		assert_contains(text, lines[i]);
	/* Patroni pads each part of its version on two digits. */
	assert_contains(text, "# TYPE patroni_version gauge\npatroni_version" L " ");
	free(text);
	fixture_free(&f);
}

static void test_patroni_replica(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	agent_status *st = &f.st;
	st->role = "replica";
	st->holds_leader_key = false;
	st->leader = NULL;
	st->lsn = 900;
	st->receive_lsn = 950;
	st->health.streaming = true;
	st->health.sync_standby = true;
	st->mon.replay_unix_ms = 1700000050500;
	st->mon.replay_paused = true;
	st->mon.failover_priority = 7;
	st->mon.failsafe_member = true;
	st->failsafe_mode = true;
	char *text = render(st, NULL);
	static const char *const lines[] = {
	    "patroni_primary" L " 0\n",
	    "patroni_replica" L " 1\n",
	    "patroni_xlog_location" L " 0\n",
	    "patroni_xlog_received_location" L " 950\n",
	    "patroni_xlog_replayed_location" L " 900\n",
	    "patroni_xlog_replayed_timestamp" L " 1700000050.5\n",
	    "patroni_xlog_paused" L " 1\n",
	    "patroni_postgres_streaming" L " 1\n",
	    "patroni_postgres_in_archive_recovery" L " 0\n",
	    "patroni_sync_standby" L " 1\n",
	    "patroni_cluster_unlocked" L " 1\n",
	    "patroni_failsafe_mode_enabled" L " 1\n",
	    "patroni_failsafe_member" L " 1\n",
	    "patroni_failover_priority" L " 7\n",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		assert_contains(text, lines[i]);
	/* No per-replica lag and no sync families off the primary. */
	assert_null(strstr(text, "tandem_replication_lag_bytes{"));
	assert_null(strstr(text, "tandem_sync_standbys"));
	free(text);
	fixture_free(&f);
}

static void test_patroni_states(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	static const struct {
		const char *state;
		const char *line;
	} cases[] = {
	    {"stopped", "patroni_postgres_state" L " 12\n"},
	    {"crashed", "patroni_postgres_state" L " 14\n"},
	    {"creating replica", "patroni_postgres_state" L " 4\n"},
	    {"initializing new cluster", "patroni_postgres_state" L " 0\n"},
	    {"promoting", "patroni_postgres_state" L " 5\n"},
	    {"running pg_rewind", "patroni_postgres_state" L " -1\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		f.st.state = cases[i].state;
		char *text = render(&f.st, NULL);
		assert_contains(text, cases[i].line);
		if (strcmp(cases[i].state, "promoting") != 0)
			assert_contains(text, "patroni_postgres_running" L " 0\n");
		free(text);
	}
	/* PostgreSQL down: no server version, no timeline. */
	f.st.health.pg = HEALTH_PG_STOPPED;
	char *text = render(&f.st, NULL);
	assert_contains(text, "patroni_postgres_server_version" L " 0\n");
	assert_contains(text, "patroni_postgres_timeline" L " 0\n");
	free(text);
	fixture_free(&f);
}

static void test_tandem_primary(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	agent_status *st = &f.st;
	double lag[2] = {1.5, 30};
	st->mon.replica_lag_seconds = lag;
	st->mon.sync_required = true;
	st->mon.members = 3;
	st->mon.fence_armed = true;
	st->mon.data_fs_known = true;
	st->mon.data_fs_avail = 1000;
	st->mon.data_fs_size = 4000;
	agent_counters c;
	memset(&c, 0, sizeof c);
	metrics_set(&c.failovers, 2);
	metrics_set(&c.switchovers, 1);
	metrics_set(&c.write_gap_ms, 2500);
	metrics_set(&c.fence_fired, 4);
	metrics_observe_us(&c.ha_pass, 3000);
	metrics_observe_us(&c.etcd_rtt, 700);
	metrics_observe_us(&c.etcd_rtt, 20000000);
	char *text = render(st, &c);
	static const struct {
		const char *name, *type;
	} fams[] = {
	    {"tandem_ha_pass_duration_seconds", "histogram"},
	    {"tandem_etcd_rtt_seconds", "histogram"},
	    {"tandem_failovers_total", "counter"},
	    {"tandem_switchovers_total", "counter"},
	    {"tandem_last_failover_write_gap_seconds", "gauge"},
	    {"tandem_replication_lag_bytes", "gauge"},
	    {"tandem_replication_lag_seconds", "gauge"},
	    {"tandem_site_primary", "gauge"},
	    {"tandem_standby_leader", "gauge"},
	    {"tandem_sync_standbys", "gauge"},
	    {"tandem_sync_required", "gauge"},
	    {"tandem_fence_armed", "gauge"},
	    {"tandem_fence_fired_total", "counter"},
	    {"tandem_members", "gauge"},
	    {"tandem_data_fs_avail_bytes", "gauge"},
	    {"tandem_data_fs_size_bytes", "gauge"},
	};
	for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++)
		assert_family(text, fams[i].name, fams[i].type);
	static const char *const lines[] = {
	    "tandem_ha_pass_duration_seconds_bucket{scope=\"batman\",name=\"pg1\",le=\"0.005\"} "
	    "1\n",
	    "tandem_ha_pass_duration_seconds_count" L " 1\n",
	    "tandem_etcd_rtt_seconds_bucket{scope=\"batman\",name=\"pg1\",le=\"0.001\"} 1\n",
	    "tandem_etcd_rtt_seconds_bucket{scope=\"batman\",name=\"pg1\",le=\"10\"} 1\n",
	    "tandem_etcd_rtt_seconds_bucket{scope=\"batman\",name=\"pg1\",le=\"+Inf\"} 2\n",
	    "tandem_failovers_total" L " 2\n",
	    "tandem_switchovers_total" L " 1\n",
	    "tandem_last_failover_write_gap_seconds" L " 2.5\n",
	    "tandem_replication_lag_bytes{scope=\"batman\",name=\"pg1\",replica=\"pg2\"} 100\n",
	    "tandem_replication_lag_bytes{scope=\"batman\",name=\"pg1\",replica=\"pg3\"} 1000\n",
	    "tandem_replication_lag_seconds{scope=\"batman\",name=\"pg1\",replica=\"pg2\"} 1.5\n",
	    "tandem_replication_lag_seconds{scope=\"batman\",name=\"pg1\",replica=\"pg3\"} 30\n",
	    "tandem_site_primary" L " 1\n",
	    "tandem_standby_leader" L " 0\n",
	    "tandem_sync_standbys" L " 1\n",
	    "tandem_sync_required" L " 1\n",
	    "tandem_fence_armed" L " 1\n",
	    "tandem_fence_fired_total" L " 4\n",
	    "tandem_members" L " 3\n",
	    "tandem_data_fs_avail_bytes" L " 1000\n",
	    "tandem_data_fs_size_bytes" L " 4000\n",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		assert_contains(text, lines[i]);
	/* Not known: no sample rather than a made-up 0. */
	assert_null(strstr(text, "tandem_wal_fs_avail_bytes"));
	assert_null(strstr(text, "tandem_site_lag_bytes"));
	free(text);
	fixture_free(&f);
}

static void test_tandem_standby_site(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	agent_status *st = &f.st;
	st->role = "standby_leader";
	st->health.is_standby_leader = true;
	st->mon.standby_cluster = true;
	st->mon.site_lag_known = true;
	st->mon.site_lag_bytes = 4096;
	st->mon.site_lag_seconds = 0.25;
	st->mon.replica_lag_seconds = NULL;
	/* A replica name that needs escaping cannot break the exposition. */
	f.replicas[0].application_name = (char *)"a\"b\\c\nd";
	char *text = render(st, NULL);
	assert_contains(text, "tandem_site_primary" L " 0\n");
	assert_contains(text, "tandem_standby_leader" L " 1\n");
	assert_contains(text, "patroni_standby_leader" L " 1\n");
	assert_contains(text, "tandem_site_lag_bytes" L " 4096\n");
	assert_contains(text, "tandem_site_lag_seconds" L " 0.25\n");
	assert_null(strstr(text, "replica=\""));
	free(text);
	st->role = "primary";
	text = render(st, NULL);
	assert_contains(text, "replica=\"a\\\"b\\\\c\\nd\"} 100\n");
	free(text);
	fixture_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patroni_primary),     cmocka_unit_test(test_patroni_replica),
	    cmocka_unit_test(test_patroni_states),      cmocka_unit_test(test_tandem_primary),
	    cmocka_unit_test(test_tandem_standby_site),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
