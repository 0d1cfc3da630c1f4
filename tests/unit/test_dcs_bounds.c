/* Unit tests for the bounds the DCS codec keeps on hostile values (dcs_codec.h: whoever can write
 * to etcd chooses them) and for the plan's inputs built from such a view (dcs_view_ha.h): every
 * list capped or de-duplicated, every number kept to its range, each refusal reported once
 * through `err` naming the key and the cap. */
#include "testutil.h"

#include <inttypes.h>

#include "dcs_codec.h"
#include "dcs_view_ha.h"
#include "strbuf.h"

#define P "/service/batman/"

/* Applies `value` to `key`; returns the rc, and the error (heap, or NULL) in *err. */
static int put(dcs_view *v, const char *key, const char *value, char **err)
{
	*err = NULL;
	return dcs_view_apply(v, key, strlen(key), value, strlen(value), 7, 0, err);
}

/* `value` is applied, but part of it refused: -1 and an error naming `what`. */
static void capped(dcs_view *v, const char *key, const char *value, const char *what)
{
	char *err = NULL;
	assert_int_equal(put(v, key, value, &err), -1);
	assert_contains(err, what);
	free(err);
}

static void fine(dcs_view *v, const char *key, const char *value)
{
	char *err = NULL;
	int rc = put(v, key, value, &err);
	if (rc != 0)
		print_error("%s: %s\n", key, err);
	assert_int_equal(rc, 0);
	free(err);
}

/* `open`, then items from..to (inclusive), each `item` with every '#' replaced by its number,
 * joined by ",", then `close`. A heap string. */
static char *joined(const char *open, const char *item, int from, int to, const char *close)
{
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, open);
	for (int i = from; i <= to; i++) {
		if (i > from)
			sb_puts(&sb, ",");
		for (const char *p = item; *p; p++)
			if (*p == '#')
				sb_printf(&sb, "%d", i);
			else
				sb_append(&sb, p, 1);
	}
	sb_puts(&sb, close);
	return sb_steal(&sb);
}

/* A sync key naming one standby a thousand times names it once (it overflowed an array of the
 * leader's once); more than DCS_MAX_NAMES names are refused past the cap. */
static void test_sync_names(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	char *val = joined("{\"leader\":\"a\",\"sync_standby\":\"", "b", 1, 1000, "\"}");
	fine(&v, P "sync", val);
	free(val);
	assert_int_equal(v.nsync_standby, 1);
	assert_string_equal(v.sync_standby[0], "b");

	val = joined("{\"leader\":\"a\",\"sync_standby\":\"", "m#", 0, DCS_MAX_NAMES + 99, "\"}");
	capped(&v, P "sync", val, "sync");
	free(val);
	assert_int_equal(v.nsync_standby, DCS_MAX_NAMES);
	assert_string_equal(v.sync_standby[DCS_MAX_NAMES - 1], "m511");

	/* a name with a control character (a line feed, escaped in JSON) is left out */
	capped(&v, P "sync", "{\"leader\":\"a\",\"sync_standby\":\"x\\ny,b\"}", "sync");
	assert_int_equal(v.nsync_standby, 1);
	assert_string_equal(v.sync_standby[0], "b");
	dcs_view_free(&v);
}

static void test_members(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	char key[64];
	for (int i = 0; i < DCS_MAX_MEMBERS; i++) {
		snprintf(key, sizeof key, P "members/m%d", i);
		fine(&v, key, "{\"state\":\"running\"}");
	}
	capped(&v, P "members/one-too-many", "{}", "512");
	assert_int_equal(v.nmembers, DCS_MAX_MEMBERS);
	assert_null(dcs_view_member(&v, "one-too-many"));
	/* a member already there is still updated */
	fine(&v, P "members/m3", "{\"state\":\"stopped\"}");
	assert_string_equal(dcs_view_member(&v, "m3")->state, "stopped");
	dcs_view_clear(&v);

	capped(&v, P "members/a\nb", "{}", "control character");
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, P "members/");
	for (int i = 0; i < DCS_MAX_NAME + 1; i++)
		sb_puts(&sb, "n");
	capped(&v, sb.data, "{}", "255");
	assert_int_equal(v.nmembers, 0);
	sb_free(&sb);

	/* timelines outside PostgreSQL's range are unknown */
	fine(&v, P "members/t", "{\"timeline\":-3}");
	assert_int_equal(dcs_view_member(&v, "t")->timeline, 0);
	fine(&v, P "members/t", "{\"timeline\":9223372036854775807}");
	assert_int_equal(dcs_view_member(&v, "t")->timeline, 0);
	fine(&v, P "members/t", "{\"timeline\":4294967295}");
	assert_int_equal(dcs_view_member(&v, "t")->timeline, 4294967295);

	/* tags.site: 1 to DCS_MAX_SITE printable characters, no space; otherwise no site */
	fine(&v, P "members/s", "{\"tags\":{\"site\":\"eu-west-1a\"}}");
	assert_string_equal(dcs_view_member(&v, "s")->site, "eu-west-1a");
	char *long_site = joined("{\"tags\":{\"site\":\"", "s", 0, DCS_MAX_SITE, "\"}}");
	for (char *p = long_site; *p; p++)
		if (*p == ',')
			*p = 's';
	capped(&v, P "members/s", long_site, "tags.site");
	assert_null(dcs_view_member(&v, "s")->site);
	free(long_site);
	capped(&v, P "members/s", "{\"tags\":{\"site\":\"a b\"}}", "tags.site");
	assert_null(dcs_view_member(&v, "s")->site);
	capped(&v, P "members/s", "{\"tags\":{\"site\":\"a\\u0001\"}}", "tags.site");
	capped(&v, P "members/s", "{\"tags\":{\"site\":\"\"}}", "tags.site");
	fine(&v, P "members/s", "{\"tags\":{\"site\":7}}");
	assert_null(dcs_view_member(&v, "s")->site);
	dcs_view_free(&v);
}

