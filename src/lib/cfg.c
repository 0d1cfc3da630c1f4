/* Settings described by a table (see cfg.h): parsing and formatting of the values, lists, maps
 * and help; where the values come from (defaults, file, environment, flags) is cfg_load.c. */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_priv.h"
#include "strbuf.h"

void *cfg_slot(const cfg_option *o, void *settings)
{
	return (char *)settings + o->offset;
}

static const void *cslot(const cfg_option *o, const void *settings)
{
	return (const char *)settings + o->offset;
}

/* Parses a decimal number followed by an optional unit from `units`; returns -1 on bad input. */
typedef struct unit {
	const char *name;
	long long factor;
} unit;

static int parse_with_units(const char *s, const unit *units, long long bare_factor, long long *out)
{
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno)
		return -1;
	long long factor = bare_factor;
	if (*end) {
		factor = 0;
		for (const unit *u = units; u->name; u++) {
			if (strcmp(end, u->name) == 0) {
				factor = u->factor;
				break;
			}
		}
		if (!factor)
			return -1;
	}
	if (v > LLONG_MAX / factor)
		return -1;
	*out = v * factor;
	return 0;
}

int cfg_parse_duration_ms(const char *s, long long *out)
{
	static const unit units[] = {{"ms", 1},      {"s", 1000},    {"m", 60000},
	                             {"min", 60000}, {"h", 3600000}, {NULL, 0}};
	return parse_with_units(s, units, 1000, out);
}

int cfg_parse_size(const char *s, long long *out)
{
	static const unit units[] = {{"k", 1024},        {"K", 1024},         {"KB", 1024},
	                             {"KiB", 1024},      {"kB", 1024},        {"M", 1048576},
	                             {"MB", 1048576},    {"MiB", 1048576},    {"G", 1073741824},
	                             {"GB", 1073741824}, {"GiB", 1073741824}, {NULL, 0}};
	return parse_with_units(s, units, 1, out);
}

int cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

void cfg_list_free(cfg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void cfg_list_push(cfg_list *l, const char *s, size_t len)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = xstrndup(s, len);
}

/* Splits comma-separated text, trimming blanks; empty items are dropped. */
void cfg_list_split(cfg_list *l, const char *s)
{
	while (*s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *b = s;
		while (len && isspace((unsigned char)*b)) {
			b++;
			len--;
		}
		while (len && isspace((unsigned char)b[len - 1]))
			len--;
		if (len)
			cfg_list_push(l, b, len);
		if (!end)
			break;
		s = end + 1;
	}
}

static void map_free(cfg_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->values[i]);
	}
	free(m->keys);
	free(m->values);
	m->keys = m->values = NULL;
	m->n = 0;
}

void cfg_map_set(cfg_map *m, const char *key, const char *value)
{
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->keys[i], key) == 0) {
			free(m->values[i]);
			m->values[i] = xstrdup(value);
			return;
		}
	}
	m->keys = xrealloc(m->keys, (m->n + 1) * sizeof *m->keys);
	m->values = xrealloc(m->values, (m->n + 1) * sizeof *m->values);
	m->keys[m->n] = xstrdup(key);
	m->values[m->n++] = xstrdup(value);
}

const char *cfg_map_get(const cfg_map *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->keys[i], key) == 0)
			return m->values[i];
	return NULL;
}

/* "k=v,k2=v2" into `m`; an item without '=' or with an empty key is an error. */
static int map_parse_text(cfg_map *m, const char *s)
{
	cfg_list items = {0, NULL};
	cfg_list_split(&items, s);
	int rc = 0;
	for (size_t i = 0; i < items.n && rc == 0; i++) {
		char *eq = strchr(items.v[i], '=');
		if (!eq || eq == items.v[i]) {
			rc = -1;
		} else {
			*eq = '\0';
			cfg_map_set(m, items.v[i], eq + 1);
		}
	}
	cfg_list_free(&items);
	return rc;
}

static int check_bounds(const cfg_option *o, long long v, const char *value, const char *origin,
                        char **err)
{
	if ((o->min || o->max) && (v < o->min || v > o->max)) {
		const char *suffix = o->type == CFG_DURATION ? " ms"
		                     : o->type == CFG_SIZE   ? " bytes"
		                                             : "";
		err_set(err, "%s: %s: '%s' is out of range (%lld%s to %lld%s)", origin, o->name,
		        value, o->min, suffix, o->max, suffix);
		return -1;
	}
	return 0;
}

