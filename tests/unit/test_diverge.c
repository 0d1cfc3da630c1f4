/* Divergence of a stopped data directory from the leader's history (src/tandemd/core/diverge.c),
 * the control data it is judged by (pgctl_parse_controldata), and which failed rewinds left the
 * data directory untouched (pgctl_rewind_never_connected). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diverge.h"
#include "pgctl.h"

/* pg_controldata of a replica that pg_rewind moved onto timeline 10 and that was then killed:
 * its latest checkpoint is still on timeline 9. */
static const char REWOUND_REPLICA[] =
    "pg_control version number:            1300\n"
    "Catalog version number:               202209061\n"
    "Database system identifier:           7440123456789012345\n"
    "Database cluster state:               in archive recovery\n"
    "pg_control last modified:             Sun 22 Nov 2026 07:01:28 AM UTC\n"
    "Latest checkpoint location:           0/5154438\n"
    "Latest checkpoint's REDO location:    0/5154400\n"
    "Latest checkpoint's TimeLineID:       9\n"
    "Latest checkpoint's PrevTimeLineID:   9\n"
    "Minimum recovery ending location:     0/5246B08\n"
    "Min recovery ending loc's timeline:   10\n"
    "Backup start location:                0/0\n";

static void test_parse_min_recovery_timeline(void **state)
{
	(void)state;
	pgctl_control c;
	assert_int_equal(pgctl_parse_controldata(REWOUND_REPLICA, &c), 0);
	assert_string_equal(c.sysid, "7440123456789012345");
	assert_int_equal(c.timeline, 9);
	assert_int_equal(c.checkpoint_lsn, 0x5154438);
	assert_int_equal(c.min_recovery_lsn, 0x5246B08);
	assert_int_equal(c.min_recovery_timeline, 10);
	assert_false(c.was_primary);
	assert_false(c.clean);

	/* A primary: no minimum recovery point, and its "timeline" field says 0. */
	char *primary = strdup(REWOUND_REPLICA);
	memcpy(strstr(primary, "in archive recovery"), "in production      ", 19);
	memcpy(strstr(primary, "0/5246B08"), "0/0      ", 9);
	memcpy(strstr(primary, "   10\n"), "    0\n", 6);
	assert_int_equal(pgctl_parse_controldata(primary, &c), 0);
	assert_true(c.was_primary);
	assert_int_equal(c.min_recovery_lsn, 0);
	assert_int_equal(c.min_recovery_timeline, 0);
	free(primary);

	/* A pg_controldata without the field (or garbage in it): no timeline, not an error. */
	char *odd = strdup(REWOUND_REPLICA);
	memcpy(strstr(odd, "   10\n"), "   1x\n", 6);
	assert_int_equal(pgctl_parse_controldata(odd, &c), 0);
	assert_int_equal(c.min_recovery_timeline, 0);
	free(odd);
}

/* The leader's history: timeline 8 ended at 0/4000000, 9 at 0/5200000. */
static const dcs_history_entry HISTORY[] = {
    {.timeline = 8, .lsn = 0x4000000},
    {.timeline = 9, .lsn = 0x5200000},
};

typedef struct diverge_row {
	const char *what;
	pgctl_control c;
	int64_t leader_tl;
	size_t nhistory;
	int64_t timeline;
	bool diverged;
} diverge_row;

