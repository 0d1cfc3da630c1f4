/* Unit tests for src/hellod/ryw.h (the consistency token, the read-routing rules as a table) and
 * src/hellod/rywmap.h (an instance's own writes, bounded). */
#include "testutil.h"

#include "ryw.h"
#include "rywmap.h"

static void test_token_parse(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int rc;
		uint32_t tli;
		uint64_t lsn;
	} cases[] = {
	    {"1:0/16B3748", 0, 1, 0x16B3748},
	    {"2:16/B374D848", 0, 2, 0x16B374D848ull},
	    {"4294967295:FFFFFFFF/FFFFFFFF", 0, 4294967295u, UINT64_MAX},
	    {"7:abc/def", 0, 7, 0xabc00000def},
	    {"1:0/0", 0, 1, 0},
	    {"", -1, 0, 0},
	    {"0:0/1", -1, 0, 0},           /* timeline 0 does not exist */
	    {"4294967296:0/1", -1, 0, 0},  /* above 32 bits */
	    {"12345678901:0/1", -1, 0, 0}, /* 11 digits */
	    {"1:0/123456789", -1, 0, 0},   /* 9 hex digits */
	    {"1:123456789/0", -1, 0, 0},
	    {"1:/1", -1, 0, 0},
	    {"1:1/", -1, 0, 0},
	    {"1:1", -1, 0, 0},
	    {":0/1", -1, 0, 0},
	    {"1:0/1 ", -1, 0, 0},
	    {" 1:0/1", -1, 0, 0},
	    {"-1:0/1", -1, 0, 0},
	    {"+1:0/1", -1, 0, 0},
	    {"1:0x1/1", -1, 0, 0},
	    {"1:0/1:0/1", -1, 0, 0},
	    {"a:0/1", -1, 0, 0},
	    {"1;0/1", -1, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ryw_pos p = {99, 99};
		int rc = ryw_token_parse(cases[i].in, &p);
		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, expected %d", cases[i].in, rc, cases[i].rc);
		if (rc == 0) {
			assert_int_equal(p.tli, cases[i].tli);
			assert_true(p.lsn == cases[i].lsn);
		} else {
			assert_int_equal(p.tli, 99); /* untouched */
		}
	}
	ryw_pos p;
	assert_int_equal(ryw_token_parse(NULL, &p), -1);
}

static void test_token_round_trip(void **state)
{
	(void)state;
	const ryw_pos cases[] = {
	    {1, 0}, {1, 0x16B3748}, {3, 0x1600000000ull}, {UINT32_MAX, UINT64_MAX}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char t[RYW_TOKEN_MAX];
		ryw_token_format(cases[i], t);
		ryw_pos back;
		assert_int_equal(ryw_token_parse(t, &back), 0);
		assert_int_equal(back.tli, cases[i].tli);
		assert_true(back.lsn == cases[i].lsn);
	}
	char t[RYW_TOKEN_MAX];
	ryw_token_format((ryw_pos){2, 0x16B374D848ull}, t);
	assert_string_equal(t, "2:16/B374D848");
}

static void test_lsn_and_walfile(void **state)
{
	(void)state;
	uint64_t lsn;
	assert_int_equal(ryw_lsn_parse("0/3000060", &lsn), 0);
	assert_true(lsn == 0x3000060);
	assert_int_equal(ryw_lsn_parse("0/3000060x", &lsn), -1);
	assert_int_equal(ryw_lsn_parse(NULL, &lsn), -1);
	uint32_t tli;
	assert_int_equal(ryw_walfile_tli("000000030000000000000005", &tli), 0);
	assert_int_equal(tli, 3);
	assert_int_equal(ryw_walfile_tli("0000001A0000000000000005", &tli), 0);
	assert_int_equal(tli, 26);
	assert_int_equal(ryw_walfile_tli("000000000000000000000005", &tli), -1);
	assert_int_equal(ryw_walfile_tli("00000003000000000000000", &tli), -1);
	assert_int_equal(ryw_walfile_tli("0000000300000000000000G5", &tli), -1);
	assert_int_equal(ryw_walfile_tli(NULL, &tli), -1);
}

#define P(t, l)                    ((ryw_pos){(t), (l)})
#define NONE                       P(0, 0)
#define REPLICA(standby, tli, lsn) (&(ryw_replica){(standby), (tli), (lsn)})

