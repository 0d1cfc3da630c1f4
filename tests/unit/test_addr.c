/* Unit tests for src/lib/addr.h: hosts, ports, host:port, URLs, and writing them back. */
#include "testutil.h"

#include "addr.h"

/* Parses `text`, which must succeed, and checks host and port; returns it written back. */
static char *parse_ok(const char *text, int default_port, unsigned flags, const char *host,
                      int port)
{
	addr a;
	char *err = NULL;
	int rc = addr_parse(text, default_port, flags, &a, &err);
	tu_expect_ok(text, rc, err);
	assert_string_equal(a.host, host);
	assert_int_equal(a.port, port);
	assert_null(a.scheme);
	assert_null(a.path);
	char *s = addr_format(&a);
	addr_clear(&a);
	assert_null(a.host);
	return s;
}

static void check_parse(const char *text, int default_port, unsigned flags, const char *host,
                        int port, const char *written)
{
	char *s = parse_ok(text, default_port, flags, host, port);
	assert_string_equal(s, written);
	free(s);
}

static void check_fails(const char *text, int default_port, unsigned flags, const char *part)
{
	addr a;
	char *err = NULL;
	memset(&a, 0x5a, sizeof a);
	int rc = addr_parse(text, default_port, flags, &a, &err);
	tu_expect_error(text ? text : "(null)", rc, err, part, NULL);
	assert_null(a.host);
}

static void test_host_port(void **state)
{
	(void)state;
	check_parse("127.0.0.1:5432", 0, 0, "127.0.0.1", 5432, "127.0.0.1:5432");
	check_parse("db-1.example.com:8008", 0, 0, "db-1.example.com", 8008,
	            "db-1.example.com:8008");
	check_parse("my_db:1", 0, 0, "my_db", 1, "my_db:1");
	check_parse("localhost:65535", 0, 0, "localhost", 65535, "localhost:65535");
	check_parse("[::1]:2379", 0, 0, "::1", 2379, "[::1]:2379");
	check_parse("[fe80::1%eth0]:5432", 0, 0, "fe80::1%eth0", 5432, "[fe80::1%eth0]:5432");
	check_parse("[::ffff:10.0.0.1]:80", 0, 0, "::ffff:10.0.0.1", 80, "[::ffff:10.0.0.1]:80");
	/* A default port, or none. */
	check_parse("[::1]", 2379, 0, "::1", 2379, "[::1]:2379");
	check_parse("db1", 2379, 0, "db1", 2379, "db1:2379");
	check_parse("db1:2380", 2379, 0, "db1", 2380, "db1:2380");
	check_parse("db1", 0, ADDR_PORT_OPTIONAL, "db1", 0, "db1");
	check_parse("[::1]", 0, ADDR_PORT_OPTIONAL, "::1", 0, "::1");
	/* Listening. */
	check_parse("*:5432", 0, ADDR_WILDCARD, "*", 5432, "*:5432");
	check_parse("[::]:0", 0, ADDR_PORT_ZERO, "::", 0, "::");
	check_parse("10.0.0.5, db1,*:5432", 0, ADDR_HOST_LIST | ADDR_WILDCARD, "10.0.0.5, db1,*",
	            5432, "10.0.0.5, db1,*:5432");
	check_parse("a,,b:1", 0, ADDR_HOST_LIST, "a,,b", 1, "a,,b:1");
}

static void test_host_port_fails(void **state)
{
	(void)state;
	check_fails(NULL, 0, 0, "empty");
	check_fails("", 2379, 0, "empty");
	check_fails("db1", 0, 0, "'db1' is not address:port: the port is missing");
	check_fails("[::1]", 0, 0, "the port is missing");
	check_fails("db1:", 0, 0, "the port '' is not a number from 1 to 65535");
	check_fails(":5432", 0, 0, "the host is missing");
	check_fails("[]:1", 0, 0, "'' is not an IPv6 address");
	check_fails("db1:0", 0, 0, "the port '0' is not a number from 1 to 65535");
	check_fails("db1:65536", 0, 0, "'65536'");
	check_fails("db1:123456", 0, 0, "'123456'");
	check_fails("db1:12a", 0, 0, "'12a'");
	check_fails("db1:-1", 0, 0, "'-1'");
	check_fails("db1:+1", 0, 0, "'+1'");
	check_fails("db1: 1", 0, 0, "' 1'");
	check_fails("db1:http", 0, 0, "'http'");
	check_fails("db1:70000", 0, ADDR_PORT_ZERO, "from 0 to 65535");
	check_fails("[::1", 2379, 0, "'[' without ']'");
	check_fails("[::1:5432", 0, 0, "'[' without ']'");
	check_fails("[::1]5432", 0, 0, "only ':port' may follow ']'");
	check_fails("[::1]:", 0, 0, "the port ''");
	check_fails("::1", 2379, 0, "goes in brackets");
	check_fails("::1:2379", 0, 0, "goes in brackets");
	check_fails("[xyz]:1", 0, 0, "'xyz' is not an IPv6 address");
	check_fails("[127.0.0.1]:1", 0, 0, "not an IPv6 address");
	check_fails("[fe80::1%]:1", 0, 0, "not an IPv6 address");
	check_fails("[fe80::1%a b]:1", 0, 0, "not an IPv6 address");
	check_fails("ho st:1", 0, 0, "'ho st' is not a host name or IPv4 address");
	check_fails("h;x:1", 0, 0, "not a host name");
	check_fails("-h:1", 0, 0, "not a host name");
	check_fails(".h:1", 0, 0, "not a host name");
	check_fails("*:5432", 0, 0, "'*' is not a host name");
	check_fails("a,b:5432", 0, 0, "'a,b' is not a host name");
	check_fails(",:5432", 0, ADDR_HOST_LIST, "the host is missing");
	check_fails("a,b c:5432", 0, ADDR_HOST_LIST, "'b c' is not a host name");
	check_fails("\x01\xff:1", 0, 0, "not a host name");
	char name[ADDR_HOST_MAX + 2], text[ADDR_HOST_MAX + 8];
	memset(name, 'a', ADDR_HOST_MAX);
	name[ADDR_HOST_MAX] = '\0';
	snprintf(text, sizeof text, "%s:1", name);
	check_parse(text, 0, 0, name, 1, text);
	snprintf(text, sizeof text, "a%s:1", name);
	check_fails(text, 0, 0, "not a host name");
}