static const diverge_row diverge_rows[] = {
    {"replica on the leader's timeline",
     {.timeline = 10, .checkpoint_lsn = 0x5300000},
     10,
     2,
     10,
     false},
    {"replica behind the switch point",
     {.timeline = 9, .checkpoint_lsn = 0x5100000},
     10,
     2,
     9,
     false},
    {"replica replayed past the switch point",
     {.timeline = 9, .checkpoint_lsn = 0x5100000, .min_recovery_lsn = 0x5200100},
     10,
     2,
     9,
     true},
    {"replica whose checkpoint is past the switch point",
     {.timeline = 9, .checkpoint_lsn = 0x5200100},
     10,
     2,
     9,
     true},
    /* The restart storm of CI at 83bac07: pg_rewind put it on timeline 10; its checkpoint
     * on 9 is past the switch point, but it is no longer on 9. */
    {"rewound replica killed before a restartpoint",
     {.timeline = 9,
      .checkpoint_lsn = 0x5254438,
      .min_recovery_lsn = 0x5246B08,
      .min_recovery_timeline = 10},
     10,
     2,
     10,
     false},
    {"replica on 9 with its minimum recovery point on 10, leader on 11",
     {.timeline = 9,
      .checkpoint_lsn = 0x5254438,
      .min_recovery_lsn = 0x5246B08,
      .min_recovery_timeline = 10},
     11,
     2,
     10,
     true},
    {"clean former primary stopped before the switch point",
     {.timeline = 9, .checkpoint_lsn = 0x51FFF00, .was_primary = true, .clean = true},
     10,
     2,
     9,
     false},
    {"clean former primary stopped at the switch point",
     {.timeline = 9, .checkpoint_lsn = 0x5200000, .was_primary = true, .clean = true},
     10,
     2,
     9,
     true},
    {"crashed former primary",
     {.timeline = 9, .checkpoint_lsn = 0x5000000, .was_primary = true},
     10,
     2,
     9,
     true},
    {"a primary's minimum recovery timeline does not count",
     {.timeline = 9,
      .checkpoint_lsn = 0x5300000,
      .was_primary = true,
      .clean = true,
      .min_recovery_timeline = 10},
     10,
     2,
     9,
     true},
    {"history without our timeline", {.timeline = 9, .checkpoint_lsn = 0x100}, 10, 1, 9, true},
    {"leader timeline unknown", {.timeline = 9, .checkpoint_lsn = 0x9000000}, 0, 2, 9, false},
    {"ahead of the leader's timeline", {.timeline = 11}, 10, 2, 11, false},
};

static void test_diverge_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof diverge_rows / sizeof diverge_rows[0]; i++) {
		if (diverge_timeline(&diverge_rows[i].c) != diverge_rows[i].timeline ||
		    diverge_check(&diverge_rows[i].c, diverge_rows[i].leader_tl, HISTORY,
		                  diverge_rows[i].nhistory) != diverge_rows[i].diverged) {
			print_error("row %zu (%s): timeline %lld, diverged %d\n", i,
			            diverge_rows[i].what,
			            (long long)diverge_timeline(&diverge_rows[i].c),
			            diverge_check(&diverge_rows[i].c, diverge_rows[i].leader_tl,
			                          HISTORY, diverge_rows[i].nhistory));
			fail();
		}
	}
}

/* Which failed rewinds left the data directory untouched (the marker is then removed). */
static void test_rewind_never_connected(void **state)
{
	(void)state;
	assert_true(pgctl_rewind_never_connected(
	    "pg_rewind: error: connection to server at \"127.0.0.1\", port 5999 failed: "
	    "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
	    "connections?\n"));
	assert_true(pgctl_rewind_never_connected(
	    "pg_rewind: error: connection to server on socket \"/tmp/x/.s.PGSQL.5999\" failed: No "
	    "such file or directory\n"));
	assert_true(pgctl_rewind_never_connected("pg_rewind: could not connect to server\n"));
	assert_false(pgctl_rewind_never_connected(
	    "pg_rewind: servers diverged at WAL location 0/5000000 on timeline 9\n"
	    "pg_rewind: error: could not fetch remote file \"base/5/1259\": server closed the "
	    "connection unexpectedly\n"));
	assert_false(
	    pgctl_rewind_never_connected("pg_rewind: error: connection to server was lost\n"));
	assert_false(pgctl_rewind_never_connected(
	    "pg_rewind: error: source and target clusters are from different systems\n"));
	assert_false(pgctl_rewind_never_connected(""));
	assert_false(pgctl_rewind_never_connected(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_min_recovery_timeline),
	    cmocka_unit_test(test_diverge_table),
	    cmocka_unit_test(test_rewind_never_connected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
