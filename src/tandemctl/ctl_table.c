#include "ctl_table.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "strbuf.h"

struct ctl_table {
	size_t ncols;
	char **headers;
	ctl_align *align;
	char **cells; /* nrows * ncols */
	size_t nrows;
};

/* The length of the UTF-8 character at `p` (1-4), or 0 when the bytes there are not one. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n = p[0] < 0x80                    ? 1
	           : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
	           : p[0] >= 0xe0 && p[0] <= 0xef ? 3
	           : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
	                                          : 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

char *ctl_safe_text(const char *s, bool multiline)
{
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, "");
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
		size_t n = utf8_len(p);
		bool c0 = n == 1 && (*p < 0x20 || *p == 0x7f) &&
		          !(multiline && (*p == '\n' || *p == '\t'));
		bool c1 = n == 2 && p[0] == 0xc2 && p[1] < 0xa0;
		if (n == 0 || c0 || c1)
			sb_puts(&sb, "?");
		else
			sb_append(&sb, p, n);
		p += n ? n : 1;
	}
	return sb_steal(&sb);
}

void ctl_printf(FILE *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	char *safe = ctl_safe_text(text, true);
	fputs(safe, out);
	free(safe);
	free(text);
}

static char *clean_cell(const char *s)
{
	return ctl_safe_text(s, false);
}

ctl_table *ctl_table_new(size_t ncols, const char *const *headers)
{
	ctl_table *t = xcalloc(1, sizeof *t);
	t->ncols = ncols;
	t->headers = xcalloc(ncols ? ncols : 1, sizeof *t->headers);
	t->align = xcalloc(ncols ? ncols : 1, sizeof *t->align);
	for (size_t i = 0; i < ncols; i++)
		t->headers[i] = clean_cell(headers[i]);
	return t;
}

void ctl_table_free(ctl_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncols; i++)
		free(t->headers[i]);
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->headers);
	free(t->align);
	free(t->cells);
	free(t);
}

void ctl_table_align(ctl_table *t, size_t col, ctl_align align)
{
	if (col < t->ncols)
		t->align[col] = align;
}

void ctl_table_add_row(ctl_table *t, const char *const *cells)
{
	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *t->cells + 1);
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = clean_cell(cells[i]);
	t->nrows++;
}

size_t ctl_table_rows(const ctl_table *t)
{
	return t->nrows;
}

/* Characters, not bytes: UTF-8 continuation bytes do not count. */
static size_t text_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void repeat(strbuf *sb, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sb_append(sb, &c, 1);
}

static void border(strbuf *sb, const size_t *w, size_t ncols)
{
	for (size_t i = 0; i < ncols; i++) {
		sb_puts(sb, "+");
		repeat(sb, '-', w[i] + 2);
	}
	sb_puts(sb, "+\n");
}

static void row(strbuf *sb, const ctl_table *t, const size_t *w, char *const *cells)
{
	for (size_t i = 0; i < t->ncols; i++) {
		size_t pad = w[i] - text_width(cells[i]);
		sb_puts(sb, "| ");
		if (t->align[i] == CTL_ALIGN_RIGHT)
			repeat(sb, ' ', pad);
		sb_puts(sb, cells[i]);
		if (t->align[i] == CTL_ALIGN_LEFT)
			repeat(sb, ' ', pad);
		sb_puts(sb, " ");
	}
	sb_puts(sb, "|\n");
}

char *ctl_table_render(const ctl_table *t, const char *title)
{
	strbuf sb = STRBUF_INIT;
	if (t->ncols == 0)
		return sb_steal(&sb);
	size_t *w = xcalloc(t->ncols, sizeof *w);
	for (size_t i = 0; i < t->ncols; i++) {
		w[i] = text_width(t->headers[i]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t cw = text_width(t->cells[r * t->ncols + i]);
			if (cw > w[i])
				w[i] = cw;
		}
	}
	char *clean_title = title ? clean_cell(title) : NULL;
	if (clean_title) {
		/* "+ " title " " then dashes: the title must fit in the line's width. */
		size_t total = 1;
		for (size_t i = 0; i < t->ncols; i++)
			total += w[i] + 3;
		size_t need = text_width(clean_title) + 4;
		if (need > total)
			w[t->ncols - 1] += need - total;
		total = need > total ? need : total;
		/* The top border: the title, then the column borders that fall after it. */
		strbuf line = STRBUF_INIT;
		border(&line, w, t->ncols);
		sb_puts(&sb, "+ ");
		sb_puts(&sb, clean_title);
		sb_puts(&sb, " ");
		/* Skip the characters of `line` the title covers (border lines are ASCII). */
		size_t covered = need - 1;
		sb_puts(&sb, line.data + covered);
		sb_free(&line);
	} else {
		border(&sb, w, t->ncols);
	}
	free(clean_title);
	row(&sb, t, w, t->headers);
	border(&sb, w, t->ncols);
	for (size_t r = 0; r < t->nrows; r++)
		row(&sb, t, w, t->cells + r * t->ncols);
	if (t->nrows > 0)
		border(&sb, w, t->ncols);
	free(w);
	return sb_steal(&sb);
}

/* ---- URLs ---- */

/* The port a URL of `scheme` means when it names none; 0 when unknown. */
static int scheme_port(const char *scheme)
{
	if (!strcmp(scheme, "postgres") || !strcmp(scheme, "postgresql"))
		return 5432;
	if (!strcmp(scheme, "http"))
		return 80;
	return !strcmp(scheme, "https") ? 443 : 0;
}