/* addr_parse_port on `text`: the port, or (want 0) the error `error`; a failure leaves the
 * port alone. */
static void check_port(const char *text, int want, const char *error)
{
	int port = -1;
	char *err = NULL;
	int rc = addr_parse_port(text, &port, &err);
	if (want == 0) {
		tu_expect_error(text, rc, err, error, NULL);
		assert_int_equal(port, -1);
		return;
	}
	tu_expect_ok(text, rc, err);
	assert_int_equal(port, want);
}

static void test_port(void **state)
{
	(void)state;
	check_port("5432", 5432, NULL);
	check_port("1", 1, NULL);
	check_port("65535", 65535, NULL);
	check_port("0", 0, "'0' is not a number from 1 to 65535");
	check_port("", 0, "from 1 to 65535");
	check_port("99999", 0, "'99999'");
	check_port("00080", 80, NULL);
}

static void check_url(const char *text, int default_port, const char *scheme, const char *host,
                      int port, const char *path, const char *written)
{
	addr a;
	char *err = NULL;
	int rc = addr_parse_url(text, default_port, &a, &err);
	tu_expect_ok(text, rc, err);
	assert_string_equal(a.scheme, scheme);
	assert_string_equal(a.host, host);
	assert_int_equal(a.port, port);
	assert_string_equal(a.path, path);
	char *s = addr_format(&a);
	assert_string_equal(s, written);
	free(s);
	addr_clear(&a);
}

