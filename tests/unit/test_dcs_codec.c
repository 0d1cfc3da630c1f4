/* Unit tests for the codec of Patroni's DCS values (src/patroni/dcs_codec.h): values shaped as
 * Patroni 3.x writes them (patroni/ha.py touch_member, patroni/dcs/__init__.py from_node
 * parsers, patroni/dcs/etcd3.py), hostile values, and encoding round trips. */
#include "testutil.h"

#include <jansson.h>

#include "dcs_codec.h"
#include "dcs_view_ha.h"

#define P "/service/batman/"

static int put(dcs_view *v, const char *key, const char *value, int64_t rev, int64_t lease,
               char **err)
{
	/* an exactly-sized copy, not NUL-terminated, as the etcd client's values may be */
	size_t len = strlen(value);
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, value, len);
	int rc = dcs_view_apply(v, key, strlen(key), copy, len, rev, lease, err);
	free(copy);
	return rc;
}

static void ok(dcs_view *v, const char *key, const char *value, int64_t rev, int64_t lease)
{
	char *err = NULL;
	int rc = put(v, key, value, rev, lease, &err);
	if (rc != 0)
		print_error("%s = %s: %s\n", key, value, err ? err : "");
	assert_int_equal(rc, 0);
	assert_null(err);
}

static void bad(dcs_view *v, const char *key, const char *value)
{
	char *err = NULL;
	assert_int_equal(put(v, key, value, 99, 0, &err), -1);
	assert_non_null(err);
	free(err);
}

static void test_prefix(void **state)
{
	(void)state;
	char *p = dcs_prefix(NULL, "batman");
	assert_string_equal(p, "/service/batman/");
	free(p);
	p = dcs_prefix("/db/", "s1");
	assert_string_equal(p, "/db/s1/");
	free(p);
	p = dcs_prefix("custom", "s1");
	assert_string_equal(p, "/custom/s1/");
	free(p);
}

/* A cluster as Patroni 3.x writes it, read into `v`. */
static void load_patroni_cluster(dcs_view *v)
{
	dcs_view_init(v, NULL, "batman");
	ok(v, P "initialize", "7301312345678901234", 2, 0);
	ok(v, P "config",
	   "{\"ttl\":30,\"loop_wait\":10,\"retry_timeout\":10,\"maximum_lag_on_failover\":1048576,"
	   "\"postgresql\":{\"use_pg_rewind\":true,\"use_slots\":true,\"parameters\":{"
	   "\"max_connections\":100,\"wal_level\":\"replica\"}},\"synchronous_mode\":true,"
	   "\"failsafe_mode\":true,\"check_timeline\":false,\"slots\":{\"s\":{\"type\":"
	   "\"physical\"}}}",
	   3, 0);
	ok(v, P "leader", "postgresql0", 10, 7587861234);
	ok(v, P "members/postgresql0",
	   "{\"conn_url\":\"postgres://127.0.0.1:5432/postgres\",\"api_url\":"
	   "\"http://127.0.0.1:8008/patroni\",\"state\":\"running\",\"role\":\"primary\","
	   "\"version\":\"3.2.2\",\"xlog_location\":67108960,\"timeline\":2}",
	   11, 7587861234);
	ok(v, P "members/postgresql1",
	   "{\"conn_url\":\"postgres://127.0.0.1:5433/postgres\",\"api_url\":"
	   "\"http://127.0.0.1:8009/patroni\",\"state\":\"running\",\"role\":\"replica\","
	   "\"version\":\"3.2.2\",\"tags\":{\"nofailover\":true,\"clonefrom\":\"true\"},"
	   "\"pending_restart\":true,\"xlog_location\":67108000,\"replication_state\":"
	   "\"streaming\",\"timeline\":2}",
	   12, 7587861235);
	ok(v, P "status",
	   "{\"optime\":67108960,\"slots\":{\"postgresql1\":67108000},"
	   "\"retain_slots\":[\"postgresql0\",\"postgresql1\"]}",
	   13, 0);
	ok(v, P "history",
	   "[[1,25165984,\"no recovery target specified\",\"2024-01-15T10:11:12.123456+00:00\","
	   "\"postgresql0\"],[2,50331808,\"no recovery target specified\"]]",
	   14, 0);
	ok(v, P "sync", "{\"leader\":\"postgresql0\",\"sync_standby\":\"postgresql1,postgresql2\"}",
	   15, 0);
	ok(v, P "failover",
	   "{\"leader\":\"postgresql0\",\"member\":\"postgresql1\",\"scheduled_at\":"
	   "\"2024-01-14T10:09:57.1394+00:00\"}",
	   16, 0);
	ok(v, P "failsafe", "{\"postgresql0\":\"http://127.0.0.1:8008/patroni\",\"postgresql1\":7}",
	   17, 0);
	ok(v, P "optime/leader", "67108960", 18, 0); /* Patroni < 2: ignored */
	ok(v, "/service/other/leader", "intruder", 19, 0);
}