static void test_decide_table(void **state)
{
	(void)state;
	const struct {
		const char *what;
		ryw_pos token, own, primary;
		const ryw_replica *replica;
		uint64_t waited_ms;
		ryw_verdict want;
		ryw_reason why;
	} rows[] = {
	    /* Before asking the replica. */
	    {"primary unknown: primary", NONE, NONE, NONE, NULL, 0, RYW_PRIMARY,
	     RYW_PRIMARY_UNKNOWN},
	    {"primary unknown, even with a replica's answer", P(2, 1), NONE, NONE,
	     REPLICA(true, 2, 900), 0, RYW_PRIMARY, RYW_PRIMARY_UNKNOWN},
	    {"no token, no write: ask", NONE, NONE, P(2, 200), NULL, 0, RYW_ASK, RYW_OK},
	    {"token on the primary's timeline: ask", P(2, 100), P(2, 50), P(2, 200), NULL, 0,
	     RYW_ASK, RYW_OK},
	    {"token from an older timeline", P(1, 100), P(2, 50), P(2, 200), NULL, 0, RYW_PRIMARY,
	     RYW_TOKEN_TIMELINE},
	    {"token from a newer timeline than known", P(3, 100), NONE, P(2, 200), NULL, 0,
	     RYW_PRIMARY, RYW_TOKEN_TIMELINE},
	    {"token and own write on different timelines", P(3, 100), P(2, 50), P(3, 10), NULL, 0,
	     RYW_PRIMARY, RYW_OWN_TIMELINE},
	    /* With the replica's answer. */
	    {"caught up with the token", P(2, 100), P(2, 50), P(2, 200), REPLICA(true, 2, 100), 0,
	     RYW_LOCAL, RYW_OK},
	    {"no token, no write: a replica on the primary's timeline", NONE, NONE, P(5, 1),
	     REPLICA(true, 5, 1), 0, RYW_LOCAL, RYW_OK},
	    {"behind the token: wait", P(2, 100), P(2, 50), P(2, 200), REPLICA(true, 2, 99), 10,
	     RYW_WAIT, RYW_BEHIND},
	    {"behind the token after the bound: primary", P(2, 100), P(2, 50), P(2, 200),
	     REPLICA(true, 2, 99), 50, RYW_PRIMARY, RYW_BEHIND},
	    {"behind our own write, no token: wait", NONE, P(2, 300), P(2, 300),
	     REPLICA(true, 2, 299), 0, RYW_WAIT, RYW_BEHIND},
	    {"own write later than the token counts", P(2, 100), P(2, 300), P(2, 300),
	     REPLICA(true, 2, 200), 0, RYW_WAIT, RYW_BEHIND},
	    {"own write reached", P(2, 100), P(2, 300), P(2, 300), REPLICA(true, 2, 300), 0,
	     RYW_LOCAL, RYW_OK},
	    {"not a standby", P(2, 100), NONE, P(2, 100), REPLICA(false, 0, 0), 0, RYW_PRIMARY,
	     RYW_NOT_STANDBY},
	    {"replica timeline unknown", NONE, NONE, P(2, 100), REPLICA(true, 0, 500), 0,
	     RYW_PRIMARY, RYW_REPLICA_TIMELINE},
	    {"replica on another timeline than the primary", NONE, NONE, P(3, 10),
	     REPLICA(true, 2, 500), 0, RYW_PRIMARY, RYW_REPLICA_TIMELINE},
	    {"diverged replica far ahead on the old timeline", P(2, 100), NONE, P(2, 100),
	     REPLICA(true, 1, 900), 0, RYW_PRIMARY, RYW_REPLICA_TIMELINE},
	    {"lagging beyond max_lag", NONE, NONE, P(2, 2000), REPLICA(true, 2, 900), 0,
	     RYW_PRIMARY, RYW_LAGGING},
	    {"lagging exactly max_lag", NONE, NONE, P(2, 1900), REPLICA(true, 2, 900), 0, RYW_LOCAL,
	     RYW_OK},
	    {"replica ahead of the known primary position", NONE, NONE, P(2, 100),
	     REPLICA(true, 2, 900), 0, RYW_LOCAL, RYW_OK},
	    {"just inside the wait bound", P(2, 100), NONE, P(2, 100), REPLICA(true, 2, 99), 49,
	     RYW_WAIT, RYW_BEHIND},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		ryw_input in = {
		    .token = rows[i].token,
		    .own = rows[i].own,
		    .primary = rows[i].primary,
		    .replica = rows[i].replica,
		    .waited_ms = rows[i].waited_ms,
		    .wait_max_ms = 50,
		    .max_lag = 1000,
		};
		ryw_reason why = RYW_REASON_COUNT;
		ryw_verdict v = ryw_decide(&in, &why);
		if (v != rows[i].want || why != rows[i].why)
			fail_msg("%s: verdict %d (%s), expected %d (%s)", rows[i].what, (int)v,
			         ryw_reason_text(why), (int)rows[i].want,
			         ryw_reason_text(rows[i].why));
	}
}

