/* dcs_ckpt: the `shutdown_checkpoint` key encoded and decoded back, refused shapes; the end of
 * the checkpoint record from pg_waldump's line, across page and segment boundaries. */
#include "testutil.h"

#include "dcs_ckpt.h"

#define SEG (16u << 20)

static void test_round_trip(void **state)
{
	(void)state;
	dcs_ckpt c = {
	    .sysid = "7123456789012345678", .timeline = 3, .lsn = 27784672, .end = 27784792};
	char *s = dcs_ckpt_encode(&c);
	assert_string_equal(s, "{\"sysid\":\"7123456789012345678\",\"timeline\":3,"
	                       "\"lsn\":27784672,\"end\":27784792}");
	dcs_ckpt back;
	char *err = NULL;
	assert_int_equal(dcs_ckpt_decode(s, &back, &err), 0);
	assert_memory_equal(&c, &back, sizeof c);
	free(s);
}

static void refused(const char *text)
{
	dcs_ckpt c;
	char *err = NULL;
	assert_int_equal(dcs_ckpt_decode(text, &c, &err), -1);
	assert_non_null(err);
	free(err);
}

static void test_refused(void **state)
{
	(void)state;
	refused(NULL);
	refused("[]");
	refused("{\"timeline\":1,\"lsn\":1,\"end\":2}");
	refused("{\"sysid\":\"12x\",\"timeline\":1,\"lsn\":1,\"end\":2}");
	refused("{\"sysid\":\"123456789012345678901234567890123\",\"timeline\":1,\"lsn\":1,"
	        "\"end\":2}");
	refused("{\"sysid\":\"1\",\"timeline\":0,\"lsn\":1,\"end\":2}");
	refused("{\"sysid\":\"1\",\"timeline\":4294967296,\"lsn\":1,\"end\":2}");
	refused("{\"sysid\":\"1\",\"timeline\":1,\"lsn\":2,\"end\":2}");
	refused("{\"sysid\":\"1\",\"timeline\":1,\"lsn\":-1,\"end\":2}");
	refused("{\"sysid\":\"1\",\"timeline\":1,\"lsn\":\"1\",\"end\":2}");
}

static void test_record_end(void **state)
{
	(void)state;
	/* on one page: start + length, MAXALIGNed */
	assert_int_equal(dcs_ckpt_record_end(0x01A7F5E0, 114, SEG), 0x01A7F658);
	assert_int_equal(dcs_ckpt_record_end(0x01A7F5E0, 120, SEG), 0x01A7F658);
	/* across a page: the next page's 24-byte header in between */
	assert_int_equal(dcs_ckpt_record_end(24536, 114, SEG), 24680);
	/* across a segment: a 40-byte header */
	assert_int_equal(dcs_ckpt_record_end(SEG - 40, 114, SEG), SEG + 120);
	/* not a record's start or length */
	assert_int_equal(dcs_ckpt_record_end(24537, 114, SEG), 0);
	assert_int_equal(dcs_ckpt_record_end(16384, 114, SEG), 0); /* inside a page header */
	assert_int_equal(dcs_ckpt_record_end(24536, 0, SEG), 0);
	assert_int_equal(dcs_ckpt_record_end(24536, 114, 1000), 0);
}

static void test_waldump(void **state)
{
	(void)state;
	const char *out =
	    "rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/01A7F5E0, "
	    "prev 0/01A7F5A8, desc: CHECKPOINT_SHUTDOWN redo 0/1A7F5E0; tli 1; prev tli 1; fpw "
	    "true; xid 0:735; oid 24576; shutdown\n";
	assert_int_equal(dcs_ckpt_waldump_len(out), 114);
	assert_int_equal(dcs_ckpt_waldump_len("rmgr: XLOG        len (rec/tot):    114/   114, "
	                                      "desc: CHECKPOINT_ONLINE redo\n"),
	                 0);
	assert_int_equal(dcs_ckpt_waldump_len("desc: CHECKPOINT_SHUTDOWN\n"), 0);
	assert_int_equal(dcs_ckpt_waldump_len(""), 0);
	assert_int_equal(dcs_ckpt_waldump_len(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_record_end),
	    cmocka_unit_test(test_waldump),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
