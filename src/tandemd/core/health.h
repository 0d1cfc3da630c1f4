/* The health endpoints of tandemd's REST API, answered like Patroni's so that an existing HAProxy
 * configuration (`option httpchk GET /primary`, `OPTIONS /replica`, ...) works unchanged. A pure
 * function from the request path, its already decoded query and a snapshot of the node to an HTTP
 * status code; the HTTP server (elsewhere) writes the code and, for GET only, a body.
 *
 * Status codes: 200 (the node is what the endpoint asks for), 503 (it is not), 404 (unknown path),
 * 400 (a `lag` query value that is not a size).
 *
 * When each endpoint answers 200 (otherwise 503). "Running" means PostgreSQL accepts connections
 * (HEALTH_PG_RUNNING); "replica-ok" means: role HEALTH_ROLE_REPLICA, PostgreSQL running, no
 * noloadbalance tag, within `?lag=` when given, and matching `?replication_state=` when given.
 *
 *  GET /, /primary, /master, /read-write
 *	the node holds the leader key, is not the leader of a standby cluster, its role is primary
 *	AND PostgreSQL is running. DIFFERENCE FROM PATRONI: Patroni answers 200 for the lock holder
 *	even while its PostgreSQL is down (stopped, starting, crashed), so HAProxy keeps sending
 *	writes to a dead port until the lock expires; tandem answers 503 there. In maintenance mode
 *	with the DCS unreachable (Patroni's rule, kept), the lock is not known: role primary and
 *	PostgreSQL running suffice.
 *  GET /standby-leader, /standby_leader
 *	the node holds the leader key as the leader of a standby cluster, its role is replica or
 *	standby_leader and PostgreSQL is running (tandem adds "running", for the same reason).
 *Paused with the DCS unreachable: role standby_leader and running. GET /leader the node holds the
 *leader key, whatever PostgreSQL does (Patroni's rule, KEPT ON PURPOSE: /leader reports the lock,
 *i.e. who is in charge of the cluster, and tooling uses it to find the member to talk to about a
 *switchover or restart even while its PostgreSQL is down; a load balancer that needs a writable
 *server uses /primary). Paused with the DCS unreachable: role primary or standby_leader. GET
 * /replica replica-ok. `?tag_<key>=<value>` filters apply (see below). GET /read-only /primary or
 * /standby-leader would answer 200, or replica-ok. Tag filters apply. GET /sync, /synchronous the
 *DCS is reachable, the node is a synchronous standby, and replica-ok. Tag filters apply. GET
 * /async, /asynchronous the DCS is reachable, the node is not a synchronous standby, and replica-ok
 *(so `?lag=` applies). Tag filters apply. GET /read-only-sync, /read-only-synchronous the DCS is
 *reachable, and /primary or /standby-leader would answer 200, or the node is a synchronous standby
 *and replica-ok. Tag filters apply. GET /health PostgreSQL is running (any role). Tag filters
 *apply. GET /liveness the cluster is paused (a stuck loop is tolerated in maintenance mode), or the
 *last HA loop heartbeat is younger than ttl on a running primary, or than 2 * ttl on any other
 *node. GET /readiness the node holds the leader key and PostgreSQL is running (Patroni: the lock
 *alone; tandem adds "running"), or: PostgreSQL is running, replication is streaming, the lag is
 *known (Patroni: the DCS or the WAL receiver must tell the leader's position) and at most `?lag=`
 *(default: health_state.max_lag_on_failover). `?mode=apply|write` is accepted and ignored: the
 *	snapshot carries one lag figure.
 *
 * `?lag=<size>`: bytes, or a number with a unit B, kB, MB, GB or TB (powers of 1024, case as in
 * PostgreSQL), e.g. 1048576, 1024kB, 10MB, 1GB. A lag bound with the lag unknown answers 503
 * (Patroni treats an unknown leader position as "not lagging"; tandem does not promise what it
 * cannot measure). A malformed value answers 400 on every known endpoint (Patroni ignores it).
 *
 * `?tag_<key>=<value>`: on a 200 from an endpoint other than /, /primary, /master, /read-write,
 * /leader and /standby-leader (which ignore them), every such filter must match a tag of the node,
 * else 503. The boolean tags nofailover, noloadbalance, nosync and clonefrom are tags with value
 * "true" when set and absent when not; arbitrary tags are compared as strings.
 *
 * Methods: GET, HEAD and OPTIONS answer the same status code; only GET carries a body, and
 * /liveness and /readiness never do (health_has_body). Patroni's /quorum endpoints are not
 * served (404): tandem has no quorum commit. */
#ifndef TANDEMD_HEALTH_H
#define TANDEMD_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum health_role {
	HEALTH_ROLE_UNINITIALIZED,
	HEALTH_ROLE_PRIMARY,
	HEALTH_ROLE_REPLICA,
	HEALTH_ROLE_STANDBY_LEADER,
} health_role;

typedef enum health_pg_state {
	HEALTH_PG_STOPPED,
	HEALTH_PG_STARTING,
	HEALTH_PG_RUNNING,
	HEALTH_PG_CRASHED,
} health_pg_state;

typedef enum rest_method {
	REST_GET,
	REST_HEAD,
	REST_OPTIONS,
} rest_method;

/* A key/value pair: a query parameter (already percent-decoded) or a user-defined tag. */
typedef struct health_kv {
	const char *key;
	const char *value;
} health_kv;

typedef struct health_state {
	health_role role;
	health_pg_state pg;
	bool holds_leader_key;
	bool
	    is_standby_leader; /* the node leads a standby cluster (holds its leader key as such) */
	bool lag_known;
	uint64_t lag_bytes; /* WAL behind the leader's last known position, when lag_known */
	bool streaming;     /* replica: streaming from its upstream (else: archive recovery) */
	bool sync_standby;
	bool nofailover, noloadbalance, nosync, clonefrom;
	const health_kv *tags; /* arbitrary user-defined tags */
	size_t ntags;
	bool paused;
	uint64_t heartbeat_age_ms; /* since the HA loop last completed a pass */
	uint64_t ttl_ms;
	bool dcs_ok;
	uint64_t max_lag_on_failover; /* bytes; the default bound of /readiness */
} health_state;

/* The status code for `path` (without the query string) with the `nquery` parameters `query`. */
int health_status(const char *path, const health_kv *query, size_t nquery, const health_state *s);

/* Whether the answer to `method` on `path` carries a body (only GET, and not for the probes). */
bool health_has_body(rest_method method, const char *path);

/* Parses a `lag` value into bytes; 0 on success, -1 when malformed or out of range. */
int rest_parse_lag(const char *text, uint64_t *bytes);

#endif
