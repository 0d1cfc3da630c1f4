#include "cron.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

typedef struct field_def {
	const char *name;
	int lo, hi;
	const char *const *names; /* names[i] is lo + i; NULL: numbers only */
	int nnames;
} field_def;

static const field_def fields[5] = {
    {"minute", 0, 59, NULL, 0},          {"hour", 0, 23, NULL, 0},
    {"day of month", 1, 31, NULL, 0},    {"month", 1, 12, month_names, 12},
    {"day of week", 0, 7, day_names, 7},
};

/* A number or a name at *p; advances *p. -1 when neither. */
static int value(const field_def *f, const char **p)
{
	const char *s = *p;
	if (isdigit((unsigned char)*s)) {
		long v = 0;
		while (isdigit((unsigned char)*s) && v < 1000)
			v = v * 10 + (*s++ - '0');
		if (isdigit((unsigned char)*s))
			return -1;
		*p = s;
		return (int)v;
	}
	for (int i = 0; i < f->nnames; i++)
		if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
			*p = s + 3;
			return f->lo + i;
		}
	return -1;
}

/* One comma-separated item: `*`, N, N-M, each optionally /STEP. */
static int item(const field_def *f, const char **p, uint64_t *bits, bool *star, char **err)
{
	int a, b, step = 1;
	bool range = false;
	if (**p == '*') {
		(*p)++;
		a = f->lo;
		b = f->hi;
		*star = true;
		range = true;
	} else {
		if ((a = value(f, p)) < 0)
			goto bad;
		b = a;
		if (**p == '-') {
			(*p)++;
			if ((b = value(f, p)) < 0)
				goto bad;
			range = true;
		}
	}
	if (**p == '/') {
		(*p)++;
		if (!isdigit((unsigned char)**p))
			goto bad;
		const char *q = *p;
		long s = 0;
		while (isdigit((unsigned char)*q) && s < 1000)
			s = s * 10 + (*q++ - '0');
		if (isdigit((unsigned char)*q) || s < 1 || s > f->hi) {
			err_set(err, "%s: a step of %ld is out of range", f->name, s);
			return -1;
		}
		*p = q;
		step = (int)s;
		if (!range)
			b = f->hi; /* N/STEP: from N to the end */
	}
	if (a < f->lo || b > f->hi || a > b) {
		err_set(err, "%s: %d-%d is outside %d-%d", f->name, a, b, f->lo, f->hi);
		return -1;
	}
	for (int v = a; v <= b; v += step)
		*bits |= UINT64_C(1) << v;
	return 0;
bad:
	err_set(err, "%s: cannot read '%s'", f->name, *p);
	return -1;
}

static int field(const field_def *f, const char *text, size_t len, uint64_t *bits, bool *star,
                 char **err)
{
	char buf[128];
	if (len >= sizeof buf) {
		err_set(err, "%s: too long", f->name);
		return -1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	const char *p = buf;
	*bits = 0;
	*star = false;
	for (;;) {
		bool s = false;
		if (item(f, &p, bits, &s, err) != 0)
			return -1;
		*star = *star || s;
		if (*p == '\0')
			return 0;
		if (*p != ',') {
			err_set(err, "%s: unexpected '%s'", f->name, p);
			return -1;
		}
		p++;
	}
}

static const struct {
	const char *name, *expansion;
} macros[] = {
    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

int cron_parse(const char *text, cron_spec *out, char **err)
{
	memset(out, 0, sizeof *out);
	while (text && isspace((unsigned char)*text))
		text++;
	if (!text || !*text || strcasecmp(text, "none") == 0) {
		out->never = true;
		return 0;
	}
	if (*text == '@') {
		for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
			if (strcasecmp(text, macros[i].name) == 0)
				return cron_parse(macros[i].expansion, out, err);
		err_set(err,
		        "'%s' is not a cron macro (@hourly, @daily, @weekly, @monthly, @yearly)",
		        text);
		return -1;
	}
	uint64_t bits[5];
	bool star[5];
	const char *p = text;
	for (int i = 0; i < 5; i++) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p) {
			err_set(
			    err,
			    "'%s': 5 fields (minute hour day-of-month month day-of-week), %d given",
			    text, i);
			return -1;
		}
		size_t len = 0;
		while (p[len] && !isspace((unsigned char)p[len]))
			len++;
		if (field(&fields[i], p, len, &bits[i], &star[i], err) != 0)
			return -1;
		p += len;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p) {
		err_set(err, "'%s': more than 5 fields", text);
		return -1;
	}
	out->minute = bits[0];
	out->hour = (uint32_t)bits[1];
	out->dom = (uint32_t)bits[2];
	out->month = (uint16_t)bits[3];
	out->dow = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday */
	out->dom_star = star[2];
	out->dow_star = star[4];
	return 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian), and back. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static bool day_matches(const cron_spec *s, int64_t days)
{
	int y, m, d;
	civil_from_days(days, &y, &m, &d);
	if (!(s->month >> m & 1))
		return false;
	int wd = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
	bool dom = s->dom >> d & 1, dow = s->dow >> wd & 1;
	if (s->dom_star || s->dow_star)
		return dom && dow;
	return dom || dow;
}

