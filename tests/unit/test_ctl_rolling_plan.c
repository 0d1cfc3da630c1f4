/* Unit tests for src/tandemctl/ctl_rolling_plan.h: the order of a rolling restart, the refusals
 * of an unhealthy cluster, and the choice of the replica that takes over from the leader. */
#include "testutil.h"

#include "ctl_rolling_plan.h"

static void put(dcs_view *v, const char *key, const char *value)
{
	char *full = xasprintf("/service/batman/%s", key);
	char *err = NULL;
	if (dcs_view_apply(v, full, strlen(full), value, strlen(value), 1, 0, &err) != 0)
		print_error("%s: %s\n", key, err);
	free(err);
	free(full);
}

/* A member key: running, with a position; replicas stream. `extra` is more JSON fields. */
static void member(dcs_view *v, const char *name, bool leader, uint64_t lsn, const char *extra)
{
	char *key = xasprintf("members/%s", name);
	char *val = xasprintf(
	    "{\"conn_url\":\"postgres://127.0.0.1:5432/postgres\",\"api_url\":\"http://"
	    "127.0.0.1:8008/patroni\",\"state\":\"running\",\"role\":\"%s\",\"xlog_location\":"
	    "%llu%s%s}",
	    leader ? "primary" : "replica", (unsigned long long)lsn,
	    leader ? "" : ",\"replication_state\":\"streaming\"", extra ? extra : "");
	put(v, key, val);
	free(val);
	free(key);
}

static void three(dcs_view *v)
{
	dcs_view_init(v, NULL, "batman");
	put(v, "leader", "pg1");
	member(v, "pg1", true, 1000, NULL);
	member(v, "pg2", false, 900, NULL);
	member(v, "pg3", false, 950, NULL);
}

static void test_order_replicas_then_leader(void **state)
{
	(void)state;
	dcs_view v;
	three(&v);
	rolling_plan p;
	rolling_plan_make(&v, false, &p);
	assert_null(p.problem);
	assert_int_equal(p.nreplicas, 2);
	assert_string_equal(p.replicas[0]->name, "pg2");
	assert_string_equal(p.replicas[1]->name, "pg3");
	assert_non_null(p.leader);
	assert_string_equal(p.leader->name, "pg1");
	rolling_plan_free(&p);
	/* without synchronous mode: the furthest ahead takes over */
	char *why = NULL;
	const dcs_member *c = rolling_candidate(&v, &why);
	assert_non_null(c);
	assert_string_equal(c->name, "pg3");
	dcs_view_free(&v);
}

static void test_sync_standby_last_and_chosen(void **state)
{
	(void)state;
	dcs_view v;
	three(&v);
	put(&v, "config", "{\"synchronous_mode\":true}");
	put(&v, "sync", "{\"leader\":\"pg1\",\"sync_standby\":\"pg2\"}");
	rolling_plan p;
	rolling_plan_make(&v, false, &p);
	assert_null(p.problem);
	assert_string_equal(p.replicas[0]->name, "pg3");
	assert_string_equal(p.replicas[1]->name, "pg2");
	rolling_plan_free(&p);
	char *why = NULL;
	const dcs_member *c = rolling_candidate(&v, &why);
	assert_non_null(c);
	assert_string_equal(c->name, "pg2"); /* behind pg3, but the synchronous standby */
	dcs_view_free(&v);
}

static void test_leaders_site_preferred(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	put(&v, "leader", "pg1");
	member(&v, "pg1", true, 1000, ",\"tags\":{\"site\":\"A\"}");
	member(&v, "pg2", false, 900, ",\"tags\":{\"site\":\"A\"}");
	member(&v, "pg3", false, 990, ",\"tags\":{\"site\":\"B\"}");
	char *why = NULL;
	const dcs_member *c = rolling_candidate(&v, &why);
	assert_non_null(c);
	assert_string_equal(c->name, "pg2");
	dcs_view_free(&v);
}

static void test_nofailover_never_chosen(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	put(&v, "leader", "pg1");
	member(&v, "pg1", true, 1000, NULL);
	member(&v, "pg2", false, 900, ",\"tags\":{\"nofailover\":true}");
	rolling_plan p;
	rolling_plan_make(&v, false, &p);
	assert_non_null(p.problem);
	assert_non_null(strstr(p.problem, "no replica may take over from the leader pg1"));
	rolling_plan_free(&p);
	dcs_view_free(&v);
}

static void test_unhealthy_cluster_refused(void **state)
{
	(void)state;
	dcs_view v;
	three(&v);
	put(&v, "members/pg3",
	    "{\"api_url\":\"http://127.0.0.1:8010/patroni\",\"state\":\"starting\","
	    "\"role\":\"replica\"}");
	rolling_plan p;
	rolling_plan_make(&v, false, &p);
	assert_non_null(p.problem);
	assert_non_null(strstr(p.problem, "pg3 is starting, not running"));
	rolling_plan_free(&p);
	/* a replica that runs but does not stream */
	member(&v, "pg3", false, 950, ",\"replication_state\":\"in archive recovery\"");
	rolling_plan_make(&v, false, &p);
	assert_non_null(p.problem);
	rolling_plan_free(&p);
	dcs_view_free(&v);
	/* no leader */
	dcs_view_init(&v, NULL, "batman");
	member(&v, "pg2", false, 900, NULL);
	rolling_plan_make(&v, false, &p);
	assert_non_null(p.problem);
	assert_non_null(strstr(p.problem, "no leader"));
	rolling_plan_free(&p);
	dcs_view_free(&v);
}

static void test_pending_only(void **state)
{
	(void)state;
	dcs_view v;
	three(&v);
	member(&v, "pg3", false, 950, ",\"pending_restart\":true");
	rolling_plan p;
	rolling_plan_make(&v, true, &p);
	assert_null(p.problem);
	assert_int_equal(p.nreplicas, 1);
	assert_string_equal(p.replicas[0]->name, "pg3");
	assert_null(p.leader); /* the leader has none pending: no switchover */
	rolling_plan_free(&p);
	member(&v, "pg1", true, 1000, ",\"pending_restart\":true");
	rolling_plan_make(&v, true, &p);
	assert_non_null(p.leader);
	rolling_plan_free(&p);
	dcs_view_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_replicas_then_leader),
	    cmocka_unit_test(test_sync_standby_last_and_chosen),
	    cmocka_unit_test(test_leaders_site_preferred),
	    cmocka_unit_test(test_nofailover_never_chosen),
	    cmocka_unit_test(test_unhealthy_cluster_refused),
	    cmocka_unit_test(test_pending_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
