#include "ryw.h"

#include <stdio.h>
#include <string.h>

/* 1 to `max` digits of base 10 or 16 (upper or lower case) from *s, stopping at the first other
 * byte; no sign, no space. */
static int digits(const char **s, unsigned base, size_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;
	for (const char *p = *s;; p++, n++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (n == max)
			return -1;
		v = v * base + d;
	}
	if (n == 0)
		return -1;
	*s += n;
	*out = v;
	return 0;
}

static int lsn_at(const char **s, uint64_t *out)
{
	uint64_t hi, lo;
	if (digits(s, 16, 8, &hi) < 0 || **s != '/')
		return -1;
	(*s)++;
	if (digits(s, 16, 8, &lo) < 0)
		return -1;
	*out = hi << 32 | lo;
	return 0;
}

int ryw_lsn_parse(const char *s, uint64_t *out)
{
	uint64_t v;
	if (!s || lsn_at(&s, &v) < 0 || *s)
		return -1;
	*out = v;
	return 0;
}

int ryw_token_parse(const char *s, ryw_pos *out)
{
	uint64_t tli, lsn;
	if (!s || digits(&s, 10, 10, &tli) < 0 || tli == 0 || tli > UINT32_MAX || *s != ':')
		return -1;
	s++;
	if (lsn_at(&s, &lsn) < 0 || *s)
		return -1;
	out->tli = (uint32_t)tli;
	out->lsn = lsn;
	return 0;
}

int ryw_walfile_tli(const char *name, uint32_t *out)
{
	if (!name || strlen(name) != 24 || strspn(name, "0123456789ABCDEFabcdef") != 24)
		return -1;
	char head[9];
	memcpy(head, name, 8);
	head[8] = '\0';
	const char *p = head;
	uint64_t tli;
	if (digits(&p, 16, 8, &tli) < 0 || *p || tli == 0)
		return -1;
	*out = (uint32_t)tli;
	return 0;
}

void ryw_token_format(ryw_pos pos, char out[RYW_TOKEN_MAX])
{
	snprintf(out, RYW_TOKEN_MAX, "%u:%X/%X", (unsigned)pos.tli, (unsigned)(pos.lsn >> 32),
	         (unsigned)(pos.lsn & 0xffffffffu));
}

static const char *const reasons[RYW_REASON_COUNT] = {
    "ok",
    "the primary's timeline is not known yet",
    "the token is from another timeline than the primary's",
    "this instance's last write for the user is on another timeline than the token",
    "the read server is not a standby",
    "the replica's timeline is unknown or not the primary's",
    "the replica lags more than read-max-lag behind the primary",
    "the replica has not replayed the position the read needs",
};

const char *ryw_reason_text(ryw_reason r)
{
	return r < RYW_REASON_COUNT ? reasons[r] : "?";
}

static ryw_verdict verdict(ryw_verdict v, ryw_reason r, ryw_reason *why)
{
	*why = r;
	return v;
}

ryw_verdict ryw_decide(const ryw_input *in, ryw_reason *why)
{
	/* The position the read must see: the token's and this instance's, on one timeline. */
	uint32_t need_tli = in->token.tli ? in->token.tli : in->own.tli;
	uint64_t need_lsn = 0;
	if (in->primary.tli == 0)
		return verdict(RYW_PRIMARY, RYW_PRIMARY_UNKNOWN, why);
	if (in->token.tli && in->token.tli != in->primary.tli)
		return verdict(RYW_PRIMARY, RYW_TOKEN_TIMELINE, why);
	if (in->own.tli && in->own.tli != need_tli)
		return verdict(RYW_PRIMARY, RYW_OWN_TIMELINE, why);
	if (in->own.tli && in->own.tli != in->primary.tli)
		return verdict(RYW_PRIMARY, RYW_OWN_TIMELINE, why);
	if (in->token.tli)
		need_lsn = in->token.lsn;
	if (in->own.tli && in->own.lsn > need_lsn)
		need_lsn = in->own.lsn;

	const ryw_replica *r = in->replica;
	if (!r)
		return verdict(RYW_ASK, RYW_OK, why);
	if (!r->standby)
		return verdict(RYW_PRIMARY, RYW_NOT_STANDBY, why);
	if (r->tli == 0 || r->tli != in->primary.tli || (need_tli && r->tli != need_tli))
		return verdict(RYW_PRIMARY, RYW_REPLICA_TIMELINE, why);
	if (in->primary.lsn > r->lsn && in->primary.lsn - r->lsn > in->max_lag)
		return verdict(RYW_PRIMARY, RYW_LAGGING, why);
	if (need_tli && r->lsn < need_lsn)
		return verdict(in->waited_ms < in->wait_max_ms ? RYW_WAIT : RYW_PRIMARY, RYW_BEHIND,
		               why);
	return verdict(RYW_LOCAL, RYW_OK, why);
}
