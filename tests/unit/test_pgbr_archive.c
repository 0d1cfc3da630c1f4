/* pgbr_archive: archive_command and restore_command (quoting, the exit-45 record), `pgbackrest
 * info` answers, the files that prove continuity after a promotion, dropped-WAL log lines, and
 * postgresql.auto.conf without pgBackRest's recovery block. */
#include "testutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "pgbr_archive.h"

static void test_commands(void **state)
{
	(void)state;
	char *q = pgbr_shell_quote("/d/it's 100%");
	assert_string_equal(q, "'/d/it'\\''s 100%%'");
	free(q);
	char *a = pgbr_archive_command("pgbackrest", "/d/n1.pgbackrest.conf", "batman",
	                               "/d/n1.pgbackrest/archive-push-045");
	assert_string_equal(a, "'pgbackrest' '--config=/d/n1.pgbackrest.conf' '--stanza=batman' "
	                       "archive-push \"%p\"; r=$?; [ $r -ne 45 ] || echo \"%f\" "
	                       ">>'/d/n1.pgbackrest/archive-push-045'; exit $r");
	free(a);
	char *r = pgbr_restore_command("/usr/bin/pgbackrest", "/c", "s");
	assert_string_equal(r, "'/usr/bin/pgbackrest' '--config=/c' '--stanza=s' archive-get %f "
	                       "\"%p\"");
	free(r);
}

/* What PostgreSQL would run for WAL file `name`: the command with %f and %p filled in, run by
 * sh; its exit status (0: the inner command ran and succeeded). */