static void test_patroni_cluster(void **state)
{
	(void)state;
	dcs_view v;
	load_patroni_cluster(&v);
	assert_true(v.initialized);
	assert_string_equal(v.sysid, "7301312345678901234");
	assert_int_equal(v.initialize_lease, 0); /* Patroni's: no lease */
	assert_true(v.has_config && v.config.valid);
	assert_int_equal(v.config.ttl, 30);
	assert_int_equal(v.config.loop_wait, 10);
	assert_int_equal(v.config.retry_timeout, 10);
	assert_true(v.config.has_maximum_lag_on_failover);
	assert_int_equal(v.config.maximum_lag_on_failover, 1048576);
	assert_true(v.config.synchronous_mode);
	assert_false(v.config.synchronous_mode_strict);
	assert_false(v.config.pause);
	assert_true(v.config.use_pg_rewind);
	assert_contains(v.config.parameters_json, "\"wal_level\":\"replica\"");
	assert_contains(v.config.raw, "\"check_timeline\":false"); /* unknown keys kept */
	assert_string_equal(v.leader, "postgresql0");
	assert_int_equal(v.leader_mod_revision, 10);
	assert_int_equal(v.leader_lease, 7587861234);
	assert_int_equal(v.nmembers, 2);
	const dcs_member *m0 = dcs_view_member(&v, "postgresql0");
	assert_non_null(m0);
	assert_true(m0->valid);
	assert_string_equal(m0->role, "primary");
	assert_string_equal(m0->state, "running");
	assert_string_equal(m0->conn_url, "postgres://127.0.0.1:5432/postgres");
	assert_string_equal(m0->api_url, "http://127.0.0.1:8008/patroni");
	assert_string_equal(m0->version, "3.2.2");
	assert_true(m0->has_lsn);
	assert_int_equal(m0->xlog_location, 67108960);
	assert_int_equal(m0->timeline, 2);
	assert_false(m0->tags.nofailover);
	assert_null(m0->tags_json);
	const dcs_member *m1 = dcs_view_member(&v, "postgresql1");
	assert_non_null(m1);
	assert_true(m1->tags.nofailover);
	assert_true(m1->tags.clonefrom);
	assert_false(m1->tags.nosync);
	assert_true(m1->pending_restart);
	assert_string_equal(m1->replication_state, "streaming");
	assert_int_equal(m1->lease, 7587861235);
	assert_true(v.has_status);
	assert_int_equal(v.optime, 67108960);
	assert_int_equal(v.nslots, 1);
	assert_string_equal(v.slots[0].name, "postgresql1");
	assert_int_equal(v.slots[0].lsn, 67108000);
	assert_int_equal(v.nretain_slots, 2);
	assert_int_equal(v.nhistory, 2);
	assert_int_equal(v.history[0].timeline, 1);
	assert_int_equal(v.history[0].lsn, 25165984);
	assert_string_equal(v.history[0].new_leader, "postgresql0");
	assert_null(v.history[1].timestamp);
	assert_string_equal(v.sync_leader, "postgresql0");
	assert_int_equal(v.nsync_standby, 2);
	assert_string_equal(v.sync_standby[1], "postgresql2");
	assert_string_equal(v.failover_leader, "postgresql0");
	assert_string_equal(v.failover_candidate, "postgresql1");
	assert_non_null(v.failover_scheduled_at);
	assert_non_null(v.failsafe);
	assert_int_equal(v.nfailsafe, 2);
	assert_string_equal(v.failsafe_names[0], "postgresql0");
	assert_string_equal(v.failsafe_urls[0], "http://127.0.0.1:8008/patroni");
	assert_string_equal(v.failsafe_names[1], "postgresql1");
	assert_null(v.failsafe_urls[1]); /* not a string: no URL to ask */
	assert_int_equal(v.revision, 18);
	dcs_view_free(&v);
}

