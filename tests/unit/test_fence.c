/* The watchdog's input and deadline (src/tandemd/core/fence.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fence.h"

static void test_lines(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		fence_cmd cmd;
		uint64_t deadline; /* after the line, starting from 500 */
	} cases[] = {
	    {"1000", FENCE_CMD_DEADLINE, 1000}, {"0", FENCE_CMD_DEADLINE, 0},
	    {"exit", FENCE_CMD_EXIT, 500},      {"", FENCE_CMD_BAD, 500},
	    {"-5", FENCE_CMD_BAD, 500},         {" 7", FENCE_CMD_BAD, 500},
	    {"12x", FENCE_CMD_BAD, 500},        {"99999999999999999999999", FENCE_CMD_BAD, 500},
	    {"exit now", FENCE_CMD_BAD, 500},   {"1000 1500", FENCE_CMD_DEADLINE, 1000},
	    {"1000 900", FENCE_CMD_BAD, 500},   {"1000 ", FENCE_CMD_BAD, 500},
	    {"1000  1500", FENCE_CMD_BAD, 500}, {"1000 15x", FENCE_CMD_BAD, 500},
	    {"0 0", FENCE_CMD_DEADLINE, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fence_state st;
		fence_init(&st);
		st.deadline_ms = 500;
		assert_int_equal(fence_feed(&st, cases[i].line), cases[i].cmd);
		assert_int_equal(st.deadline_ms, cases[i].deadline);
	}
}

static void test_timeout(void **state)
{
	(void)state;
	fence_state st;
	fence_init(&st);
	assert_int_equal(fence_poll_timeout(&st, 123), -1); /* disarmed: wait for input */
	st.deadline_ms = 1000;
	assert_int_equal(fence_poll_timeout(&st, 400), 600);
	assert_int_equal(fence_poll_timeout(&st, 999), 1);
	assert_int_equal(fence_poll_timeout(&st, 1000), 0); /* due: fence */
	assert_int_equal(fence_poll_timeout(&st, 5000), 0);
	st.deadline_ms = 1000000;
	assert_int_equal(fence_poll_timeout(&st, 0), 60000); /* capped, re-checked */
}

static void test_hardware_ping(void **state)
{
	(void)state;
	fence_state st;
	fence_init(&st);
	assert_false(fence_hw_may_ping(&st, 0, 2000)); /* disarmed: the device is closed */
	assert_int_equal(fence_feed(&st, "10000 10500"), FENCE_CMD_DEADLINE);
	assert_int_equal(st.lease_end_ms, 10500);
	/* a reset 2 s after a ping must come no later than the lease's end (10.5 s) */
	assert_true(fence_hw_may_ping(&st, 8000, 2000));
	assert_true(fence_hw_may_ping(&st, 8500, 2000));
	assert_false(fence_hw_may_ping(&st, 8501, 2000));
	assert_false(fence_hw_may_ping(&st, 11000, 2000));
	/* without a lease end the deadline counts */
	assert_int_equal(fence_feed(&st, "10000"), FENCE_CMD_DEADLINE);
	assert_int_equal(st.lease_end_ms, 0);
	assert_true(fence_hw_may_ping(&st, 8000, 2000));
	assert_false(fence_hw_may_ping(&st, 8001, 2000));
	/* disarming forgets the lease end */
	assert_int_equal(fence_feed(&st, "0"), FENCE_CMD_DEADLINE);
	assert_false(fence_hw_may_ping(&st, 0, 1));
	assert_int_equal(st.lease_end_ms, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_hardware_ping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
