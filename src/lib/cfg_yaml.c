#include "cfg_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "strbuf.h"

enum { MAX_DEPTH = 16 };

typedef struct reader {
	yaml_parser_t parser;
	const char *name;
	cfg_doc *doc;
	char **err;
	bool pairs; /* a list item may be a one-entry mapping, read as "key=value" */
} reader;

static int check_unique(reader *r, const char *key, int line)
{
	for (size_t i = 0; i < r->doc->n; i++) {
		if (strcmp(r->doc->entries[i].key, key) == 0) {
			err_set(r->err, "%s:%d: key '%s' appears twice (first on line %d)", r->name,
			        line, key, r->doc->entries[i].line);
			return -1;
		}
	}
	/* Keys that opened a nested mapping ("postgresql"): a key may appear once, whether it
	 * holds a value or a mapping. */
	for (size_t i = 0; i < r->doc->nsections; i++) {
		if (strcmp(r->doc->sections[i].key, key) == 0) {
			err_set(r->err, "%s:%d: key '%s' appears twice (first on line %d)", r->name,
			        line, key, r->doc->sections[i].line);
			return -1;
		}
	}
	return 0;
}

static int add_section(reader *r, const char *key, int line)
{
	if (check_unique(r, key, line) < 0)
		return -1;
	cfg_doc *d = r->doc;
	d->sections = xrealloc(d->sections, (d->nsections + 1) * sizeof *d->sections);
	d->sections[d->nsections].key = xstrdup(key);
	d->sections[d->nsections++].line = line;
	return 0;
}

static int next_event(reader *r, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&r->parser, ev)) {
		err_set(r->err, "%s:%zu: invalid YAML: %s", r->name,
		        r->parser.problem_mark.line + 1,
		        r->parser.problem ? r->parser.problem : "parse error");
		return -1;
	}
	return 0;
}

static int line_of(const yaml_event_t *ev)
{
	return (int)ev->start_mark.line + 1;
}

static char *scalar_value(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	/* A plain empty scalar or "~"/"null" is YAML's null: the key is present without a value. */
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	     strcmp(v, "NULL") == 0))
		return NULL;
	return xstrndup(v, len);
}

static cfg_entry *add_entry(reader *r, const char *key, int line)
{
	if (check_unique(r, key, line) < 0)
		return NULL;
	r->doc->entries = xrealloc(r->doc->entries, (r->doc->n + 1) * sizeof *r->doc->entries);
	cfg_entry *e = &r->doc->entries[r->doc->n++];
	memset(e, 0, sizeof *e);
	e->key = xstrdup(key);
	e->line = line;
	return e;
}

static void push_value(cfg_entry *e, char *v)
{
	e->values = xrealloc(e->values, (e->nvalues + 1) * sizeof *e->values);
	e->values[e->nvalues++] = v;
}

/* After the start of a mapping inside a list: one plain key and value, then the end. */
static char *read_pair(reader *r, const cfg_entry *e, int line)
{
	yaml_event_t ev[3];
	size_t got = 0;
	char *item = NULL;
	for (; got < 3; got++)
		if (next_event(r, &ev[got]) < 0)
			break;
	if (got == 3 && ev[0].type == YAML_SCALAR_EVENT && ev[0].data.scalar.length > 0 &&
	    ev[1].type == YAML_SCALAR_EVENT && ev[2].type == YAML_MAPPING_END_EVENT) {
		char *v = scalar_value(&ev[1]);
		item = xasprintf("%s=%s", (const char *)ev[0].data.scalar.value, v ? v : "");
		free(v);
	} else if (got == 3) {
		err_set(r->err,
		        "%s:%d: key '%s': a mapping in a list must hold exactly one name and a "
		        "plain value",
		        r->name, line, e->key);
	}
	for (size_t i = 0; i < got; i++)
		yaml_event_delete(&ev[i]);
	return item;
}

static int read_sequence(reader *r, cfg_entry *e)
{
	e->is_sequence = true;
	for (;;) {
		yaml_event_t ev;
		if (next_event(r, &ev) < 0)
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (ev.type == YAML_MAPPING_START_EVENT && r->pairs) {
			int line = line_of(&ev);
			yaml_event_delete(&ev);
			char *item = read_pair(r, e, line);
			if (!item)
				return -1;
			push_value(e, item);
			continue;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			err_set(r->err, "%s:%d: key '%s': list items must be plain values%s",
			        r->name, line_of(&ev), e->key,
			        r->pairs ? " or one-entry mappings" : "");
			yaml_event_delete(&ev);
			return -1;
		}
		char *v = scalar_value(&ev);
		push_value(e, v ? v : xstrdup(""));
		yaml_event_delete(&ev);
	}
}

