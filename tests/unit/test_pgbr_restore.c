/* pgbr_restore: a stanza from `pgbackrest info --output=json` (found, empty, its oldest backup),
 * the refusals it leads to (missing, no backup, a target before the first backup), and the
 * arguments of `pgbackrest restore` for each kind of target. */
#include "testutil.h"

#include "pgbr_conf.h"
#include "pgbr_restore.h"

static const char info_json[] =
    "[{\"archive\":[{\"database\":{\"id\":1},\"id\":\"15-1\",\"max\":\"000000010000000000000007\","
    "\"min\":\"000000010000000000000003\"}],"
    "\"backup\":["
    "{\"label\":\"20261205-101500F\",\"lsn\":{\"start\":\"0/5000028\",\"stop\":\"0/5000100\"},"
    "\"timestamp\":{\"start\":1796465700,\"stop\":1796465710},\"type\":\"full\"},"
    "{\"label\":\"20261205-091500F\",\"lsn\":{\"start\":\"0/3000028\",\"stop\":\"0/3000100\"},"
    "\"timestamp\":{\"start\":1796462100,\"stop\":1796462110},\"type\":\"full\"}],"
    "\"name\":\"batman\",\"status\":{\"code\":0,\"message\":\"ok\"}},"
    "{\"archive\":[],\"backup\":[],\"name\":\"fresh\",\"status\":{\"code\":2,"
    "\"message\":\"no valid backups\"}},"
    "{\"archive\":[{\"id\":\"15-1\",\"max\":\"000000020000000000000009\",\"min\":"
    "\"000000020000000000000009\"}],\"backup\":[],\"name\":\"walonly\","
    "\"status\":{\"code\":2,\"message\":\"no valid backups\"}}]";

static void test_info(void **state)
{
	(void)state;
	pgbr_info i;
	char *err = NULL;
	assert_int_equal(pgbr_info_parse(info_json, "batman", &i, &err), 0);
	assert_true(i.found);
	assert_int_equal(i.status, 0);
	assert_int_equal(i.nbackup, 2);
	assert_int_equal(i.first_stop, 1796462110);
	assert_string_equal(i.first_label, "20261205-091500F");
	assert_string_equal(i.first_lsn_stop, "0/3000100");
	assert_true(i.has_archive);
	assert_string_equal(i.archive_max, "000000010000000000000007");
	assert_false(pgbr_info_empty(&i));
	assert_null(pgbr_info_unusable(&i, "batman"));

	bootstrap_target early = {.type = "time", .target = "2026-12-05T09:00:00+00:00"};
	char *why = pgbr_target_too_early(&i, &early);
	assert_non_null(why);
	assert_non_null(strstr(why, "no backup before 2026-12-05T09:00:00+00:00; the first is "
	                            "2026-12-05T09:15:10+00:00"));
	free(why);
	bootstrap_target later = {.type = "time", .target = "2026-12-05T10:15:10+01:00"};
	assert_null(pgbr_target_too_early(&i, &later));
	bootstrap_target lsn = {.type = "lsn", .target = "0/2FFFFFF"};
	why = pgbr_target_too_early(&i, &lsn);
	assert_non_null(why);
	assert_non_null(strstr(why, "the first ends at LSN 0/3000100"));
	free(why);
	bootstrap_target name = {.type = "name", .target = "x"};
	assert_null(pgbr_target_too_early(&i, &name));
	pgbr_info_free(&i);

	assert_int_equal(pgbr_info_parse(info_json, "fresh", &i, &err), 0);
	assert_true(i.found && pgbr_info_empty(&i));
	why = pgbr_info_unusable(&i, "fresh");
	assert_non_null(strstr(why, "stanza 'fresh' has no backup"));
	free(why);
	pgbr_info_free(&i);

	assert_int_equal(pgbr_info_parse(info_json, "walonly", &i, &err), 0);
	assert_false(pgbr_info_empty(&i)); /* WAL alone makes a stanza someone's */
	pgbr_info_free(&i);

	assert_int_equal(pgbr_info_parse(info_json, "nosuch", &i, &err), 0);
	assert_false(i.found);
	assert_true(pgbr_info_empty(&i));
	why = pgbr_info_unusable(&i, "nosuch");
	assert_non_null(strstr(why, "no stanza 'nosuch' in the repository"));
	free(why);
	pgbr_info_free(&i);

	assert_int_equal(pgbr_info_parse("ERROR: [055]", "x", &i, &err), -1);
	assert_non_null(strstr(err, "pgbackrest info"));
	free(err);
}

static void args_are(const bootstrap_target *t, const char *const *want, size_t nwant)
{
	size_t n;
	char **v = pgbr_restore_args(t, &n);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(v[i], want[i]);
	assert_null(v[n]);
	pgbr_argv_free(v);
}

static void test_restore_args(void **state)
{
	(void)state;
	bootstrap_target latest = {.type = "default", .timeline = "latest"};
	const char *w1[] = {"--type=default", "--target-timeline=latest"};
	args_are(&latest, w1, 2);
	/* pgBackRest chooses the backup from a time in its own form, in UTC */
	bootstrap_target time = {.type = "time", .target = "2026-12-05T11:30:00.250+01:00"};
	const char *w2[] = {"--type=time", "--target=2026-12-05 10:30:00.250+00",
	                    "--target-action=promote", "--target-timeline=latest"};
	args_are(&time, w2, 4);
	bootstrap_target rp = {.type = "name", .target = "rp1", .timeline = "3", .exclusive = true};
	const char *w3[] = {"--type=name", "--target=rp1", "--target-action=promote",
	                    "--target-timeline=3", "--target-exclusive"};
	args_are(&rp, w3, 5);
	bootstrap_target imm = {.type = "immediate"};
	const char *w4[] = {"--type=immediate", "--target-action=promote",
	                    "--target-timeline=latest"};
	args_are(&imm, w4, 3);
}

static void test_lsn_cmp(void **state)
{
	(void)state;
	assert_true(pgbr_lsn_cmp("0/3000060", "0/3000100") < 0);
	assert_true(pgbr_lsn_cmp("1/0", "0/FFFFFFFF") > 0);
	assert_int_equal(pgbr_lsn_cmp("A/B", "a/b"), 0);
	assert_true(pgbr_lsn_cmp("junk", "0/0") < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_info),
	    cmocka_unit_test(test_restore_args),
	    cmocka_unit_test(test_lsn_cmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
