/* Fuzzes the Tandem-Consistency-Token parser a client reaches (ryw_token_parse) and the read
 * routing it feeds (ryw_decide), with the parsers of the database's answers beside it.
 *
 * Input: TOKEN '\n' the rest. TOKEN is parsed as the header value; the rest, when at least 41
 * bytes, gives the other inputs of ryw_decide (positions, the replica's answer, the wait), and is
 * also parsed as an LSN and as a WAL file name.
 *
 * Invariants: an accepted token has a timeline > 0, formats back to at most RYW_TOKEN_MAX - 1
 * bytes that parse to the same position, and is no longer than that itself; a rejected one
 * leaves the output untouched. ryw_decide answers RYW_ASK exactly when no replica answer is
 * given; RYW_LOCAL only from a standby on a known timeline equal to the token's and the
 * primary's (known) that has replayed the token's and the instance's positions, within the
 * lag bound; RYW_WAIT only before the wait bound and only for a replica behind. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "ryw.h"

static uint64_t take(const uint8_t **p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | *(*p)++;
	return v;
}

static void check_token(const char *s)
{
	ryw_pos p = {0xdead, 0xbeef};
	if (ryw_token_parse(s, &p) < 0) {
		FUZZ_CHECK(p.tli == 0xdead && p.lsn == 0xbeef,
		           "a rejected token changed the output");
		return;
	}
	FUZZ_CHECK(p.tli > 0, "timeline 0 accepted from '%s'", s);
	FUZZ_CHECK(strlen(s) < RYW_TOKEN_MAX, "a token of %zu bytes accepted", strlen(s));
	char out[RYW_TOKEN_MAX];
	ryw_token_format(p, out);
	ryw_pos back;
	FUZZ_CHECK(ryw_token_parse(out, &back) == 0, "formatted token '%s' does not parse", out);
	FUZZ_CHECK(back.tli == p.tli && back.lsn == p.lsn, "'%s' -> '%s' changed the position", s,
	           out);
}

static void check_decide(const char *token, const uint8_t *p)
{
	ryw_input in = {0};
	if (ryw_token_parse(token, &in.token) < 0)
		in.token = (ryw_pos){0, 0};
	in.own.tli = (uint32_t)take(&p, 1);
	in.own.lsn = take(&p, 8);
	in.primary.tli = (uint32_t)take(&p, 1);
	in.primary.lsn = take(&p, 8);
	ryw_replica r;
	r.standby = take(&p, 1) & 1;
	r.tli = (uint32_t)take(&p, 1);
	r.lsn = take(&p, 8);
	bool asked = take(&p, 1) & 1;
	in.replica = asked ? &r : NULL;
	in.waited_ms = take(&p, 2);
	in.wait_max_ms = take(&p, 2);
	in.max_lag = take(&p, 8);
	if (in.token.tli)
		in.token.tli &= 0xff; /* so that timelines meet */

	ryw_reason why = RYW_REASON_COUNT;
	ryw_verdict v = ryw_decide(&in, &why);
	FUZZ_CHECK(why < RYW_REASON_COUNT, "no reason");
	FUZZ_CHECK(ryw_reason_text(why) != NULL, "reason without a text");
	FUZZ_CHECK((v == RYW_ASK) == (!asked && v != RYW_PRIMARY), "ASK %d with a replica %d",
	           v == RYW_ASK, asked);
	if (v == RYW_LOCAL) {
		FUZZ_CHECK(r.standby && r.tli != 0,
		           "local read from a non-standby or unknown timeline");
		FUZZ_CHECK(!in.token.tli || (r.tli == in.token.tli && r.lsn >= in.token.lsn),
		           "local read before the token");
		FUZZ_CHECK(!in.own.tli || (r.tli == in.own.tli && r.lsn >= in.own.lsn),
		           "local read before the instance's own write");
		FUZZ_CHECK(in.primary.tli && r.tli == in.primary.tli,
		           "local read without knowing the primary, or from another timeline");
		FUZZ_CHECK(in.primary.lsn <= r.lsn || in.primary.lsn - r.lsn <= in.max_lag,
		           "local read from a replica beyond the lag bound");
	}
	if (v == RYW_WAIT)
		FUZZ_CHECK(in.waited_ms < in.wait_max_ms && why == RYW_BEHIND,
		           "wait past the bound or for a replica not behind");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t tlen = nl ? (size_t)(nl - data) : size;
	char *token = fuzz_strndup(data, tlen);
	check_token(token);
	const uint8_t *rest = nl ? nl + 1 : data + size;
	size_t rlen = (size_t)(data + size - rest);
	char *text = fuzz_strndup(rest, rlen);
	uint64_t lsn;
	if (ryw_lsn_parse(text, &lsn) == 0) {
		char again[RYW_TOKEN_MAX];
		ryw_token_format((ryw_pos){1, lsn}, again);
		ryw_pos back;
		FUZZ_CHECK(ryw_token_parse(again, &back) == 0 && back.lsn == lsn, "LSN round trip");
	}
	uint32_t tli;
	if (ryw_walfile_tli(text, &tli) == 0)
		FUZZ_CHECK(tli > 0 && strlen(text) == 24, "WAL file name '%s'", text);
	if (rlen >= 41)
		check_decide(token, rest);
	free(text);
	free(token);
	return 0;
}
