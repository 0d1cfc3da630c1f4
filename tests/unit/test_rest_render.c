/* The REST API's bodies (rest_render.h): /patroni for a primary, a replica and a node without a
 * leader; /cluster with roles, host and port, lag and tags; /history; /config present and absent;
 * /metrics; conn_url parsing. The fixture is in rest_fixture.h. */
#include <jansson.h>

#include "rest_fixture.h"
#include "rest_render.h"

/* ---- /patroni ---- */

static void test_patroni_primary(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	json_t *j = parse(rest_render_patroni(&f.st));
	assert_string_equal(str_at(j, "state"), "running");
	assert_string_equal(str_at(j, "role"), "primary");
	assert_string_equal(str_at(j, "postmaster_start_time"), "2023-11-14 22:13:20.123+00:00");
	assert_int_equal(int_at(j, "server_version"), 150004);
	assert_int_equal(int_at(json_object_get(j, "xlog"), "location"), 1000);
	assert_null(json_object_get(json_object_get(j, "xlog"), "replayed_location"));
	assert_int_equal(int_at(j, "timeline"), 3);
	assert_int_equal(int_at(j, "dcs_last_seen"), 1700000100);
	assert_string_equal(str_at(j, "database_system_identifier"), "7268616322854375442");
	json_t *rep = json_object_get(j, "replication");
	assert_int_equal(json_array_size(rep), 2);
	assert_string_equal(str_at(json_array_get(rep, 0), "application_name"), "pg2");
	assert_string_equal(str_at(json_array_get(rep, 0), "client_addr"), "10.0.0.2");
	assert_string_equal(str_at(json_array_get(rep, 0), "sync_state"), "sync");
	assert_true(json_is_null(json_object_get(json_array_get(rep, 1), "client_addr")));
	assert_null(json_object_get(j, "cluster_unlocked"));
	assert_null(json_object_get(j, "pending_restart"));
	assert_null(json_object_get(j, "pause"));
	json_t *tags = json_object_get(j, "tags");
	assert_true(json_is_false(json_object_get(tags, "nofailover")));
	assert_true(json_is_true(json_object_get(tags, "nosync")));
	assert_string_equal(str_at(tags, "dc"), "east");
	json_t *p = json_object_get(j, "patroni");
	assert_string_equal(str_at(p, "version"), TANDEM_VERSION);
	assert_string_equal(str_at(p, "scope"), "batman");
	assert_string_equal(str_at(p, "name"), "pg1");
	json_decref(j);
	fixture_free(&f);
}

static void test_patroni_replica(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	agent_status *st = &f.st;
	st->name = "pg2";
	st->role = "replica";
	st->holds_leader_key = false;
	st->lsn = 900;
	st->receive_lsn = 950;
	st->pending_restart = true;
	st->paused = true;
	st->health.role = HEALTH_ROLE_REPLICA;
	st->health.streaming = true;
	st->health.sync_standby = true;
	json_t *j = parse(rest_render_patroni(st));
	json_t *x = json_object_get(j, "xlog");
	assert_int_equal(int_at(x, "received_location"), 950);
	assert_int_equal(int_at(x, "replayed_location"), 900);
	assert_true(json_is_false(json_object_get(x, "paused")));
	assert_null(json_object_get(x, "location"));
	assert_null(json_object_get(j, "replication"));
	assert_string_equal(str_at(j, "replication_state"), "streaming");
	assert_true(json_is_true(json_object_get(j, "sync_standby")));
	assert_true(json_is_true(json_object_get(j, "pending_restart")));
	assert_true(json_is_true(json_object_get(j, "pause")));
	json_decref(j);
	fixture_free(&f);
}

/* A node that knows little: no leader, PostgreSQL stopped, no tags, nothing measured. */
static void test_patroni_unknown(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	agent_status *st = &f.st;
	st->state = "stopped";
	st->role = "uninitialized";
	st->leader = NULL;
	st->lsn_known = false;
	st->server_version = 0;
	st->timeline = 0;
	st->sysid = NULL;
	st->postmaster_start_unix_ms = 0;
	st->dcs_last_seen_unix_s = 0;
	st->nreplicas = 0;
	f.settings.tags.n = 0;
	json_t *j = parse(rest_render_patroni(st));
	assert_true(json_is_true(json_object_get(j, "cluster_unlocked")));
	static const char *const absent[] = {
	    "xlog",          "server_version", "timeline",    "database_system_identifier",
	    "dcs_last_seen", "tags",           "replication", "postmaster_start_time"};
	for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
		if (json_object_get(j, absent[i])) {
			print_error("\"%s\" should be absent\n", absent[i]);
			fail();
		}
	json_decref(j);
	fixture_free(&f);
}

/* ---- /cluster ---- */

