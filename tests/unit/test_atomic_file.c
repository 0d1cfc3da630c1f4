/* atomic_file: the contents and mode land whole; a symbolic link planted at the target is
 * replaced, never followed; nothing is left beside the target, even on failure. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "testutil.h"

#include "atomic_file.h"
#include "strbuf.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/tandem-atomic-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	DIR *d = opendir(dir);
	for (struct dirent *de; d && (de = readdir(d));) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			char *p = xasprintf("%s/%s", dir, de->d_name);
			unlink(p);
			free(p);
		}
	}
	if (d)
		closedir(d);
	rmdir(dir);
	return 0;
}

static void assert_contents(const char *path, const char *want)
{
	strbuf sb = STRBUF_INIT;
	char *err = NULL;
	assert_int_equal(sb_read_file(&sb, path, 1 << 20, &err), 0);
	assert_string_equal(sb.data, want);
	sb_free(&sb);
}

static size_t entries(void)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	for (struct dirent *de; d && (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void writes_contents_and_mode(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof path, "%s/state", dir);
	char *err = NULL;
	assert_int_equal(atomic_file_write(path, "one\n", 4, 0600, &err), 0);
	assert_int_equal(atomic_file_write(path, "two\n", 4, 0640, &err), 0);
	assert_contents(path, "two\n");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(entries(), 1); /* no temporary file left */
}

static void a_link_at_the_target_is_replaced_not_followed(void **state)
{
	(void)state;
	char victim[128], path[128];
	snprintf(victim, sizeof victim, "%s/victim", dir);
	snprintf(path, sizeof path, "%s/conf", dir);
	int fd = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0 && write(fd, "keep\n", 5) == 5);
	close(fd);
	assert_int_equal(symlink(victim, path), 0);
	char *err = NULL;
	assert_int_equal(atomic_file_write(path, "new\n", 4, 0600, &err), 0);
	assert_contents(victim, "keep\n");
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_contents(path, "new\n");
}

static void a_failure_leaves_nothing_behind(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof path, "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	char *err = NULL;
	/* rename over a directory fails */
	assert_int_equal(atomic_file_write(path, "x", 1, 0600, &err), -1);
	assert_contains(err, "rename");
	free(err);
	assert_int_equal(entries(), 1);
	rmdir(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(writes_contents_and_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_link_at_the_target_is_replaced_not_followed, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(a_failure_leaves_nothing_behind, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