char *ctl_url_host_port(const char *url)
{
	addr a;
	if (addr_parse_url(url, 0, &a, NULL) < 0)
		return NULL;
	if (a.port == 0)
		a.port = scheme_port(a.scheme);
	char *s = a.port ? addr_join(a.host, a.port) : NULL;
	addr_clear(&a);
	return s;
}

char *ctl_url_with_path(const char *url, const char *path)
{
	addr a;
	if (addr_parse_url(url, 0, &a, NULL) < 0)
		return NULL;
	free(a.path);
	a.path = xstrdup(path);
	char *s = addr_format(&a);
	addr_clear(&a);
	return s;
}

/* ---- numbers ---- */

uint64_t ctl_lag_mb(uint64_t bytes)
{
	const uint64_t mib = 1024 * 1024;
	return bytes / mib + (bytes % mib >= mib / 2 ? 1 : 0);
}

char *ctl_lsn_text(uint64_t lsn)
{
	return xasprintf("%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
}

/* ---- JSON as YAML ---- */

static bool yaml_plain_ok(const char *s)
{
	static const char *const reserved[] = {"true", "false", "yes", "no", "on",
	                                       "off",  "null",  "y",   "n",  "~"};
	if (!*s || isspace((unsigned char)*s) || isspace((unsigned char)s[strlen(s) - 1]))
		return false;
	if (isdigit((unsigned char)*s) || *s == '-' || *s == '+' || *s == '.')
		return false;
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		if (strcasecmp(s, reserved[i]) == 0)
			return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_./+- ", *p) &&
		    !((unsigned char)*p & 0x80))
			return false;
	return true;
}

static void yaml_scalar(strbuf *sb, const json_t *v)
{
	if (json_is_string(v) && yaml_plain_ok(json_string_value(v))) {
		sb_puts(sb, json_string_value(v));
		return;
	}
	/* JSON's string, number and literal syntax is valid YAML (flow style). */
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	sb_puts(sb, text ? text : "null");
	free(text);
}

static bool yaml_is_block(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v) > 0) ||
	       (json_is_array(v) && json_array_size(v) > 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The object's keys, sorted (pointers into the object). */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
	*n = json_object_size(obj);
	const char **keys = xcalloc(*n ? *n : 1, sizeof *keys);
	size_t i = 0;
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		(void)v;
		keys[i++] = k;
	}
	qsort(keys, *n, sizeof *keys, cmp_str);
	return keys;
}

static void yaml_value(strbuf *sb, const json_t *v, size_t indent, bool first_inline);

static void yaml_key(strbuf *sb, const char *k)
{
	json_t *s = json_string(k);
	if (s)
		yaml_scalar(sb, s);
	else
		sb_puts(sb,
		        "\"?\""); /* not UTF-8: jansson refuses it; cannot happen for parsed JSON */
	json_decref(s);
}

/* A block value at `indent`; with `first_inline`, the first line's indentation has been written
 * already (an item of a list: "- key: value"). */
static void yaml_value(strbuf *sb, const json_t *v, size_t indent, bool first_inline)
{
	if (json_is_object(v)) {
		size_t n;
		const char **keys = sorted_keys(v, &n);
		for (size_t i = 0; i < n; i++) {
			if (i > 0 || !first_inline)
				repeat(sb, ' ', indent);
			yaml_key(sb, keys[i]);
			const json_t *item = json_object_get(v, keys[i]);
			if (yaml_is_block(item)) {
				sb_puts(sb, ":\n");
				yaml_value(sb, item, indent + 2, false);
			} else {
				sb_puts(sb, ": ");
				yaml_scalar(sb, item);
				sb_puts(sb, "\n");
			}
		}
		free(keys);
	} else if (json_is_array(v)) {
		size_t i;
		const json_t *item;
		json_array_foreach(v, i, item)
		{
			if (i > 0 || !first_inline)
				repeat(sb, ' ', indent);
			if (json_is_object(item) && json_object_size(item) > 0) {
				sb_puts(sb, "- ");
				yaml_value(sb, item, indent + 2, true);
			} else if (yaml_is_block(item)) {
				sb_puts(sb, "-\n");
				yaml_value(sb, item, indent + 2, false);
			} else {
				sb_puts(sb, "- ");
				yaml_scalar(sb, item);
				sb_puts(sb, "\n");
			}
		}
	} else {
		if (!first_inline)
			repeat(sb, ' ', indent);
		yaml_scalar(sb, v);
		sb_puts(sb, "\n");
	}
}

char *ctl_json_to_yaml(const char *json, char **err)
{
	json_error_t je;
	json_t *root = json_loads(json, JSON_DECODE_ANY, &je);
	if (!root) {
		err_set(err, "not JSON: %s (line %d)", je.text, je.line);
		return NULL;
	}
	strbuf sb = STRBUF_INIT;
	if (yaml_is_block(root)) {
		yaml_value(&sb, root, 0, false);
	} else {
		yaml_scalar(&sb, root);
		sb_puts(&sb, "\n");
	}
	json_decref(root);
	return sb_steal(&sb);
}

char *ctl_tags_line(const char *tags_json)
{
	strbuf sb = STRBUF_INIT;
	json_t *root = tags_json ? json_loads(tags_json, 0, NULL) : NULL;
	if (json_is_object(root)) {
		size_t n;
		const char **keys = sorted_keys(root, &n);
		for (size_t i = 0; i < n; i++) {
			const json_t *v = json_object_get(root, keys[i]);
			sb_printf(&sb, "%s%s: ", i ? ", " : "", keys[i]);
			if (json_is_string(v)) {
				sb_puts(&sb, json_string_value(v));
			} else {
				char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
				sb_puts(&sb, text ? text : "?");
				free(text);
			}
		}
		free(keys);
	}
	json_decref(root);
	return sb_steal(&sb);
}
