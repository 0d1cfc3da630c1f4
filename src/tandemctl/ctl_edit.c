#include "ctl_edit.h"

#include <errno.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "strbuf.h"

/* ---- patches ---- */

int ctl_patch_assign(json_t *patch, const char *prefix, const char *assignment, char **err)
{
	const char *eq = strchr(assignment, '=');
	if (!eq) {
		err_set(err, "'%s': give KEY=VALUE", assignment);
		return -1;
	}
	char *key = xstrndup(assignment, (size_t)(eq - assignment));
	if (prefix && strchr(key, '.')) {
		err_set(err, "'%s': a parameter name has no dots", assignment);
		free(key);
		return -1;
	}
	char *path = prefix ? xasprintf("%s.%s", prefix, key) : xstrdup(key);
	free(key);
	const char *text = eq + 1;
	json_t *value = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!value)
		value = json_string(text);
	if (!value) {
		err_set(err, "'%s': the value is not valid UTF-8", assignment);
		free(path);
		return -1;
	}
	json_t *obj = patch;
	int rc = 0;
	char *save = NULL;
	size_t n = strlen(path);
	if (n == 0 || path[0] == '.' || path[n - 1] == '.' || strstr(path, "..")) {
		err_set(err, "'%s': the key has an empty part", assignment);
		rc = -1;
		goto out;
	}
	char *part = strtok_r(path, ".", &save);
	while (part) {
		char *next = strtok_r(NULL, ".", &save);
		if (!next) {
			json_object_set(obj, part, value);
			break;
		}
		json_t *child = json_object_get(obj, part);
		if (!json_is_object(child)) {
			child = json_object();
			json_object_set_new(obj, part, child);
		}
		obj = child;
		part = next;
	}
out:
	json_decref(value);
	free(path);
	return rc;
}

json_t *ctl_config_patch_between(const json_t *from, const json_t *to)
{
	json_t *patch = json_object();
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)from, key, v)
	{
		if (!json_object_get(to, key))
			json_object_set_new(patch, key, json_null());
	}
	json_object_foreach((json_t *)to, key, v)
	{
		json_t *old = json_object_get(from, key);
		if (old && json_equal(old, v))
			continue;
		if (json_is_object(old) && json_is_object(v)) {
			json_t *sub = ctl_config_patch_between(old, v);
			if (json_object_size(sub) > 0)
				json_object_set_new(patch, key, sub);
			else
				json_decref(sub);
		} else if (json_is_object(v) && !json_is_object(old) && old) {
			/* a scalar becoming an object: remove-then-merge would keep nothing old */
			json_object_set(patch, key, v);
		} else {
			json_object_set(patch, key, v);
		}
	}
	return patch;
}

/* ---- YAML ---- */

static bool matches(const char *s, const char *re)
{
	regex_t r;
	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	bool ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

static json_t *plain_scalar(const char *s)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes",
	                                    "YES",  "on",   "On",   "ON"};
	static const char *const falses[] = {"false", "False", "FALSE", "no", "No",
	                                     "NO",    "off",   "Off",   "OFF"};
	for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
		if (strcmp(s, nulls[i]) == 0)
			return json_null();
	for (size_t i = 0; i < sizeof trues / sizeof trues[0]; i++)
		if (strcmp(s, trues[i]) == 0)
			return json_true();
	for (size_t i = 0; i < sizeof falses / sizeof falses[0]; i++)
		if (strcmp(s, falses[i]) == 0)
			return json_false();
	if (matches(s, "^[-+]?(0|[1-9][0-9]*)$")) {
		errno = 0;
		long long x = strtoll(s, NULL, 10);
		if (errno == 0)
			return json_integer(x);
		return json_string(s);
	}
	if (matches(s, "^[-+]?([0-9]+\\.[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?$"))
		return json_real(strtod(s, NULL));
	return json_string(s);
}

