/* The REST API's access rules (see rest_guard.h): pure functions, no I/O, the clock given. */
#include "rest_guard.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "listener.h"
#include "strbuf.h"

enum { AUDIT_DETAIL_MAX = 1024 };

bool rest_listen_is_loopback(const char *listen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char *err = NULL;
	if (!listen || listener_parse(listen, &ss, &len, &err) < 0) {
		free(err);
		return false;
	}
	cidr_list loopback = {0, NULL};
	bool ok = cidr_list_parse("127.0.0.0/8, ::1/128", &loopback, &err) == 0 &&
	          cidr_list_match(&loopback, (const struct sockaddr *)&ss);
	free(err);
	cidr_list_free(&loopback);
	return ok;
}

rest_exposure rest_exposure_check(const tandemd_settings *s, char **err)
{
	if (s->restapi_username && *s->restapi_username)
		return REST_EXPOSURE_AUTHENTICATED;
	/* restapi.verify_client optional or required: a change needs a certificate of the CA. */
	if (s->restapi_certfile && s->restapi_cafile &&
	    tandemd_verify_client(s) != TANDEMD_VERIFY_NONE)
		return REST_EXPOSURE_AUTHENTICATED;
	if (rest_listen_is_loopback(s->restapi_listen))
		return REST_EXPOSURE_LOOPBACK;
	if (s->restapi_allow_unauthenticated_changes)
		return REST_EXPOSURE_OPTED_IN;
	err_set(
	    err,
	    "restapi.listen %s is reachable beyond loopback and restapi.authentication is not "
	    "set: anyone who reaches it could switch over, fail over, restart or reconfigure the "
	    "cluster. Set restapi.authentication.username and .password (or client "
	    "certificates: restapi.verify_client), listen on loopback, or accept the risk with "
	    "restapi.allow_unauthenticated_changes: true",
	    s->restapi_listen ? s->restapi_listen : "(unset)");
	return REST_EXPOSURE_REFUSED;
}

bool rest_peer_is_member(const dcs_view *view, const struct sockaddr *peer)
{
	if (!view || !peer)
		return false;
	bool found = false;
	for (size_t i = 0; i < view->nmembers && !found; i++) {
		const char *url = view->members[i].api_url;
		addr a;
		char *err = NULL;
		if (!url || addr_parse_url(url, 80, &a, &err) < 0) {
			free(err);
			continue;
		}
		cidr c;
		if (cidr_parse(a.host, &c, &err) == 0) {
			cidr_list one = {1, &c};
			found = cidr_list_match(&one, peer);
		}
		free(err);
		addr_clear(&a);
	}
	return found;
}

bool rest_allowlist_admits(const cidr_list *allow, const dcs_view *members, bool all, bool changing,
                           const struct sockaddr *peer)
{
	bool listed = allow && allow->n > 0;
	if ((!listed && !members) || (!changing && !all))
		return true;
	if (!peer)
		return false;
	return (listed && cidr_list_match(allow, peer)) || rest_peer_is_member(members, peer);
}

/* ---- throttle ---- */

/* The peer's address as the table keys it; false for an address family it does not know. */
static bool peer_key(const struct sockaddr *peer, int *family, uint8_t key[16])
{
	memset(key, 0, 16);
	if (!peer)
		return false;
	/* Copied out rather than cast: a sockaddr carries no alignment promise. */
	if (peer->sa_family == AF_INET) {
		struct sockaddr_in in4;
		memcpy(&in4, peer, sizeof in4);
		memcpy(key, &in4.sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (peer->sa_family != AF_INET6)
		return false;
	struct sockaddr_in6 in6;
	memcpy(&in6, peer, sizeof in6);
	const struct in6_addr *a6 = &in6.sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		memcpy(key, a6->s6_addr + 12, 4);
		*family = AF_INET;
	} else {
		memcpy(key, a6->s6_addr, 16);
		*family = AF_INET6;
	}
	return true;
}

/* The peer's slot, or -1. */
static int find(const rest_throttle *t, const struct sockaddr *peer)
{
	int family;
	uint8_t key[16];
	if (!peer_key(peer, &family, key))
		return -1;
	for (int i = 0; i < REST_THROTTLE_SLOTS; i++) {
		const rest_throttle_slot *s = &t->slot[i];
		if (s->used && s->family == family && memcmp(s->addr, key, 16) == 0)
			return i;
	}
	return -1;
}

bool rest_throttle_blocked(const rest_throttle *t, const struct sockaddr *peer, uint64_t now_ms,
                           unsigned *retry_after_s)
{
	int i = find(t, peer);
	if (i < 0 || t->slot[i].until_ms <= now_ms)
		return false;
	const rest_throttle_slot *s = &t->slot[i];
	if (retry_after_s)
		*retry_after_s = (unsigned)((s->until_ms - now_ms + 999) / 1000);
	return true;
}

/* A free slot, or else the one whose peer failed longest ago. */
static rest_throttle_slot *make_room(rest_throttle *t)
{
	rest_throttle_slot *oldest = &t->slot[0];
	for (size_t i = 0; i < REST_THROTTLE_SLOTS; i++) {
		rest_throttle_slot *s = &t->slot[i];
		if (!s->used)
			return s;
		if (s->seen_ms < oldest->seen_ms)
			oldest = s;
	}
	return oldest;
}

bool rest_throttle_failed(rest_throttle *t, const struct sockaddr *peer, uint64_t now_ms)
{
	int i = find(t, peer);
	rest_throttle_slot *s = i >= 0 ? &t->slot[i] : NULL;
	if (!s) {
		s = make_room(t);
		memset(s, 0, sizeof *s);
		if (!peer_key(peer, &s->family, s->addr))
			return false;
		s->used = true;
	}
	if (s->until_ms > now_ms)
		return false; /* already blocked */
	if (s->failures == 0 || now_ms - s->window_ms >= REST_THROTTLE_WINDOW_MS) {
		s->failures = 0;
		s->window_ms = now_ms;
		s->until_ms = 0;
	}
	s->seen_ms = now_ms;
	if (++s->failures < REST_THROTTLE_FAILURES)
		return false;
	s->failures = 0;
	s->until_ms = now_ms + REST_THROTTLE_BLOCK_MS;
	return true;
}

void rest_throttle_succeeded(rest_throttle *t, const struct sockaddr *peer)
{
	int i = find(t, peer);
	if (i >= 0)
		memset(&t->slot[i], 0, sizeof t->slot[i]);
}

/* ---- audit ---- */

char *rest_audit_line(const char *user, const char *peer, const char *method, const char *path,
                      unsigned status, const char *detail)
{
	strbuf sb = STRBUF_INIT;
	sb_printf(&sb, "audit: user=%s peer=%s %s %s %s (%u)", user && *user ? user : "-",
	          peer && *peer ? peer : "-", method ? method : "-", path ? path : "-",
	          status >= 200 && status < 300 ? "accepted" : "refused", status);
	if (detail && *detail) {
		size_t len = strlen(detail);
		size_t keep = len > AUDIT_DETAIL_MAX ? AUDIT_DETAIL_MAX : len;
		sb_append(&sb, ": ", 2);
		for (size_t i = 0; i < keep; i++) {
			unsigned char c = (unsigned char)detail[i];
			char out = c < 0x20 || c > 0x7e ? '?' : (char)c;
			sb_append(&sb, &out, 1);
		}
		if (keep < len)
			sb_printf(&sb, "... (%zu bytes in all)", len);
	}
	return sb_steal(&sb);
}
