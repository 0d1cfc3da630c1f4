/* The backup runner's choice and what it runs next (src/backup/backup_choice.c), and the record
 * in the `backup` key (src/backup/backup_state.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup_choice.h"
#include "backup_state.h"

static const backup_choice_config standby = {.from_standby = true, .max_lag_bytes = 1 << 20};
static const backup_choice_config leader_only = {.from_standby = false, .max_lag_bytes = 1 << 20};

static backup_candidate leader(const char *name)
{
	return (backup_candidate){.name = name, .leader = true, .running = true};
}

static backup_candidate replica(const char *name, uint64_t lag)
{
	return (backup_candidate){.name = name,
	                          .running = true,
	                          .replica = true,
	                          .streaming = true,
	                          .lag_known = true,
	                          .lag_bytes = lag,
	                          .reaches_primary = true};
}

static void test_choose(void **state)
{
	(void)state;
	backup_candidate c[3] = {leader("n1"), replica("n3", 100), replica("n2", 100)};
	/* The healthy replica with the least lag, then by name. */
	assert_string_equal(backup_choose(c, 3, &standby), "n2");
	c[1].lag_bytes = 10;
	assert_string_equal(backup_choose(c, 3, &standby), "n3");
	/* Not streaming, lagging, stopped, or unable to reach the primary: not healthy. */
	c[1].streaming = false;
	assert_string_equal(backup_choose(c, 3, &standby), "n2");
	c[2].lag_bytes = 2 << 20;
	assert_string_equal(backup_choose(c, 3, &standby), "n1");
	c[2].lag_bytes = 0;
	c[2].reaches_primary = false;
	assert_string_equal(backup_choose(c, 3, &standby), "n1");
	c[2].reaches_primary = true;
	c[2].running = false;
	assert_string_equal(backup_choose(c, 3, &standby), "n1");
	c[2].running = true;
	c[2].lag_known = false;
	assert_string_equal(backup_choose(c, 3, &standby), "n1");
	c[2].lag_known = true;
	assert_string_equal(backup_choose(c, 3, &standby), "n2");
	/* from_standby off: the leader. */
	assert_string_equal(backup_choose(c, 3, &leader_only), "n1");
	/* Nobody runs: nobody. */
	c[0].running = false;
	c[2].running = false;
	assert_null(backup_choose(c, 3, &standby));
}

static void test_key(void **state)
{
	(void)state;
	backup_candidate c[3] = {leader("n1"), replica("n2", 0), replica("n3", 0)};
	assert_int_equal(backup_key_decide(c, 3, "n2", NULL, false, &standby), BACKUP_KEY_ACQUIRE);
	assert_int_equal(backup_key_decide(c, 3, "n3", NULL, false, &standby), BACKUP_KEY_NONE);
	assert_int_equal(backup_key_decide(c, 3, "n1", NULL, false, &standby), BACKUP_KEY_NONE);
	/* A holder that is still eligible keeps it, even when not the first choice. */
	assert_int_equal(backup_key_decide(c, 3, "n3", "n3", false, &standby), BACKUP_KEY_KEEP);
	assert_int_equal(backup_key_decide(c, 3, "n2", "n3", false, &standby), BACKUP_KEY_NONE);
	/* The leader holds it while a healthy replica exists: gives it up when idle only. */
	assert_int_equal(backup_key_decide(c, 3, "n1", "n1", false, &standby), BACKUP_KEY_RELEASE);
	assert_int_equal(backup_key_decide(c, 3, "n1", "n1", true, &standby), BACKUP_KEY_KEEP);
	assert_int_equal(backup_key_decide(c, 3, "n1", "n1", false, &leader_only), BACKUP_KEY_KEEP);
	/* No healthy replica: the leader takes it; a replica holding it lets go. */
	c[1].streaming = c[2].streaming = false;
	assert_int_equal(backup_key_decide(c, 3, "n1", NULL, false, &standby), BACKUP_KEY_ACQUIRE);
	assert_int_equal(backup_key_decide(c, 3, "n2", "n2", false, &standby), BACKUP_KEY_RELEASE);
	assert_int_equal(backup_key_decide(c, 3, "n2", "n2", true, &standby), BACKUP_KEY_KEEP);
}

