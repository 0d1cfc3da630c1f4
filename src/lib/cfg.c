#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_yaml.h"
#include "strbuf.h"

extern char **environ;

static void *slot(const cfg_option *o, void *settings)
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
	static const unit units[] = {{"k", 1024},     {"K", 1024},      {"KB", 1024},
	                             {"KiB", 1024},   {"kB", 1024},     {"M", 1048576},
	                             {"MB", 1048576}, {"MiB", 1048576}, {NULL, 0}};
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

static void list_free(cfg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void list_push(cfg_list *l, const char *s, size_t len)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = xstrndup(s, len);
}

/* Splits comma-separated text, trimming blanks; empty items are dropped. */
static void list_split(cfg_list *l, const char *s)
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
			list_push(l, b, len);
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

static void map_set(cfg_map *m, const char *key, const char *value)
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
	list_split(&items, s);
	int rc = 0;
	for (size_t i = 0; i < items.n && rc == 0; i++) {
		char *eq = strchr(items.v[i], '=');
		if (!eq || eq == items.v[i]) {
			rc = -1;
		} else {
			*eq = '\0';
			map_set(m, items.v[i], eq + 1);
		}
	}
	list_free(&items);
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
	void *p = slot(o, settings);
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
			list_split(&l, value);
		if (o->check && o->check(&l, err) < 0) {
			err_prefix(err, "%s: %s", origin, o->name);
			list_free(&l);
			return -1;
		}
		list_free(p);
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
			err_set(err, "%s: %s: '%s' is not a size (bytes, or a number with k or M)",
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

static char *env_name(const cfg_table *t, const cfg_option *o)
{
	char *s = xasprintf("%s_%s", t->env_prefix, o->name);
	for (char *p = s; *p; p++)
		*p = (*p == '-' || *p == '.') ? '_' : (char)toupper((unsigned char)*p);
	return s;
}

static const char *env_lookup(char **envp, const char *name)
{
	size_t len = strlen(name);
	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

/* The CFG_MAP option whose name is a dotted prefix of `key` (the longest), or NULL. */
static const cfg_option *map_of(const cfg_table *t, const char *key)
{
	const cfg_option *best = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const cfg_option *o = &t->options[i];
		size_t len = strlen(o->name);
		if (o->type == CFG_MAP && strncmp(key, o->name, len) == 0 && key[len] == '.' &&
		    key[len + 1] && (!best || len > strlen(best->name)))
			best = o;
	}
	return best;
}

/* The entry of t->unsupported that is `key` or holds it, or NULL. */
static const char *unsupported_of(const cfg_table *t, const char *key)
{
	for (const char *const *u = t->unsupported; u && *u; u++) {
		size_t len = strlen(*u);
		if (strncmp(key, *u, len) == 0 && (key[len] == '\0' || key[len] == '.'))
			return *u;
	}
	return NULL;
}

static int apply_map_entry(const cfg_option *o, void *settings, const cfg_entry *e,
                           const char *origin, char **err)
{
	const char *sub = e->key + strlen(o->name) + 1;
	if (e->is_sequence) {
		err_set(err, "%s: %s: '%s' must be a plain value, not a list", origin, o->name,
		        sub);
		return -1;
	}
	cfg_map *m = slot(o, settings);
	map_set(m, sub, e->values[0] ? e->values[0] : "");
	if (o->check && o->check(m, err) < 0) {
		err_prefix(err, "%s: %s", origin, o->name);
		return -1;
	}
	return 0;
}

static int apply_entry(const cfg_table *t, void *settings, const cfg_entry *e, const char *file,
                       char **err)
{
	const cfg_option *o = cfg_find(t, e->key);
	const cfg_option *map = o ? NULL : map_of(t, e->key);
	const char *unsupported = o || map ? NULL : unsupported_of(t, e->key);
	char *origin = xasprintf("%s:%d", file, e->line);
	int rc = -1;
	if (map) {
		rc = apply_map_entry(map, settings, e, origin, err);
	} else if (unsupported) {
		err_set(err, "%s: '%s' is not supported by tandem (yet)", origin, unsupported);
	} else if (!o || (t->config_flag && strcmp(o->name, t->config_flag) == 0)) {
		err_set(err, "%s: unknown key '%s'", origin, e->key);
	} else if (o->type == CFG_MAP && (e->is_sequence || e->values[0])) {
		err_set(err, "%s: %s: a mapping of names to values is expected", origin, o->name);
	} else if (e->is_sequence && o->type != CFG_LIST) {
		err_set(err, "%s: %s: a single value is expected, not a list", origin, o->name);
	} else if (e->is_sequence) {
		cfg_list l = {0, NULL};
		for (size_t i = 0; i < e->nvalues; i++)
			list_push(&l, e->values[i], strlen(e->values[i]));
		if (o->check && o->check(&l, err) < 0) {
			err_prefix(err, "%s: %s", origin, o->name);
			list_free(&l);
		} else {
			list_free(slot(o, settings));
			*(cfg_list *)slot(o, settings) = l;
			rc = 0;
		}
	} else {
		/* `key:` with no value (YAML null) means the option's default. */
		const char *v = e->values[0] ? e->values[0] : o->def;
		rc = cfg_set_text(o, settings, v, origin, err);
	}
	free(origin);
	return rc;
}

/* A mapping in the file: under a map option it is an error (values are plain), and an
 * unsupported section is reported where it starts, even when empty. */
static int check_section(const cfg_table *t, const cfg_section *sec, const char *file, char **err)
{
	const cfg_option *o = cfg_find(t, sec->key);
	if (o && o->type == CFG_MAP)
		return 0;
	const cfg_option *map = map_of(t, sec->key);
	if (map) {
		err_set(err, "%s:%d: %s: '%s' must be a plain value, not a mapping", file,
		        sec->line, map->name, sec->key + strlen(map->name) + 1);
		return -1;
	}
	const char *u = o ? NULL : unsupported_of(t, sec->key);
	if (u) {
		err_set(err, "%s:%d: '%s' is not supported by tandem (yet)", file, sec->line, u);
		return -1;
	}
	return 0;
}

static int load_file(const cfg_table *t, void *settings, const char *path, char **err)
{
	cfg_doc doc;
	if (cfg_yaml_read_file_ex(path, t->list_item_pairs, &doc, err) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < doc.nsections && rc == 0; i++)
		rc = check_section(t, &doc.sections[i], path, err);
	for (size_t i = 0; i < doc.n && rc == 0; i++)
		rc = apply_entry(t, settings, &doc.entries[i], path, err);
	cfg_doc_free(&doc);
	return rc;
}

/* Splits "--name=value" / "--name value"; returns the option or NULL (error set). */
static const cfg_option *flag_option(const cfg_table *t, const char *arg, char **name_out,
                                     const char **inline_value, char **err)
{
	if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
		err_set(err, "unexpected argument '%s' (options are --name value; see --help)",
		        arg);
		return NULL;
	}
	const char *name = arg + 2;
	const char *eq = strchr(name, '=');
	*name_out = eq ? xstrndup(name, (size_t)(eq - name)) : xstrdup(name);
	*inline_value = eq ? eq + 1 : NULL;
	const cfg_option *o = cfg_find(t, *name_out);
	if (!o)
		err_set(err, "unknown option '--%s' (see --help)", *name_out);
	return o;
}

