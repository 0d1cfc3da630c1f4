/* The watchdog's input and deadline (src/tandemd/fence.c). */
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
	    {"exit now", FENCE_CMD_BAD, 500},
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines),
	    cmocka_unit_test(test_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
