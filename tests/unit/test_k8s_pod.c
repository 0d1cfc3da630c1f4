/* Unit tests for src/lib/k8s_pod.h: the names and labels it accepts, and what k8s_pod_new
 * refuses before anything is sent (the requests themselves: tests/integration/test_kubernetes.py,
 * against an https server). */
#include "testutil.h"

#include <curl/curl.h>
#include <uv.h>

#include "k8s_pod.h"

static void test_names(void **state)
{
	(void)state;
	assert_true(k8s_valid_name("default"));
	assert_true(k8s_valid_name("tandem-0"));
	assert_true(k8s_valid_name("a.b-c"));
	assert_false(k8s_valid_name(NULL));
	assert_false(k8s_valid_name(""));
	assert_false(k8s_valid_name("Tandem"));
	assert_false(k8s_valid_name("-a"));
	assert_false(k8s_valid_name("a-"));
	assert_false(k8s_valid_name("a/b"));
	assert_false(k8s_valid_name("a%2fb"));
	assert_false(k8s_valid_name("a b"));
	char long_name[300];
	memset(long_name, 'a', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	assert_false(k8s_valid_name(long_name));
	long_name[253] = '\0';
	assert_true(k8s_valid_name(long_name));
}

static void test_labels(void **state)
{
	(void)state;
	assert_true(k8s_valid_label("role", false));
	assert_true(k8s_valid_label("tandem.example.org/role", false));
	assert_true(k8s_valid_label("Role_1.x", false));
	assert_false(k8s_valid_label("", false));
	assert_false(k8s_valid_label("/role", false));
	assert_false(k8s_valid_label("Example.org/role", false));
	assert_false(k8s_valid_label("a/b/c", false));
	assert_false(k8s_valid_label("role-", false));
	assert_false(k8s_valid_label("ro\"le", false));
	assert_true(k8s_valid_label("primary", true));
	assert_true(k8s_valid_label("standby-leader", true));
	assert_true(k8s_valid_label("", true));
	assert_false(k8s_valid_label("a/b", true));
	assert_false(k8s_valid_label("x-", true));
	char v[70];
	memset(v, 'v', sizeof v - 1);
	v[sizeof v - 1] = '\0';
	assert_false(k8s_valid_label(v, true));
	v[63] = '\0';
	assert_true(k8s_valid_label(v, true));
}

static void refused(const k8s_pod_conf *c, const char *what)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	char *err = NULL;
	k8s_pod *p = k8s_pod_new(&loop, c, &err);
	assert_null(p);
	tu_expect_error("k8s_pod_new", -1, err, what, NULL);
	uv_loop_close(&loop);
}

static void test_new_refuses(void **state)
{
	(void)state;
	k8s_pod_conf c = {.host = "10.96.0.1",
	                  .port = "443",
	                  .token_file = "/t",
	                  .ca_file = "/c",
	                  .pod_namespace = "default",
	                  .pod_name = "tandem-0",
	                  .label = "role"};
	k8s_pod_conf k = c;
	k.host = NULL;
	refused(&k, "KUBERNETES_SERVICE_HOST");
	k = c;
	k.port = "44x";
	refused(&k, "not an address and a port");
	k = c;
	k.host = "evil/path";
	refused(&k, "not an address and a port");
	k = c;
	k.pod_name = "../secrets";
	refused(&k, "not a Kubernetes namespace and Pod name");
	k = c;
	k.label = "bad label";
	refused(&k, "not a Kubernetes label key");
}

static void test_new_and_free(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	k8s_pod_conf c = {.host = "::1",
	                  .port = "6443",
	                  .token_file = "/nonexistent/token",
	                  .ca_file = "/c",
	                  .pod_namespace = "default",
	                  .pod_name = "tandem-0",
	                  .label = "role",
	                  .retry_ms = 60000};
	char *err = NULL;
	k8s_pod *p = k8s_pod_new(&loop, &c, &err);
	tu_expect_ok("k8s_pod_new", p ? 0 : -1, err);
	/* The token cannot be read: nothing is sent, a retry waits; nothing is confirmed. */
	k8s_pod_want(p, "primary");
	assert_null(k8s_pod_confirmed(p));
	k8s_pod_free(p);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_labels),
	    cmocka_unit_test(test_new_refuses),
	    cmocka_unit_test(test_new_and_free),
	};
	int rc = cmocka_run_group_tests_name("k8s_pod", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