/* What the HA decision sees of that cluster. */
static void test_patroni_cluster_to_ha(void **state)
{
	(void)state;
	dcs_view v;
	load_patroni_cluster(&v);
	ha_member hm[4];
	ha_cluster hc;
	dcs_view_to_ha(&v, "postgresql0", hm, 4, &hc);
	assert_true(hc.dcs_ok && hc.initialized);
	assert_string_equal(hc.leader, "postgresql0");
	assert_int_equal(hc.last_leader_lsn, 67108960);
	assert_false(hc.paused);
	assert_true(hc.synchronous_mode);
	assert_int_equal(hc.nsync, 2);
	assert_string_equal(hc.sync[0], "postgresql1");
	assert_string_equal(hc.failover_to, "postgresql1");
	assert_true(hc.failsafe_mode);
	assert_true(hc.has_failsafe);
	assert_int_equal(hc.nfailsafe, 2);
	assert_string_equal(hc.failsafe[1], "postgresql1");
	assert_int_equal(hc.nmembers, 1);
	assert_string_equal(hc.members[0].name, "postgresql1");
	assert_true(hc.members[0].nofailover);
	assert_int_equal(hc.members[0].lsn, 67108000);
	dcs_view_to_ha(&v, NULL, hm, 1, &hc);
	assert_int_equal(hc.nmembers, 1);
	dcs_view_free(&v);
}

/* Deletes of that cluster's keys. */
static void test_patroni_cluster_deletes(void **state)
{
	(void)state;
	dcs_view v;
	load_patroni_cluster(&v);
	dcs_view_delete(&v, P "leader", strlen(P "leader"));
	assert_null(v.leader);
	dcs_view_delete(&v, P "members/postgresql0", strlen(P "members/postgresql0"));
	assert_int_equal(v.nmembers, 1);
	assert_null(dcs_view_member(&v, "postgresql0"));
	assert_non_null(dcs_view_member(&v, "postgresql1"));
	dcs_view_delete(&v, P "failover", strlen(P "failover"));
	assert_false(v.has_failover);
	dcs_view_delete(&v, P "sync", strlen(P "sync"));
	assert_false(v.has_sync);
	assert_int_equal(v.nsync_standby, 0);
	/* tandem's bootstrap race: the key on the winner's lease, until the system id replaces it
	 */
	ok(&v, P "initialize", "", 30, 4242);
	assert_true(v.initialized);
	assert_int_equal(v.initialize_lease, 4242);
	dcs_view_delete(&v, P "initialize", strlen(P "initialize"));
	assert_false(v.initialized);
	assert_int_equal(v.initialize_lease, 0);
	dcs_view_delete(&v, P "config", strlen(P "config"));
	assert_false(v.has_config);
	dcs_view_delete(&v, P "failsafe", strlen(P "failsafe"));
	assert_null(v.failsafe);
	assert_int_equal(v.nfailsafe, 0);
	dcs_view_free(&v);
}

/* tandem's backup keys: kept as text with their revision and lease; a runner name must be a
 * name; deletes clear them; other keys under backup/ are ignored. */
static void test_backup_keys(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	ok(&v, P "backup", "{\"failures\":1}", 40, 0);
	ok(&v, P "backup/runner", "pg2", 41, 7);
	ok(&v, P "backup/other", "x", 42, 0);
	assert_string_equal(v.backup, "{\"failures\":1}");
	assert_int_equal(v.backup_mod_revision, 40);
	assert_string_equal(v.backup_runner, "pg2");
	assert_int_equal(v.backup_runner_lease, 7);
	bad(&v, P "backup/runner", "");
	assert_null(v.backup_runner);
	assert_int_equal(v.backup_runner_lease, 0);
	char nul[] = "a\0b";
	char *err = NULL;
	assert_int_equal(dcs_view_apply(&v, P "backup", strlen(P "backup"), nul, 3, 50, 0, &err),
	                 -1);
	free(err);
	assert_null(v.backup);
	ok(&v, P "backup", "{}", 51, 0);
	ok(&v, P "backup/runner", "pg3", 52, 9);
	dcs_view_delete(&v, P "backup/runner", strlen(P "backup/runner"));
	assert_null(v.backup_runner);
	assert_string_equal(v.backup, "{}");
	dcs_view_delete(&v, P "backup", strlen(P "backup"));
	assert_null(v.backup);
	assert_int_equal(v.backup_mod_revision, 0);
	ok(&v, P "backup", "{}", 53, 0);
	dcs_view_free(&v); /* frees them */
}

