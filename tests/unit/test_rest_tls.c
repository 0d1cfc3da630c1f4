/* rest_tls: the REST API's certificate, key and CA files are read with their checks: the key only
 * from a private file, every file must exist and hold PEM, the CA only when client certificates
 * are verified; the errors name the key and the file. */
#include <fcntl.h>
#include <sys/stat.h>

#include "testutil.h"

#include "rest_tls.h"

static char dir[64];
static char cert[128], key[128], ca[128], junk[128];

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/tandem-resttls-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(cert, sizeof cert, "%s/rest.crt", dir);
	snprintf(key, sizeof key, "%s/rest.key", dir);
	snprintf(ca, sizeof ca, "%s/ca.crt", dir);
	snprintf(junk, sizeof junk, "%s/junk", dir);
	write_file(cert, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", 0644);
	write_file(key, "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", 0600);
	write_file(ca, "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n", 0644);
	write_file(junk, "not a certificate\n", 0644);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(cert);
	unlink(key);
	unlink(ca);
	unlink(junk);
	rmdir(dir);
	return 0;
}

static tandemd_settings settings(const char *verify)
{
	tandemd_settings s;
	memset(&s, 0, sizeof s);
	s.restapi_certfile = cert;
	s.restapi_keyfile = key;
	s.restapi_cafile = ca;
	s.restapi_verify_client = (char *)(uintptr_t)verify;
	return s;
}

static void load_fails(const tandemd_settings *s, const char *part1, const char *part2)
{
	rest_tls t;
	char *err = NULL;
	int rc = rest_tls_load(s, &t, &err);
	tu_expect_error("rest_tls_load", rc, err, part1, part2);
	assert_null(t.cert_pem);
	assert_null(t.key_pem);
}

static void plain_http_without_certfile(void **state)
{
	(void)state;
	tandemd_settings s;
	memset(&s, 0, sizeof s);
	rest_tls t;
	char *err = NULL;
	assert_int_equal(rest_tls_load(&s, &t, &err), 0);
	assert_null(t.cert_pem);
	assert_null(t.trust_pem);
	assert_false(t.client_verified);
}

static void files_are_read_by_mode(void **state)
{
	(void)state;
	tandemd_settings s = settings("none");
	rest_tls t;
	char *err = NULL;
	assert_int_equal(rest_tls_load(&s, &t, &err), 0);
	assert_contains(t.cert_pem, "MIIB");
	assert_contains(t.key_pem, "MIIE");
	assert_null(t.trust_pem); /* not asked for: no client certificates */
	assert_false(t.client_verified);
	assert_false(t.require_client);
	rest_tls_free(&t);

	s = settings("optional");
	assert_int_equal(rest_tls_load(&s, &t, &err), 0);
	assert_contains(t.trust_pem, "MIIC");
	assert_true(t.client_verified);
	assert_false(t.require_client);
	rest_tls_free(&t);

	s = settings("required");
	assert_int_equal(rest_tls_load(&s, &t, &err), 0);
	assert_true(t.client_verified);
	assert_true(t.require_client);
	rest_tls_free(&t);
}

static void key_readable_by_others_is_refused(void **state)
{
	(void)state;
	tandemd_settings s = settings("none");
	static const mode_t modes[] = {0644, 0640, 0604};
	for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
		assert_int_equal(chmod(key, modes[i]), 0);
		load_fails(&s, "restapi.keyfile", key);
	}
	assert_int_equal(chmod(key, 0600), 0);
}

static void missing_and_unreadable_files_are_refused(void **state)
{
	(void)state;
	char missing[160];
	snprintf(missing, sizeof missing, "%s/missing.pem", dir);
	tandemd_settings s = settings("required");
	s.restapi_certfile = missing;
	load_fails(&s, "restapi.certfile", missing);
	s = settings("required");
	s.restapi_keyfile = missing;
	load_fails(&s, "restapi.keyfile", missing);
	s = settings("required");
	s.restapi_cafile = missing;
	load_fails(&s, "restapi.cafile", missing);
	s = settings("none");
	s.restapi_certfile = junk;
	load_fails(&s, "restapi.certfile", "no PEM block");
	s = settings("optional");
	s.restapi_cafile = junk;
	load_fails(&s, "restapi.cafile", "no PEM block");
	if (geteuid() != 0) { /* root reads whatever the mode */
		assert_int_equal(chmod(cert, 0000), 0);
		s = settings("none");
		load_fails(&s, "restapi.certfile", cert);
		assert_int_equal(chmod(cert, 0644), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(plain_http_without_certfile),
	    cmocka_unit_test(files_are_read_by_mode),
	    cmocka_unit_test(key_readable_by_others_is_refused),
	    cmocka_unit_test(missing_and_unreadable_files_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