static void test_url(void **state)
{
	(void)state;
	check_url("http://[::1]:2379", 0, "http", "::1", 2379, "", "http://[::1]:2379");
	check_url("https://db1", 0, "https", "db1", 0, "", "https://db1");
	check_url("HTTP://db1:80/v3/kv?x=1", 0, "http", "db1", 80, "/v3/kv?x=1",
	          "http://db1:80/v3/kv?x=1");
	check_url("postgres://repl:pw@[fd00::1]/postgres", 5432, "postgres", "fd00::1", 5432,
	          "/postgres", "postgres://[fd00::1]:5432/postgres");
	check_url("postgresql://u@x@10.0.0.1:5433", 5432, "postgresql", "10.0.0.1", 5433, "",
	          "postgresql://10.0.0.1:5433");

	static const char *const bad[][2] = {
	    {"db1:2379", "is not a URL"},         {"://db1", "is not a URL"},
	    {"1http://db1", "is not a URL"},      {"ht tp://db1", "is not a URL"},
	    {"http://", "the host is missing"},   {"http:///v3", "the host is missing"},
	    {"http://u@", "the host is missing"}, {"http://[::1/x", "'[' without ']'"},
	    {"http://db1:99999/", "'99999'"},     {"http://::1/", "goes in brackets"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		addr a;
		char *err = NULL;
		int rc = addr_parse_url(bad[i][0], 0, &a, &err);
		tu_expect_error(bad[i][0], rc, err, bad[i][1], NULL);
		assert_null(a.host);
		assert_null(a.scheme);
	}
	addr a;
	char *err = NULL;
	int rc = addr_parse_url(NULL, 0, &a, &err);
	tu_expect_error("NULL", rc, err, "is not a URL", NULL);
}

static void test_join(void **state)
{
	(void)state;
	static const struct {
		const char *host;
		int port;
		const char *want;
	} cases[] = {
	    {"::1", 5432, "[::1]:5432"},
	    {"::1", 0, "::1"},
	    {"10.0.0.1", 8008, "10.0.0.1:8008"},
	    {"db1", 0, "db1"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *s = addr_join(cases[i].host, cases[i].port);
		assert_string_equal(s, cases[i].want);
		free(s);
	}
}

/* addr_base_urls on `items`: each result, in order, or the error that `error` is part of. */
static void check_urls(const char *const *items, size_t n, const char *scheme,
                       const char *const *want, size_t nwant, const char *error)
{
	char **urls = NULL;
	char *err = NULL;
	int rc = addr_base_urls(items, n, scheme, 2379, "etcd3.hosts", &urls, &err);
	if (error) {
		tu_expect_error("addr_base_urls", rc, err, "etcd3.hosts: ", error);
		assert_null(urls);
		return;
	}
	if (rc < 0) {
		print_error("addr_base_urls failed: %s\n", err);
		free(err);
		fail();
	}
	assert_int_equal(rc, (int)nwant);
	for (size_t i = 0; i < nwant; i++)
		assert_string_equal(urls[i], want[i]);
	assert_null(urls[nwant]);
	addr_urls_free(urls);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_base_urls(void **state)
{
	(void)state;
	/* etcd3.host: "[::1]" and "[::1]:2379" both mean port 2379 (not http's 80). */
	const char *v6[] = {"[::1]", "[::1]:2379", "[::1]:2380"};
	const char *v6_want[] = {"http://[::1]:2379", "http://[::1]:2379", "http://[::1]:2380"};
	check_urls(v6, N(v6), "http", v6_want, N(v6_want), NULL);

	const char *mixed[] = {"db1", "10.0.0.2:2380", "https://db3:2379", "http://[fd00::4]",
	                       "HTTP://db5:1/x"};
	const char *mixed_want[] = {"https://db1:2379", "https://10.0.0.2:2380", "https://db3:2379",
	                            "http://[fd00::4]", "http://db5:1/x"};
	check_urls(mixed, N(mixed), "https", mixed_want, N(mixed_want), NULL);

	/* More than the 16 hosts an array once held. */
	char names[40][16];
	const char *many[40], *many_want[40];
	char wants[40][40];
	for (size_t i = 0; i < 40; i++) {
		snprintf(names[i], sizeof names[i], "e%zu", i);
		snprintf(wants[i], sizeof wants[i], "http://e%zu:2379", i);
		many[i] = names[i];
		many_want[i] = wants[i];
	}
	check_urls(many, N(many), "http", many_want, N(many_want), NULL);

	const char *ftp[] = {"db1", "ftp://db2"};
	check_urls(ftp, N(ftp), "http", NULL, 0, "only http:// and https://");
	const char *bad_port[] = {"db1:0"};
	check_urls(bad_port, N(bad_port), "http", NULL, 0, "'0'");
	const char *bare_v6[] = {"::1"};
	check_urls(bare_v6, N(bare_v6), "http", NULL, 0, "goes in brackets");
	check_urls(NULL, 0, "http", NULL, 0, "no endpoint");
}

/* addr_url_host_port on `url`: host and port, or (host NULL) the error `port_or_error`. */
static void check_url_host_port(const char *url, int default_port, const char *host,
                                const char *port_or_error)
{
	char *h = NULL, *p = NULL, *err = NULL;
	int rc = addr_url_host_port(url, default_port, &h, &p, &err);
	if (!host) {
		tu_expect_error(url ? url : "(null)", rc, err, port_or_error, NULL);
		return;
	}
	tu_expect_ok(url, rc, err);
	assert_string_equal(h, host);
	assert_string_equal(p, port_or_error);
	free(h);
	free(p);
}

static void test_loose(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *host, *port, *connect;
	} cases[] = {
	    {NULL, "none", "5432", "127.0.0.1"},
	    {"db1:5433", "db1", "5433", "db1"},
	    {"db1", "db1", "5432", "db1"},
	    {"db1:", "db1", "5432", "db1"},
	    {"[::1]:5434", "::1", "5434", "::1"},
	    {"[::1]", "::1", "5432", "::1"},
	    {"*:5435", "*", "5435", "127.0.0.1"},
	    {"0.0.0.0:5436", "0.0.0.0", "5436", "127.0.0.1"},
	    {":5437", "", "5437", "127.0.0.1"},
	    {"10.0.0.5,db1:5438", "10.0.0.5,db1", "5438", "10.0.0.5"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *h = addr_host_text(cases[i].text, "none");
		char *p = addr_port_text(cases[i].text, "5432");
		char *c = addr_connect_host(cases[i].text);
		assert_string_equal(h, cases[i].host);
		assert_string_equal(p, cases[i].port);
		assert_string_equal(c, cases[i].connect);
		free(h);
		free(p);
		free(c);
	}
	assert_null(addr_port_text("db1", NULL));

	check_url_host_port("postgres://u@[::1]/db", 5432, "::1", "5432");
	check_url_host_port("postgres://db1:5433", 5432, "db1", "5433");
	check_url_host_port("http://db1/", 0, NULL, "the port is missing");
	check_url_host_port(NULL, 5432, NULL, "not a URL");
	check_url_host_port("postgres://:5432/", 5432, NULL, "the host is missing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_host_port), cmocka_unit_test(test_host_port_fails),
	    cmocka_unit_test(test_port),      cmocka_unit_test(test_url),
	    cmocka_unit_test(test_join),      cmocka_unit_test(test_base_urls),
	    cmocka_unit_test(test_loose),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
