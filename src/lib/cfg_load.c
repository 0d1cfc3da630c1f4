/* Loading of settings (see cfg.h): defaults, the YAML file, the environment, the command line,
 * in this order, each over the one before. */
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_priv.h"
#include "cfg_yaml.h"
#include "log.h"
#include "secret_file.h"

extern char **environ;

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
	cfg_map *m = cfg_slot(o, settings);
	cfg_map_set(m, sub, e->values[0] ? e->values[0] : "");
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
			cfg_list_push(&l, e->values[i], strlen(e->values[i]));
		if (o->check && o->check(&l, err) < 0) {
			err_prefix(err, "%s: %s", origin, o->name);
			cfg_list_free(&l);
		} else {
			cfg_list_free(cfg_slot(o, settings));
			*(cfg_list *)cfg_slot(o, settings) = l;
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

/* Whether `v` carries a password: a conninfo's password=, a URI's user:password@. */
static bool value_has_password(const char *v)
{
	if (strcasestr(v, "password="))
		return true;
	const char *auth = strstr(v, "://");
	if (!auth)
		return false;
	auth += 3;
	size_t len = strcspn(auth, "/?#");
	const char *at = memchr(auth, '@', len);
	return at && memchr(auth, ':', (size_t)(at - auth));
}

/* Whether the file sets a password (a CFG_SECRET option, or one inside a value). */
static bool holds_password(const cfg_table *t, const cfg_doc *doc)
{
	for (size_t i = 0; i < doc->n; i++) {
		const cfg_entry *e = &doc->entries[i];
		const cfg_option *o = cfg_find(t, e->key);
		for (size_t k = 0; k < e->nvalues; k++) {
			if (e->values[k] && ((o && o->type == CFG_SECRET && e->values[k][0]) ||
			                     value_has_password(e->values[k])))
				return true;
		}
	}
	return false;
}

static int load_file(const cfg_table *t, void *settings, const char *path, char **err)
{
	cfg_doc doc;
	if (cfg_yaml_read_file_ex(path, t->list_item_pairs, &doc, err) < 0)
		return -1;
	/* Said at every start (and reload) until it is fixed; not refused, as the file is also
	 * the place for everything else and some sites keep it readable on purpose. */
	if (secret_file_world_readable(path) && holds_password(t, &doc))
		log_warning("%s holds passwords and every user can read it: chmod o-rwx %s (or "
		            "move the passwords to the environment)",
		            path, path);
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

static int load_defaults(const cfg_table *t, void *settings, char **err)
{
	for (size_t i = 0; i < t->n; i++) {
		const cfg_option *o = &t->options[i];
		if (o->def && cfg_set_text(o, settings, o->def, "default", err) < 0)
			return -1;
	}
	return 0;
}

/* Whether the flag argv[i] takes the next argument as its value (it is not a switch and does
 * not have the value inline). */
static bool flag_takes_next(const cfg_table *t, int argc, char **argv, int i)
{
	char *name = NULL;
	const char *inl;
	char *ignored = NULL;
	const cfg_option *fo = flag_option(t, argv[i], &name, &inl, &ignored);
	free(name);
	free(ignored);
	return !inl && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0 &&
	       !(fo && fo->type == CFG_BOOL && argv[i + 1][0] == '-');
}

/* The configuration file: from the environment, then --config_flag or (config_positional) the
 * one argument that is not an option; *positional is that argument's index (0: none). */
static int find_file(const cfg_table *t, int argc, char **argv, char **envp, const char **file,
                     int *positional, char **err)
{
	char *ename = cfg_env_name(t, cfg_find(t, t->config_flag));
	*file = env_lookup(envp, ename);
	free(ename);
	size_t flen = strlen(t->config_flag);
	bool flagged = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) == 0 && strncmp(a + 2, t->config_flag, flen) == 0) {
			if (a[2 + flen] == '=') {
				*file = a + 3 + flen;
				flagged = true;
			} else if (a[2 + flen] == '\0' && i + 1 < argc) {
				*file = argv[++i];
				flagged = true;
			}
		} else if (t->config_positional && strncmp(a, "--", 2) == 0) {
			if (flag_takes_next(t, argc, argv, i))
				i++;
		} else if (t->config_positional) {
			if (*positional) {
				err_set(err,
				        "unexpected argument '%s' (only one configuration file is "
				        "taken)",
				        a);
				return -1;
			}
			*positional = i;
		}
	}
	if (*positional && flagged) {
		err_set(err, "the configuration file is given twice: '%s' and --%s",
		        argv[*positional], t->config_flag);
		return -1;
	}
	if (*positional)
		*file = argv[*positional];
	return 0;
}

static int load_environment(const cfg_table *t, void *settings, char **envp, char **err)
{
	for (size_t i = 0; i < t->n; i++) {
		const cfg_option *o = &t->options[i];
		char *ename = cfg_env_name(t, o);
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
	return 0;
}

/* A list flag given again: its items are added to what the first one set. */
static int add_to_list(const cfg_option *o, void *settings, const char *value, const char *origin,
                       char **err)
{
	cfg_list *l = cfg_slot(o, settings);
	cfg_list extra = {0, NULL};
	cfg_list_split(&extra, value);
	for (size_t k = 0; k < extra.n; k++)
		cfg_list_push(l, extra.v[k], strlen(extra.v[k]));
	cfg_list_free(&extra);
	if (o->check && o->check(l, err) < 0) {
		err_prefix(err, "%s", origin);
		return -1;
	}
	return 0;
}

/* The command line but the file. Repeated list flags add up; the first one replaces what the
 * file or environment said. */
static int load_flags(const cfg_table *t, void *settings, int argc, char **argv, int positional,
                      char **err)
{
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
			if (o->type == CFG_LIST && seen[idx])
				rc = add_to_list(o, settings, value, origin, err);
			else if (!(t->config_flag && strcmp(o->name, t->config_flag) == 0))
				rc = cfg_set_text(o, settings, value, origin, err);
			seen[idx] = true;
			free(origin);
		}
		free(name);
	}
	free(seen);
	return rc;
}

int cfg_load(const cfg_table *t, void *settings, int argc, char **argv, char **envp, char **err)
{
	if (!envp)
		envp = environ;
	if (load_defaults(t, settings, err) < 0)
		return -1;
	/* The file comes first, so find it before anything else. */
	int positional = 0;
	if (t->config_flag) {
		const char *file = NULL;
		if (find_file(t, argc, argv, envp, &file, &positional, err) < 0)
			return -1;
		if (file &&
		    (cfg_set_text(cfg_find(t, t->config_flag), settings, file, "config", err) < 0 ||
		     load_file(t, settings, file, err) < 0))
			return -1;
	}
	if (load_environment(t, settings, envp, err) < 0)
		return -1;
	return load_flags(t, settings, argc, argv, positional, err);
}