static void test_cluster(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	f.st.paused = true;
	json_t *j = parse(rest_render_cluster(&f.st));
	assert_string_equal(str_at(j, "scope"), "batman");
	assert_true(json_is_true(json_object_get(j, "pause")));
	json_t *m = json_object_get(j, "members");
	assert_int_equal(json_array_size(m), 3);
	static const struct {
		const char *name, *role, *state, *host;
		int port;
		json_int_t lag; /* -1: absent, -2: "unknown" */
	} want[] = {
	    {"pg1", "leader", "running", "10.0.0.1", 5432, -1},
	    {"pg2", "sync_standby", "streaming", "10.0.0.2", 5433, 100},
	    {"pg3", "replica", "starting", "fd00::3", 6543, -2},
	};
	for (size_t i = 0; i < 3; i++) {
		json_t *e = json_array_get(m, i);
		assert_string_equal(str_at(e, "name"), want[i].name);
		assert_string_equal(str_at(e, "role"), want[i].role);
		assert_string_equal(str_at(e, "state"), want[i].state);
		assert_string_equal(str_at(e, "host"), want[i].host);
		assert_int_equal(int_at(e, "port"), want[i].port);
		assert_non_null(strstr(str_at(e, "api_url"), ":8008/patroni"));
		json_t *lag = json_object_get(e, "lag");
		if (want[i].lag == -1)
			assert_null(lag);
		else if (want[i].lag == -2)
			assert_string_equal(json_string_value(lag), "unknown");
		else
			assert_int_equal(json_integer_value(lag), want[i].lag);
	}
	json_t *pg1 = json_array_get(m, 0), *pg2 = json_array_get(m, 1);
	assert_int_equal(int_at(pg1, "timeline"), 3);
	assert_string_equal(str_at(json_object_get(pg1, "tags"), "dc"), "east");
	assert_true(json_is_true(json_object_get(json_object_get(pg2, "tags"), "nofailover")));
	assert_true(json_is_true(json_object_get(pg2, "pending_restart")));
	assert_null(json_object_get(json_array_get(m, 2), "tags"));
	json_decref(j);
	fixture_free(&f);
}

static void test_cluster_empty(void **state)
{
	(void)state;
	agent_status st = {.scope = "batman", .name = "pg1"};
	json_t *j = parse(rest_render_cluster(&st));
	assert_int_equal(json_array_size(json_object_get(j, "members")), 0);
	assert_null(json_object_get(j, "pause"));
	json_decref(j);
	char *h = rest_render_history(&st);
	assert_string_equal(h, "[]");
	free(h);
	char *c = NULL;
	assert_int_equal(rest_render_config(&st, &c), 502);
	assert_string_equal(c, "{}");
	free(c);
}

