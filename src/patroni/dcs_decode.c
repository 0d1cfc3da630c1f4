/* Helpers shared by the decoders of the DCS codec (dcs_codec.c): typed reads of JSON members in
 * Patroni's lenient way, and the checks on names and lists that bound hostile values. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dcs_codec.h"
#include "dcs_codec_priv.h"

void dcs_free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A string member of `obj`, copied; NULL when absent or not a string. */
char *dcs_get_str(const json_t *obj, const char *name)
{
	const json_t *j = json_object_get(obj, name);
	return json_is_string(j) ? xstrdup(json_string_value(j)) : NULL;
}

/* A decimal integer from a JSON integer or a string holding one (Patroni accepts both). */
bool dcs_get_int(const json_t *obj, const char *name, int64_t *out)
{
	const json_t *j = json_object_get(obj, name);
	if (json_is_integer(j)) {
		*out = (int64_t)json_integer_value(j);
		return true;
	}
	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		char *end = NULL;
		errno = 0;
		long long n = strtoll(s, &end, 10);
		if (errno || end == s || *end)
			return false;
		*out = n;
		return true;
	}
	return false;
}

bool dcs_get_lsn(const json_t *obj, const char *name, uint64_t *out)
{
	int64_t n = 0;
	if (!dcs_get_int(obj, name, &n) || n < 0)
		return false;
	*out = (uint64_t)n;
	return true;
}

/* Patroni's parse_bool: true, or a string such as "true", "on", "yes", "1". */
bool dcs_get_bool(const json_t *obj, const char *name)
{
	const json_t *j = json_object_get(obj, name);
	if (json_is_boolean(j))
		return json_is_true(j);
	if (json_is_integer(j))
		return json_integer_value(j) != 0;
	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		return !strcasecmp(s, "true") || !strcasecmp(s, "on") || !strcasecmp(s, "yes") ||
		       !strcmp(s, "1");
	}
	return false;
}

/* A name (member, standby) as tandem accepts it from the DCS: 1 to DCS_MAX_NAME bytes, no
 * control character (names reach logs, PostgreSQL's files and application_name). */
bool dcs_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > DCS_MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

bool dcs_site_ok(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	if (len == 0 || len > DCS_MAX_SITE)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

bool dcs_listed(char *const *v, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i]) == len && !memcmp(v[i], s, len))
			return true;
	return false;
}

json_t *dcs_parse(const char *value, size_t len, char **err, const char *what)
{
	json_error_t je;
	json_t *j = json_loadb(value, len, JSON_DECODE_ANY, &je);
	if (!j)
		err_set(err, "%s: not JSON: %s", what, je.text);
	return j;
}

bool dcs_has_nul(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

/* A timing in seconds: absent (0, true), 1..DCS_MAX_SECONDS, or refused (0, false). */
bool dcs_get_seconds(const json_t *obj, const char *name, int64_t *out)
{
	*out = 0;
	if (!json_object_get(obj, name))
		return true;
	int64_t n = 0;
	if (!dcs_get_int(obj, name, &n) || n < 1 || n > DCS_MAX_SECONDS)
		return false;
	*out = n;
	return true;
}

/* Splits "a,b , c" into trimmed, non-empty names, each once, at most DCS_MAX_NAMES read; names
 * that are not name_ok are left out. False when some were left out (duplicates aside). */
bool dcs_split_names(const char *s, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	const char *p = s;
	size_t read = 0;
	bool all = true;
	while (*p) {
		while (*p == ',' || *p == ' ')
			p++;
		const char *start = p;
		while (*p && *p != ',')
			p++;
		const char *end = p;
		while (end > start && end[-1] == ' ')
			end--;
		size_t len = (size_t)(end - start);
		if (len == 0 || dcs_listed(*out, *n, start, len))
			continue;
		if (++read > DCS_MAX_NAMES)
			return false;
		if (!dcs_name_ok(start, len)) {
			all = false;
			continue;
		}
		*out = xrealloc(*out, (*n + 1) * sizeof(char *));
		(*out)[(*n)++] = xstrndup(start, len);
	}
	return all;
}
