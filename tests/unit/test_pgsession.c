/* The kept connection's rules that need no PostgreSQL (src/lib/pgsession.c): failures reach the
 * callback from the loop, never from inside a call, and in the order asked; deadlines; a reset
 * fails what was asked before it; a callback may free the session. The server here is a Unix
 * socket that accepts and never answers, or no socket at all. The rules that need a real server
 * (the same backend answers again, a lost connection is replaced, a stop ends it) are in
 * tests/pgctl/pgctl_live.c. */
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "testutil.h"

#include "pgsession.h"

typedef struct answers {
	int n;
	char err[4][256];
	bool row[4];
	pgsession *free_me; /* freed by the first callback */
} answers;

static void on_answer(const char *const *row, int ncols, const char *err, void *ud)
{
	(void)ncols;
	answers *a = ud;
	if (a->n < 4) {
		snprintf(a->err[a->n], sizeof a->err[0], "%s", err ? err : "");
		a->row[a->n] = row != NULL;
	}
	a->n++;
	if (a->free_me) {
		pgsession_free(a->free_me);
		a->free_me = NULL;
	}
}

typedef struct silent {
	char dir[48];
	char path[96];
	int fd;
	char conninfo[160];
} silent;

/* A Unix socket where libpq's connect succeeds and no answer ever comes. */
static void silent_start(silent *s)
{
	snprintf(s->dir, sizeof s->dir, "/tmp/tandem-pgsession-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof s->path, "%s/.s.PGSQL.5432", s->dir);
	s->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", s->path);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(s->fd, 8), 0);
	snprintf(s->conninfo, sizeof s->conninfo, "host=%s port=5432 user=x dbname=x", s->dir);
}

static void silent_stop(silent *s)
{
	close(s->fd);
	unlink(s->path);
	rmdir(s->dir);
}

static void run_until(uv_loop_t *loop, const answers *a, int n, uint64_t timeout_ms)
{
	uv_update_time(loop);
	uint64_t end = uv_now(loop) + timeout_ms;
	while (a->n < n && uv_now(loop) < end) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
		uv_update_time(loop);
	}
}

static void close_loop(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void test_no_server_fails_from_the_loop_in_order(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	pgsession *s = pgsession_new(&loop, "host=/nonexistent/dir port=5432 user=x dbname=x");
	answers a = {0};
	pgsession_query(s, "SELECT 1", 5000, on_answer, &a);
	pgsession_query(s, "SELECT 2", 5000, on_answer, &a);
	assert_int_equal(a.n, 0); /* never from inside pgsession_query */
	run_until(&loop, &a, 2, 5000);
	assert_int_equal(a.n, 2);
	assert_false(a.row[0] || a.row[1]);
	assert_contains(a.err[0], "/nonexistent/dir");
	assert_contains(a.err[1], "/nonexistent/dir");
	assert_int_equal(pgsession_backend_pid(s), 0);
	pgsession_free(s);
	close_loop(&loop);
}

static void test_deadline(void **state)
{
	(void)state;
	silent srv;
	silent_start(&srv);
	uv_loop_t loop;
	uv_loop_init(&loop);
	pgsession *s = pgsession_new(&loop, srv.conninfo);
	answers a = {0};
	pgsession_query(s, "SELECT 1", 50, on_answer, &a);
	pgsession_query(s, "SELECT 2", 50, on_answer, &a); /* its deadline runs while it waits */
	run_until(&loop, &a, 2, 5000);
	assert_int_equal(a.n, 2);
	assert_contains(a.err[0], "deadline");
	assert_contains(a.err[1], "deadline");
	assert_int_equal(pgsession_connects(s), 2); /* a failed connection is never reused */
	pgsession_free(s);
	close_loop(&loop);
	silent_stop(&srv);
}

static void test_reset_fails_what_was_asked_before(void **state)
{
	(void)state;
	silent srv;
	silent_start(&srv);
	uv_loop_t loop;
	uv_loop_init(&loop);
	pgsession *s = pgsession_new(&loop, srv.conninfo);
	answers before = {0}, after = {0};
	pgsession_query(s, "SELECT 1", 10000, on_answer, &before);
	pgsession_query(s, "SELECT 2", 10000, on_answer, &before);
	uv_run(&loop, UV_RUN_NOWAIT);
	pgsession_reset(s, "the server is being stopped");
	assert_int_equal(before.n, 0); /* never from inside pgsession_reset */
	pgsession_query(s, "SELECT 3", 100, on_answer, &after);
	run_until(&loop, &before, 2, 5000);
	assert_int_equal(before.n, 2);
	assert_string_equal(before.err[0], "the server is being stopped");
	assert_string_equal(before.err[1], "the server is being stopped");
	run_until(&loop, &after, 1, 5000);
	assert_int_equal(after.n, 1);
	assert_contains(after.err[0], "deadline"); /* asked after the reset: a new connection */
	pgsession_free(s);
	close_loop(&loop);
	silent_stop(&srv);
}

static void test_callback_may_free_and_free_drops_the_rest(void **state)
{
	(void)state;
	silent srv;
	silent_start(&srv);
	uv_loop_t loop;
	uv_loop_init(&loop);
	pgsession *s = pgsession_new(&loop, srv.conninfo);
	answers a = {.free_me = s};
	pgsession_query(s, "SELECT 1", 20, on_answer, &a);
	pgsession_query(s, "SELECT 2", 10000, on_answer, &a);
	run_until(&loop, &a, 1, 5000);
	for (int i = 0; i < 20; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(a.n, 1); /* the second is dropped with the session, unanswered */
	assert_null(a.free_me);
	close_loop(&loop);
	silent_stop(&srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_server_fails_from_the_loop_in_order),
	    cmocka_unit_test(test_deadline),
	    cmocka_unit_test(test_reset_fails_what_was_asked_before),
	    cmocka_unit_test(test_callback_may_free_and_free_drops_the_rest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