static void test_due(void **state)
{
	(void)state;
	backup_state st;
	assert_int_equal(backup_state_parse(NULL, 0, &st, NULL), 0);
	int64_t none[BACKUP_NTYPES] = {0, 0, 0};
	/* First sight: marks now, runs nothing. */
	backup_due d = backup_due_next(&st, none, 1000);
	assert_false(d.run);
	assert_true(d.fired_changed);
	assert_int_equal(d.fired_s[BACKUP_FULL], 1000);
	memcpy(st.fired_s, d.fired_s, sizeof st.fired_s);
	d = backup_due_next(&st, none, 1060);
	assert_false(d.run);
	assert_false(d.fired_changed);
	/* The diff and the full fired at the same minute: the full runs, both are marked. */
	int64_t both[BACKUP_NTYPES] = {1080, 1080, 0};
	d = backup_due_next(&st, both, 1090);
	assert_true(d.run);
	assert_int_equal(d.type, BACKUP_FULL);
	assert_string_equal(d.reason, "schedule");
	assert_null(d.request);
	assert_int_equal(d.fired_s[BACKUP_DIFF], 1080);
	assert_int_equal(d.fired_s[BACKUP_INCR], 1000);
	int64_t diff[BACKUP_NTYPES] = {0, 1080, 0};
	d = backup_due_next(&st, diff, 1090);
	assert_int_equal(d.type, BACKUP_DIFF);
	/* A request comes before the schedule. */
	backup_state_add_request(&st, "r1", BACKUP_INCR, 5, "me");
	backup_state_add_request(&st, "r2", BACKUP_FULL, 6, "me");
	d = backup_due_next(&st, both, 1090);
	assert_int_equal(d.type, BACKUP_INCR);
	assert_string_equal(d.reason, "request");
	assert_string_equal(d.request, "r1");
	/* A run left by a dead runner comes first. */
	st.has_running = true;
	st.running = (backup_run){.id = strdup("x"),
	                          .type = BACKUP_DIFF,
	                          .runner = strdup("n2"),
	                          .request = strdup("r0"),
	                          .status = strdup("running"),
	                          .verify = -1};
	d = backup_due_next(&st, both, 1090);
	assert_string_equal(d.reason, "rerun");
	assert_int_equal(d.type, BACKUP_DIFF);
	assert_string_equal(d.request, "r0");
	backup_state_free(&st);
}

static void test_state_round_trip(void **state)
{
	(void)state;
	backup_state st;
	assert_int_equal(backup_state_parse(NULL, 0, &st, NULL), 0);
	backup_state_add_request(&st, "r1", BACKUP_FULL, 1700000000000, "tandemctl root@h");
	st.fired_s[BACKUP_DIFF] = 1700000040;
	st.has_running = true;
	st.running = (backup_run){.id = strdup("b1"),
	                          .type = BACKUP_FULL,
	                          .runner = strdup("n2"),
	                          .reason = strdup("request"),
	                          .request = strdup("r1"),
	                          .start_ms = 10,
	                          .status = strdup("running"),
	                          .verify = -1};
	backup_state_drop_request(&st, "r1");
	assert_int_equal(st.nrequests, 0);
	backup_run done = {.id = "b1",
	                   .type = BACKUP_DIFF,
	                   .done_type = "full",
	                   .runner = "n2",
	                   .request = "r1",
	                   .start_ms = 10,
	                   .end_ms = 20,
	                   .status = "ok",
	                   .label = "20261205-094000F",
	                   .verify = 1};
	backup_state_finish(&st, &done);
	assert_false(st.has_running);
	assert_true(st.has_last[BACKUP_FULL]); /* by what pgBackRest made */
	assert_false(st.has_last[BACKUP_DIFF]);
	backup_run bad = {
	    .id = "b2", .type = BACKUP_INCR, .status = "failed", .error = "exit 1", .verify = -1};
	backup_state_finish(&st, &bad);
	assert_int_equal(st.failures, 1);
	assert_int_equal(backup_state_verify(&st), 1);
	char *text = backup_state_encode(&st);
	backup_state back;
	assert_int_equal(backup_state_parse(text, strlen(text), &back, NULL), 0);
	char *again = backup_state_encode(&back);
	assert_string_equal(text, again);
	assert_int_equal(back.fired_s[BACKUP_DIFF], 1700000040);
	assert_string_equal(back.last[BACKUP_FULL].label, "20261205-094000F");
	assert_string_equal(backup_state_find(&back, "r1")->status, "ok");
	assert_string_equal(backup_state_find(&back, "b2")->error, "exit 1");
	assert_null(backup_state_find(&back, "nope"));
	free(text);
	free(again);
	backup_state_free(&back);
	backup_state_free(&st);
}

