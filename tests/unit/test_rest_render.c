/* The REST API's pure half (rest_render.h): /patroni for a primary, a replica and a node without
 * a leader; /cluster with roles, host and port, lag and tags; /history; /config present and
 * absent; /metrics; conn_url parsing, query string decoding, and the checks of the POST bodies
 * (failover, switchover, restart, reinitialize) as tables. Snapshots and cluster views are built
 * by hand; the view's values go through dcs_view_apply as etcd would deliver them. */
#include <jansson.h>

#include "rest_render.h"
#include "rest_request.h"
#include "testutil.h"

#define PFX "/service/batman/"

/* ---- fixtures ---- */

typedef struct fixture {
	dcs_view view;
	tandemd_settings settings;
	agent_status st;
	agent_replica replicas[2];
} fixture;

static void put(dcs_view *v, const char *key, const char *value)
{
	char *err = NULL;
	char *full = xasprintf(PFX "%s", key);
	int rc = dcs_view_apply(v, full, strlen(full), value, strlen(value), 7, 0, &err);
	if (rc != 0)
		print_error("%s: %s\n", key, err ? err : "?");
	assert_int_equal(rc, 0);
	free(full);
}

static char *tag_keys[] = {"nofailover", "dc", "nosync"};
static char *tag_values[] = {"false", "east", "TRUE"};

/* Three members: pg1 the leader (primary, this node), pg2 a sync standby 100 bytes behind, pg3
 * a replica without a position. */
static void fixture_init(fixture *f)
{
	memset(f, 0, sizeof *f);
	dcs_view_init(&f->view, NULL, "batman");
	put(&f->view, "leader", "pg1");
	put(&f->view, "members/pg1",
	    "{\"conn_url\":\"postgres://10.0.0.1:5432/postgres\",\"api_url\":"
	    "\"http://10.0.0.1:8008/patroni\",\"state\":\"running\",\"role\":\"primary\","
	    "\"xlog_location\":1000,\"timeline\":3,\"tags\":{\"dc\":\"east\"}}");
	put(&f->view, "members/pg3",
	    "{\"conn_url\":\"postgresql://u@[fd00::3]:6543/postgres\",\"api_url\":"
	    "\"http://[fd00::3]:8008/patroni\",\"state\":\"starting\",\"role\":\"replica\"}");
	put(&f->view, "members/pg2",
	    "{\"conn_url\":\"postgres://10.0.0.2:5433/postgres\",\"api_url\":"
	    "\"http://10.0.0.2:8008/patroni\",\"state\":\"streaming\",\"role\":\"replica\","
	    "\"xlog_location\":900,\"timeline\":3,\"pending_restart\":true,"
	    "\"tags\":{\"nofailover\":true}}");
	put(&f->view, "sync", "{\"leader\":\"pg1\",\"sync_standby\":\"pg2\"}");
	put(&f->view, "history",
	    "[[1,25623960,\"no recovery target specified\",\"2024-01-02T03:04:05+00:00\",\"pg1\"],"
	    "[2,50331808,\"no recovery target specified\"]]");
	put(&f->view, "config",
	    "{\"ttl\":30,\"loop_wait\":10,\"postgresql\":{\"parameters\":"
	    "{\"max_connections\":100}},\"custom\":[1,2]}");

	f->settings.tags.n = 3;
	f->settings.tags.keys = tag_keys;
	f->settings.tags.values = tag_values;

	f->replicas[0] = (agent_replica){"pg2", "10.0.0.2", "streaming", "sync", 900};
	f->replicas[1] = (agent_replica){"pg3", NULL, "startup", "async", 0};

	agent_status *st = &f->st;
	st->scope = "batman";
	st->name = "pg1";
	st->state = "running";
	st->role = "primary";
	st->server_version = 150004;
	st->lsn_known = true;
	st->lsn = 1000;
	st->timeline = 3;
	st->sysid = "7268616322854375442";
	st->postmaster_start_unix_ms = 1700000000123;
	st->holds_leader_key = true;
	st->leader = "pg1";
	st->dcs_ok = true;
	st->dcs_last_seen_unix_s = 1700000100;
	st->replicas = f->replicas;
	st->nreplicas = 2;
	st->health.role = REST_ROLE_PRIMARY;
	st->health.pg = REST_PG_RUNNING;
	st->health.holds_leader_key = true;
	st->health.dcs_ok = true;
	st->view = &f->view;
	st->settings = &f->settings;
}