/* Shapes older Patroni versions and patronictl also write. */
static void test_legacy_shapes(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, "/service/", "batman");
	ok(&v, P "status", "12345", 1, 0);
	assert_int_equal(v.optime, 12345);
	ok(&v, P "failover", "pg0:pg1", 2, 0);
	assert_string_equal(v.failover_leader, "pg0");
	assert_string_equal(v.failover_candidate, "pg1");
	ok(&v, P "failover", "{\"member\":\"pg2\"}", 3, 0);
	assert_null(v.failover_leader);
	assert_string_equal(v.failover_candidate, "pg2");
	ok(&v, P "failover", "", 4, 0);
	assert_true(v.has_failover);
	assert_null(v.failover_candidate);
	ok(&v, P "sync", "{\"leader\":\"pg0\",\"sync_standby\":null}", 5, 0);
	assert_string_equal(v.sync_leader, "pg0");
	assert_int_equal(v.nsync_standby, 0);
	ok(&v, P "config", "{\"ttl\":\"20\",\"pause\":true}", 6, 0);
	assert_int_equal(v.config.ttl, 20);
	assert_true(v.config.pause);
	ok(&v, P "members/pg3",
	   "{\"conn_url\":\"postgres://h:5432/postgres\",\"state\":\"stopped\"}", 7, 0);
	assert_false(dcs_view_member(&v, "pg3")->has_lsn);
	dcs_view_free(&v);
}

