/* The health endpoints as a table: every endpoint both ways (200 and 503), the leader whose
 * PostgreSQL is down (Patroni answers 200 on /primary, tandem 503; /leader stays 200 because it
 * reports the lock), ?lag= thresholds, units and bad values, noloadbalance, tag filters, and
 * /liveness with a stale heartbeat. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "health.h"

enum { TTL = 30000 };
#define MB (1024ULL * 1024ULL)

/* Node fixtures. */
enum node {
	PRIMARY,          /* leader key, primary, running */
	PRIMARY_DOWN,     /* leader key, primary, PostgreSQL stopped */
	PRIMARY_CRASHED,  /* leader key, primary, PostgreSQL crashed */
	PRIMARY_STARTING, /* leader key, primary, PostgreSQL starting */
	PRIMARY_NOLOCK,   /* running primary without the key (demoting) */
	REPLICA,          /* streaming, 1 MB behind */
	REPLICA_ARCHIVE,  /* in archive recovery, 1 MB behind */
	REPLICA_SYNC,     /* synchronous standby */
	REPLICA_NOLB,     /* noloadbalance */
	REPLICA_DOWN,     /* PostgreSQL stopped */
	REPLICA_NOLAG,    /* lag unknown */
	REPLICA_TAGGED,   /* tags dc=east, nofailover */
	REPLICA_BEHIND,   /* 100 MB behind */
	REPLICA_NODCS,    /* DCS unreachable */
	STANDBY_LEADER,   /* leader of a standby cluster, running */
	STANDBY_LDR_DOWN, /* leader of a standby cluster, stopped */
	PAUSED_NODCS,     /* paused, DCS down, running primary, lock unknown */
	UNINIT,           /* nothing yet */
	STALE_PRIMARY,    /* running primary, heartbeat 31 s old */
	STALE_REPLICA_OK, /* replica, heartbeat 31 s old (< 2 ttl) */
	STALE_REPLICA,    /* replica, heartbeat 61 s old */
	STALE_PAUSED,     /* paused primary, heartbeat 10 min old */
	NNODES
};

static const health_kv east_tags[] = {{"dc", "east"}, {"rack", "7"}};

static health_state node(enum node n)
{
	health_state s = {
	    .role = HEALTH_ROLE_REPLICA,
	    .pg = HEALTH_PG_RUNNING,
	    .lag_known = true,
	    .lag_bytes = 1 * MB,
	    .streaming = true,
	    .heartbeat_age_ms = 1000,
	    .ttl_ms = TTL,
	    .dcs_ok = true,
	    .max_lag_on_failover = 10 * MB,
	};
	switch (n) {
	case PRIMARY:
	case PRIMARY_DOWN:
	case PRIMARY_CRASHED:
	case PRIMARY_STARTING:
	case STALE_PRIMARY:
	case STALE_PAUSED:
		s.role = HEALTH_ROLE_PRIMARY;
		s.holds_leader_key = true;
		s.lag_bytes = 0;
		s.streaming = false;
		s.pg = n == PRIMARY_DOWN       ? HEALTH_PG_STOPPED
		       : n == PRIMARY_CRASHED  ? HEALTH_PG_CRASHED
		       : n == PRIMARY_STARTING ? HEALTH_PG_STARTING
		                               : HEALTH_PG_RUNNING;
		if (n == STALE_PRIMARY)
			s.heartbeat_age_ms = 31000;
		if (n == STALE_PAUSED) {
			s.paused = true;
			s.heartbeat_age_ms = 600000;
		}
		break;
	case PRIMARY_NOLOCK:
		s.role = HEALTH_ROLE_PRIMARY;
		s.streaming = false;
		break;
	case REPLICA:
		break;
	case REPLICA_ARCHIVE:
		s.streaming = false;
		break;
	case REPLICA_SYNC:
		s.sync_standby = true;
		break;
	case REPLICA_NOLB:
		s.noloadbalance = true;
		break;
	case REPLICA_DOWN:
		s.pg = HEALTH_PG_STOPPED;
		break;
	case REPLICA_NOLAG:
		s.lag_known = false;
		break;
	case REPLICA_TAGGED:
		s.tags = east_tags;
		s.ntags = 2;
		s.nofailover = true;
		break;
	case REPLICA_BEHIND:
		s.lag_bytes = 100 * MB;
		break;
	case REPLICA_NODCS:
		s.dcs_ok = false;
		break;
	case STANDBY_LEADER:
	case STANDBY_LDR_DOWN:
		s.role = HEALTH_ROLE_STANDBY_LEADER;
		s.holds_leader_key = true;
		s.is_standby_leader = true;
		if (n == STANDBY_LDR_DOWN)
			s.pg = HEALTH_PG_STOPPED;
		break;
	case PAUSED_NODCS:
		s.role = HEALTH_ROLE_PRIMARY;
		s.paused = true;
		s.dcs_ok = false;
		s.streaming = false;
		break;
	case UNINIT:
		s.role = HEALTH_ROLE_UNINITIALIZED;
		s.pg = HEALTH_PG_STOPPED;
		s.lag_known = false;
		s.streaming = false;
		break;
	case STALE_REPLICA_OK:
		s.heartbeat_age_ms = 31000;
		break;
	case STALE_REPLICA:
		s.heartbeat_age_ms = 61000;
		break;
	case NNODES:
		break;
	}
	return s;
}