static void fixture_free(fixture *f)
{
	dcs_view_free(&f->view);
}

static json_t *parse(char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		print_error("not JSON: %s: %s\n", je.text, text);
	assert_non_null(j);
	free(text);
	return j;
}

static json_int_t int_at(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		print_error("\"%s\" is not an integer\n", key);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *str_at(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v))
		print_error("\"%s\" is not a string\n", key);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

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
	st->health.role = REST_ROLE_REPLICA;
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
	sb_free(&out);
	fixture_free(&f);
}

/* ---- the query string ---- */

static void test_query(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int rc;
		size_t n;
		const char *kv[6]; /* key, value, ... */
	} cases[] = {
	    {"", 0, 0, {NULL}},
	    {"lag=10MB", 0, 1, {"lag", "10MB"}},
	    {"lag=10MB&tag_dc=east", 0, 2, {"lag", "10MB", "tag_dc", "east"}},
	    {"tag_my+tag=a%20b+c", 0, 1, {"tag_my tag", "a b c"}},
	    {"k=%41%4a%4A", 0, 1, {"k", "AJJ"}},
	    {"k=%zz%4&x=%", 0, 2, {"k", "%zz%4", "x", "%"}},
	    {"k=a=b", 0, 1, {"k", "a=b"}},
	    {"empty=&novalue&&=v&k=v", 0, 2, {"", "v", "k", "v"}},
	    {"&&&", 0, 0, {NULL}},
	    {"k=%00", -1, 0, {NULL}},
	    {"%00=v", -1, 0, {NULL}},
	    {"k=%2500", 0, 1, {"k", "%00"}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_query q;
		int rc = rest_query_parse(cases[i].in, strlen(cases[i].in), &q);
		assert_int_equal(rc, cases[i].rc);
		assert_int_equal(q.n, cases[i].n);
		for (size_t k = 0; k < q.n; k++) {
			assert_string_equal(q.kv[k].key, cases[i].kv[2 * k]);
			assert_string_equal(q.kv[k].value, cases[i].kv[2 * k + 1]);
		}
		rest_query_free(&q);
	}
	/* not NUL-terminated: only `len` bytes are read */
	char raw[] = {'l', 'a', 'g', '=', '1', 'X'};
	rest_query q;
	assert_int_equal(rest_query_parse(raw, 5, &q), 0);
	assert_int_equal(q.n, 1);
	assert_string_equal(q.kv[0].value, "1");
	rest_query_free(&q);
}

/* ---- POST bodies ---- */

/* "now" for the scheduled_at checks: 2025-01-01T00:00:00Z */
#define NOW_MS INT64_C(1735689600000)