static void test_hostile(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	ok(&v, P "config", "{\"ttl\":30}", 1, 0);
	ok(&v, P "status", "{\"optime\":100}", 2, 0);
	ok(&v, P "history", "[[1,2,\"r\"]]", 3, 0);
	/* unreadable config, status and history keep the previous value */
	bad(&v, P "config", "{\"ttl\":");
	bad(&v, P "config", "[1,2]");
	assert_int_equal(v.config.ttl, 30);
	bad(&v, P "status", "\"optime\"");
	bad(&v, P "status", "{");
	assert_int_equal(v.optime, 100);
	bad(&v, P "history", "{}");
	assert_int_equal(v.nhistory, 1);
	/* history lines of the wrong shape are skipped */
	ok(&v, P "history", "[1,[2],[\"x\",3],[3,-1],[4,5,6],null,[7,8,\"r\",9,10]]", 4, 0);
	assert_int_equal(v.nhistory, 2);
	assert_null(v.history[0].reason);
	assert_null(v.history[1].timestamp);
	/* a member with unreadable JSON is still a member, its fields unknown */
	bad(&v, P "members/pg9", "not json");
	const dcs_member *m = dcs_view_member(&v, "pg9");
	assert_non_null(m);
	assert_false(m->valid);
	assert_null(m->role);
	bad(&v, P "members/pg9", "[]");
	assert_int_equal(v.nmembers, 1);
	/* wrong types are ignored field by field */
	ok(&v, P "members/pg9",
	   "{\"role\":5,\"xlog_location\":\"x\",\"tags\":[1],\"timeline\":{},\"state\":null}", 5,
	   0);
	m = dcs_view_member(&v, "pg9");
	assert_true(m->valid);
	assert_null(m->role);
	assert_false(m->has_lsn);
	assert_int_equal(m->timeline, 0);
	ok(&v, P "members/pg9", "{\"xlog_location\":-5,\"tags\":{\"nofailover\":\"maybe\"}}", 6, 0);
	assert_false(dcs_view_member(&v, "pg9")->has_lsn);
	assert_false(dcs_view_member(&v, "pg9")->tags.nofailover);
	bad(&v, P "members/pg9", "{\"xlog_location\":99999999999999999999999}");
	assert_false(dcs_view_member(&v, "pg9")->valid);
	/* unreadable sync is empty (as in Patroni) */
	ok(&v, P "sync", "{\"leader\":\"a\",\"sync_standby\":\"b\"}", 7, 0);
	bad(&v, P "sync", "{{");
	assert_true(v.has_sync);
	assert_null(v.sync_leader);
	ok(&v, P "sync", "{\"sync_standby\":\" ,a,, b ,\"}", 8, 0);
	assert_int_equal(v.nsync_standby, 2);
	assert_string_equal(v.sync_standby[1], "b");
	/* leader: empty or NUL is no leader */
	bad(&v, P "leader", "");
	assert_null(v.leader);
	char *err = NULL;
	assert_int_equal(dcs_view_apply(&v, P "leader", strlen(P "leader"), "a\0b", 3, 9, 0, &err),
	                 -1);
	free(err);
	assert_null(v.leader);
	err = NULL;
	assert_int_equal(
	    dcs_view_apply(&v, P "initialize", strlen(P "initialize"), "1\0", 2, 9, 0, &err), -1);
	free(err);
	assert_true(v.initialized);
	assert_null(v.sysid);
	/* keys with a NUL, outside the prefix, nested or unknown are ignored */
	assert_int_equal(
	    dcs_view_apply(&v, P "leader\0x", strlen(P "leader") + 2, "x", 1, 9, 0, NULL), 0);
	assert_null(v.leader);
	ok(&v, P "members/a/b", "{}", 10, 0);
	ok(&v, P "members/", "{}", 10, 0);
	ok(&v, P, "{}", 10, 0);
	ok(&v, "/serv", "{}", 10, 0);
	ok(&v, P "something", "{", 10, 0);
	ok(&v, P "failsafe", "{\"m1\":\"http://h/patroni\"}", 10, 0);
	bad(&v, P "failsafe", "[]");
	assert_null(v.failsafe); /* unreadable: dropped, not kept stale */
	assert_int_equal(v.nfailsafe, 0);
	bad(&v, P "failsafe", "{");
	err = NULL;
	assert_int_equal(
	    dcs_view_apply(&v, P "failover", strlen(P "failover"), "a\0b", 3, 11, 0, &err), -1);
	free(err);
	assert_null(v.failover_leader);
	dcs_view_delete(&v, P "nothing", strlen(P "nothing"));
	dcs_view_delete(&v, "/x", 2);
	dcs_view_delete(&v, P "members/none", strlen(P "members/none"));
	dcs_view_clear(&v);
	assert_string_equal(v.prefix, "/service/batman/");
	assert_int_equal(v.nmembers, 0);
	dcs_view_free(&v);
}

static json_t *load(const char *s)
{
	json_error_t je;
	json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
	if (!j)
		print_error("not JSON: %s: %s\n", s, je.text);
	assert_non_null(j);
	return j;
}

