/* Unit tests for src/tandemctl/haproxy_config.h: the structure of the rendered configuration and
 * the validation of its input. */
#include "testutil.h"

#include "haproxy_config.h"

static const haproxy_member three[] = {
    {"pg1", "10.0.0.1:5432", "10.0.0.1:8008", false, NULL, false, NULL},
    {"pg2", "10.0.0.2:5432", "10.0.0.2:8009", false, NULL, false, NULL},
    {"pg_3.b-x", "[fd00::3]:5433", "[fd00::3]:8010", false, NULL, false, NULL},
};

static void base_input(haproxy_config_input *in)
{
	haproxy_config_input_defaults(in);
	in->scope = "batman";
	in->members = three;
	in->n_members = 3;
	in->rw_listen = "*:5000";
	in->ro_listen = "127.0.0.1:5001";
}

static char *render_ok(const haproxy_config_input *in)
{
	char *err = NULL;
	char *text = haproxy_config_render(in, &err);
	if (!text) {
		print_error("render failed: %s\n", err ? err : "(no message)");
		free(err);
		fail();
	}
	assert_null(err);
	return text;
}

/* Returns the text of the section whose header line is `header` (given with its leading newline),
 * up to the next blank line. */
static char *section(const char *text, const char *header)
{
	const char *start = strstr(text, header);
	if (start)
		start++; /* past the newline that anchors the header */
	if (!start) {
		print_error("no section '%s' in:\n%s\n", header, text);
		fail();
	}
	const char *end = strstr(start, "\n\n");
	size_t len = end ? (size_t)(end - start) + 1 : strlen(start);
	char *s = malloc(len + 1);
	assert_non_null(s);
	memcpy(s, start, len);
	s[len] = '\0';
	return s;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_defaults_are_tight(void **state)
{
	(void)state;
	haproxy_timing t;
	haproxy_timing_defaults(&t);
	assert_int_equal(t.inter_ms, 500);
	assert_int_equal(t.fastinter_ms, 250);
	assert_int_equal(t.downinter_ms, 200);
	assert_int_equal(t.fall, 2);
	assert_int_equal(t.rise, 1);
}

static void test_structure(void **state)
{
	(void)state;
	haproxy_config_input in;
	base_input(&in);
	char *text = render_ok(&in);
	assert_contains(text, "\nglobal\n");
	assert_contains(text, "\ndefaults\n\tmode tcp\n");
	assert_contains(text, "\ttimeout check 1000ms\n");
	/* The comment explains the timing choice. */
	assert_contains(text, "inter 3s fall 3 rise 2");
	assert_contains(text, "#   inter 500ms fastinter 250ms downinter 200ms fall 2 rise 1\n");
	/* No stats section unless asked. */
	assert_not_contains(text, "stats enable");

	char *rw = section(text, "\nfrontend batman_rw\n");
	assert_contains(rw, "\tbind *:5000\n");
	assert_contains(rw, "\tdefault_backend batman_primary\n");
	free(rw);

	char *ro = section(text, "\nfrontend batman_ro\n");
	assert_contains(ro, "\tbind 127.0.0.1:5001\n");
	assert_contains(ro, "\tdefault_backend batman_replicas\n");
	free(ro);

	const char *ds =
	    "\tdefault-server inter 500ms fastinter 250ms downinter 200ms fall 2 rise 1 "
	    "on-marked-down shutdown-sessions maxconn 100\n";
	char *primary = section(text, "\nbackend batman_primary\n");
	assert_contains(primary, "\toption httpchk GET /primary\n");
	assert_contains(primary, "\thttp-check expect status 200\n");
	assert_contains(primary, ds);
	assert_contains(primary, "\tserver pg1 10.0.0.1:5432 check port 8008\n");
	assert_contains(primary, "\tserver pg2 10.0.0.2:5432 check port 8009\n");
	assert_contains(primary, "\tserver pg_3.b-x [fd00::3]:5433 check port 8010\n");
	assert_int_equal(count(primary, "\tserver "), 3);
	assert_not_contains(primary, "backup");
	free(primary);

	char *replicas = section(text, "\nbackend batman_replicas\n");
	assert_contains(replicas, "\tbalance roundrobin\n");
	assert_contains(replicas, "\toption httpchk GET /replica\n");
	assert_contains(replicas, "\thttp-check expect status 200\n");
	assert_contains(replicas, ds);
	assert_contains(replicas, "\tserver pg1 10.0.0.1:5432 check port 8008\n");
	assert_contains(replicas,
	                "\tserver pg1_primary 10.0.0.1:5432 track batman_primary/pg1 backup\n");
	assert_contains(replicas,
	                "\tserver pg_3.b-x_primary [fd00::3]:5433 track batman_primary/pg_3.b-x "
	                "backup\n");
	assert_int_equal(count(replicas, " backup\n"), 3);
	assert_int_equal(count(replicas, "\tserver "), 6);
	free(replicas);
	free(text);
}

static void test_no_fallback_stats_and_knobs(void **state)
{
	(void)state;
	haproxy_config_input in;
	base_input(&in);
	in.ro_fallback_primary = false;
	in.stats_listen = "127.0.0.1:7000";
	in.maxconn = 42;
	in.timing.inter_ms = 700;
	in.timing.fall = 3;
	char *text = render_ok(&in);
	assert_not_contains(text, "backup");
	assert_not_contains(text, "track");
	char *stats = section(text, "\nlisten batman_stats\n");
	assert_contains(stats, "\tmode http\n");
	assert_contains(stats, "\tbind 127.0.0.1:7000\n");
	assert_contains(stats, "\tstats enable\n");
	free(stats);
	assert_int_equal(count(text, "\tdefault-server inter 700ms fastinter 250ms downinter 200ms "
	                             "fall 3 rise 1 on-marked-down shutdown-sessions maxconn 42\n"),
	                 2);
	free(text);
}

static void test_rest_on_other_host_uses_addr(void **state)
{
	(void)state;
	static const haproxy_member m[] = {
	    {"a", "db1:5432", "10.9.9.9:8008", false, NULL, false, NULL}};
	haproxy_config_input in;
	base_input(&in);
	in.members = m;
	in.n_members = 1;
	char *text = render_ok(&in);
	assert_contains(text, "\tserver a db1:5432 check port 8008 addr 10.9.9.9\n");
	free(text);
}

/* Rendering fails with a message that contains `field`; nothing is emitted. */
static void check_fails(const haproxy_config_input *in, const char *field)
{
	char *err = NULL;
	char *text = haproxy_config_render(in, &err);
	if (text) {
		print_error("rendered from bad input (expected an error about %s):\n%s\n", field,
		            text);
		free(text);
		fail();
	}
	assert_non_null(err);
	assert_contains(err, field);
	free(err);
	err = NULL;
	assert_int_equal(haproxy_config_validate(in, &err), -1);
	assert_contains(err, field);
	free(err);
}

static void test_bad_names(void **state)
{
	(void)state;
	haproxy_config_input in;
	base_input(&in);
	const char *bad[] = {
	    "",    "a b", "a;b",
	    "a/b", "a#b", "a\nb",
	    "ünï", "x:y", "0123456789012345678901234567890123456789012345678901234567890123456789"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		in.scope = bad[i];
		check_fails(&in, "scope:");
	}
	in.scope = NULL;
	check_fails(&in, "scope:");
	base_input(&in);
	haproxy_member m[2] = {{"ok", "h:1", "h:2", false, NULL, false, NULL},
	                       {"b@d", "h:1", "h:2", false, NULL, false, NULL}};
	in.members = m;
	in.n_members = 2;
	check_fails(&in, "members[1].name");
	m[1].name = "ok";
	check_fails(&in, "members[1].name: 'ok' is a duplicate");
	in.n_members = 0;
	check_fails(&in, "members:");
}

static void test_bad_addresses(void **state)
{
	(void)state;
	haproxy_config_input in;
	base_input(&in);
	haproxy_member m[1] = {{"a", "h:1", "h:2", false, NULL, false, NULL}};
	in.members = m;
	in.n_members = 1;
	const char *bad[] = {"",           "host",     "host:",   ":5432",     "host:0",
	                     "host:65536", "host:12a", "ho st:1", "[::1]5432", "[]:1",
	                     "[xyz]:1",    "*:5432",   "-h:1",    "h;x:1",     "[::1:5432"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		m[0].pg_addr = bad[i];
		check_fails(&in, "members[0].pg_addr");
	}
	m[0].pg_addr = "[::1]:5432";
	m[0].rest_addr = "nope";
	check_fails(&in, "members[0].rest_addr");
	m[0].rest_addr = "[::1]:8008";
	char *text = render_ok(&in);
	assert_contains(text, "\tserver a [::1]:5432 check port 8008\n");
	free(text);

	in.rw_listen = "5000";
	check_fails(&in, "rw_listen");
	in.rw_listen = "[::]:5000";
	in.ro_listen = "x";
	check_fails(&in, "ro_listen");
	in.ro_listen = "[::]:5000";
	check_fails(&in, "ro_listen: '[::]:5000' is the same as rw_listen");
	in.ro_listen = "[::]:5001";
	in.stats_listen = "bad";
	check_fails(&in, "stats_listen");
	in.stats_listen = "[::]:5001";
	check_fails(&in, "stats_listen");
	in.stats_listen = "[::1]:7000";
	text = render_ok(&in);
	free(text);
}

static void test_bad_knobs(void **state)
{
	(void)state;
	haproxy_config_input in;
	base_input(&in);
	in.timing.inter_ms = 0;
	check_fails(&in, "timing.inter_ms");
	base_input(&in);
	in.timing.fall = 0;
	check_fails(&in, "timing.fall");
	base_input(&in);
	in.timing.rise = 101;
	check_fails(&in, "timing.rise");
	base_input(&in);
	in.timing.check_timeout_ms = 0;
	check_fails(&in, "timing.check_timeout_ms");
	base_input(&in);
	in.maxconn = 0;
	check_fails(&in, "maxconn");
	char *err = NULL;
	assert_null(haproxy_config_render(NULL, &err));
	assert_non_null(err);
	free(err);
}

/* A member whose REST API is https is checked with check-ssl, verified against the CA file; with
 * no CA file, only an explicit verify none renders; a bad CA path is refused. */
static void test_tls_checks(void **state)
{
	(void)state;
	haproxy_member m[2] = {{"a", "10.0.0.1:5432", "10.0.0.1:8008", true, NULL, false, NULL},
	                       {"b", "10.0.0.2:5432", "10.0.0.2:8008", false, NULL, false, NULL}};
	haproxy_config_input in;
	base_input(&in);
	in.members = m;
	in.n_members = 2;
	check_fails(&in, "members[0] (a): its REST API is https");
	in.check_ca_file = "/etc/tandem/ca.crt";
	char *text = render_ok(&in);
	assert_contains(text, "\tserver a 10.0.0.1:5432 check port 8008 check-ssl verify required "
	                      "ca-file /etc/tandem/ca.crt\n");
	assert_contains(text, "\tserver b 10.0.0.2:5432 check port 8008\n");
	assert_null(strstr(text, "verify none"));
	free(text);
	in.check_ca_file = NULL;
	in.check_verify_none = true;
	text = render_ok(&in);
	assert_contains(text, "\tserver a 10.0.0.1:5432 check port 8008 check-ssl verify none\n");
	assert_contains(text, "are NOT verified");
	free(text);
	in.check_ca_file = "ca.crt";
	check_fails(&in, "check_ca_file");
	in.check_ca_file = "/etc/my ca.crt";
	check_fails(&in, "check_ca_file");
	in.check_ca_file = "/etc/ca#1";
	check_fails(&in, "check_ca_file");
}

/* Two sites: every member of both in the read-write backend (no backup: the primary site's leader
 * is the only one answering /primary); in the read-only one the other site's members are backup
 * servers, before the primary fallback; a site's own CA for its members; names unique across
 * sites. */
static void test_two_sites(void **state)
{
	(void)state;
	haproxy_member m[4] = {
	    {"a1", "127.0.0.1:5432", "127.0.0.1:8008", false, "siteA", false, NULL},
	    {"a2", "127.0.0.1:5433", "127.0.0.1:8009", false, "siteA", false, NULL},
	    {"b1", "127.0.0.1:6432", "127.0.0.1:9008", true, "siteB", true, "/etc/b/ca.crt"},
	    {"b2", "127.0.0.1:6433", "127.0.0.1:9009", true, "siteB", true, "/etc/b/ca.crt"},
	};
	haproxy_config_input in;
	base_input(&in);
	in.members = m;
	in.n_members = 4;
	char *text = render_ok(&in);
	assert_contains(text, "#   siteA (this HAProxy's site): a1 a2\n");
	assert_contains(text, "#   siteB: b1 b2\n");
	assert_contains(text, "go to whichever site is primary");
	char *primary = section(text, "\nbackend batman_primary\n");
	assert_contains(primary, "\toption httpchk GET /primary\n");
	assert_contains(primary, "\tserver a1 127.0.0.1:5432 check port 8008\n");
	assert_contains(primary, "\tserver b2 127.0.0.1:6433 check port 9009 check-ssl verify "
	                         "required ca-file /etc/b/ca.crt\n");
	assert_int_equal(count(primary, "\tserver "), 4);
	assert_not_contains(primary, "backup");
	free(primary);
	char *replicas = section(text, "\nbackend batman_replicas\n");
	assert_contains(replicas, "\tserver a2 127.0.0.1:5433 check port 8009\n");
	const char *b1 = strstr(replicas, "\tserver b1 127.0.0.1:6432 check port 9008 check-ssl "
	                                  "verify required ca-file /etc/b/ca.crt backup\n");
	const char *fallback = strstr(replicas, "\tserver a1_primary ");
	assert_non_null(b1);
	assert_non_null(fallback);
	assert_true(b1 < fallback);
	assert_int_equal(count(replicas, " backup\n"), 6);
	assert_int_equal(count(replicas, "\tserver "), 8);
	free(replicas);
	char *ro = section(text, "\n# Read-only: ");
	assert_contains(ro, "this site's replicas, balanced; the primary when no replica is up.\n"
	                    "# The other sites' replicas are backup servers");
	free(ro);
	free(text);

	m[3].name = "a1";
	check_fails(&in, "unique across sites");
	m[3].name = "b2";
	m[2].ca_file = "relative.crt";
	check_fails(&in, "members[2].ca_file");
	m[2].ca_file = NULL;
	check_fails(&in, "members[2] (b1): its REST API is https");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_are_tight),
	    cmocka_unit_test(test_structure),
	    cmocka_unit_test(test_no_fallback_stats_and_knobs),
	    cmocka_unit_test(test_rest_on_other_host_uses_addr),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_bad_addresses),
	    cmocka_unit_test(test_bad_knobs),
	    cmocka_unit_test(test_tls_checks),
	    cmocka_unit_test(test_two_sites),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
