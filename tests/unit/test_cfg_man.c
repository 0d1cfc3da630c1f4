/* Unit tests for src/lib/cfg_man.h: roff escaping, and an option table rendered as a manual
 * page's OPTIONS entries. */
#include "testutil.h"

#include "cfg_man.h"

typedef struct mset {
	char *host;
	long long wait;
	char *password;
} mset;

static const cfg_option mopts[] = {
    {"db.host", CFG_STRING, "localhost", 0, 0, true, offsetof(mset, host), "HOST",
     "the database host (a name or an address)", NULL},
    {"wait", CFG_DURATION, "10s", 0, 0, false, offsetof(mset, wait), "DURATION",
     ".leading dot and a back\\slash", NULL},
    {"password", CFG_SECRET, NULL, 0, 0, true, offsetof(mset, password), NULL, "the password",
     NULL},
};
static const cfg_table mtable = {mopts, 3, "MY", NULL, false, NULL, false};

static char *render(void (*fn)(const char *, FILE *), const char *text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	fn(text, f);
	fclose(f);
	return buf;
}

static void test_escape(void **state)
{
	(void)state;
	char *s = render(cfg_man_escape, "--flag a\\b\n.TH not a macro\n'quote");
	assert_string_equal(s, "\\-\\-flag a\\eb\n\\&.TH not a macro\n\\&'quote");
	free(s);
	s = render(cfg_man_verbatim, "usage: x\n  -h");
	assert_string_equal(s, ".PP\n.nf\nusage: x\n  \\-h\n.fi\n");
	free(s);
}

static void test_options(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cfg_man_options(&mtable, f);
	fclose(f);
	assert_contains(buf, ".TP\n\\fB\\-\\-db.host\\fR \\fIHOST\\fR\nthe database host");
	assert_contains(buf, "environment \\fBMY_DB_HOST\\fR; default \\fBlocalhost\\fR; "
	                     "reloadable.");
	assert_contains(buf, "a duration");
	assert_contains(buf, "\\&.leading dot and a back\\eslash");
	assert_contains(buf, "default \\fB10s\\fR; a change needs a restart.");
	assert_contains(buf, "\\fB\\-\\-password\\fR \\fIVALUE\\fR");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
