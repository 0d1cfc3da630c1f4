/* The `standby_cluster` section of the DCS config (Patroni's): present and not null makes the
 * cluster a standby cluster. Its values choose where the standby leader replicates from, so every
 * one is checked; one that cannot be used leaves the cluster a standby cluster without a source
 * (the standby leader waits; nothing is promoted), never a primary one. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "dcs_codec.h"
#include "dcs_codec_priv.h"

enum { MAX_HOSTS = 16, MAX_TEXT = 4096 };

/* "h1,h2": 1..MAX_HOSTS host names or addresses (letters, digits, '.', '-', '_', ':', '[', ']'). */
static bool hosts_ok(const char *s, size_t *n)
{
	*n = 0;
	if (!*s || strlen(s) > 1024)
		return false;
	const char *p = s;
	for (;;) {
		size_t len = strcspn(p, ",");
		if (len == 0 || ++*n > MAX_HOSTS)
			return false;
		for (size_t i = 0; i < len; i++)
			if (!isalnum((unsigned char)p[i]) && !strchr(".-_:[]", p[i]))
				return false;
		if (!p[len])
			return true;
		p += len + 1;
	}
}

/* "5432" or "5432,5433": ports 1..65535, as many as the hosts or one. */
static bool ports_ok(const char *s, size_t nhosts)
{
	size_t n = 0;
	const char *p = s;
	for (;;) {
		char *end;
		if (!isdigit((unsigned char)*p))
			return false;
		long v = strtol(p, &end, 10);
		if (v < 1 || v > 65535 || (*end && *end != ','))
			return false;
		n++;
		if (!*end)
			break;
		p = end + 1;
	}
	return n == 1 || n == nhosts;
}

static bool slot_ok(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= 63 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static bool text_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAX_TEXT)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* An integer (milliseconds) or a number with one of PostgreSQL's time units. */
static char *apply_delay(const json_t *j)
{
	if (json_is_integer(j) && json_integer_value(j) >= 0 &&
	    json_integer_value(j) <= INT64_C(2147483647))
		return xasprintf("%" JSON_INTEGER_FORMAT "ms", json_integer_value(j));
	if (!json_is_string(j))
		return NULL;
	const char *s = json_string_value(j);
	size_t digits = strspn(s, "0123456789");
	if (digits == 0 || digits > 10)
		return NULL;
	const char *unit = s + digits;
	while (*unit == ' ')
		unit++;
	static const char *const units[] = {"", "ms", "s", "min", "h", "d"};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (!strcmp(unit, units[i]))
			return xasprintf("%.*s%s", (int)digits, s, *unit ? unit : "ms");
	return NULL;
}

static char *port_text(const json_t *j)
{
	if (json_is_integer(j))
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(j));
	return json_is_string(j) ? xstrdup(json_string_value(j)) : NULL;
}

void dcs_standby_clear(dcs_standby *sb)
{
	free(sb->host);
	free(sb->port);
	free(sb->primary_slot_name);
	free(sb->restore_command);
	free(sb->recovery_min_apply_delay);
	memset(sb, 0, sizeof *sb);
}

int dcs_standby_decode(const json_t *j, dcs_standby *out, char **err)
{
	memset(out, 0, sizeof *out);
	if (!j || json_is_null(j))
		return 0;
	out->present = true;
	if (!json_is_object(j)) {
		err_set(err, "config: standby_cluster is not an object: a standby cluster without "
		             "a source");
		return -1;
	}
	const char *why = NULL;
	size_t nhosts = 0;
	const json_t *host = json_object_get(j, "host");
	if (host && !(json_is_string(host) && hosts_ok(json_string_value(host), &nhosts)))
		why = "host is not a list of host names or addresses";
	else if (host)
		out->host = xstrdup(json_string_value(host));
	const json_t *port = json_object_get(j, "port");
	char *pt = port ? port_text(port) : NULL;
	if (!why && port && !(pt && ports_ok(pt, nhosts ? nhosts : 1)))
		why = "port is not a port, or a list with one per host";
	else if (pt) {
		out->port = pt;
		pt = NULL;
	}
	free(pt);
	const json_t *slot = json_object_get(j, "primary_slot_name");
	if (!why && slot && !(json_is_string(slot) && slot_ok(json_string_value(slot))))
		why = "primary_slot_name is not a replication slot name";
	else if (!why && slot)
		out->primary_slot_name = xstrdup(json_string_value(slot));
	const json_t *rc = json_object_get(j, "restore_command");
	if (!why && rc && !(json_is_string(rc) && text_ok(json_string_value(rc))))
		why = "restore_command is not one line of text";
	else if (!why && rc)
		out->restore_command = xstrdup(json_string_value(rc));
	const json_t *delay = json_object_get(j, "recovery_min_apply_delay");
	if (!why && delay && !(out->recovery_min_apply_delay = apply_delay(delay)))
		why = "recovery_min_apply_delay is not a time";
	if (!why && !out->host && !out->restore_command)
		why = "neither host nor restore_command is given";
	if (why) {
		dcs_standby_clear(out);
		out->present = true;
		err_set(err, "config: standby_cluster: %s: a standby cluster without a source",
		        why);
		return -1;
	}
	out->valid = true;
	return 0;
}
