#include "birthday.h"

bool bd_is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int bd_days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m < 1 || m > 12)
		return 0;
	return m == 2 && bd_is_leap(y) ? 29 : days[m - 1];
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int bd_parse(const char *s, size_t len, bd_date *out)
{
	if (len != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > bd_days_in_month(y, m))
		return -1;
	out->year = y;
	out->month = m;
	out->day = d;
	return 0;
}

void bd_format(bd_date d, char out[11])
{
	int v[3] = {d.year, d.month, d.day};
	int w[3] = {4, 2, 2};
	int pos = 0;
	for (int f = 0; f < 3; f++) {
		int x = v[f];
		for (int i = w[f] - 1; i >= 0; i--) {
			out[pos + i] = (char)('0' + x % 10);
			x /= 10;
		}
		pos += w[f];
		if (f < 2)
			out[pos++] = '-';
	}
	out[10] = '\0';
}

/* Days from civil date: count 400-year eras from 1 March of year 0, so that the leap day is the
 * last day of the shifted year. */
int64_t bd_to_days(bd_date d)
{
	int64_t y = d.year - (d.month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;                         /* 0..399 */
	int64_t mp = (d.month + 9) % 12;                     /* March = 0 */
	int64_t doy = (153 * mp + 2) / 5 + d.day - 1;        /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
	return era * 146097 + doe - 719468;
}

bd_date bd_from_days(int64_t z)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	bd_date d;
	d.day = (int)(doy - (153 * mp + 2) / 5 + 1);
	d.month = (int)(mp < 10 ? mp + 3 : mp - 9);
	d.year = (int)(yoe + era * 400 + (d.month <= 2));
	return d;
}

static bd_date birthday_in(bd_date birth, int year)
{
	bd_date d = {year, birth.month, birth.day};
	if (birth.month == 2 && birth.day == 29 && !bd_is_leap(year))
		d.day = 28;
	return d;
}

int bd_days_until_birthday(bd_date birth, bd_date today)
{
	int64_t t = bd_to_days(today);
	int64_t next = bd_to_days(birthday_in(birth, today.year));
	if (next < t)
		next = bd_to_days(birthday_in(birth, today.year + 1));
	return (int)(next - t);
}

bool bd_valid_username(const char *s, size_t len)
{
	if (len == 0 || len > BD_MAX_USERNAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}