typedef struct hc_case {
	const char *name;
	enum node node;
	const char *path;
	const char *query; /* "k=v&k=v", already decoded; NULL for none */
	int want;
} hc_case;

static const hc_case cases[] = {
    /* /primary and its aliases */
    {"primary: running leader", PRIMARY, "/primary", NULL, 200},
    {"/: running leader", PRIMARY, "/", NULL, 200},
    {"master: running leader", PRIMARY, "/master", NULL, 200},
    {"read-write: running leader", PRIMARY, "/read-write", NULL, 200},
    {"primary: replica", REPLICA, "/primary", NULL, 503},
    {"read-write: replica", REPLICA, "/read-write", NULL, 503},
    {"primary: no lock", PRIMARY_NOLOCK, "/primary", NULL, 503},
    {"primary: standby leader", STANDBY_LEADER, "/primary", NULL, 503},
    /* the leader whose PostgreSQL is down: Patroni 200, tandem 503; /leader reports the lock */
    {"primary: leader pg stopped (Patroni: 200)", PRIMARY_DOWN, "/primary", NULL, 503},
    {"master: leader pg stopped", PRIMARY_DOWN, "/master", NULL, 503},
    {"read-write: leader pg stopped", PRIMARY_DOWN, "/read-write", NULL, 503},
    {"/: leader pg crashed", PRIMARY_CRASHED, "/", NULL, 503},
    {"primary: leader pg starting", PRIMARY_STARTING, "/primary", NULL, 503},
    {"leader: leader pg stopped", PRIMARY_DOWN, "/leader", NULL, 200},
    {"health: leader pg stopped", PRIMARY_DOWN, "/health", NULL, 503},
    {"read-only: leader pg stopped", PRIMARY_DOWN, "/read-only", NULL, 503},
    {"readiness: leader pg stopped", PRIMARY_DOWN, "/readiness", NULL, 503},
    /* tags are ignored on the leader endpoints */
    {"primary: tag filter ignored", PRIMARY, "/primary", "tag_dc=west", 200},
    {"leader: tag filter ignored", PRIMARY, "/leader", "tag_dc=west", 200},
    /* /leader */
    {"leader: running leader", PRIMARY, "/leader", NULL, 200},
    {"leader: standby leader", STANDBY_LEADER, "/leader", NULL, 200},
    {"leader: replica", REPLICA, "/leader", NULL, 503},
    {"leader: no lock", PRIMARY_NOLOCK, "/leader", NULL, 503},
    /* /standby-leader */
    {"standby-leader: standby leader", STANDBY_LEADER, "/standby-leader", NULL, 200},
    {"standby_leader: standby leader", STANDBY_LEADER, "/standby_leader", NULL, 200},
    {"standby-leader: primary", PRIMARY, "/standby-leader", NULL, 503},
    {"standby-leader: replica", REPLICA, "/standby-leader", NULL, 503},
    {"standby-leader: pg stopped", STANDBY_LDR_DOWN, "/standby-leader", NULL, 503},
    {"standby-leader: tags ignored", STANDBY_LEADER, "/standby-leader", "tag_x=y", 200},
    /* paused with the DCS down: the lock is unknown, the role decides */
    {"paused no dcs: primary", PAUSED_NODCS, "/primary", NULL, 200},
    {"paused no dcs: leader", PAUSED_NODCS, "/leader", NULL, 200},
    {"paused no dcs: replica", PAUSED_NODCS, "/replica", NULL, 503},
    /* /replica */
    {"replica: streaming", REPLICA, "/replica", NULL, 200},
    {"replica: archive recovery", REPLICA_ARCHIVE, "/replica", NULL, 200},
    {"replica: primary", PRIMARY, "/replica", NULL, 503},
    {"replica: pg stopped", REPLICA_DOWN, "/replica", NULL, 503},
    {"replica: noloadbalance", REPLICA_NOLB, "/replica", NULL, 503},
    {"replica: standby leader", STANDBY_LEADER, "/replica", NULL, 503},
    {"replica: uninitialized", UNINIT, "/replica", NULL, 503},
    {"replica: dcs down still 200", REPLICA_NODCS, "/replica", NULL, 200},
    {"replica: state streaming", REPLICA, "/replica", "replication_state=streaming", 200},
    {"replica: state streaming, archive", REPLICA_ARCHIVE, "/replica",
     "replication_state=streaming", 503},
    {"replica: state archive", REPLICA_ARCHIVE, "/replica", "replication_state=in archive recovery",
     200},
    /* ?lag= thresholds and units (replica is 1 MB = 1048576 bytes behind) */
    {"lag: bytes equal", REPLICA, "/replica", "lag=1048576", 200},
    {"lag: bytes one less", REPLICA, "/replica", "lag=1048575", 503},
    {"lag: 1024kB", REPLICA, "/replica", "lag=1024kB", 200},
    {"lag: 1023kB", REPLICA, "/replica", "lag=1023kB", 503},
    {"lag: 1MB", REPLICA, "/replica", "lag=1MB", 200},
    {"lag: 10MB", REPLICA, "/replica", "lag=10MB", 200},
    {"lag: 10MB, 100 MB behind", REPLICA_BEHIND, "/replica", "lag=10MB", 503},
    {"lag: 1GB, 100 MB behind", REPLICA_BEHIND, "/replica", "lag=1GB", 200},
    {"lag: 1TB", REPLICA_BEHIND, "/replica", "lag=1TB", 200},
    {"lag: 1048576B", REPLICA, "/replica", "lag=1048576B", 200},
    {"lag: 0", REPLICA, "/replica", "lag=0", 503},
    {"lag: unknown lag", REPLICA_NOLAG, "/replica", "lag=1GB", 503},
    {"lag: unknown lag, no bound", REPLICA_NOLAG, "/replica", NULL, 200},
    {"lag: async within", REPLICA, "/async", "lag=10MB", 200},
    {"lag: async beyond", REPLICA_BEHIND, "/async", "lag=10MB", 503},
    {"lag: bad unit", REPLICA, "/replica", "lag=10mb", 400},
    {"lag: bad unit word", REPLICA, "/replica", "lag=10 megabytes", 400},
    {"lag: empty", REPLICA, "/replica", "lag=", 400},
    {"lag: negative", REPLICA, "/replica", "lag=-1", 400},
    {"lag: fraction", REPLICA, "/replica", "lag=1.5MB", 400},
    {"lag: unit only", REPLICA, "/replica", "lag=MB", 400},
    {"lag: overflow", REPLICA, "/replica", "lag=99999999999999999999", 400},
    {"lag: overflow with unit", REPLICA, "/replica", "lag=99999999999TB", 400},
    {"lag: bad on primary too", PRIMARY, "/primary", "lag=x", 400},
    {"unknown path beats bad lag", REPLICA, "/nope", "lag=x", 404},
    /* tag filters */
    {"tag: match", REPLICA_TAGGED, "/replica", "tag_dc=east", 200},
    {"tag: two match", REPLICA_TAGGED, "/replica", "tag_dc=east&tag_rack=7", 200},
    {"tag: mismatch", REPLICA_TAGGED, "/replica", "tag_dc=west", 503},
    {"tag: one of two mismatches", REPLICA_TAGGED, "/replica", "tag_dc=east&tag_rack=8", 503},
    {"tag: absent", REPLICA, "/replica", "tag_dc=east", 503},
    {"tag: bool nofailover", REPLICA_TAGGED, "/replica", "tag_nofailover=true", 200},
    {"tag: bool unset", REPLICA, "/replica", "tag_nofailover=true", 503},
    {"tag: read-only", REPLICA_TAGGED, "/read-only", "tag_dc=west", 503},
    {"tag: health", REPLICA_TAGGED, "/health", "tag_dc=east", 200},
    {"tag: other params ignored", REPLICA_TAGGED, "/replica", "foo=bar", 200},
    /* /read-only */
    {"read-only: primary", PRIMARY, "/read-only", NULL, 200},
    {"read-only: replica", REPLICA, "/read-only", NULL, 200},
    {"read-only: standby leader", STANDBY_LEADER, "/read-only", NULL, 200},
    {"read-only: noloadbalance", REPLICA_NOLB, "/read-only", NULL, 503},
    {"read-only: replica down", REPLICA_DOWN, "/read-only", NULL, 503},
    /* /sync, /async, /read-only-sync */
    {"sync: sync standby", REPLICA_SYNC, "/sync", NULL, 200},
    {"synchronous: sync standby", REPLICA_SYNC, "/synchronous", NULL, 200},
    {"sync: async replica", REPLICA, "/sync", NULL, 503},
    {"sync: primary", PRIMARY, "/sync", NULL, 503},
    {"async: async replica", REPLICA, "/async", NULL, 200},
    {"asynchronous: async replica", REPLICA, "/asynchronous", NULL, 200},
    {"async: sync standby", REPLICA_SYNC, "/async", NULL, 503},
    {"async: dcs down", REPLICA_NODCS, "/async", NULL, 503},
    {"read-only-sync: primary", PRIMARY, "/read-only-sync", NULL, 200},
    {"read-only-sync: sync standby", REPLICA_SYNC, "/read-only-sync", NULL, 200},
    {"read-only-synchronous: async", REPLICA, "/read-only-synchronous", NULL, 503},
    /* /health */
    {"health: running replica", REPLICA, "/health", NULL, 200},
    {"health: running primary", PRIMARY, "/health", NULL, 200},
    {"health: stopped", REPLICA_DOWN, "/health", NULL, 503},
    {"health: starting", PRIMARY_STARTING, "/health", NULL, 503},
    /* /liveness */
    {"liveness: fresh", PRIMARY, "/liveness", NULL, 200},
    {"liveness: primary stale > ttl", STALE_PRIMARY, "/liveness", NULL, 503},
    {"liveness: replica 31 s < 2 ttl", STALE_REPLICA_OK, "/liveness", NULL, 200},
    {"liveness: replica stale > 2 ttl", STALE_REPLICA, "/liveness", NULL, 503},
    {"liveness: paused tolerates", STALE_PAUSED, "/liveness", NULL, 200},
    {"liveness: pg down, 2 ttl", PRIMARY_DOWN, "/liveness", NULL, 200},
    /* /readiness */
    {"readiness: leader", PRIMARY, "/readiness", NULL, 200},
    {"readiness: replica within default", REPLICA, "/readiness", NULL, 200},
    {"readiness: replica beyond default", REPLICA_BEHIND, "/readiness", NULL, 503},
    {"readiness: replica within lag", REPLICA_BEHIND, "/readiness", "lag=1GB", 200},
    {"readiness: replica beyond lag", REPLICA, "/readiness", "lag=1kB&mode=write", 503},
    {"readiness: archive recovery", REPLICA_ARCHIVE, "/readiness", NULL, 503},
    {"readiness: lag unknown", REPLICA_NOLAG, "/readiness", NULL, 503},
    {"readiness: replica down", REPLICA_DOWN, "/readiness", NULL, 503},
    {"readiness: bad lag", REPLICA, "/readiness", "lag=lots", 400},
    /* unknown paths */
    {"unknown path", PRIMARY, "/nope", NULL, 404},
    {"quorum not served", REPLICA, "/quorum", NULL, 404},
    {"trailing slash", PRIMARY, "/primary/", NULL, 404},
    {"empty path", PRIMARY, "", NULL, 404},
};