/* A member key, as Patroni writes it, and back through the decoder. */
static void test_encode_member(void **state)
{
	(void)state;
	dcs_member_info mi = {
	    .conn_url = "postgres://10.0.0.1:5432/postgres",
	    .api_url = "http://10.0.0.1:8008/patroni",
	    .state = "running",
	    .role = "replica",
	    .version = "3.2.2",
	    .has_lsn = true,
	    .xlog_location = 50331808,
	    .replication_state = "streaming",
	    .timeline = 3,
	    .tags = {.nofailover = true},
	};
	char *s = dcs_encode_member(&mi);
	assert_string_equal(
	    s, "{\"conn_url\":\"postgres://10.0.0.1:5432/postgres\",\"api_url\":"
	       "\"http://10.0.0.1:8008/patroni\",\"state\":\"running\",\"role\":\"replica\","
	       "\"version\":\"3.2.2\",\"tags\":{\"nofailover\":true},\"xlog_location\":50331808,"
	       "\"replication_state\":\"streaming\",\"timeline\":3}");
	/* round trip through the decoder */
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	ok(&v, P "members/m1", s, 1, 5);
	const dcs_member *m = dcs_view_member(&v, "m1");
	assert_true(m->tags.nofailover);
	assert_int_equal(m->xlog_location, 50331808);
	assert_string_equal(m->replication_state, "streaming");
	assert_null(m->site);
	free(s);
	/* the site tag, written beside the others and read back */
	mi.site = "B";
	s = dcs_encode_member(&mi);
	assert_non_null(strstr(s, "\"tags\":{\"nofailover\":true,\"site\":\"B\"}"));
	ok(&v, P "members/m1", s, 2, 5);
	assert_string_equal(dcs_view_member(&v, "m1")->site, "B");
	free(s);
	/* a replica's replay lag, read back; out of range or not a number: unknown */
	assert_false(dcs_view_member(&v, "m1")->has_replay_lag);
	mi.has_replay_lag = true;
	mi.replay_lag_ms = 1500;
	s = dcs_encode_member(&mi);
	assert_non_null(strstr(s, "\"replay_lag_ms\":1500"));
	ok(&v, P "members/m1", s, 3, 5);
	assert_true(dcs_view_member(&v, "m1")->has_replay_lag);
	assert_int_equal(dcs_view_member(&v, "m1")->replay_lag_ms, 1500);
	free(s);
	ok(&v, P "members/m1", "{\"replay_lag_ms\":-1}", 4, 5);
	assert_false(dcs_view_member(&v, "m1")->has_replay_lag);
	ok(&v, P "members/m1", "{\"replay_lag_ms\":\"x\"}", 5, 5);
	assert_false(dcs_view_member(&v, "m1")->has_replay_lag);

	dcs_member_info bare = {.state = "stopped", .role = "uninitialized"};
	s = dcs_encode_member(&bare);
	assert_string_equal(s, "{\"state\":\"stopped\",\"role\":\"uninitialized\"}");
	free(s);

	/* strings that need escaping, and invalid UTF-8 (written as null, never broken JSON) */
	dcs_member_info odd = {.conn_url = "a\"b\\c\n", .role = "\xff\xfe"};
	s = dcs_encode_member(&odd);
	json_t *j = load(s);
	assert_string_equal(json_string_value(json_object_get(j, "conn_url")), "a\"b\\c\n");
	json_decref(j);
	free(s);
	const char *badname[] = {"\xff"};
	s = dcs_encode_sync("\xc3", badname, 1);
	j = load(s);
	json_decref(j);
	free(s);
	dcs_view_free(&v);
}

/* The other keys tandemd writes, each read back. */
static void test_encode_keys(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	char *s;
	dcs_slot_lsn slots[] = {{.name = "m2", .lsn = 100}};
	const char *retain[] = {"m1", "m2"};
	s = dcs_encode_status(200, slots, 1, retain, 2);
	assert_string_equal(s, "{\"optime\":200,\"slots\":{\"m2\":100},\"retain_slots\":[\"m1\","
	                       "\"m2\"]}");
	ok(&v, P "status", s, 2, 0);
	assert_int_equal(v.optime, 200);
	free(s);
	s = dcs_encode_status(7, NULL, 0, NULL, 0);
	assert_string_equal(s, "{\"optime\":7}");
	free(s);
	/* the leader's site in the status key; a site tandem would not accept is left out */
	s = dcs_encode_leader_status(9, "dc-2");
	assert_string_equal(s, "{\"optime\":9,\"current_site\":\"dc-2\"}");
	ok(&v, P "status", s, 2, 0);
	assert_string_equal(v.current_site, "dc-2");
	free(s);
	s = dcs_encode_leader_status(9, NULL);
	assert_string_equal(s, "{\"optime\":9}");
	ok(&v, P "status", s, 2, 0);
	assert_null(v.current_site);
	free(s);
	bad(&v, P "status", "{\"optime\":9,\"current_site\":\"a b\"}");
	assert_null(v.current_site);
	assert_int_equal(v.optime, 9);

	const char *standbys[] = {"m2", "m3"};
	s = dcs_encode_sync("m1", standbys, 2);
	assert_string_equal(s, "{\"leader\":\"m1\",\"sync_standby\":\"m2,m3\"}");
	ok(&v, P "sync", s, 3, 0);
	assert_int_equal(v.nsync_standby, 2);
	free(s);
	s = dcs_encode_sync("m1", NULL, 0);
	assert_string_equal(s, "{\"leader\":\"m1\",\"sync_standby\":null}");
	free(s);

	dcs_history_entry h[] = {
	    {.timeline = 1,
	     .lsn = 25165984,
	     .reason = "no recovery target specified",
	     .timestamp = "2024-01-15T10:11:12.123456+00:00",
	     .new_leader = "m1"},
	    {.timeline = 2, .lsn = 50331808, .reason = "no recovery target specified"},
	};
	s = dcs_encode_history(h, 2);
	assert_string_equal(s, "[[1,25165984,\"no recovery target specified\","
	                       "\"2024-01-15T10:11:12.123456+00:00\",\"m1\"],[2,50331808,"
	                       "\"no recovery target specified\"]]");
	ok(&v, P "history", s, 4, 0);
	assert_int_equal(v.nhistory, 2);
	free(s);

	const char *fs_names[] = {"m1", "m2"};
	const char *fs_urls[] = {"http://h1:8008/patroni", NULL};
	s = dcs_encode_failsafe(fs_names, fs_urls, 2);
	assert_string_equal(s, "{\"m1\":\"http://h1:8008/patroni\",\"m2\":null}");
	ok(&v, P "failsafe", s, 5, 0);
	assert_int_equal(v.nfailsafe, 2);
	free(s);

	s = dcs_encode_failover("m1", "m2", NULL);
	assert_string_equal(s, "{\"leader\":\"m1\",\"member\":\"m2\"}");
	free(s);
	s = dcs_encode_failover(NULL, "m2", "2024-01-14T10:09:57+00:00");
	json_t *j = load(s);
	assert_string_equal(json_string_value(json_object_get(j, "scheduled_at")),
	                    "2024-01-14T10:09:57+00:00");
	json_decref(j);
	free(s);

	dcs_view_free(&v);
}