int cfg_set_text(const cfg_option *o, void *settings, const char *value, const char *origin,
                 char **err)
{
	void *p = cfg_slot(o, settings);
	long long num = 0;
	bool b;
	switch (o->type) {
	case CFG_STRING:
	case CFG_SECRET: {
		char *s = value ? xstrdup(value) : NULL;
		if (s && o->check && o->check(s, err) < 0) {
			err_prefix(err, "%s: %s", origin, o->name);
			free(s);
			return -1;
		}
		free(*(char **)p);
		*(char **)p = s;
		return 0;
	}
	case CFG_LIST: {
		cfg_list l = {0, NULL};
		if (value)
			cfg_list_split(&l, value);
		if (o->check && o->check(&l, err) < 0) {
			err_prefix(err, "%s: %s", origin, o->name);
			cfg_list_free(&l);
			return -1;
		}
		cfg_list_free(p);
		*(cfg_list *)p = l;
		return 0;
	}
	case CFG_MAP: {
		cfg_map m = {0, NULL, NULL};
		if (value && map_parse_text(&m, value) < 0) {
			err_set(err, "%s: %s: '%s' is not a list of name=value", origin, o->name,
			        value);
			map_free(&m);
			return -1;
		}
		if (o->check && o->check(&m, err) < 0) {
			err_prefix(err, "%s: %s", origin, o->name);
			map_free(&m);
			return -1;
		}
		map_free(p);
		*(cfg_map *)p = m;
		return 0;
	}
	case CFG_INT:
		if (!value || (*value != '-' && !isdigit((unsigned char)*value))) {
			err_set(err, "%s: %s: '%s' is not a whole number", origin, o->name,
			        value ? value : "");
			return -1;
		} else {
			errno = 0;
			char *end;
			num = strtoll(value, &end, 10);
			if (errno || *end) {
				err_set(err, "%s: %s: '%s' is not a whole number", origin, o->name,
				        value);
				return -1;
			}
		}
		break;
	case CFG_DURATION:
		if (!value || cfg_parse_duration_ms(value, &num) < 0) {
			err_set(
			    err,
			    "%s: %s: '%s' is not a duration (a number with ms, s, m or h; a bare "
			    "number is seconds)",
			    origin, o->name, value ? value : "");
			return -1;
		}
		break;
	case CFG_SIZE:
		if (!value || cfg_parse_size(value, &num) < 0) {
			err_set(err,
			        "%s: %s: '%s' is not a size (bytes, or a number with k, M or G)",
			        origin, o->name, value ? value : "");
			return -1;
		}
		break;
	case CFG_BOOL:
		if (!value || cfg_parse_bool(value, &b) < 0) {
			err_set(err, "%s: %s: '%s' is not true or false", origin, o->name,
			        value ? value : "");
			return -1;
		}
		*(bool *)p = b;
		return 0;
	}
	if (check_bounds(o, num, value, origin, err) < 0)
		return -1;
	if (o->check && o->check(&num, err) < 0) {
		err_prefix(err, "%s: %s", origin, o->name);
		return -1;
	}
	*(long long *)p = num;
	return 0;
}

const cfg_option *cfg_find(const cfg_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->options[i].name, name) == 0)
			return &t->options[i];
	return NULL;
}

void cfg_free(const cfg_table *t, void *settings)
{
	for (size_t i = 0; i < t->n; i++) {
		const cfg_option *o = &t->options[i];
		if (o->type == CFG_STRING || o->type == CFG_SECRET) {
			free(*(char **)cfg_slot(o, settings));
			*(char **)cfg_slot(o, settings) = NULL;
		} else if (o->type == CFG_LIST) {
			cfg_list_free(cfg_slot(o, settings));
		} else if (o->type == CFG_MAP) {
			map_free(cfg_slot(o, settings));
		}
	}
}

