/* secret_file: a secret file that group or others can read is refused (as libpq and ssh do),
 * through a symbolic link too; reading checks the same open file. */
#include <fcntl.h>
#include <sys/stat.h>

#include "testutil.h"

#include "etcd.h"
#include "secret_file.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/tandem-secret-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/key.pem", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, "SECRET\n", 7) != 7)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char link[160];
	snprintf(link, sizeof link, "%s/link.pem", dir);
	unlink(link);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void private_file_is_accepted_and_read(void **state)
{
	(void)state;
	char *err = NULL;
	assert_int_equal(secret_file_check(path, &err), 0);
	strbuf sb = STRBUF_INIT;
	assert_int_equal(secret_file_read(&sb, path, 100, &err), 0);
	assert_string_equal(sb.data, "SECRET\n");
	sb_free(&sb);
	assert_false(secret_file_world_readable(path));
}

static void readable_by_others_is_refused(void **state)
{
	(void)state;
	static const mode_t modes[] = {0644, 0640, 0604, 0660, 0620, 0601};
	for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
		assert_int_equal(chmod(path, modes[i]), 0);
		char *err = NULL;
		assert_int_equal(secret_file_check(path, &err), -1);
		assert_contains(err, path);
		assert_contains(err, "chmod 600");
		free(err);
		err = NULL;
		strbuf sb = STRBUF_INIT;
		assert_int_equal(secret_file_read(&sb, path, 100, &err), -1);
		assert_null(sb.data);
		free(err);
	}
	assert_int_equal(chmod(path, 0644), 0);
	assert_true(secret_file_world_readable(path));
	assert_int_equal(chmod(path, 0400), 0);
	char *err = NULL;
	assert_int_equal(secret_file_check(path, &err), 0);
	assert_int_equal(chmod(path, 0600), 0);
}

static void the_target_of_a_link_is_checked(void **state)
{
	(void)state;
	char link[160];
	snprintf(link, sizeof link, "%s/link.pem", dir);
	assert_int_equal(symlink(path, link), 0);
	char *err = NULL;
	assert_int_equal(secret_file_check(link, &err), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(secret_file_check(link, &err), -1);
	free(err);
	assert_int_equal(chmod(path, 0600), 0);
}

static void not_a_regular_file_or_missing(void **state)
{
	(void)state;
	char *err = NULL;
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(secret_file_check(dir, &err), -1);
	assert_contains(err, "not a regular file");
	free(err);
	err = NULL;
	assert_int_equal(secret_file_check("/nonexistent/tandem.key", &err), -1);
	assert_contains(err, "cannot open");
	free(err);
}

static void larger_than_max_is_an_error(void **state)
{
	(void)state;
	char *err = NULL;
	strbuf sb = STRBUF_INIT;
	assert_int_equal(secret_file_read(&sb, path, 3, &err), -1);
	assert_contains(err, "larger than 3 bytes");
	free(err);
	sb_free(&sb);
}

/* The etcd client's key (tandemd's and tandemctl's etcd3.key) goes through the same check. */
static void etcd_client_key_is_checked(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	const char *ep[] = {"https://127.0.0.1:1"};
	etcd_config cfg = {.endpoints = ep, .nendpoints = 1, .cert = path, .key = path};
	assert_int_equal(chmod(path, 0644), 0);
	char *err = NULL;
	assert_null(etcd_new(&loop, &cfg, &err));
	assert_contains(err, "etcd client key");
	assert_contains(err, "chmod 600");
	free(err);
	assert_int_equal(chmod(path, 0600), 0);
	etcd *e = etcd_new(&loop, &cfg, &err);
	assert_non_null(e);
	etcd_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(private_file_is_accepted_and_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(readable_by_others_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(the_target_of_a_link_is_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(not_a_regular_file_or_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(larger_than_max_is_an_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(etcd_client_key_is_checked, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
