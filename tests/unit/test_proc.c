/* proc_spawn: exit statuses, a program that cannot start, the child's stdio (files, a pipe we
 * write, an extra fd), its environment and its working directory. */
#include <fcntl.h>
#include <stdbool.h>
#include <uv.h>

#include "testutil.h"

#include "proc.h"

typedef struct child {
	uv_process_t p;
	bool exited, closed;
	int64_t status;
	int sig;
} child;

static void on_closed(uv_handle_t *h)
{
	child *c = h->data;
	c->closed = true;
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	child *c = p->data;
	c->exited = true;
	c->status = status;
	c->sig = sig;
	uv_close((uv_handle_t *)p, on_closed);
}

/* Runs `argv` to its end; returns proc_spawn's result. `spec` gives the rest (may be NULL). */
static int run(char **argv, proc_spec *spec, child *c)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	proc_spec s = {.in_fd = -1, .out_fd = -1, .err_fd = 2};
	if (spec)
		s = *spec;
	s.argv = argv;
	s.on_exit = on_exit_cb;
	s.on_failed_close = on_closed;
	memset(c, 0, sizeof *c);
	c->p.data = c;
	int r = proc_spawn(&loop, &c->p, &s);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_true(c->closed);
	assert_int_equal(uv_loop_close(&loop), 0);
	return r;
}

static void test_exit_status(void **state)
{
	(void)state;
	child c;
	char *t[] = {(char *)"/bin/true", NULL};
	assert_int_equal(run(t, NULL, &c), 0);
	assert_true(c.exited);
	assert_int_equal(c.status, 0);
	char *three[] = {(char *)"/bin/sh", (char *)"-c", (char *)"exit 3", NULL};
	assert_int_equal(run(three, NULL, &c), 0);
	assert_int_equal(c.status, 3);
	assert_int_equal(c.sig, 0);
}

/* The handle is closed for the caller, with the callback it named. */
static void test_cannot_start(void **state)
{
	(void)state;
	child c;
	char *argv[] = {(char *)"/nonexistent/program", NULL};
	assert_int_equal(run(argv, NULL, &c), UV_ENOENT);
	assert_false(c.exited);
}

static char *slurp(const char *path)
{
	static char buf[256];
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* stdin from a pipe we write, stdout and stderr to two files, fd 3 to a third, with an
 * environment and a working directory. */
static void test_stdio_env_cwd(void **state)
{
	(void)state;
	char *out = tu_temp_file(""), *errf = tu_temp_file(""), *three = tu_temp_file("");
	int o = open(out, O_WRONLY | O_CLOEXEC), e = open(errf, O_WRONLY | O_CLOEXEC);
	int f3 = open(three, O_WRONLY | O_CLOEXEC);
	assert_true(o >= 0 && e >= 0 && f3 >= 0);
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	uv_pipe_t in;
	uv_pipe_init(&loop, &in, 0);
	char *argv[] = {(char *)"/bin/sh", (char *)"-c",
	                (char *)"read line; echo \"$line $FOO\"; pwd >&2; echo three >&3", NULL};
	char *env[] = {(char *)"FOO=bar", NULL};
	proc_spec s = {.argv = argv,
	               .env = env,
	               .cwd = "/tmp",
	               .in_pipe = &in,
	               .out_fd = o,
	               .err_fd = e,
	               .more_fds = &f3,
	               .nmore = 1,
	               .on_exit = on_exit_cb,
	               .on_failed_close = on_closed};
	child c = {0};
	c.p.data = &c;
	assert_int_equal(proc_spawn(&loop, &c.p, &s), 0);
	close(o);
	close(e);
	close(f3);
	uv_write_t w;
	uv_buf_t b = uv_buf_init((char *)"hello\n", 6);
	assert_int_equal(uv_write(&w, (uv_stream_t *)&in, &b, 1, NULL), 0);
	uv_close((uv_handle_t *)&in, NULL);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(c.status, 0);
	assert_string_equal(slurp(out), "hello bar\n");
	assert_string_equal(slurp(errf), "/tmp\n");
	assert_string_equal(slurp(three), "three\n");
	tu_remove_file(out);
	tu_remove_file(errf);
	tu_remove_file(three);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exit_status),
	    cmocka_unit_test(test_cannot_start),
	    cmocka_unit_test(test_stdio_env_cwd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
