/* Configuration from one table. Each program describes every option once (name, type, default,
 * bounds, whether a reload may change it, help line, where it lives in the program's settings
 * struct); parsing, defaults, --help and the printed effective configuration all come from that
 * table. Values come from, in rising precedence: the defaults, a YAML file, environment variables
 * (PREFIX_NAME, upper case, '-' and '.' as '_'), and command-line flags (--name value). Errors name
 * where the bad value came from: file and line, environment variable, or flag. */
#ifndef TANDEM_CFG_H
#define TANDEM_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

typedef enum cfg_type {
	CFG_STRING,   /* char *, NULL when unset */
	CFG_LIST,     /* cfg_list: YAML sequence, or comma-separated text */
	CFG_INT,      /* long long */
	CFG_DURATION, /* long long milliseconds: "250ms", "10s", "2m", "1h"; a bare number is
	                 seconds */
	CFG_SIZE,     /* long long bytes: "512", "4k", "4KiB", "1M", "1GiB" */
	CFG_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
	CFG_SECRET,   /* char *, like CFG_STRING, but cfg_format() shows "********" when set */
	CFG_MAP,      /* cfg_map: free-form subkeys under the option's name ("tags" holds
	                 "tags.nofailover: true"), in file order, values as text. The YAML value
	                 must be a mapping of plain values: a list or a nested mapping under an
	                 entry is an error. A default or a flag is "k=v,k2=v2"; maps are not read
	                 from the environment. A key seen twice keeps its first place and the
	                 last value. */
} cfg_type;

typedef struct cfg_list {
	size_t n;
	char **v;
} cfg_list;

typedef struct cfg_map {
	size_t n;
	char **keys;
	char **values;
} cfg_map;

/* The value of `key` in `m`, or NULL when absent. */
const char *cfg_map_get(const cfg_map *m, const char *key);

typedef struct cfg_option {
	const char *name; /* flag and file key; dots stand for nesting in the YAML file */
	cfg_type type;
	const char *def;    /* default as text, NULL for none */
	long long min, max; /* bounds for numbers (milliseconds, bytes); both 0: unbounded */
	bool reloadable;
	size_t offset; /* offsetof() the value in the settings struct */
	const char *metavar;
	const char *help;
	/* Optional extra check of a value (already converted for strings and lists). */
	int (*check)(const void *value, char **err);
} cfg_option;

typedef struct cfg_table {
	const cfg_option *options;
	size_t n;
	const char *env_prefix;  /* "HELLOD" */
	const char *config_flag; /* the option naming the file, e.g. "config"; NULL for none */
	/* With config_flag set: one argument that is not a flag names the file too, as in
	 * `tandemd CONFIG.yml` (at most one; the flag and the argument together are an error). */
	bool config_positional;
	/* NULL-terminated file keys (and, with what is under them) that the program knows but
	 * does not support yet: the file may not use them, and the error says so. */
	const char *const *unsupported;
	/* A list item in the file may be a one-entry mapping, `- encoding: UTF8`, taken as the
	 * text "encoding=UTF8" (Patroni's bootstrap.initdb). */
	bool list_item_pairs;
} cfg_table;

/* Fills `settings` from defaults, file, environment and argv (argv[0] is skipped). `envp` is the
 * environment to read (NULL for the process environment). On error nothing needs freeing beyond
 * cfg_free(), which is always safe to call. */
int cfg_load(const cfg_table *t, void *settings, int argc, char **argv, char **envp,
             char **err) TND_MUST_CHECK;

/* Converts one text value for option `o` into `settings`, as if it came from `origin`. */
int cfg_set_text(const cfg_option *o, void *settings, const char *value, const char *origin,
                 char **err) TND_MUST_CHECK;

void cfg_free(const cfg_table *t, void *settings);

/* Looks an option up by name; NULL when unknown. */
const cfg_option *cfg_find(const cfg_table *t, const char *name);

/* Formats an option's current value as text (caller frees). */
char *cfg_format(const cfg_option *o, const void *settings);

/* Whether option `o` differs between two settings structs. */
bool cfg_differs(const cfg_option *o, const void *a, const void *b);
/* Exchanges option `o`'s value between two settings structs (ownership moves with it). A reload
 * builds a whole new snapshot, then takes the running values of the options that are not
 * reloadable back into it, so that what others point to stays valid. */
void cfg_swap_value(const cfg_option *o, void *a, void *b);

void cfg_print_help(const cfg_table *t, FILE *out);

/* Parsers shared with other modules. */
int cfg_parse_duration_ms(const char *s, long long *out) TND_MUST_CHECK;
int cfg_parse_size(const char *s, long long *out) TND_MUST_CHECK;
int cfg_parse_bool(const char *s, bool *out) TND_MUST_CHECK;

#endif