static void test_failover(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	static const struct {
		bool switchover;
		const char *body;
		unsigned status; /* 0: passed on to the agent */
		const char *candidate;
		const char *says;
	} cases[] = {
	    {true, "{\"leader\":\"pg1\",\"candidate\":\"pg3\"}", 0, "pg3", NULL},
	    {true, "{\"leader\":\"pg1\"}", 0, NULL, NULL},
	    {true, "{\"candidate\":\"pg3\"}", 0, "pg3", NULL},
	    {true, "{\"leader\":\"pg9\",\"candidate\":\"pg3\"}", 412, "pg3", "not the leader"},
	    {true, "{\"leader\":\"pg1\",\"candidate\":\"pg1\"}", 412, "pg1", "already the leader"},
	    {true, "{\"leader\":\"pg1\",\"candidate\":\"nobody\"}", 412, "nobody", "not a member"},
	    {true, "{\"leader\":\"pg1\",\"candidate\":\"pg2\"}", 412, "pg2", "nofailover"},
	    {true,
	     "{\"leader\":\"pg1\",\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T00:00"
	     ":00+00:00\"}",
	     0, "pg3", NULL},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T00:00:00.5Z\"}", 0, "pg3",
	     NULL},
	    {true, "{\"scheduled_at\":\"2030-01-01 00:00:00-0130\"}", 0, NULL, NULL},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T00:00:00\"}", 400, "pg3",
	     "time zone"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"tomorrow\"}", 400, "pg3", "ISO 8601"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-02-30T00:00:00Z\"}", 400, "pg3",
	     "ISO 8601"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T25:00:00Z\"}", 400, "pg3",
	     "ISO 8601"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T00:00:00+00:00x\"}", 400,
	     "pg3", "ISO 8601"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2020-01-01T00:00:00Z\"}", 422, "pg3",
	     "past"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2025-01-01T00:59:59+01:00\"}", 422,
	     "pg3", "past"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2025-01-01T00:00:01+00:00\"}", 0,
	     "pg3", NULL},
	    {false, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T00:00:00Z\"}", 400, "pg3",
	     "cannot be scheduled"},
	    {false, "{\"candidate\":\"pg3\"}", 0, "pg3", NULL},
	    {false, "{\"leader\":\"pg1\",\"candidate\":\"pg3\"}", 0, "pg3", NULL},
	    {false, "{\"leader\":\"pg1\"}", 400, NULL, "candidate"},
	    {false, "{\"candidate\":null,\"unknown\":1}", 400, NULL, "candidate"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_failover_req r;
		rest_verdict v = {0, NULL};
		assert_int_equal(rest_parse_failover(cases[i].body, strlen(cases[i].body), &r, &v),
		                 0);
		if (cases[i].candidate)
			assert_string_equal(r.candidate, cases[i].candidate);
		else
			assert_null(r.candidate);
		rest_check_failover(&f.st, cases[i].switchover, &r, NOW_MS, &v);
		if (v.status != cases[i].status)
			print_error("case %zu: %u %s\n", i, v.status, v.message ? v.message : "");
		assert_int_equal(v.status, cases[i].status);
		if (cases[i].says)
			assert_contains(v.message, cases[i].says);
		else
			assert_null(v.message);
		rest_verdict_free(&v);
		rest_failover_req_free(&r);
	}
	/* no leader: a switchover is impossible; paused: a candidate is required */
	f.st.leader = NULL;
	rest_failover_req r = {NULL, NULL, NULL};
	rest_verdict v = {0, NULL};
	rest_check_failover(&f.st, true, &r, NOW_MS, &v);
	assert_int_equal(v.status, 412);
	rest_verdict_free(&v);
	f.st.leader = "pg1";
	f.st.paused = true;
	rest_check_failover(&f.st, true, &r, NOW_MS, &v);
	assert_int_equal(v.status, 400);
	rest_verdict_free(&v);
	/* paused: no scheduled switchover, even with a candidate */
	r.candidate = (char *)"pg3";
	r.scheduled_at = (char *)"2030-01-01T00:00:00Z";
	rest_check_failover(&f.st, true, &r, NOW_MS, &v);
	assert_int_equal(v.status, 400);
	assert_contains(v.message, "maintenance");
	rest_verdict_free(&v);
	fixture_free(&f);
}

static void test_failover_bad_bodies(void **state)
{
	(void)state;
	static const char *const bodies[] = {"",
	                                     "   ",
	                                     "{",
	                                     "[]",
	                                     "\"x\"",
	                                     "{\"candidate\":1}",
	                                     "{\"leader\":[\"pg1\"]}",
	                                     "{\"scheduled_at\":true}",
	                                     "{\"candidate\":\"a\"} trailing",
	                                     "nul\0"};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		rest_failover_req r;
		rest_verdict v = {0, NULL};
		size_t len = i == sizeof bodies / sizeof bodies[0] - 1 ? 4 : strlen(bodies[i]);
		assert_int_equal(rest_parse_failover(bodies[i], len, &r, &v), -1);
		assert_int_equal(v.status, 400);
		assert_non_null(v.message);
		assert_null(r.candidate);
		rest_verdict_free(&v);
	}
	/* an absent body (NULL) too */
	rest_failover_req r;
	rest_verdict v = {0, NULL};
	assert_int_equal(rest_parse_failover(NULL, 0, &r, &v), -1);
	assert_int_equal(v.status, 400);
	rest_verdict_free(&v);
}

static char *config_ok(fixture *f, const char *body, bool replace)
{
	rest_verdict v = {0, NULL};
	char *out = NULL;
	int rc = rest_config_request(&f->st, body, strlen(body), replace, &out, &v);
	if (rc < 0)
		print_error("%s: %u %s\n", body, v.status, v.message ? v.message : "");
	assert_int_equal(rc, 0);
	assert_int_equal(v.status, 0);
	assert_non_null(out);
	return out;
}