static json_t *yaml_node_json(yaml_document_t *doc, yaml_node_t *node, int depth, const char *name,
                              char **err)
{
	if (depth > 64) {
		err_set(err, "%s:%zu: nested too deeply", name, node->start_mark.line + 1);
		return NULL;
	}
	switch (node->type) {
	case YAML_SCALAR_NODE: {
		char *s = xstrndup((const char *)node->data.scalar.value, node->data.scalar.length);
		if (strlen(s) != node->data.scalar.length) {
			err_set(err, "%s:%zu: a NUL character in a value", name,
			        node->start_mark.line + 1);
			free(s);
			return NULL;
		}
		json_t *j = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(s)
		                                                               : json_string(s);
		if (!j)
			err_set(err, "%s:%zu: a value is not valid UTF-8", name,
			        node->start_mark.line + 1);
		free(s);
		return j;
	}
	case YAML_SEQUENCE_NODE: {
		json_t *a = json_array();
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     it < node->data.sequence.items.top; it++) {
			json_t *j = yaml_node_json(doc, yaml_document_get_node(doc, *it), depth + 1,
			                           name, err);
			if (!j) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, j);
		}
		return a;
	}
	case YAML_MAPPING_NODE: {
		json_t *o = json_object();
		for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
		     p < node->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			if (!k || k->type != YAML_SCALAR_NODE) {
				err_set(err, "%s:%zu: a key must be a plain value", name,
				        (k ? k->start_mark.line : node->start_mark.line) + 1);
				json_decref(o);
				return NULL;
			}
			char *key =
			    xstrndup((const char *)k->data.scalar.value, k->data.scalar.length);
			if (json_object_get(o, key)) {
				err_set(err, "%s:%zu: key '%s' given twice", name,
				        k->start_mark.line + 1, key);
				free(key);
				json_decref(o);
				return NULL;
			}
			json_t *j = yaml_node_json(doc, yaml_document_get_node(doc, p->value),
			                           depth + 1, name, err);
			if (!j || json_object_set_new(o, key, j) != 0) {
				if (j)
					err_set(err, "%s:%zu: key is not valid UTF-8", name,
					        k->start_mark.line + 1);
				free(key);
				json_decref(o);
				return NULL;
			}
			free(key);
		}
		return o;
	}
	default:
		err_set(err, "%s: an empty document", name);
		return NULL;
	}
}

