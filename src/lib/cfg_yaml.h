/* Reads a YAML configuration file into flat entries: nested mappings become dotted keys
 * ("postgresql.data_dir"), values are scalars or sequences of scalars, each with its line. */
#ifndef TANDEM_CFG_YAML_H
#define TANDEM_CFG_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef struct cfg_entry {
	char *key;
	char **values; /* one value for a scalar; NULL value for an empty one (`key:`) */
	size_t nvalues;
	bool is_sequence;
	int line; /* 1-based */
} cfg_entry;

/* A key whose value is a mapping ("postgresql", "postgresql.parameters"), even an empty one. */
typedef struct cfg_section {
	char *key;
	int line;
} cfg_section;

typedef struct cfg_doc {
	cfg_entry *entries;
	size_t n;
	cfg_section *sections; /* in file order */
	size_t nsections;
} cfg_doc;

/* Errors read "NAME:LINE: what is wrong". */
int cfg_yaml_parse(const char *text, size_t len, const char *name, cfg_doc *out,
                   char **err) TND_MUST_CHECK;
int cfg_yaml_read_file(const char *path, cfg_doc *out, char **err) TND_MUST_CHECK;
/* The same, where with `pairs` a list item may also be a one-entry mapping of a plain value
 * (Patroni's `initdb: [{encoding: UTF8}, data-checksums]`), read as the text "encoding=UTF8". */
int cfg_yaml_parse_ex(const char *text, size_t len, const char *name, bool pairs, cfg_doc *out,
                      char **err) TND_MUST_CHECK;
int cfg_yaml_read_file_ex(const char *path, bool pairs, cfg_doc *out, char **err) TND_MUST_CHECK;
void cfg_doc_free(cfg_doc *doc);

#endif
