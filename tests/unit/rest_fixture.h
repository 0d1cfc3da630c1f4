/* The fixture of the REST API's unit tests (test_rest_render.c, test_rest_request.c): a snapshot
 * of the agent and its cluster view built by hand, the view's values going through
 * dcs_view_apply as etcd would deliver them; and small JSON helpers. Header-only, everything
 * static inline (as testutil.h). */
#ifndef TANDEM_TEST_REST_FIXTURE_H
#define TANDEM_TEST_REST_FIXTURE_H

#include <jansson.h>

#include "agent.h"
#include "testutil.h"

#define PFX "/service/batman/"

typedef struct fixture {
	dcs_view view;
	tandemd_settings settings;
	agent_status st;
	agent_replica replicas[2];
} fixture;

static inline void put(dcs_view *v, const char *key, const char *value)
{
	char *err = NULL;
	char *full = xasprintf(PFX "%s", key);
	int rc = dcs_view_apply(v, full, strlen(full), value, strlen(value), 7, 0, &err);
	if (rc != 0)
		print_error("%s: %s\n", key, err ? err : "?");
	assert_int_equal(rc, 0);
	free(full);
}

/* Three members: pg1 the leader (primary, this node), pg2 a sync standby 100 bytes behind, pg3
 * a replica without a position. */
static inline void fixture_init(fixture *f)
{
	static char *tag_keys[] = {"nofailover", "dc", "nosync"};
	static char *tag_values[] = {"false", "east", "TRUE"};
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
	st->health.role = HEALTH_ROLE_PRIMARY;
	st->health.pg = HEALTH_PG_RUNNING;
	st->health.holds_leader_key = true;
	st->health.dcs_ok = true;
	st->view = &f->view;
	st->settings = &f->settings;
}

static inline void fixture_free(fixture *f)
{
	dcs_view_free(&f->view);
}

static inline json_t *parse(char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		print_error("not JSON: %s: %s\n", je.text, text);
	assert_non_null(j);
	free(text);
	return j;
}

static inline json_int_t int_at(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		print_error("\"%s\" is not an integer\n", key);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static inline const char *str_at(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v))
		print_error("\"%s\" is not a string\n", key);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

#endif