static int read_mapping(reader *r, const char *prefix, int depth)
{
	if (depth > MAX_DEPTH) {
		err_set(r->err, "%s: nesting deeper than %d levels", r->name, MAX_DEPTH);
		return -1;
	}
	for (;;) {
		yaml_event_t kev;
		if (next_event(r, &kev) < 0)
			return -1;
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			return 0;
		}
		if (kev.type != YAML_SCALAR_EVENT || kev.data.scalar.length == 0) {
			err_set(r->err, "%s:%d: keys must be plain names", r->name, line_of(&kev));
			yaml_event_delete(&kev);
			return -1;
		}
		char *key = prefix ? xasprintf("%s.%s", prefix, (char *)kev.data.scalar.value)
		                   : xstrdup((char *)kev.data.scalar.value);
		int line = line_of(&kev);
		yaml_event_delete(&kev);

		yaml_event_t vev;
		int rc = next_event(r, &vev);
		if (rc == 0) {
			cfg_entry *e;
			switch (vev.type) {
			case YAML_SCALAR_EVENT:
				e = add_entry(r, key, line);
				if (e)
					push_value(e, scalar_value(&vev));
				else
					rc = -1;
				break;
			case YAML_SEQUENCE_START_EVENT:
				e = add_entry(r, key, line);
				rc = e ? read_sequence(r, e) : -1;
				break;
			case YAML_MAPPING_START_EVENT:
				rc = add_section(r, key, line);
				if (rc == 0)
					rc = read_mapping(r, key, depth + 1);
				break;
			default:
				err_set(r->err,
				        "%s:%d: key '%s': aliases and anchors are not supported",
				        r->name, line, key);
				rc = -1;
			}
			yaml_event_delete(&vev);
		}
		free(key);
		if (rc < 0)
			return -1;
	}
}

int cfg_yaml_parse(const char *text, size_t len, const char *name, cfg_doc *out, char **err)
{
	return cfg_yaml_parse_ex(text, len, name, false, out, err);
}

int cfg_yaml_parse_ex(const char *text, size_t len, const char *name, bool pairs, cfg_doc *out,
                      char **err)
{
	memset(out, 0, sizeof *out);
	reader r = {.name = name, .doc = out, .err = err, .pairs = pairs};
	if (!yaml_parser_initialize(&r.parser)) {
		err_set(err, "%s: cannot initialise the YAML parser", name);
		return -1;
	}
	yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);

	int rc = -1;
	bool in_doc = false, done = false;
	while (!done) {
		yaml_event_t ev;
		if (next_event(&r, &ev) < 0)
			goto out;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (in_doc || out->n > 0 || out->nsections > 0) {
				err_set(err, "%s:%d: only one YAML document is allowed", name,
				        line_of(&ev));
				yaml_event_delete(&ev);
				goto out;
			}
			in_doc = true;
			break;
		case YAML_MAPPING_START_EVENT:
			if (read_mapping(&r, NULL, 0) < 0) {
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_DOCUMENT_END_EVENT:
			in_doc = false;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.length == 0)
				break; /* an empty document */
			err_set(err, "%s:%d: the file must be a mapping of keys to values", name,
			        line_of(&ev));
			yaml_event_delete(&ev);
			goto out;
		default:
			err_set(err, "%s:%d: the file must be a mapping of keys to values", name,
			        line_of(&ev));
			yaml_event_delete(&ev);
			goto out;
		}
		yaml_event_delete(&ev);
	}
	rc = 0;
out:
	yaml_parser_delete(&r.parser);
	if (rc < 0)
		cfg_doc_free(out);
	return rc;
}

int cfg_yaml_read_file(const char *path, cfg_doc *out, char **err)
{
	return cfg_yaml_read_file_ex(path, false, out, err);
}

int cfg_yaml_read_file_ex(const char *path, bool pairs, cfg_doc *out, char **err)
{
	memset(out, 0, sizeof *out);
	strbuf sb = STRBUF_INIT;
	if (sb_read_file(&sb, path, 16u * 1024 * 1024, err) < 0) {
		sb_free(&sb);
		return -1;
	}
	int rc = cfg_yaml_parse_ex(sb.data ? sb.data : "", sb.len, path, pairs, out, err);
	sb_free(&sb);
	return rc;
}

void cfg_doc_free(cfg_doc *doc)
{
	for (size_t i = 0; i < doc->n; i++) {
		cfg_entry *e = &doc->entries[i];
		for (size_t j = 0; j < e->nvalues; j++)
			free(e->values[j]);
		free(e->values);
		free(e->key);
	}
	free(doc->entries);
	doc->entries = NULL;
	doc->n = 0;
	for (size_t i = 0; i < doc->nsections; i++)
		free(doc->sections[i].key);
	free(doc->sections);
	doc->sections = NULL;
	doc->nsections = 0;
}