static void config_refused(fixture *f, const char *body, bool replace, unsigned status,
                           const char *says)
{
	rest_verdict v = {0, NULL};
	char *out = NULL;
	int rc = rest_config_request(&f->st, body, strlen(body), replace, &out, &v);
	if (rc == 0)
		print_error("%s: accepted: %s\n", body, out);
	assert_int_equal(rc, -1);
	assert_null(out);
	assert_int_equal(v.status, status);
	assert_contains(v.message, says);
	rest_verdict_free(&v);
}

static void test_config_patch(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	/* merge: nested objects merge, null removes, scalars replace, new keys appear */
	char *out = config_ok(&f,
	                      "{\"ttl\":40,\"custom\":null,\"pause\":true,\"postgresql\":"
	                      "{\"parameters\":{\"work_mem\":\"8MB\",\"max_connections\":null}}}",
	                      false);
	assert_string_equal(out, "{\"loop_wait\":10,\"pause\":true,\"postgresql\":{\"parameters\":"
	                         "{\"work_mem\":\"8MB\"}},\"ttl\":40}");
	free(out);
	/* an object replacing a scalar, and a new nested section */
	out = config_ok(&f, "{\"custom\":{\"a\":{\"b\":1,\"c\":null}}}", false);
	json_t *j = parse(out);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(json_object_get(j, "custom"), "a"), "b")),
	                 1);
	assert_null(json_object_get(json_object_get(json_object_get(j, "custom"), "a"), "c"));
	json_decref(j);
	/* PUT: the body is the whole configuration */
	out = config_ok(&f, "{\"ttl\":20,\"loop_wait\":5,\"retry_timeout\":5}", true);
	assert_string_equal(out, "{\"loop_wait\":5,\"retry_timeout\":5,\"ttl\":20}");
	free(out);
	out = config_ok(&f, "{}", true);
	assert_string_equal(out, "{}");
	free(out);
	out = config_ok(&f, "{}", false);
	free(out);

	config_refused(&f, "", false, 400, "body is required");
	config_refused(&f, "[1,2]", false, 400, "JSON object");
	config_refused(&f, "\"pause\"", true, 400, "invalid JSON");
	config_refused(&f, "{\"ttl\":", false, 400, "invalid JSON");
	/* ttl 30 loop_wait 10 in the fixture: retry_timeout 10 fits, 11 does not */
	out = config_ok(&f, "{\"retry_timeout\":10}", false);
	free(out);
	config_refused(&f, "{\"retry_timeout\":11}", false, 400, "loop_wait + 2 * retry_timeout");
	config_refused(&f, "{\"ttl\":4}", false, 400, "must not exceed ttl (4)");
	config_refused(&f, "{\"ttl\":1,\"loop_wait\":1}", true, 400, "at least 2");
	config_refused(&f, "{\"ttl\":\"30\"}", false, 400, "must be whole numbers of seconds");
	config_refused(&f, "{\"loop_wait\":0}", false, 400, "\"loop_wait\"");
	config_refused(&f, "{\"loop_wait\":1.5}", false, 400, "\"loop_wait\"");
	config_refused(&f, "{\"pause\":\"yes\"}", false, 400, "\"pause\" must be true or false");
	config_refused(&f, "{\"synchronous_mode\":1}", false, 400, "synchronous_mode");
	config_refused(&f, "{\"maximum_lag_on_failover\":-1}", false, 400,
	               "maximum_lag_on_failover");
	config_refused(&f, "{\"postgresql\":5}", false, 400, "\"postgresql\" must be an object");
	config_refused(&f, "{\"postgresql\":{\"parameters\":[]}}", false, 400,
	               "postgresql.parameters\" must be an object");
	config_refused(&f, "{\"postgresql\":{\"parameters\":{\"x\":{\"y\":1}}}}", false, 400,
	               "postgresql.parameters.x");
	config_refused(&f, "{\"postgresql\":{\"parameters\":{\"port\":5433}}}", false, 400,
	               "managed by tandemd");
	config_refused(&f, "{\"failsafe_mode\":\"on\"}", false, 400, "failsafe_mode");

	/* no config key yet: PATCH merges into {} */
	dcs_view_free(&f.view);
	dcs_view_init(&f.view, NULL, "batman");
	out = config_ok(&f, "{\"pause\":false}", false);
	assert_string_equal(out, "{\"pause\":false}");
	free(out);
	fixture_free(&f);
}

