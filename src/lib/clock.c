#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t clock_mono_ms(void)
{
	return clock_mono_us() / 1000u;
}

int64_t clock_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool digits(const char *p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int clock_parse_iso8601(const char *t, int64_t *unix_ms)
{
	int y, mo, d, h, mi, s;
	if (!t || strlen(t) < 19 || !digits(t, 4, &y) || t[4] != '-' || !digits(t + 5, 2, &mo) ||
	    t[7] != '-' || !digits(t + 8, 2, &d) || (t[10] != 'T' && t[10] != ' ') ||
	    !digits(t + 11, 2, &h) || t[13] != ':' || !digits(t + 14, 2, &mi) || t[16] != ':' ||
	    !digits(t + 17, 2, &s))
		return -1;
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) ||
	    h > 23 || mi > 59 || s > 59)
		return -1;
	const char *p = t + 19;
	int ms = 0;
	if (*p == '.') {
		int n = 0, scale = 100;
		for (p++; *p >= '0' && *p <= '9'; p++, n++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
		if (n == 0)
			return -1;
	}
	int off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		int sign = *p == '-' ? -1 : 1;
		if (!digits(p + 1, 2, &oh))
			return -1;
		p += 3;
		if (*p == ':')
			p++;
		if (!digits(p, 2, &om) || oh > 23 || om > 59)
			return -1;
		p += 2;
		off = sign * (oh * 60 + om);
	} else {
		return -1; /* a zone is required */
	}
	if (*p)
		return -1;
	/* Days since the epoch (civil calendar). */
	int64_t days = 0;
	for (int yy = 1970; yy < y; yy++)
		days += leap(yy) ? 366 : 365;
	for (int m = 1; m < mo; m++)
		days += mdays[m - 1] + (m == 2 && leap(y));
	days += d - 1;
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - (int64_t)off * 60;
	*unix_ms = secs * 1000 + ms;
	return 0;
}