static void test_conn_url(void **state)
{
	(void)state;
	static const struct {
		const char *url, *host;
		int port;
	} cases[] = {
	    {"postgres://10.0.0.1:5432/postgres", "10.0.0.1", 5432},
	    {"postgresql://127.0.0.1:6000", "127.0.0.1", 6000},
	    {"postgres://user:pw@db.example:5433/x?sslmode=require", "db.example", 5433},
	    {"postgres://[::1]:5432/postgres", "::1", 5432},
	    {"postgres://[::1]/postgres", "::1", 0},
	    {"postgres://host/postgres", "host", 0},
	    {"postgres://host:99999/postgres", "host", 0},
	    {"postgres://host:54x2/postgres", "host", 0},
	    {"postgres://host:/postgres", "host", 0},
	    {"postgres://[::1/postgres", NULL, 0},
	    {"postgres:///postgres", NULL, 0},
	    {"", NULL, 0},
	    {NULL, NULL, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *host;
		int port;
		rest_conn_url_host_port(cases[i].url, &host, &port);
		if (cases[i].host)
			assert_string_equal(host, cases[i].host);
		else
			assert_null(host);
		assert_int_equal(port, cases[i].port);
		free(host);
	}
}

/* ---- /history, /config, /metrics ---- */

static void test_history(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	char *h = rest_render_history(&f.st);
	assert_string_equal(h, "[[1,25623960,\"no recovery target specified\","
	                       "\"2024-01-02T03:04:05+00:00\",\"pg1\"],"
	                       "[2,50331808,\"no recovery target specified\"]]");
	free(h);
	fixture_free(&f);
}

static void test_config(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	char *c = NULL;
	assert_int_equal(rest_render_config(&f.st, &c), 200);
	json_t *j = parse(c);
	assert_int_equal(int_at(j, "ttl"), 30);
	assert_int_equal(json_array_size(json_object_get(j, "custom")), 2); /* unknown keys kept */
	json_decref(j);
	fixture_free(&f);
}

/* The backup families come from the `backup` key, only when backups are on. */
static void test_backup_metrics(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	strbuf out = STRBUF_INIT;
	rest_render_metrics(&out, &f.st, NULL);
	assert_null(strstr(out.data, "tandem_backup"));
	sb_free(&out);
	static char *keys[] = {"repo1-path"}, *values[] = {"/srv/backup"};
	f.settings.backup_pgbackrest = (cfg_map){.n = 1, .keys = keys, .values = values};
	put(&f.view, "backup",
	    "{\"last\":{\"full\":{\"id\":\"a\",\"type\":\"full\",\"start\":1000000,"
	    "\"end\":1060500,\"status\":\"ok\"}},\"failures\":3,"
	    "\"running\":{\"id\":\"b\",\"type\":\"diff\",\"start\":2000000},"
	    "\"history\":[{\"id\":\"a\",\"type\":\"full\",\"verify\":false}]}");
	rest_render_metrics(&out, &f.st, NULL);
	static const char *const lines[] = {
	    "tandem_backup_last_success_timestamp_seconds{scope=\"batman\",name=\"pg1\","
	    "type=\"full\"} 1060.5\n",
	    "tandem_backup_last_duration_seconds{scope=\"batman\",name=\"pg1\",type=\"full\"} "
	    "60.5\n",
	    "# TYPE tandem_backup_failures_total counter\n",
	    "tandem_backup_failures_total{scope=\"batman\",name=\"pg1\"} 3\n",
	    "tandem_backup_running{scope=\"batman\",name=\"pg1\"} 1\n",
	    "tandem_backup_verify_ok{scope=\"batman\",name=\"pg1\"} 0\n",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		if (!strstr(out.data, lines[i]))
			fail_msg("missing %s in:\n%s", lines[i], out.data);
	assert_null(strstr(out.data, "type=\"diff\""));
	sb_free(&out);
	f.settings.backup_pgbackrest = (cfg_map){0};
	fixture_free(&f);
}

static void test_metrics(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	f.st.scope = "bat\"man";
	agent_counters c;
	memset(&c, 0, sizeof c);
	metrics_set(&c.ha_passes, 42);
	metrics_set(&c.promotions, 2);
	metrics_set(&c.tilts, 1);
	strbuf out = STRBUF_INIT;
	rest_render_metrics(&out, &f.st, &c);
	static const char *const lines[] = {
	    "# TYPE tandem_up gauge\n",
	    "tandem_up{scope=\"bat\\\"man\",name=\"pg1\"} 1\n",
	    "tandem_leader{scope=\"bat\\\"man\",name=\"pg1\"} 1\n",
	    "tandem_primary{scope=\"bat\\\"man\",name=\"pg1\"} 1\n",
	    "tandem_replica{scope=\"bat\\\"man\",name=\"pg1\"} 0\n",
	    "tandem_timeline{scope=\"bat\\\"man\",name=\"pg1\"} 3\n",
	    "tandem_xlog_location{scope=\"bat\\\"man\",name=\"pg1\"} 1000\n",
	    "tandem_dcs_ok{scope=\"bat\\\"man\",name=\"pg1\"} 1\n",
	    "tandem_pending_restart{scope=\"bat\\\"man\",name=\"pg1\"} 0\n",
	    "tandem_paused{scope=\"bat\\\"man\",name=\"pg1\"} 0\n",
	    "# TYPE tandem_ha_passes_total counter\n",
	    "tandem_ha_passes_total{scope=\"bat\\\"man\",name=\"pg1\"} 42\n",
	    "tandem_actions_total{scope=\"bat\\\"man\",name=\"pg1\"} 0\n",
	    "tandem_promotions_total{scope=\"bat\\\"man\",name=\"pg1\"} 2\n",
	    "tandem_demotions_total{scope=\"bat\\\"man\",name=\"pg1\"} 0\n",
	    "tandem_pg_restarts_total{scope=\"bat\\\"man\",name=\"pg1\"} 0\n",
	    "tandem_dcs_errors_total{scope=\"bat\\\"man\",name=\"pg1\"} 0\n",
	    "tandem_tilts_total{scope=\"bat\\\"man\",name=\"pg1\"} 1\n",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		assert_contains(out.data, lines[i]);
	/* Backups off: no archiving family. */
	assert_null(strstr(out.data, "tandem_archive"));
	sb_free(&out);
	fixture_free(&f);
}

static void test_metrics_archive(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	agent_archive_status a = {.stanza_ok = true,
	                          .continuity_ok = false,
	                          .conflict = true,
	                          .conflicts = 3,
	                          .dropped = 7,
	                          .archiver_known = true,
	                          .archived = 12,
	                          .failed = 4,
	                          .last_archived_unix_s = 1700000000,
	                          .last_failed_unix_s = 1700000100,
	                          .ready = 5,
	                          .restores = 1};
	f.st.archive = &a;
	strbuf out = STRBUF_INIT;
	rest_render_metrics(&out, &f.st, NULL);
	static const char *const lines[] = {
	    "tandem_backup_stanza_ok{scope=\"batman\",name=\"pg1\"} 1\n",
	    "tandem_archive_continuity_ok{scope=\"batman\",name=\"pg1\"} 0\n",
	    "tandem_archive_conflict{scope=\"batman\",name=\"pg1\"} 1\n",
	    "# TYPE tandem_archive_conflicts_total counter\n",
	    "tandem_archive_conflicts_total{scope=\"batman\",name=\"pg1\"} 3\n",
	    "tandem_archive_wal_dropped_total{scope=\"batman\",name=\"pg1\"} 7\n",
	    "tandem_archive_ready_segments{scope=\"batman\",name=\"pg1\"} 5\n",
	    "tandem_archive_archived_total{scope=\"batman\",name=\"pg1\"} 12\n",
	    "tandem_archive_failures_total{scope=\"batman\",name=\"pg1\"} 4\n",
	    "tandem_archive_last_success_timestamp_seconds{scope=\"batman\",name=\"pg1\"} "
	    "1700000000\n",
	    "tandem_archive_last_failure_timestamp_seconds{scope=\"batman\",name=\"pg1\"} "
	    "1700000100\n",
	    "tandem_replica_restores_total{scope=\"batman\",name=\"pg1\"} 1\n",
	    "tandem_replica_restore_failures_total{scope=\"batman\",name=\"pg1\"} 0\n",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		assert_contains(out.data, lines[i]);
	/* pg_stat_archiver not answering: its families are left out, not shown as 0. */
	a.archiver_known = false;
	sb_reset(&out);
	rest_render_metrics(&out, &f.st, NULL);
	assert_null(strstr(out.data, "tandem_archive_failures_total"));
	assert_contains(out.data, "tandem_archive_ready_segments");
	sb_free(&out);
	fixture_free(&f);
}

/* The drill families come from the DCS `drill` key (the cluster's last drill), and whether one
 * runs here from the status; none but tandem_drill_running without the key. */
static void test_drill_metrics(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	strbuf out = STRBUF_INIT;
	rest_render_metrics(&out, &f.st, NULL);
	assert_contains(out.data, "tandem_drill_running{scope=\"batman\",name=\"pg1\"} 0\n");
	assert_not_contains(out.data, "tandem_drill_last_ok");
	sb_free(&out);
	put(&f.view, "drill",
	    "{\"id\":\"0123456789abcdef\",\"member\":\"pg2\",\"ok\":false,\"reason\":\"x\","
	    "\"finished_unix_ms\":1767000020000,\"rto_ms\":14250,\"tables\":12,"
	    "\"last_success_unix_ms\":1766900000000,\"failures\":3}");
	f.st.drill_step = "restoring the latest backup";
	rest_render_metrics(&out, &f.st, NULL);
	static const char *const lines[] = {
	    "tandem_drill_running{scope=\"batman\",name=\"pg1\"} 1\n",
	    "tandem_drill_last_ok{scope=\"batman\",name=\"pg1\"} 0\n",
	    "tandem_drill_last_timestamp_seconds{scope=\"batman\",name=\"pg1\"} 1767000020\n",
	    "tandem_drill_last_success_timestamp_seconds{scope=\"batman\",name=\"pg1\"} "
	    "1766900000\n",
	    "tandem_drill_duration_seconds{scope=\"batman\",name=\"pg1\"} 14.25\n",
	    "tandem_drill_tables{scope=\"batman\",name=\"pg1\"} 12\n",
	    "# TYPE tandem_drill_failures_total counter\n",
	    "tandem_drill_failures_total{scope=\"batman\",name=\"pg1\"} 3\n",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		assert_contains(out.data, lines[i]);
	sb_free(&out);
	/* An unreadable key shows no drill families (and no crash). */
	put(&f.view, "drill", "{\"ok\":\"yes\"}");
	rest_render_metrics(&out, &f.st, NULL);
	assert_not_contains(out.data, "tandem_drill_last_ok");
	sb_free(&out);
	fixture_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patroni_primary), cmocka_unit_test(test_patroni_replica),
	    cmocka_unit_test(test_patroni_unknown), cmocka_unit_test(test_cluster),
	    cmocka_unit_test(test_cluster_empty),   cmocka_unit_test(test_conn_url),
	    cmocka_unit_test(test_history),         cmocka_unit_test(test_config),
	    cmocka_unit_test(test_metrics),         cmocka_unit_test(test_metrics_archive),
	    cmocka_unit_test(test_backup_metrics),  cmocka_unit_test(test_drill_metrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
