/* JSON lines for the log (log.h, log_format_json): strings escaped so that any bytes give a
 * valid JSON object. */
#include <stdint.h>
#include <string.h>

#include "log.h"

/* The length of the valid UTF-8 sequence at `s` (1 to 4), or 0 when it is not one (overlong
 * forms, surrogates and code points past U+10FFFF are not). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0; /* also stops at the terminating NUL */
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

static void json_str(strbuf *out, const char *s, size_t len)
{
	sb_append(out, "\"", 1);
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		unsigned c = *p;
		if (c == '"' || c == '\\') {
			sb_append(out, "\\", 1);
			sb_append(out, p, 1);
			p++;
		} else if (c == '\n') {
			sb_puts(out, "\\n");
			p++;
		} else if (c == '\t') {
			sb_puts(out, "\\t");
			p++;
		} else if (c < 0x20 || c == 0x7F) {
			sb_printf(out, "\\u%04x", c);
			p++;
		} else {
			size_t n = utf8_len(p);
			if (n == 0 || (size_t)(end - p) < n) {
				sb_puts(out, "\\ufffd");
				p++;
			} else {
				sb_append(out, p, n);
				p += n;
			}
		}
	}
	sb_append(out, "\"", 1);
}

static void field(strbuf *out, const char *key, size_t klen, const char *v, size_t vlen)
{
	sb_append(out, ",", 1);
	json_str(out, key, klen);
	sb_append(out, ":", 1);
	json_str(out, v, vlen);
}

/* The context's words: its bare words (space-separated, in order) as "context", each key=value
 * word as its own key (a word naming a fixed key stays among the bare words). */
static void context_fields(strbuf *out, const char *ctx)
{
	static const char *const fixed[] = {"time", "level", "message", "context"};
	strbuf bare = STRBUF_INIT, kv = STRBUF_INIT;
	const char *p = ctx ? ctx : "";
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (!n)
			break;
		const char *eq = memchr(p, '=', n);
		bool fixed_key = false;
		for (size_t i = 0; eq && i < sizeof fixed / sizeof fixed[0]; i++)
			if ((size_t)(eq - p) == strlen(fixed[i]) &&
			    !memcmp(p, fixed[i], (size_t)(eq - p)))
				fixed_key = true;
		if (eq && eq > p && !fixed_key) {
			field(&kv, p, (size_t)(eq - p), eq + 1, n - (size_t)(eq - p) - 1);
		} else {
			if (bare.len)
				sb_append(&bare, " ", 1);
			sb_append(&bare, p, n);
		}
		p += n;
	}
	if (bare.len)
		field(out, "context", 7, bare.data, bare.len);
	else
		field(out, "context", 7, "main", 4);
	if (kv.len)
		sb_append(out, kv.data, kv.len);
	sb_free(&bare);
	sb_free(&kv);
}

void log_format_json(strbuf *out, const char *time, const char *level, const char *context,
                     const char *msg)
{
	sb_puts(out, "{\"time\":");
	json_str(out, time, strlen(time));
	field(out, "level", 5, level, strlen(level));
	context_fields(out, context);
	field(out, "message", 7, msg ? msg : "", msg ? strlen(msg) : 0);
	sb_puts(out, "}\n");
}
