/* Unit tests for src/lib/cred_trust.h: which URLs read from the DCS may receive credentials. */
#include "testutil.h"

#include "cred_trust.h"

static cidr_list trusted(const char *csv)
{
	cidr_list l = {0, NULL};
	char *err = NULL;
	assert_int_equal(cidr_list_parse(csv, &l, &err), 0);
	return l;
}

static void yes(const char *url, const cidr_list *l, bool verified)
{
	const char *why = NULL;
	if (!cred_trust_url(url, l, verified, &why)) {
		print_error("'%s' refused: %s\n", url, why);
		fail();
	}
}

static const char *no(const char *url, const cidr_list *l, bool verified)
{
	const char *why = NULL;
	if (cred_trust_url(url, l, verified, &why)) {
		print_error("'%s' trusted\n", url);
		fail();
	}
	assert_non_null(why);
	return why;
}

static void test_allowlist_addresses(void **state)
{
	(void)state;
	cidr_list l = trusted("10.0.0.0/24, 2001:db8::/32");
	yes("http://10.0.0.7:8008/patroni", &l, false);
	yes("http://[2001:db8::5]:8008/patroni", &l, false);
	assert_contains(no("http://10.0.1.7:8008/patroni", &l, false), "restapi.allowlist");
	assert_contains(no("http://[2001:db9::5]:8008/", &l, false), "restapi.allowlist");
	/* The scheme is compared without case, as curl does. */
	yes("HTTP://10.0.0.7:8008/", &l, false);
	cidr_list_free(&l);
}

static void test_loopback(void **state)
{
	(void)state;
	yes("http://127.0.0.1:8008/patroni", NULL, false);
	yes("http://[::1]:8008/patroni", NULL, false);
	yes("http://localhost:8008/patroni", NULL, false);
	yes("http://LocalHost:8008/", NULL, false);
	/* Only the one loopback address: another user's listener on 127.0.0.2 gets nothing. */
	no("http://127.0.0.2:8008/patroni", NULL, false);
	no("http://127.1.2.3:8008/patroni", NULL, false);
}

static void test_names_and_nothing_configured(void **state)
{
	(void)state;
	cidr_list l = trusted("0.0.0.0/0");
	assert_contains(no("http://db1.example.com:8008/patroni", &l, false), "a name");
	no("http://10.0.0.7:8008/patroni", NULL, false);
	no("http://192.0.2.1:8008/", NULL, false);
	yes("http://192.0.2.1:8008/", &l, false);
	cidr_list_free(&l);
}

static void test_https(void **state)
{
	(void)state;
	yes("https://db1.example.com:8008/patroni", NULL, true);
	yes("https://192.0.2.1:8008/patroni", NULL, true);
	/* Without verification, https is no better than http. */
	no("https://db1.example.com:8008/patroni", NULL, false);
	no("https://192.0.2.1:8008/patroni", NULL, false);
	yes("https://127.0.0.1:8008/patroni", NULL, false);
}

static void test_bad_urls(void **state)
{
	(void)state;
	cidr_list l = trusted("10.0.0.0/8");
	assert_contains(no(NULL, &l, true), "URL");
	assert_contains(no("10.0.0.7:8008", &l, true), "URL");
	assert_contains(no("ftp://10.0.0.7/", &l, true), "neither");
	assert_contains(no("gopher://10.0.0.7/", &l, true), "neither");
	assert_contains(no("http://10.0.0.7@192.0.2.1:8008/", &l, false), "user part");
	assert_contains(no("http://u:p@10.0.0.7:8008/", &l, false), "user part");
	assert_contains(no("https://u@db1.example.com/", &l, true), "user part");
	no("http://[fe80::1%eth0]:8008/", &l, false);
	no("http://10.0.0.7.:8008/", &l, false);
	cidr_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allowlist_addresses),
	    cmocka_unit_test(test_loopback),
	    cmocka_unit_test(test_names_and_nothing_configured),
	    cmocka_unit_test(test_https),
	    cmocka_unit_test(test_bad_urls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