static void test_history(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	/* timelines out of range are left out: one past INT64_MAX overflowed */
	fine(&v, P "history",
	     "[[9223372036854775807,1,\"x\"],[-1,1],[0,1],[4294967296,1],[5,100,\"r\"]]");
	assert_int_equal(v.nhistory, 1);
	assert_int_equal(v.history[0].timeline, 5);
	fine(&v, P "leader", "a");
	assert_int_equal(dcs_view_leader_timeline(&v), 6);

	char *val = joined("[", "[#,#]", 1, DCS_MAX_HISTORY + 10, "]");
	capped(&v, P "history", val, "history");
	free(val);
	assert_int_equal(v.nhistory, DCS_MAX_HISTORY);
	/* the newest are kept */
	assert_int_equal(v.history[0].timeline, 11);
	assert_int_equal(v.history[DCS_MAX_HISTORY - 1].timeline, DCS_MAX_HISTORY + 10);
	dcs_view_free(&v);
}

static void test_lists(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	char *val = joined("{", "\"m#\":\"http://h/\"", 0, DCS_MAX_NAMES, "}");
	capped(&v, P "failsafe", val, "failsafe");
	free(val);
	assert_null(v.failsafe);
	assert_int_equal(v.nfailsafe, 0);

	val = joined("{\"optime\":5,\"slots\":{", "\"s#\":1", 0, DCS_MAX_NAMES, "}}");
	capped(&v, P "status", val, "slots");
	free(val);
	assert_int_equal(v.optime, 5);
	assert_int_equal(v.nslots, 0);
	fine(&v, P "status", "{\"optime\":5,\"retain_slots\":[\"a\",\"a\",\"b\",\"a\"]}");
	assert_int_equal(v.nretain_slots, 2);

	/* a value over DCS_MAX_VALUE is not read at all */
	fine(&v, P "leader", "a");
	char *big = malloc(DCS_MAX_VALUE + 2);
	assert_non_null(big);
	memset(big, 'b', DCS_MAX_VALUE + 1);
	big[DCS_MAX_VALUE + 1] = '\0';
	capped(&v, P "leader", big, "over the cap");
	assert_string_equal(v.leader, "a");
	free(big);
	dcs_view_free(&v);
}

/* Timings out of range count as absent, and never reach the plan's configuration (ttl * 1000 and
 * loop_wait + 2 * retry_timeout overflowed once). */
static void test_config_timings(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	capped(&v, P "config",
	       "{\"ttl\":-30,\"loop_wait\":9223372036854775807,\"retry_timeout\":"
	       "4611686018427387904}",
	       "config");
	assert_true(v.has_config);
	assert_int_equal(v.config.ttl, 0);
	assert_int_equal(v.config.loop_wait, 0);
	assert_int_equal(v.config.retry_timeout, 0);

	ha_inputs in;
	memset(&in, 0, sizeof in);
	in.cfg.name = "a";
	in.cfg.ttl_ms = 30000;
	in.cfg.loop_wait_ms = 10000;
	in.cfg.retry_timeout_ms = 10000;
	ha_member members[1];
	ha_inputs_from_view(&v, members, &in);
	assert_int_equal(in.cfg.loop_wait_ms, 10000);
	assert_int_equal(in.cfg.retry_timeout_ms, 10000);

	/* a view changed behind the codec's back is still safe in the plan's inputs */
	v.config.loop_wait = INT64_MAX / 2;
	v.config.retry_timeout = INT64_MAX / 4;
	ha_inputs_from_view(&v, members, &in);
	assert_int_equal(in.cfg.loop_wait_ms, 10000);

	fine(&v, P "config", "{\"ttl\":30,\"loop_wait\":5,\"retry_timeout\":5}");
	ha_inputs_from_view(&v, members, &in);
	assert_int_equal(in.cfg.loop_wait_ms, 5000);
	assert_int_equal(in.cfg.retry_timeout_ms, 5000);
	dcs_view_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sync_names),     cmocka_unit_test(test_members),
	    cmocka_unit_test(test_history),        cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_config_timings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