static int run_for(const char *command, const char *name)
{
	char buf[2048];
	size_t o = 0;
	for (const char *p = command; *p && o + 64 < sizeof buf; p++) {
		if (p[0] == '%' && (p[1] == 'f' || p[1] == 'p'))
			o += (size_t)snprintf(buf + o, sizeof buf - o, "%s",
			                      p[1] == 'f' ? name : "/dev/null");
		else
			buf[o++] = *p;
		if (p[0] == '%' && (p[1] == 'f' || p[1] == 'p'))
			p++;
	}
	buf[o] = '\0';
	int st = system(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_restore_before_fork(void **state)
{
	(void)state;
	/* Forked at 0/5000148 on timeline 1 (segment ...0005 of 16 MiB); `true` stands for
	 * pgbackrest archive-get. */
	char *c = pgbr_restore_command_before("true", 1, UINT64_C(0x5000148), 16u << 20);
	for (const char *p = strchr(c, '%'); p; p = strchr(p + 1, '%'))
		assert_true(p[1] == 'f' || p[1] == 'p'); /* PostgreSQL's placeholders only */
	assert_int_equal(run_for(c, "000000010000000000000004"), 0);
	assert_int_equal(run_for(c, "000000010000000000000005"), 1);
	assert_int_equal(run_for(c, "000000010000000000000006"), 1);
	/* This site's own timeline 2 after the fork, named as the other site's would be. */
	assert_int_equal(run_for(c, "000000020000000000000007"), 1);
	assert_int_equal(run_for(c, "000000010000000100000000"), 1);
	assert_int_equal(run_for(c, "00000001.history"), 0);
	assert_int_equal(run_for(c, "00000002.history"), 1);
	assert_int_equal(run_for(c, "0000000A.history"), 1);
	assert_int_equal(run_for(c, "000000010000000000000005.partial"), 0);
	free(c);
	/* Higher up: log 3, segment 0x20; the inner command's own status passes through. */
	c = pgbr_restore_command_before("exit 7", 4, UINT64_C(0x320000000), 16u << 20);
	assert_int_equal(run_for(c, "00000004000000030000001F"), 7);
	assert_int_equal(run_for(c, "000000040000000300000020"), 1);
	assert_int_equal(run_for(c, "000000030000000200000099"), 7);
	assert_int_equal(run_for(c, "00000004.history"), 7);
	free(c);
}

static void test_backup_before(void **state)
{
	(void)state;
	/* Two fulls and a diff; the fork at 0/7000000: the diff (ended 0/6000100) is the newest
	 * that ended before it; the later full ended after it (this site's diverged data). */
	const char *json =
	    "[{\"name\":\"other\",\"backup\":[{\"label\":\"X\",\"lsn\":{\"stop\":"
	    "\"0/6FFFFFF\"}}]},{\"name\":\"batman\",\"backup\":["
	    "{\"label\":\"F1\",\"lsn\":{\"start\":\"0/2000028\",\"stop\":\"0/2000100\"}},"
	    "{\"label\":\"F1_D1\",\"lsn\":{\"start\":\"0/6000028\",\"stop\":\"0/6000100\"}},"
	    "{\"label\":\"F2\",\"lsn\":{\"start\":\"0/8000028\",\"stop\":\"0/8000100\"}},"
	    "{\"label\":\"bad\",\"lsn\":{\"stop\":\"nope\"}},{\"lsn\":{\"stop\":\"0/1\"}}]}]";
	char *l = pgbr_info_backup_before(json, "batman", UINT64_C(0x7000000));
	assert_string_equal(l, "F1_D1");
	free(l);
	l = pgbr_info_backup_before(json, "batman", UINT64_C(0x9000000));
	assert_string_equal(l, "F2");
	free(l);
	/* Ended exactly at the fork: not before it. */
	l = pgbr_info_backup_before(json, "batman", UINT64_C(0x2000100));
	assert_null(l);
	assert_null(pgbr_info_backup_before(json, "robin", UINT64_C(0x9000000)));
	assert_null(pgbr_info_backup_before("{not json", "batman", UINT64_C(0x9000000)));
}

static void test_info(void **state)
{
	(void)state;
	pgbr_info in;
	char *err = NULL;
	assert_int_equal(pgbr_info_parse("[]", "batman", &in, &err), 0);
	assert_false(pgbr_info_exists(&in));
	assert_false(in.found);
	pgbr_info_free(&in);
	const char *missing = "[{\"name\":\"batman\",\"status\":{\"code\":1,\"message\":\"missing "
	                      "stanza path\"},\"db\":[],\"backup\":[]}]";
	assert_int_equal(pgbr_info_parse(missing, "batman", &in, &err), 0);
	assert_false(pgbr_info_exists(&in));
	assert_null(in.system_id);
	pgbr_info_free(&in);
	const char *ok =
	    "[{\"name\":\"other\",\"status\":{\"code\":0,\"message\":\"ok\"}},"
	    "{\"name\":\"batman\",\"status\":{\"code\":2,\"message\":\"no valid backups\"},"
	    "\"db\":[{\"id\":1,\"system-id\":7301000000000000001,\"version\":\"14\"},"
	    "{\"id\":2,\"system-id\":7301000000000000002,\"version\":\"15\"}],"
	    "\"backup\":[{\"label\":\"x\"}]}]";
	assert_int_equal(pgbr_info_parse(ok, "batman", &in, &err), 0);
	assert_true(pgbr_info_exists(&in));
	assert_int_equal(in.status, 2);
	assert_string_equal(in.message, "no valid backups");
	assert_string_equal(in.system_id, "7301000000000000002");
	assert_int_equal(in.nbackup, 1);
	pgbr_info_free(&in);
	assert_int_equal(pgbr_info_parse("ERROR: [055]", "batman", &in, &err), -1);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_int_equal(pgbr_info_parse("[{\"name\":\"batman\"}]", "batman", &in, &err), -1);
	free(err);
}

static void test_continuity(void **state)
{
	(void)state;
	char name[25];
	const uint64_t seg = 16 * 1024 * 1024;
	pgbr_wal_name(3, 0x1FF, seg, name);
	assert_string_equal(name, "0000000300000001000000FF");

	pgbr_continuity c;
	char *err = NULL;
	/* Timeline 3 from 2, which began inside segment 5 and ended inside segment 7. */
	const char *h = "1\t0/5000060\tno recovery target specified\n\n"
	                "2\t0/7000A28\tno recovery target specified\n";
	assert_int_equal(pgbr_continuity_files(h, 3, seg, &c, &err), 0);
	assert_string_equal(c.history, "00000003.history");
	assert_string_equal(c.last, "000000020000000000000007");
	assert_true(c.last_partial);
	assert_string_equal(c.before, "000000020000000000000006");
	assert_int_equal(c.parent, 2);

	const char *listing = "15-1/00000002.history\n15-1/00000003.history\n"
	                      "15-1/0000000200000000/000000020000000000000006-ab12.zst\n"
	                      "15-1/0000000200000000/000000020000000000000007.partial-cd34.zst\n";
	char *missing = NULL;
	assert_true(pgbr_continuity_check(&c, listing, &missing));
	assert_null(missing);
	/* Without the partial segment, without the history file. */
	const char *gap = "15-1/00000003.history.bak\n"
	                  "15-1/0000000200000000/000000020000000000000006-ab12.zst\n";
	assert_false(pgbr_continuity_check(&c, gap, &missing));
	assert_string_equal(missing, "00000003.history, 000000020000000000000007 (or .partial)");
	free(missing);
	/* A switch inside segment 7: PostgreSQL archives its .partial; ours to push is 6. */
	char own[25];
	assert_false(pgbr_continuity_own_segment(&c, gap, own));
	assert_true(pgbr_continuity_own_segment(&c, "15-1/00000003.history\n", own));
	assert_string_equal(own, "000000020000000000000006");
	char *f = pgbr_continuity_filter(&c);
	assert_string_equal(f, "(00000003\\.history|000000020000000000000007|"
	                       "000000020000000000000006)");
	free(f);

	/* The parent began in the switch's segment: no complete segment of its own before. */
	assert_int_equal(
	    pgbr_continuity_files("1\t0/7000060\tx\n2\t0/7000A28\tx\n", 3, seg, &c, &err), 0);
	assert_string_equal(c.before, "");
	/* A switch on a segment boundary: the last segment is complete. */
	assert_int_equal(pgbr_continuity_files("1\t0/9000000\tx\n", 2, seg, &c, &err), 0);
	assert_string_equal(c.last, "000000010000000000000008");
	assert_false(c.last_partial);
	assert_false(pgbr_continuity_check(
	    &c, "00000002.history\n000000010000000000000008.partial-x\n", NULL));
	assert_true(
	    pgbr_continuity_check(&c, "00000002.history\n000000010000000000000008-x\n", NULL));
	/* ...which the new primary pushes itself when the old one died before archiving it. */
	assert_true(pgbr_continuity_own_segment(&c, "00000002.history\n", own));
	assert_string_equal(own, "000000010000000000000008");
	assert_false(pgbr_continuity_own_segment(&c, "000000010000000000000008-x\n", own));
	assert_int_equal(pgbr_continuity_files("# nothing\n", 2, seg, &c, &err), -1);
	free(err);
}

static void test_logs(void **state)
{
	(void)state;
	const char *log = "P00   WARN: dropped WAL file '000000010000000000000003' because archive "
	                  "queue exceeded 16MB\nP00   INFO: pushed WAL file\n"
	                  "P00   WARN: dropped WAL file '000000010000000000000004' because archive "
	                  "queue exceeded 16MB\n";
	assert_int_equal(pgbr_count_dropped(log, strlen(log)), 2);
	assert_int_equal(pgbr_count_dropped(log, 20), 0);

	const char *conf = "# Do not edit this file manually!\nwork_mem = '8MB'\n\n"
	                   "# Recovery settings generated by pgBackRest restore on 2026-12-05\n"
	                   "restore_command = 'pgbackrest --stanza=x archive-get %f \"%p\"'\n"
	                   "\nmax_connections = '50'\n";
	char *s = pgbr_strip_recovery(conf);
	assert_string_equal(s, "# Do not edit this file manually!\nwork_mem = '8MB'\n\n\n"
	                       "max_connections = '50'\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_commands),      cmocka_unit_test(test_restore_before_fork),
	    cmocka_unit_test(test_backup_before), cmocka_unit_test(test_info),
	    cmocka_unit_test(test_continuity),    cmocka_unit_test(test_logs)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