/* The primary's description, its TLS server included (backup.tls_server.*); a TLS port that is
 * not a string reads as absent. */
static void test_state_primary_tls(void **state)
{
	(void)state;
	const char *text = "{\"primary\":{\"member\":\"n1\",\"host\":\"10.0.0.1\","
	                   "\"data_dir\":\"/d/n1\",\"port\":\"5432\",\"socket_dir\":\"/run\","
	                   "\"tls_host\":\"db1.example.net\",\"tls_port\":\"8432\"}}";
	backup_state st;
	assert_int_equal(backup_state_parse(text, strlen(text), &st, NULL), 0);
	assert_string_equal(st.primary.tls_host, "db1.example.net");
	assert_string_equal(st.primary.tls_port, "8432");
	char *out = backup_state_encode(&st);
	assert_non_null(strstr(out, "\"tls_host\":\"db1.example.net\",\"tls_port\":\"8432\""));
	free(out);
	backup_state_free(&st);
	const char *odd = "{\"primary\":{\"member\":\"n1\",\"tls_host\":\"h\",\"tls_port\":8432}}";
	assert_int_equal(backup_state_parse(odd, strlen(odd), &st, NULL), 0);
	assert_string_equal(st.primary.tls_host, "h");
	assert_null(st.primary.tls_port);
	backup_state_free(&st);
}

static void test_state_hostile(void **state)
{
	(void)state;
	backup_state st;
	char *err = NULL;
	assert_int_equal(backup_state_parse("[1]", 3, &st, &err), -1);
	assert_non_null(err);
	free(err);
	backup_state_free(&st);
	const char *odd = "{\"requests\":[{\"id\":1},{\"id\":\"a\",\"type\":\"huge\"},"
	                  "{\"id\":\"b\",\"type\":\"full\"}],\"running\":{\"type\":7},"
	                  "\"history\":\"no\",\"failures\":\"x\",\"fired\":{\"full\":true}}";
	assert_int_equal(backup_state_parse(odd, strlen(odd), &st, NULL), 0);
	assert_int_equal(st.nrequests, 1);
	assert_false(st.has_running);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.fired_s[BACKUP_FULL], 0);
	backup_state_free(&st);
	/* Lists are cut to their bounds: the newest kept. */
	assert_int_equal(backup_state_parse(NULL, 0, &st, NULL), 0);
	for (int i = 0; i < 40; i++) {
		char id[16];
		snprintf(id, sizeof id, "r%d", i);
		backup_state_add_request(&st, id, BACKUP_DIFF, i, NULL);
		backup_run r = {.id = id, .type = BACKUP_DIFF, .status = "ok", .verify = -1};
		backup_state_finish(&st, &r);
	}
	assert_int_equal(st.nrequests, BACKUP_MAX_REQUESTS);
	assert_string_equal(st.requests[0].id, "r24");
	assert_int_equal(st.nhistory, BACKUP_MAX_HISTORY);
	assert_string_equal(st.history[BACKUP_MAX_HISTORY - 1].id, "r39");
	backup_state_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_choose),        cmocka_unit_test(test_key),
	    cmocka_unit_test(test_due),           cmocka_unit_test(test_state_round_trip),
	    cmocka_unit_test(test_state_hostile), cmocka_unit_test(test_state_primary_tls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
