#include "fence.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void fence_init(fence_state *st)
{
	st->deadline_ms = 0;
}

fence_cmd fence_feed(fence_state *st, const char *line)
{
	if (!strcmp(line, "exit"))
		return FENCE_CMD_EXIT;
	if (!*line || *line < '0' || *line > '9')
		return FENCE_CMD_BAD;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(line, &end, 10);
	if (errno || *end)
		return FENCE_CMD_BAD;
	st->deadline_ms = (uint64_t)v;
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