/* standby_cluster: Patroni's section read and checked; present and unusable still means a
 * standby cluster (no source), never a primary one; null means none (promote-cluster). */
static void test_standby_cluster(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	ok(&v, P "config",
	   "{\"ttl\":30,\"standby_cluster\":{\"host\":\"10.0.0.1,10.0.0.2\",\"port\":5432,"
	   "\"primary_slot_name\":\"site_b\",\"recovery_min_apply_delay\":\"5min\","
	   "\"restore_command\":\"pgbackrest --stanza=a archive-get %f %p\"}}",
	   1, 0);
	assert_true(v.config.standby.present && v.config.standby.valid);
	assert_string_equal(v.config.standby.host, "10.0.0.1,10.0.0.2");
	assert_string_equal(v.config.standby.port, "5432");
	assert_string_equal(v.config.standby.primary_slot_name, "site_b");
	assert_string_equal(v.config.standby.recovery_min_apply_delay, "5min");
	ha_member members[4];
	ha_cluster cl;
	dcs_view_to_ha(&v, "me", members, 4, &cl);
	assert_true(cl.standby_cluster);

	ok(&v, P "config", "{\"ttl\":30,\"standby_cluster\":null}", 2, 0);
	assert_false(v.config.standby.present);
	dcs_view_to_ha(&v, "me", members, 4, &cl);
	assert_false(cl.standby_cluster);

	const char *unusable[] = {
	    "{\"standby_cluster\":{\"host\":\"a;b\"}}",
	    "{\"standby_cluster\":{\"host\":\"a\",\"port\":\"99999\"}}",
	    "{\"standby_cluster\":{\"host\":\"a,b\",\"port\":\"1,2,3\"}}",
	    "{\"standby_cluster\":{\"port\":5432}}",
	    "{\"standby_cluster\":{\"host\":\"a\",\"primary_slot_name\":\"A-B\"}}",
	    "{\"standby_cluster\":{\"restore_command\":\"x\\ny\"}}",
	    "{\"standby_cluster\":[1]}",
	};
	for (size_t i = 0; i < sizeof unusable / sizeof unusable[0]; i++) {
		bad(&v, P "config", unusable[i]);
		assert_true(v.config.standby.present);
		assert_false(v.config.standby.valid);
		assert_null(v.config.standby.host);
		dcs_view_to_ha(&v, "me", members, 4, &cl);
		assert_true(cl.standby_cluster);
	}
	dcs_view_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefix),
	    cmocka_unit_test(test_patroni_cluster),
	    cmocka_unit_test(test_patroni_cluster_to_ha),
	    cmocka_unit_test(test_patroni_cluster_deletes),
	    cmocka_unit_test(test_legacy_shapes),
	    cmocka_unit_test(test_backup_keys),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_standby_cluster),
	    cmocka_unit_test(test_encode_member),
	    cmocka_unit_test(test_encode_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
