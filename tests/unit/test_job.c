/* job: output and exit status, the stderr tail in the description, the deadline killing a whole
 * process group, cancelling, the output cap, a program that cannot start. */
#include <signal.h>
#include <stdbool.h>
#include <uv.h>

#include "testutil.h"

#include "job.h"

typedef struct seen {
	int calls;
	int status, sig;
	bool timed_out, cancelled, truncated;
	char out[4096];
	char *desc;
} seen;

static void done(const job_result *r, void *ud)
{
	seen *s = ud;
	s->calls++;
	s->status = r->status;
	s->sig = r->signal;
	s->timed_out = r->timed_out;
	s->cancelled = r->cancelled;
	s->truncated = r->out_truncated;
	snprintf(s->out, sizeof s->out, "%s", r->out);
	s->desc = job_describe(r);
}

static void run(char **argv, uint64_t timeout_ms, size_t cap, seen *s)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	memset(s, 0, sizeof *s);
	job_spec js = {
	    .argv = argv, .timeout_ms = timeout_ms, .out_cap = cap, .done = done, .ud = s};
	char *err = NULL;
	job *j = job_start(&loop, &js, &err);
	assert_non_null(j);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(s->calls, 1);
}

static void test_output_and_status(void **state)
{
	(void)state;
	char *argv[] = {"sh", "-c", "echo out; echo first >&2; echo 'why it failed' >&2; exit 45",
	                NULL};
	seen s;
	run(argv, 0, 0, &s);
	assert_int_equal(s.status, 45);
	assert_string_equal(s.out, "out\n");
	assert_string_equal(s.desc, "exit 45: why it failed");
	free(s.desc);
}

static void test_deadline_kills_the_group(void **state)
{
	(void)state;
	/* The grandchild holds stdout open: only killing the group ends the job. */
	char *argv[] = {"sh", "-c", "sleep 60 & sleep 60", NULL};
	seen s;
	run(argv, 200, 0, &s);
	assert_true(s.timed_out);
	assert_int_equal(s.sig, SIGKILL);
	assert_non_null(strstr(s.desc, "deadline"));
	free(s.desc);
}

static void on_tick(uv_timer_t *t)
{
	job_cancel(t->data);
	uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	seen s = {0};
	char *argv[] = {"sleep", "60", NULL};
	job_spec js = {.argv = argv, .done = done, .ud = &s};
	char *err = NULL;
	job *j = job_start(&loop, &js, &err);
	assert_non_null(j);
	assert_true(job_pid(j) > 0);
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	t.data = j;
	uv_timer_start(&t, on_tick, 50, 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(s.calls, 1);
	assert_true(s.cancelled);
	assert_string_equal(s.desc, "cancelled");
	free(s.desc);
}

static void test_output_cap(void **state)
{
	(void)state;
	char *argv[] = {"sh", "-c", "printf 0123456789", NULL};
	seen s;
	run(argv, 0, 4, &s);
	assert_string_equal(s.out, "0123");
	assert_true(s.truncated);
	free(s.desc);
}

static void test_cannot_start(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	char *argv[] = {"/nonexistent/tool", NULL};
	seen s = {0};
	job_spec js = {.argv = argv, .done = done, .ud = &s};
	char *err = NULL;
	assert_null(job_start(&loop, &js, &err));
	assert_non_null(strstr(err, "/nonexistent/tool"));
	free(err);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(s.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_output_and_status),
	    cmocka_unit_test(test_deadline_kills_the_group), cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_output_cap), cmocka_unit_test(test_cannot_start)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