static void test_map_remembers_each_user(void **state)
{
	(void)state;
	rywmap *m = rywmap_new(1024);
	assert_int_equal(rywmap_need(m, "alice").tli, 0);
	rywmap_observe(m, P(1, 100));
	ryw_pos p = rywmap_need(m, "alice");
	assert_int_equal(p.tli, 1);
	assert_true(p.lsn == 100); /* the floor: the first position known */
	rywmap_note(m, "alice", P(1, 500));
	rywmap_note(m, "bob", P(1, 300));
	assert_true(rywmap_need(m, "alice").lsn == 500);
	assert_true(rywmap_need(m, "bob").lsn == 300);
	assert_true(rywmap_need(m, "carol").lsn == 100);
	assert_true(rywmap_primary(m).lsn == 500);
	rywmap_note(m, "alice", P(1, 400)); /* an older answer never lowers it */
	assert_true(rywmap_need(m, "alice").lsn == 500);
	rywmap_note(m, "bob", P(0, 900)); /* no position: ignored */
	assert_true(rywmap_need(m, "bob").lsn == 300);
	rywmap_free(m);
}

static void test_map_bound_raises_the_floor(void **state)
{
	(void)state;
	rywmap *m = rywmap_new(1); /* every user shares the one slot */
	rywmap_note(m, "alice", P(1, 500));
	rywmap_note(m, "bob", P(1, 300)); /* alice is forgotten: the floor keeps her position */
	assert_true(rywmap_need(m, "alice").lsn == 500);
	assert_true(rywmap_need(m, "bob").lsn == 500);
	assert_true(rywmap_need(m, "carol").lsn == 500);
	rywmap_note(m, "carol", P(1, 700));
	assert_true(rywmap_need(m, "carol").lsn == 700);
	assert_true(rywmap_need(m, "alice").lsn == 500);
	rywmap_free(m);
}

static void test_map_new_timeline_resets(void **state)
{
	(void)state;
	rywmap *m = rywmap_new(64);
	rywmap_note(m, "alice", P(1, 500));
	rywmap_observe(m, P(2, 800)); /* a failover: the first position on 2 is the floor */
	ryw_pos p = rywmap_need(m, "alice");
	assert_int_equal(p.tli, 2);
	assert_true(p.lsn == 800);
	rywmap_note(m, "bob", P(1, 9000)); /* from an older timeline: ignored */
	assert_int_equal(rywmap_need(m, "bob").tli, 2);
	assert_true(rywmap_need(m, "bob").lsn == 800);
	assert_true(rywmap_primary(m).lsn == 800);
	rywmap_free(m);
}

static void test_map_lost_position_forgets_everything(void **state)
{
	(void)state;
	rywmap *m = rywmap_new(64);
	rywmap_note(m, "alice", P(2, 500));
	rywmap_lost(m);
	assert_int_equal(rywmap_need(m, "alice").tli, 0); /* unknown: the primary answers */
	assert_int_equal(rywmap_primary(m).tli, 0);
	rywmap_observe(m, P(2, 600)); /* for good: a later answer may not cover the lost commit */
	rywmap_observe(m, P(3, 600));
	rywmap_note(m, "bob", P(3, 700));
	assert_int_equal(rywmap_need(m, "alice").tli, 0);
	assert_int_equal(rywmap_need(m, "bob").tli, 0);
	assert_int_equal(rywmap_primary(m).tli, 0);
	rywmap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_parse),
	    cmocka_unit_test(test_token_round_trip),
	    cmocka_unit_test(test_lsn_and_walfile),
	    cmocka_unit_test(test_decide_table),
	    cmocka_unit_test(test_map_remembers_each_user),
	    cmocka_unit_test(test_map_bound_raises_the_floor),
	    cmocka_unit_test(test_map_new_timeline_resets),
	    cmocka_unit_test(test_map_lost_position_forgets_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
