/* Health endpoints of the REST API: see health.h for the rules and where they differ from
 * Patroni's. */
#include "health.h"

#include <string.h>

typedef enum rest_endpoint {
	EP_UNKNOWN,
	EP_PRIMARY,
	EP_STANDBY_LEADER,
	EP_LEADER,
	EP_REPLICA,
	EP_READ_ONLY,
	EP_SYNC,
	EP_ASYNC,
	EP_READ_ONLY_SYNC,
	EP_HEALTH,
	EP_LIVENESS,
	EP_READINESS,
} rest_endpoint;

static const struct {
	const char *path;
	rest_endpoint ep;
} endpoints[] = {
    {"/", EP_PRIMARY},
    {"/primary", EP_PRIMARY},
    {"/master", EP_PRIMARY},
    {"/read-write", EP_PRIMARY},
    {"/standby-leader", EP_STANDBY_LEADER},
    {"/standby_leader", EP_STANDBY_LEADER},
    {"/leader", EP_LEADER},
    {"/replica", EP_REPLICA},
    {"/read-only", EP_READ_ONLY},
    {"/sync", EP_SYNC},
    {"/synchronous", EP_SYNC},
    {"/async", EP_ASYNC},
    {"/asynchronous", EP_ASYNC},
    {"/read-only-sync", EP_READ_ONLY_SYNC},
    {"/read-only-synchronous", EP_READ_ONLY_SYNC},
    {"/health", EP_HEALTH},
    {"/liveness", EP_LIVENESS},
    {"/readiness", EP_READINESS},
};

static rest_endpoint endpoint_of(const char *path)
{
	if (!path)
		return EP_UNKNOWN;
	for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
		if (strcmp(path, endpoints[i].path) == 0)
			return endpoints[i].ep;
	return EP_UNKNOWN;
}

int rest_parse_lag(const char *text, uint64_t *bytes)
{
	static const struct {
		const char *unit;
		unsigned shift;
	} units[] = {{"", 0}, {"B", 0}, {"kB", 10}, {"MB", 20}, {"GB", 30}, {"TB", 40}};
	uint64_t n = 0;
	const char *p = text;

	if (!text || !bytes)
		return -1;
	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	while (*p == ' ')
		p++;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(p, units[i].unit) != 0)
			continue;
		if (n > (UINT64_MAX >> units[i].shift))
			return -1;
		*bytes = n << units[i].shift;
		return 0;
	}
	return -1;
}

static const char *query_get(const health_kv *query, size_t nquery, const char *key)
{
	for (size_t i = 0; i < nquery; i++)
		if (query[i].key && strcmp(query[i].key, key) == 0)
			return query[i].value ? query[i].value : "";
	return NULL;
}

/* The node's value for tag `key`, NULL when the node has no such tag. */
static const char *tag_value(const health_state *s, const char *key)
{
	if ((strcmp(key, "nofailover") == 0 && s->nofailover) ||
	    (strcmp(key, "noloadbalance") == 0 && s->noloadbalance) ||
	    (strcmp(key, "nosync") == 0 && s->nosync) ||
	    (strcmp(key, "clonefrom") == 0 && s->clonefrom))
		return "true";
	for (size_t i = 0; i < s->ntags; i++)
		if (s->tags[i].key && strcmp(s->tags[i].key, key) == 0)
			return s->tags[i].value ? s->tags[i].value : "";
	return NULL;
}

static bool tags_match(const health_state *s, const health_kv *query, size_t nquery)
{
	static const char prefix[] = "tag_";

	for (size_t i = 0; i < nquery; i++) {
		const char *key = query[i].key;
		if (!key || strncmp(key, prefix, sizeof prefix - 1) != 0)
			continue;
		const char *want = query[i].value ? query[i].value : "";
		const char *have = tag_value(s, key + sizeof prefix - 1);
		if (!have || strcmp(have, want) != 0)
			return false;
	}
	return true;
}

static int code(bool ok)
{
	return ok ? 200 : 503;
}