int cfg_load(const cfg_table *t, void *settings, int argc, char **argv, char **envp, char **err)
{
	if (!envp)
		envp = environ;
	for (size_t i = 0; i < t->n; i++) {
		const cfg_option *o = &t->options[i];
		if (o->def && cfg_set_text(o, settings, o->def, "default", err) < 0)
			return -1;
	}

	/* The file comes first, so find it before anything else. */
	const char *file = NULL;
	int positional = 0; /* argv index of the file given as an argument, 0 for none */
	if (t->config_flag) {
		const cfg_option *co = cfg_find(t, t->config_flag);
		char *ename = env_name(t, co);
		file = env_lookup(envp, ename);
		free(ename);
		size_t flen = strlen(t->config_flag);
		bool flagged = false;
		for (int i = 1; i < argc; i++) {
			const char *a = argv[i];
			if (strncmp(a, "--", 2) == 0 && strncmp(a + 2, t->config_flag, flen) == 0) {
				if (a[2 + flen] == '=') {
					file = a + 3 + flen;
					flagged = true;
				} else if (a[2 + flen] == '\0' && i + 1 < argc) {
					file = argv[++i];
					flagged = true;
				}
			} else if (t->config_positional && strncmp(a, "--", 2) == 0) {
				/* Skip the flag's value, unless it is a switch or has it inline. */
				char *name = NULL;
				const char *inl;
				char *ignored = NULL;
				const cfg_option *fo = flag_option(t, a, &name, &inl, &ignored);
				free(name);
				free(ignored);
				if (!inl && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0 &&
				    !(fo && fo->type == CFG_BOOL && argv[i + 1][0] == '-'))
					i++;
			} else if (t->config_positional) {
				if (positional) {
					err_set(
					    err,
					    "unexpected argument '%s' (only one configuration file "
					    "is taken)",
					    a);
					return -1;
				}
				positional = i;
			}
		}
		if (positional && flagged) {
			err_set(err, "the configuration file is given twice: '%s' and --%s",
			        argv[positional], t->config_flag);
			return -1;
		}
		if (positional)
			file = argv[positional];
		if (file) {
			if (cfg_set_text(co, settings, file, "config", err) < 0)
				return -1;
			if (load_file(t, settings, file, err) < 0)
				return -1;
		}
	}

	for (size_t i = 0; i < t->n; i++) {
		const cfg_option *o = &t->options[i];
		char *ename = env_name(t, o);
		const char *v = env_lookup(envp, ename);
		int rc = 0;
		if (v && o->type != CFG_MAP &&
		    !(t->config_flag && strcmp(o->name, t->config_flag) == 0)) {
			char *origin = xasprintf("environment %s", ename);
			rc = cfg_set_text(o, settings, v, origin, err);
			free(origin);
		}
		free(ename);
		if (rc < 0)
			return -1;
	}

	/* Repeated list flags add up; the first one replaces what the file or environment said. */
	bool *seen = xcalloc(t->n, sizeof *seen);
	int rc = 0;
	for (int i = 1; i < argc && rc == 0; i++) {
		if (i == positional)
			continue;
		char *name = NULL;
		const char *value;
		const cfg_option *o = flag_option(t, argv[i], &name, &value, err);
		if (!o) {
			rc = -1;
		} else if (!value && o->type == CFG_BOOL &&
		           (i + 1 >= argc || argv[i + 1][0] == '-')) {
			value = "true";
		} else if (!value && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
			err_set(err, "option '--%s' needs a value", name);
			rc = -1;
		} else if (!value) {
			value = argv[++i];
		}
		if (rc == 0) {
			char *origin = xasprintf("option --%s", name);
			size_t idx = (size_t)(o - t->options);
			if (o->type == CFG_LIST && seen[idx]) {
				cfg_list *l = slot(o, settings);
				cfg_list extra = {0, NULL};
				list_split(&extra, value);
				for (size_t k = 0; k < extra.n; k++)
					list_push(l, extra.v[k], strlen(extra.v[k]));
				list_free(&extra);
				if (o->check && o->check(l, err) < 0) {
					err_prefix(err, "%s", origin);
					rc = -1;
				}
			} else if (!(t->config_flag && strcmp(o->name, t->config_flag) == 0)) {
				rc = cfg_set_text(o, settings, value, origin, err);
			}
			seen[idx] = true;
			free(origin);
		}
		free(name);
	}
	free(seen);
	return rc;
}

void cfg_free(const cfg_table *t, void *settings)
{
	for (size_t i = 0; i < t->n; i++) {
		const cfg_option *o = &t->options[i];
		if (o->type == CFG_STRING || o->type == CFG_SECRET) {
			free(*(char **)slot(o, settings));
			*(char **)slot(o, settings) = NULL;
		} else if (o->type == CFG_LIST) {
			list_free(slot(o, settings));
		} else if (o->type == CFG_MAP) {
			map_free(slot(o, settings));
		}
	}
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

void cfg_print_help(const cfg_table *t, FILE *out)
{
	for (size_t i = 0; i < t->n; i++) {
		const cfg_option *o = &t->options[i];
		char *flag = xasprintf("--%s %s", o->name, o->metavar ? o->metavar : "VALUE");
		char *env = env_name(t, o);
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