char *cfg_env_name(const cfg_table *t, const cfg_option *o)
{
	char *s = xasprintf("%s_%s", t->env_prefix, o->name);
	for (char *p = s; *p; p++)
		*p = (*p == '-' || *p == '.') ? '_' : (char)toupper((unsigned char)*p);
	return s;
}

static char *format_ms(long long ms)
{
	if (ms % 3600000 == 0 && ms)
		return xasprintf("%lldh", ms / 3600000);
	if (ms % 60000 == 0 && ms)
		return xasprintf("%lldm", ms / 60000);
	if (ms % 1000 == 0)
		return xasprintf("%llds", ms / 1000);
	return xasprintf("%lldms", ms);
}

char *cfg_format(const cfg_option *o, const void *settings)
{
	const void *p = cslot(o, settings);
	switch (o->type) {
	case CFG_STRING:
		return xstrdup(*(char *const *)p ? *(char *const *)p : "");
	case CFG_SECRET:
		return xstrdup(*(char *const *)p && **(char *const *)p ? "********" : "");
	case CFG_MAP: {
		const cfg_map *m = p;
		strbuf sb = STRBUF_INIT;
		for (size_t i = 0; i < m->n; i++)
			sb_printf(&sb, "%s%s=%s", i ? "," : "", m->keys[i], m->values[i]);
		return sb_steal(&sb);
	}
	case CFG_LIST: {
		const cfg_list *l = p;
		strbuf sb = STRBUF_INIT;
		for (size_t i = 0; i < l->n; i++) {
			if (i)
				sb_puts(&sb, ",");
			sb_puts(&sb, l->v[i]);
		}
		return sb_steal(&sb);
	}
	case CFG_INT:
	case CFG_SIZE:
		return xasprintf("%lld", *(const long long *)p);
	case CFG_DURATION:
		return format_ms(*(const long long *)p);
	case CFG_BOOL:
		return xstrdup(*(const bool *)p ? "true" : "false");
	}
	return xstrdup("");
}

bool cfg_differs(const cfg_option *o, const void *a, const void *b)
{
	if (o->type == CFG_SECRET) {
		/* The formatted text hides the value: compare the values themselves. */
		const char *x = *(char *const *)cslot(o, a), *y = *(char *const *)cslot(o, b);
		return strcmp(x ? x : "", y ? y : "") != 0;
	}
	char *x = cfg_format(o, a), *y = cfg_format(o, b);
	bool d = strcmp(x, y) != 0;
	free(x);
	free(y);
	return d;
}

static size_t value_size(cfg_type t)
{
	switch (t) {
	case CFG_STRING:
	case CFG_SECRET:
		return sizeof(char *);
	case CFG_LIST:
		return sizeof(cfg_list);
	case CFG_MAP:
		return sizeof(cfg_map);
	case CFG_INT:
	case CFG_DURATION:
	case CFG_SIZE:
		return sizeof(long long);
	case CFG_BOOL:
		return sizeof(bool);
	}
	return 0;
}

void cfg_swap_value(const cfg_option *o, void *a, void *b)
{
	unsigned char tmp[sizeof(cfg_map) > sizeof(cfg_list) ? sizeof(cfg_map) : sizeof(cfg_list)];
	size_t n = value_size(o->type);
	unsigned char *x = (unsigned char *)a + o->offset, *y = (unsigned char *)b + o->offset;
	memcpy(tmp, x, n);
	memcpy(x, y, n);
	memcpy(y, tmp, n);
}

void cfg_print_help(const cfg_table *t, FILE *out)
{
	for (size_t i = 0; i < t->n; i++) {
		const cfg_option *o = &t->options[i];
		char *flag = xasprintf("--%s %s", o->name, o->metavar ? o->metavar : "VALUE");
		char *env = cfg_env_name(t, o);
		fprintf(out, "  %-30s %s\n", flag, o->help);
		if (o->type == CFG_MAP)
			fprintf(out, "  %-30s (file only, NAME: VALUE under %s", "", o->name);
		else
			fprintf(out, "  %-30s (env %s", "", env);
		if (o->def && *o->def)
			fprintf(out, "; default %s", o->def);
		if (!o->reloadable)
			fprintf(out, "; needs a restart to change");
		fprintf(out, ")\n");
		free(flag);
		free(env);
	}
}