static void test_restart(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	static const struct {
		const char *body;
		bool pending;
		unsigned status;
		const char *says;
	} cases[] = {
	    {"", false, 0, NULL},
	    {"{}", false, 0, NULL},
	    {"{\"restart_pending\":true}", true, 0, NULL},
	    {"{\"restart_pending\":true}", false, 503, "pending"},
	    {"{\"restart_pending\":false}", false, 0, NULL},
	    {"{\"role\":\"primary\"}", false, 0, NULL},
	    {"{\"role\":\"master\"}", false, 0, NULL},
	    {"{\"role\":\"replica\"}", false, 503, "role"},
	    {"{\"role\":\"boss\"}", false, 400, "role"},
	    {"{\"postgres_version\":\"16.1\"}", false, 0, NULL},
	    {"{\"postgres_version\":\"15.4\"}", false, 503, "version"},
	    {"{\"postgres_version\":\"9.6.3\"}", false, 503, "version"},
	    {"{\"postgres_version\":\"15.x\"}", false, 400, "postgres_version"},
	    {"{\"timeout\":30}", false, 0, NULL},
	    {"{\"schedule\":\"2030-01-01T00:00+00\"}", false, 501, "not supported"},
	    {"{\"force\":true}", false, 400, "unknown"},
	    {"{\"restart_pending\":\"yes\"}", false, 400, "restart_pending"},
	    {"{nope", false, 400, "invalid JSON"},
	    {"[1]", false, 400, "object"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_verdict v = {0, NULL};
		f.st.pending_restart = cases[i].pending;
		rest_check_restart(&f.st, cases[i].body, strlen(cases[i].body), &v);
		if (v.status != cases[i].status)
			print_error("case %zu: %u %s\n", i, v.status, v.message ? v.message : "");
		assert_int_equal(v.status, cases[i].status);
		if (cases[i].says)
			assert_contains(v.message, cases[i].says);
		rest_verdict_free(&v);
	}
	fixture_free(&f);
}

static void test_reinitialize(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		unsigned status;
	} cases[] = {
	    {"", 0},
	    {"{\"force\":true}", 0},
	    {"{\"force\":false,\"from_leader\":true}", 0},
	    {"{\"force\":\"yes\"}", 400},
	    {"{\"wipe\":true}", 400},
	    {"{", 400},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_verdict v = {0, NULL};
		rest_check_reinitialize(cases[i].body, strlen(cases[i].body), &v);
		assert_int_equal(v.status, cases[i].status);
		rest_verdict_free(&v);
	}
}

static void test_failsafe(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		const char *name; /* NULL: refused with 400 */
	} cases[] = {
	    {"{\"name\":\"m1\",\"conn_url\":\"postgres://h:5432/postgres\",\"api_url\":"
	     "\"http://h:8008/patroni\"}",
	     "m1"},
	    {"{\"name\":\"m2\",\"slots\":{\"m1\":1}}", "m2"},
	    {"", NULL},
	    {"{}", NULL},
	    {"{\"name\":\"\"}", NULL},
	    {"{\"name\":7}", NULL},
	    {"[\"m1\"]", NULL},
	    {"{\"name\":", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_verdict v = {0, NULL};
		char *name = rest_parse_failsafe(cases[i].body, strlen(cases[i].body), &v);
		if (cases[i].name) {
			assert_non_null(name);
			assert_string_equal(name, cases[i].name);
			assert_int_equal(v.status, 0);
		} else {
			assert_null(name);
			assert_int_equal(v.status, 400);
			assert_non_null(v.message);
		}
		free(name);
		rest_verdict_free(&v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patroni_primary), cmocka_unit_test(test_patroni_replica),
	    cmocka_unit_test(test_patroni_unknown), cmocka_unit_test(test_cluster),
	    cmocka_unit_test(test_cluster_empty),   cmocka_unit_test(test_conn_url),
	    cmocka_unit_test(test_history),         cmocka_unit_test(test_config),
	    cmocka_unit_test(test_metrics),         cmocka_unit_test(test_query),
	    cmocka_unit_test(test_failover),        cmocka_unit_test(test_failover_bad_bodies),
	    cmocka_unit_test(test_config_patch),    cmocka_unit_test(test_restart),
	    cmocka_unit_test(test_reinitialize),    cmocka_unit_test(test_failsafe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