/* Splits "k=v&k=v" into `kv` (pointing into `buf`); returns the count. */
static size_t split_query(const char *q, char *buf, size_t bufsz, health_kv *kv, size_t max)
{
	size_t n = 0;

	if (!q)
		return 0;
	snprintf(buf, bufsz, "%s", q);
	for (char *p = buf; p && *p && n < max;) {
		char *amp = strchr(p, '&');
		if (amp)
			*amp = '\0';
		char *eq = strchr(p, '=');
		if (eq)
			*eq = '\0';
		kv[n].key = p;
		kv[n].value = eq ? eq + 1 : "";
		n++;
		p = amp ? amp + 1 : NULL;
	}
	return n;
}

static void test_table(void **state)
{
	(void)state;
	int failures = 0;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const hc_case *c = &cases[i];
		char buf[256];
		health_kv kv[8];
		size_t n = split_query(c->query, buf, sizeof buf, kv, 8);
		health_state s = node(c->node);
		int got = health_status(c->path, n ? kv : NULL, n, &s);
		if (got != c->want) {
			print_error("case '%s': %s?%s: got %d, want %d\n", c->name, c->path,
			            c->query ? c->query : "", got, c->want);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* Every endpoint answers both 200 and 503 for some node of the fixture set. */
static void test_every_endpoint_both_ways(void **state)
{
	(void)state;
	static const char *const paths[] = {
	    "/",
	    "/primary",
	    "/master",
	    "/read-write",
	    "/standby-leader",
	    "/leader",
	    "/replica",
	    "/read-only",
	    "/sync",
	    "/async",
	    "/health",
	    "/liveness",
	    "/readiness",
	    "/read-only-sync",
	    "/synchronous",
	    "/asynchronous",
	    "/standby_leader",
	    "/read-only-synchronous",
	};
	for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
		bool ok = false, unavailable = false;
		for (int n = 0; n < NNODES; n++) {
			health_state s = node((enum node)n);
			int got = health_status(paths[p], NULL, 0, &s);
			ok |= got == 200;
			unavailable |= got == 503;
		}
		if (!ok || !unavailable)
			print_error("%s: 200 %s, 503 %s\n", paths[p], ok ? "yes" : "no",
			            unavailable ? "yes" : "no");
		assert_true(ok && unavailable);
	}
}

static void test_methods(void **state)
{
	(void)state;
	/* The status code does not depend on the method; only GET carries a body. */
	assert_true(health_has_body(REST_GET, "/primary"));
	assert_false(health_has_body(REST_HEAD, "/primary"));
	assert_false(health_has_body(REST_OPTIONS, "/primary"));
	assert_false(health_has_body(REST_OPTIONS, "/replica"));
	assert_false(health_has_body(REST_GET, "/liveness"));
	assert_false(health_has_body(REST_GET, "/readiness"));
	assert_true(health_has_body(REST_GET, "/health"));
}

static void test_parse_lag(void **state)
{
	(void)state;
	uint64_t b = 0;
	assert_int_equal(rest_parse_lag("16kB", &b), 0);
	assert_int_equal(b, 16384);
	assert_int_equal(rest_parse_lag("64MB", &b), 0);
	assert_int_equal(b, 64 * MB);
	assert_int_equal(rest_parse_lag("1GB", &b), 0);
	assert_int_equal(b, 1024 * MB);
	assert_int_equal(rest_parse_lag("0", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(rest_parse_lag("18446744073709551615", &b), 0);
	assert_int_equal(b, UINT64_MAX);
	assert_int_equal(rest_parse_lag("18446744073709551616", &b), -1);
	assert_int_equal(rest_parse_lag("16KB", &b), -1);
	assert_int_equal(rest_parse_lag("1 GB", &b), 0);
	assert_int_equal(rest_parse_lag("1GB ", &b), -1);
	assert_int_equal(rest_parse_lag("", &b), -1);
	assert_int_equal(rest_parse_lag(NULL, &b), -1);
	assert_int_equal(rest_parse_lag("1", NULL), -1);
}

static void test_null_inputs(void **state)
{
	(void)state;
	health_state s = node(PRIMARY);
	assert_int_equal(health_status(NULL, NULL, 0, &s), 404);
	assert_int_equal(health_status("/primary", NULL, 3, &s), 200);
	assert_int_equal(health_status("/primary", NULL, 0, NULL), 503);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),       cmocka_unit_test(test_every_endpoint_both_ways),
	    cmocka_unit_test(test_methods),     cmocka_unit_test(test_parse_lag),
	    cmocka_unit_test(test_null_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