json_t *ctl_yaml_to_json(const char *text, size_t len, const char *name, char **err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser)) {
		err_set(err, "%s: cannot start the YAML parser", name);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	json_t *out = NULL;
	if (!yaml_parser_load(&parser, &doc)) {
		err_set(err, "%s:%zu: %s", name, parser.problem_mark.line + 1,
		        parser.problem ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		return NULL;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		err_set(err, "%s: the document is empty", name);
	} else {
		out = yaml_node_json(&doc, root, 0, name, err);
		if (out) {
			yaml_document_t more;
			if (!yaml_parser_load(&parser, &more)) {
				err_set(err, "%s:%zu: %s", name, parser.problem_mark.line + 1,
				        parser.problem ? parser.problem : "not YAML");
				json_decref(out);
				out = NULL;
			} else {
				if (yaml_document_get_root_node(&more)) {
					err_set(err, "%s: more than one document", name);
					json_decref(out);
					out = NULL;
				}
				yaml_document_delete(&more);
			}
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return out;
}

/* ---- unified diff ---- */

typedef struct lines {
	char **v;
	size_t n;
} lines;

static void split_lines(const char *text, lines *out)
{
	out->v = NULL;
	out->n = 0;
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		out->v = xrealloc(out->v, (out->n + 1) * sizeof *out->v);
		out->v[out->n++] = xstrndup(p, len);
		p += len + (nl ? 1 : 0);
	}
}

static void free_lines(lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

typedef struct edit {
	char op;     /* ' ', '-', '+' */
	size_t a, b; /* line indexes in old and new (the one the op uses) */
} edit;

/* An edit script by longest common subsequence (trimming the common head and tail first);
 * beyond a size where the table would be large, everything between is replaced. */
static edit *edit_script(const lines *x, const lines *y, size_t *nedits)
{
	size_t head = 0;
	while (head < x->n && head < y->n && strcmp(x->v[head], y->v[head]) == 0)
		head++;
	size_t tail = 0;
	while (tail < x->n - head && tail < y->n - head &&
	       strcmp(x->v[x->n - 1 - tail], y->v[y->n - 1 - tail]) == 0)
		tail++;
	size_t n = x->n - head - tail, m = y->n - head - tail;
	edit *e = xcalloc(x->n + y->n + 1, sizeof *e);
	size_t k = 0;
	for (size_t i = 0; i < head; i++)
		e[k++] = (edit){' ', i, i};
	if (n * m <= 4u * 1024 * 1024 && n > 0 && m > 0) {
		/* L[i][j]: LCS length of x[head+i..] and y[head+j..] */
		uint32_t *L = xcalloc((n + 1) * (m + 1), sizeof *L);
#define AT(i, j) L[(i) * (m + 1) + (j)]
		for (size_t i = n; i-- > 0;)
			for (size_t j = m; j-- > 0;)
				AT(i, j) = strcmp(x->v[head + i], y->v[head + j]) == 0
				               ? AT(i + 1, j + 1) + 1
				               : (AT(i + 1, j) >= AT(i, j + 1) ? AT(i + 1, j)
				                                               : AT(i, j + 1));
		size_t i = 0, j = 0;
		while (i < n || j < m) {
			if (i < n && j < m && strcmp(x->v[head + i], y->v[head + j]) == 0) {
				e[k++] = (edit){' ', head + i, head + j};
				i++;
				j++;
			} else if (i < n && (j == m || AT(i + 1, j) >= AT(i, j + 1))) {
				e[k++] = (edit){'-', head + i, head + j};
				i++;
			} else {
				e[k++] = (edit){'+', head + i, head + j};
				j++;
			}
		}
#undef AT
		free(L);
	} else {
		for (size_t i = 0; i < n; i++)
			e[k++] = (edit){'-', head + i, head};
		for (size_t j = 0; j < m; j++)
			e[k++] = (edit){'+', head + n, head + j};
	}
	for (size_t t = 0; t < tail; t++)
		e[k++] = (edit){' ', x->n - tail + t, y->n - tail + t};
	*nedits = k;
	return e;
}

static void range(strbuf *sb, char sign, size_t start, size_t count)
{
	/* 1-based; an empty range names the line before it */
	size_t first = count ? start + 1 : start;
	if (count == 1)
		sb_printf(sb, "%c%zu", sign, first);
	else
		sb_printf(sb, "%c%zu,%zu", sign, first, count);
}

char *ctl_unified_diff(const char *old_text, const char *new_text, const char *old_name,
                       const char *new_name)
{
	enum { CONTEXT = 3 };
	lines x, y;
	split_lines(old_text ? old_text : "", &x);
	split_lines(new_text ? new_text : "", &y);
	size_t ne = 0;
	edit *e = edit_script(&x, &y, &ne);
	strbuf sb = STRBUF_INIT;
	size_t i = 0;
	bool header = false;
	while (i < ne) {
		while (i < ne && e[i].op == ' ')
			i++;
		if (i == ne)
			break;
		/* a hunk: from CONTEXT lines before this change to CONTEXT after the last change
		 * that is at most 2 * CONTEXT unchanged lines from the one before */
		size_t start = i > CONTEXT ? i - CONTEXT : 0;
		size_t end = i;
		for (;;) {
			while (end < ne && e[end].op != ' ')
				end++;
			size_t same = end;
			while (same < ne && e[same].op == ' ')
				same++;
			if (same < ne && same - end <= 2 * CONTEXT) {
				end = same;
				continue;
			}
			end = end + CONTEXT < ne ? end + CONTEXT : ne;
			if (end > same)
				end = same;
			break;
		}
		size_t oc = 0, nc = 0;
		for (size_t k = start; k < end; k++) {
			oc += e[k].op != '+';
			nc += e[k].op != '-';
		}
		if (!header) {
			sb_printf(&sb, "--- %s\n+++ %s\n", old_name, new_name);
			header = true;
		}
		sb_puts(&sb, "@@ ");
		range(&sb, '-', e[start].a, oc);
		sb_puts(&sb, " ");
		range(&sb, '+', e[start].b, nc);
		sb_puts(&sb, " @@\n");
		for (size_t k = start; k < end; k++)
			sb_printf(&sb, "%c%s\n", e[k].op,
			          e[k].op == '+' ? y.v[e[k].b] : x.v[e[k].a]);
		i = end;
	}
	free(e);
	free_lines(&x);
	free_lines(&y);
	char *out = sb_steal(&sb);
	return out ? out : xstrdup("");
}
