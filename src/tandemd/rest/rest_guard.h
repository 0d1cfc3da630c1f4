/* Who may use tandemd's REST API: the pure rules around the server (rest.c), so that they can be
 * tested without one.
 *
 *  - The exposure rule, checked when tandemd starts and on every reload: the changing endpoints
 *    (POST /switchover, /failover, /restart, /reinitialize, /reload, /failsafe, PATCH and PUT
 *    /config) may be left without authentication (a password, or client certificates with
 *    restapi.verify_client) only on a REST API that listens on loopback, or with the
 *    operator's explicit restapi.allow_unauthenticated_changes: true.
 *  - The allowlist (restapi.allowlist, and with restapi.allowlist_include_members the hosts
 *    of the members' api_url): the peers that may use the changing endpoints, or every
 *    endpoint with restapi.allowlist_all.
 *  - The throttle: a peer that failed authentication REST_THROTTLE_FAILURES times within
 *    REST_THROTTLE_WINDOW_MS is answered 429 for REST_THROTTLE_BLOCK_MS. A fixed table of
 *    REST_THROTTLE_SLOTS peers; when it is full, the peer seen longest ago makes room.
 *  - The audit line of every accepted or refused change. */
#ifndef TANDEMD_REST_GUARD_H
#define TANDEMD_REST_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cidr.h"
#include "dcs_codec.h"
#include "err.h"
#include "options.h"

typedef enum rest_exposure {
	REST_EXPOSURE_REFUSED = -1, /* changing endpoints open beyond loopback: do not start */
	REST_EXPOSURE_AUTHENTICATED,
	REST_EXPOSURE_LOOPBACK, /* no authentication, but only local users can connect */
	REST_EXPOSURE_OPTED_IN, /* open beyond loopback, as the operator asked: warn */
} rest_exposure;

/* Whether restapi.listen ("127.0.0.1:8008", "[::1]:8008", "localhost:8008") only accepts
 * connections from this host: 127.0.0.0/8 or ::1. */
bool rest_listen_is_loopback(const char *listen);

/* The exposure rule. REST_EXPOSURE_REFUSED sets *err to why, naming the keys that fix it. */
rest_exposure rest_exposure_check(const tandemd_settings *s, char **err);

/* Whether `peer` is the host of a member's api_url in `view`. Only numeric hosts count:
 * tandemd resolves no names. */
bool rest_peer_is_member(const dcs_view *view, const struct sockaddr *peer);

/* Whether `peer` may use an endpoint. `members` is the cluster's view when
 * restapi.allowlist_include_members is on, else NULL. With neither an allowlist nor `members`
 * everyone may; otherwise the changing endpoints (and, with `all`, every endpoint) only the
 * peers in the allowlist or, with `members`, the members' hosts. */
bool rest_allowlist_admits(const cidr_list *allow, const dcs_view *members, bool all, bool changing,
                           const struct sockaddr *peer);

enum {
	REST_THROTTLE_SLOTS = 64,
	REST_THROTTLE_FAILURES = 5,
	REST_THROTTLE_WINDOW_MS = 10000,
	REST_THROTTLE_BLOCK_MS = 10000,
};

typedef struct rest_throttle_slot {
	bool used;
	int family;         /* AF_INET or AF_INET6; IPv4-mapped IPv6 peers count as IPv4 */
	uint8_t addr[16];   /* the peer's address, without its port */
	unsigned failures;  /* within the window that began at window_ms */
	uint64_t window_ms; /* when the first of `failures` happened */
	uint64_t seen_ms;   /* the latest failure */
	uint64_t until_ms;  /* answered 429 until then (0: not blocked) */
} rest_throttle_slot;

typedef struct rest_throttle {
	rest_throttle_slot slot[REST_THROTTLE_SLOTS];
} rest_throttle;

/* Whether `peer` is to be answered 429 at `now_ms` (monotonic); how many whole seconds are
 * left in *retry_after_s. */
bool rest_throttle_blocked(const rest_throttle *t, const struct sockaddr *peer, uint64_t now_ms,
                           unsigned *retry_after_s);
/* Counts a failed authentication; true when this one starts a block. */
bool rest_throttle_failed(rest_throttle *t, const struct sockaddr *peer, uint64_t now_ms);
/* A successful authentication forgets the peer's failures. */
void rest_throttle_succeeded(rest_throttle *t, const struct sockaddr *peer);

/* "audit: user=USER peer=PEER METHOD PATH accepted (202): DETAIL" or "... refused (401): ..."
 * (caller frees). `user` NULL or empty is "-"; bytes of `detail` outside printable ASCII become
 * '?', and a detail over 1024 bytes is cut there and says how long it was. */
char *rest_audit_line(const char *user, const char *peer, const char *method, const char *path,
                      unsigned status, const char *detail);

#endif