/* A wall-clock minute (minutes since 1970-01-01 00:00, no zone). */
static bool wall_matches(const cron_spec *s, int64_t w)
{
	int64_t days = floor_div(w, 1440);
	int mod = (int)(w - days * 1440);
	return (s->hour >> (mod / 60) & 1) && (s->minute >> (mod % 60) & 1) && day_matches(s, days);
}

bool cron_matches(const cron_spec *spec, int year, int month, int day, int hour, int minute)
{
	if (month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 ||
	    minute > 59)
		return false;
	int64_t w = days_from_civil(year, month, day) * 1440 + hour * 60 + minute;
	return wall_matches(spec, w);
}

/* The wall-clock minute of instant t (on a minute). */
static int wall(int64_t t, cron_offset_fn off, void *ud, int64_t *w)
{
	int32_t o;
	if (off(t, ud, &o) != 0)
		return -1;
	*w = floor_div(t + o, 60);
	return 0;
}

/* Whether wall minute w at instant t was already shown by an earlier instant (clocks went back
 * within the last three hours). */
static int repeated(int64_t t, int64_t w, cron_offset_fn off, void *ud, bool *rep)
{
	int32_t now, before;
	*rep = false;
	if (off(t, ud, &now) != 0 || off(t - 3 * 3600, ud, &before) != 0)
		return -1;
	if (before <= now)
		return 0;
	int64_t w2;
	if (wall(t - (before - now), off, ud, &w2) != 0)
		return -1;
	*rep = w2 == w;
	return 0;
}

int cron_next(const cron_spec *spec, int64_t after_s, cron_offset_fn off, void *ud, int64_t *next)
{
	if (spec->never || !spec->minute || !spec->hour || !spec->dom || !spec->month || !spec->dow)
		return 1;
	int64_t t = floor_div(after_s, 60) * 60 + 60;
	int64_t end = t + (int64_t)CRON_HORIZON_DAYS * 86400;
	while (t < end) {
		int64_t w, wp;
		if (wall(t, off, ud, &w) != 0 || wall(t - 60, off, ud, &wp) != 0)
			return -1;
		/* Clocks went forward between t - 60 and t: a skipped wall minute that matches
		 * fires now (the gap is at most two days: Samoa skipped one). */
		for (int64_t g = wp + 1; g < w && g - wp <= 2 * 1440; g++)
			if (wall_matches(spec, g)) {
				*next = t;
				return 0;
			}
		int64_t days = floor_div(w, 1440);
		int mod = (int)(w - days * 1440);
		if (!day_matches(spec, days) || !(spec->hour >> (mod / 60) & 1)) {
			t += (60 - mod % 60) * 60; /* to the next wall hour */
			continue;
		}
		if (spec->minute >> (mod % 60) & 1) {
			bool rep;
			if (repeated(t, w, off, ud, &rep) != 0)
				return -1;
			if (!rep) {
				*next = t;
				return 0;
			}
		}
		t += 60;
	}
	return 1;
}
