#include "fence.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void fence_init(fence_state *st)
{
	st->deadline_ms = 0;
	st->lease_end_ms = 0;
}

static bool number(const char *s, const char **end, uint64_t *out)
{
	if (*s < '0' || *s > '9')
		return false;
	char *e;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 10);
	if (errno)
		return false;
	*end = e;
	*out = (uint64_t)v;
	return true;
}

fence_cmd fence_feed(fence_state *st, const char *line)
{
	if (!strcmp(line, "exit"))
		return FENCE_CMD_EXIT;
	const char *p;
	uint64_t deadline, end = 0;
	if (!number(line, &p, &deadline))
		return FENCE_CMD_BAD;
	if (*p == ' ' && (!number(p + 1, &p, &end) || end < deadline))
		return FENCE_CMD_BAD;
	if (*p)
		return FENCE_CMD_BAD;
	st->deadline_ms = deadline;
	st->lease_end_ms = deadline ? end : 0;
	return FENCE_CMD_DEADLINE;
}

int fence_poll_timeout(const fence_state *st, uint64_t now_ms)
{
	if (!st->deadline_ms)
		return -1;
	if (now_ms >= st->deadline_ms)
		return 0;
	uint64_t left = st->deadline_ms - now_ms;
	return left > 60000 ? 60000 : (int)left;
}

bool fence_hw_may_ping(const fence_state *st, uint64_t now_ms, uint64_t timeout_ms)
{
	if (!st->deadline_ms)
		return false;
	uint64_t end = st->lease_end_ms ? st->lease_end_ms : st->deadline_ms;
	return now_ms + timeout_ms <= end;
}