static int liveness(const health_state *s)
{
	bool primary = s->role == HEALTH_ROLE_PRIMARY && s->pg == HEALTH_PG_RUNNING;
	uint64_t limit = primary ? s->ttl_ms : 2 * s->ttl_ms;

	return code(s->paused || s->heartbeat_age_ms < limit);
}

static int readiness(const health_state *s, bool has_lag, uint64_t max_lag)
{
	if (s->pg != HEALTH_PG_RUNNING)
		return 503;
	if (s->holds_leader_key)
		return 200;
	if (!s->streaming || !s->lag_known)
		return 503;
	return code(s->lag_bytes <= (has_lag ? max_lag : s->max_lag_on_failover));
}

int health_status(const char *path, const health_kv *query, size_t nquery, const health_state *s)
{
	rest_endpoint ep = endpoint_of(path);
	uint64_t max_lag = 0;
	bool has_lag = false;

	if (ep == EP_UNKNOWN)
		return 404;
	if (nquery && !query)
		nquery = 0;
	const char *lag = query_get(query, nquery, "lag");
	if (lag) {
		if (rest_parse_lag(lag, &max_lag) != 0)
			return 400;
		has_lag = true;
	}
	if (!s)
		return 503;
	if (ep == EP_LIVENESS)
		return liveness(s);
	if (ep == EP_READINESS)
		return readiness(s, has_lag, max_lag);

	bool running = s->pg == HEALTH_PG_RUNNING;
	const char *want_state = query_get(query, nquery, "replication_state");
	bool state_ok = true;
	if (want_state)
		state_ok =
		    strcmp(want_state, s->streaming ? "streaming" : "in archive recovery") == 0;
	bool lagging = has_lag && (!s->lag_known || s->lag_bytes > max_lag);
	bool replica_ok =
	    s->role == HEALTH_ROLE_REPLICA && running && !s->noloadbalance && !lagging && state_ok;

	bool leader_ok, primary_ok, standby_ok;
	if (!s->dcs_ok && s->paused) {
		/* Maintenance mode without the DCS: the lock is unknown, go by the role. */
		leader_ok = s->role == HEALTH_ROLE_PRIMARY || s->role == HEALTH_ROLE_STANDBY_LEADER;
		primary_ok = s->role == HEALTH_ROLE_PRIMARY && running;
		standby_ok = s->role == HEALTH_ROLE_STANDBY_LEADER && running;
	} else if (s->holds_leader_key) {
		leader_ok = true;
		if (s->is_standby_leader) {
			primary_ok = false;
			replica_ok = false;
			standby_ok = (s->role == HEALTH_ROLE_REPLICA ||
			              s->role == HEALTH_ROLE_STANDBY_LEADER) &&
			             running;
		} else {
			primary_ok = s->role == HEALTH_ROLE_PRIMARY && running;
			standby_ok = false;
		}
	} else {
		leader_ok = primary_ok = standby_ok = false;
	}

	bool ok = false;
	switch (ep) {
	case EP_PRIMARY:
		return code(primary_ok);
	case EP_STANDBY_LEADER:
		return code(standby_ok);
	case EP_LEADER:
		return code(leader_ok);
	case EP_REPLICA:
		ok = replica_ok;
		break;
	case EP_READ_ONLY:
		ok = primary_ok || standby_ok || replica_ok;
		break;
	case EP_SYNC:
		ok = s->dcs_ok && s->sync_standby && replica_ok;
		break;
	case EP_ASYNC:
		ok = s->dcs_ok && !s->sync_standby && replica_ok;
		break;
	case EP_READ_ONLY_SYNC:
		ok = s->dcs_ok && (primary_ok || standby_ok || (s->sync_standby && replica_ok));
		break;
	case EP_HEALTH:
		ok = running;
		break;
	case EP_UNKNOWN:
	case EP_LIVENESS:
	case EP_READINESS:
		return 404; /* handled above */
	}
	return code(ok && tags_match(s, query, nquery));
}

bool health_has_body(rest_method method, const char *path)
{
	rest_endpoint ep = endpoint_of(path);

	return method == REST_GET && ep != EP_LIVENESS && ep != EP_READINESS;
}
