/* Parsing the JSON answers of etcd's gateway into etcd_result / etcd_watch_msg, base64, and the
 * classification of etcd's errors.
 *
 * The gateway writes protobuf messages as JSON: int64 fields are strings ("123"), bytes are
 * base64, and fields with their default value are left out (no "kvs" = no keys, no "type" = PUT,
 * no "succeeded" = false, no "TTL" = 0). Errors come as {"error": "...", "message": "...",
 * "code": N} with a gRPC code, or inside a stream as {"error": {"grpc_code": N, "message": ...}}.
 * Nothing here trusts the answer: a wrong type, a bad number or bad base64 makes the whole
 * answer ETCD_BAD_ANSWER.
 *
 * Both parsers return 0 when they understood the answer (res->status may still be
 * ETCD_REJECTED or ETCD_UNAVAILABLE for an error answer) and -1 for ETCD_BAD_ANSWER; `*arena`
 * is always set and holds the keys, values (NUL-terminated, for convenience) and messages. */
#include <jansson.h>
#include <limits.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "etcd_internal.h"

/* ---- arena ---- */

enum { ARENA_BLOCK = 4096 };

typedef struct block {
	struct block *next;
	size_t used, cap;
	max_align_t data[];
} block;

struct etcd_arena {
	block *head;
};

static etcd_arena *arena_new(void)
{
	return xcalloc(1, sizeof(etcd_arena));
}

/* NULL only when `n` is absurd (the callers turn that into a bad answer). */
static void *arena_alloc(etcd_arena *a, size_t n)
{
	const size_t align = alignof(max_align_t);
	if (n > SIZE_MAX / 2)
		return NULL;
	n = (n + align - 1) / align * align;
	if (!a->head || a->head->cap - a->head->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		block *b = xmalloc(sizeof(block) + cap);
		b->used = 0;
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	void *p = (char *)a->head->data + a->head->used;
	a->head->used += n;
	return p;
}

void etcd_arena_free(etcd_arena *a)
{
	if (!a)
		return;
	for (block *b = a->head, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

/* ---- error classification ---- */

static const char *const unavailable_texts[] = {
    "no leader",
    "not leader",
    "leader changed",
    "request timed out",
    "server stopped",
    "too many requests",
    "code = Unavailable",
    "code = DeadlineExceeded",
    "transport is closing",
    "connection refused",
};

etcd_status etcd_classify(int64_t code, const char *message, etcd_status dflt)
{
	for (size_t i = 0; message && i < sizeof unavailable_texts / sizeof *unavailable_texts; i++)
		if (strstr(message, unavailable_texts[i]))
			return ETCD_UNAVAILABLE;
	switch (code) {
	case 1:  /* CANCELED */
	case 4:  /* DEADLINE_EXCEEDED */
	case 8:  /* RESOURCE_EXHAUSTED: too many requests */
	case 10: /* ABORTED */
	case 14: /* UNAVAILABLE */
		return ETCD_UNAVAILABLE;
	case 3:  /* INVALID_ARGUMENT */
	case 5:  /* NOT_FOUND */
	case 6:  /* ALREADY_EXISTS */
	case 7:  /* PERMISSION_DENIED */
	case 9:  /* FAILED_PRECONDITION */
	case 11: /* OUT_OF_RANGE */
	case 12: /* UNIMPLEMENTED */
	case 16: /* UNAUTHENTICATED */
		return ETCD_REJECTED;
	default:
		return dflt;
	}
}

bool etcd_is_token_error(const char *message)
{
	return message && (strstr(message, "invalid auth token") ||
	                   strstr(message, "revision of auth store is old"));
}

/* ---- parsing ---- */

typedef struct pctx {
	etcd_arena *a;
	const char *err; /* the first failure, in the arena */
} pctx;

static char *arena_strndup(etcd_arena *a, const char *s, size_t n)
{
	char *d = arena_alloc(a, n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* A message from the server, with control characters replaced (it ends up in logs). */
static const char *arena_message(etcd_arena *a, const char *s)
{
	char *d = arena_strndup(a, s, strlen(s));
	if (!d)
		return "message too long";
	for (char *p = d; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d;
}

static int fail(pctx *c, const char *fmt, ...) TND_PRINTF(2, 3);
static int fail(pctx *c, const char *fmt, ...)
{
	if (c->err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = n >= 0 ? arena_alloc(c->a, (size_t)n + 1) : NULL;
	if (!s) {
		c->err = "malformed answer";
		return -1;
	}
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	c->err = s;
	return -1;
}

/* A member, or NULL when it is missing or null (its default value). */
static json_t *member(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);
	return json_is_null(v) ? NULL : v;
}

static int parse_int64_text(const char *s, int64_t *out)
{
	bool neg = *s == '-';
	const char *p = s + neg;
	if (!*p)
		return -1;
	uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned d = (unsigned)(*p - '0');
		if (v > (limit - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

static int get_int64(pctx *c, json_t *obj, const char *name, int64_t *out)
{
	json_t *v = member(obj, name);
	*out = 0;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && parse_int64_text(json_string_value(v), out) == 0)
		return 0;
	return fail(c, "field \"%s\" is not an int64", name);
}

static int get_bool(pctx *c, json_t *obj, const char *name, bool *out)
{
	json_t *v = member(obj, name);
	*out = false;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail(c, "field \"%s\" is not a boolean", name);
	*out = json_is_true(v);
	return 0;
}

/* Base64 bytes, decoded into the arena (NUL-terminated); missing = empty. */
static int get_bytes(pctx *c, json_t *obj, const char *name, const char **out, size_t *len)
{
	json_t *v = member(obj, name);
	*out = "";
	*len = 0;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return fail(c, "field \"%s\" is not a string", name);
	size_t n = json_string_length(v);
	unsigned char *d = arena_alloc(c->a, b64_decoded_max(n) + 1);
	if (!d || b64_decode(json_string_value(v), n, d, len) < 0)
		return fail(c, "field \"%s\" is not base64", name);
	d[*len] = '\0';
	*out = (const char *)d;
	return 0;
}

/* An optional object member; `required` makes a missing one an error. */
static int get_object(pctx *c, json_t *obj, const char *name, bool required, json_t **out)
{
	json_t *v = member(obj, name);
	*out = v;
	if (!v && !required)
		return 0;
	if (!v)
		return fail(c, "no \"%s\"", name);
	if (!json_is_object(v))
		return fail(c, "field \"%s\" is not an object", name);
	return 0;
}

static int get_array(pctx *c, json_t *obj, const char *name, json_t **out)
{
	json_t *v = member(obj, name);
	*out = v;
	if (v && !json_is_array(v))
		return fail(c, "field \"%s\" is not an array", name);
	return 0;
}

static void *alloc_array(pctx *c, size_t n, size_t size)
{
	if (n == 0)
		return NULL;
	void *p = n <= SIZE_MAX / size ? arena_alloc(c->a, n * size) : NULL;
	if (!p)
		fail(c, "too many items");
	return p;
}

static int parse_kv(pctx *c, json_t *o, etcd_kv *kv)
{
	if (!json_is_object(o))
		return fail(c, "a key-value is not an object");
	if (get_bytes(c, o, "key", &kv->key, &kv->key_len) < 0 ||
	    get_bytes(c, o, "value", &kv->value, &kv->value_len) < 0 ||
	    get_int64(c, o, "create_revision", &kv->create_revision) < 0 ||
	    get_int64(c, o, "mod_revision", &kv->mod_revision) < 0 ||
	    get_int64(c, o, "version", &kv->version) < 0 ||
	    get_int64(c, o, "lease", &kv->lease) < 0)
		return -1;
	return 0;
}

/* Appends the key-values of `arr` (an array or NULL) at kvs[*n]. */
static int parse_kvs(pctx *c, json_t *arr, etcd_kv *kvs, size_t *n)
{
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o)
	{
		if (parse_kv(c, o, &kvs[(*n)++]) < 0)
			return -1;
	}
	return 0;
}

/* Whether `root` is an error answer: 1 (with its status and message), 0, or -1 if malformed. */
static int parse_error(pctx *c, json_t *root, etcd_status dflt, etcd_status *st, const char **msg)
{
	json_t *err = member(root, "error");
	int64_t code = -1;
	const char *text = NULL;
	if (json_is_object(err)) { /* a stream's error */
		json_t *m = member(err, "message");
		if (get_int64(c, err, "grpc_code", &code) < 0)
			return -1;
		if (!json_object_get(err, "grpc_code"))
			code = -1;
		text = json_is_string(m) ? json_string_value(m) : NULL;
	} else if (json_is_string(err) && json_string_length(err) > 0) {
		json_t *m = member(root, "message");
		text = json_is_string(m) && json_string_length(m) ? json_string_value(m)
		                                                  : json_string_value(err);
		if (member(root, "code") && get_int64(c, root, "code", &code) < 0)
			return -1;
	} else if (err && !json_is_string(err)) {
		return fail(c, "field \"error\" is neither a string nor an object");
	} else if (!member(root, "header") && json_is_string(member(root, "message")) &&
	           member(root, "code")) {
		/* {"code": N, "message": "..."} without "error" (newer gateways) */
		text = json_string_value(member(root, "message"));
		if (get_int64(c, root, "code", &code) < 0)
			return -1;
	} else {
		return 0;
	}
	*st = etcd_classify(code, text, dflt);
	if (text && *text)
		*msg = arena_message(c->a, text);
	else
		*msg = arena_message(c->a, "etcd returned an error without a message");
	return 1;
}

static json_t *load(pctx *c, const char *body, size_t len)
{
	json_error_t je;
	if (!body)
		body = "";
	json_t *root = json_loadb(body, len, 0, &je);
	if (!root) {
		fail(c, "not JSON: %s", je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		fail(c, "not a JSON object");
		return NULL;
	}
	return root;
}

/* The fields of a (non-error) answer, found in `o`. */
static int parse_fields(pctx *c, json_t *o, etcd_result *res)
{
	json_t *header, *kvs, *responses;
	if (get_object(c, o, "header", true, &header) < 0 ||
	    get_int64(c, header, "revision", &res->revision) < 0 ||
	    get_array(c, o, "kvs", &kvs) < 0 || get_array(c, o, "responses", &responses) < 0 ||
	    get_bool(c, o, "succeeded", &res->succeeded) < 0 ||
	    get_int64(c, o, "ID", &res->lease_id) < 0 ||
	    get_int64(c, o, "TTL", &res->lease_ttl) < 0)
		return -1;

	/* Key-values: a range's own, or those read by the request_ranges of a transaction. */
	size_t total = json_array_size(kvs), i;
	json_t *r, *rr, *rkvs;
	json_array_foreach(responses, i, r)
	{
		if (!json_is_object(r))
			return fail(c, "a transaction response is not an object");
		if (get_object(c, r, "response_range", false, &rr) < 0 ||
		    get_array(c, rr, "kvs", &rkvs) < 0)
			return -1;
		total += json_array_size(rkvs);
	}
	etcd_kv *out = alloc_array(c, total, sizeof *out);
	if (total && !out)
		return -1;
	size_t n = 0;
	if (parse_kvs(c, kvs, out, &n) < 0)
		return -1;
	json_array_foreach(responses, i, r)
	{
		rr = member(r, "response_range");
		if (rr && parse_kvs(c, member(rr, "kvs"), out, &n) < 0)
			return -1;
	}
	res->kvs = out;
	res->nkvs = n;
	return 0;
}

int etcd_parse_answer(const char *body, size_t len, etcd_result *res, etcd_arena **arena)
{
	memset(res, 0, sizeof *res);
	pctx c = {arena_new(), NULL};
	*arena = c.a;
	json_t *root = load(&c, body, len);
	int rc = -1;
	if (root) {
		etcd_status st = ETCD_OK;
		const char *msg = NULL;
		int e = parse_error(&c, root, ETCD_REJECTED, &st, &msg);
		json_t *o = root, *result = NULL;
		if (e == 0 && get_object(&c, root, "result", false, &result) == 0 && result) {
			o = result; /* a stream's message: lease keepalive */
			e = parse_error(&c, result, ETCD_REJECTED, &st, &msg);
		}
		if (e > 0) {
			res->status = st;
			res->error = msg;
			rc = 0;
		} else if (e == 0 && !c.err && parse_fields(&c, o, res) == 0) {
			rc = 0;
		}
		json_decref(root);
	}
	if (rc < 0) {
		memset(res, 0, sizeof *res);
		res->status = ETCD_BAD_ANSWER;
		res->error = c.err ? c.err : "malformed answer";
	}
	return rc;
}

char *etcd_parse_auth_token(const char *body, size_t len)
{
	json_t *root = json_loadb(body ? body : "", len, 0, NULL);
	json_t *t = json_is_object(root) ? json_object_get(root, "token") : NULL;
	char *token = NULL;
	if (json_is_string(t) && json_string_length(t) > 0) {
		const char *s = json_string_value(t);
		size_t n = json_string_length(t);
		bool ok = true;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
				ok = false;
		if (ok)
			token = xstrndup(s, n);
	}
	json_decref(root);
	return token;
}

/* ---- watch messages ---- */

static int parse_event(pctx *c, json_t *o, etcd_event *ev)
{
	if (!json_is_object(o))
		return fail(c, "a watch event is not an object");
	json_t *type = member(o, "type"), *kv;
	ev->type = ETCD_EVENT_PUT;
	if (!type || (json_is_string(type) && strcmp(json_string_value(type), "PUT") == 0) ||
	    (json_is_integer(type) && json_integer_value(type) == 0))
		ev->type = ETCD_EVENT_PUT;
	else if ((json_is_string(type) && strcmp(json_string_value(type), "DELETE") == 0) ||
	         (json_is_integer(type) && json_integer_value(type) == 1))
		ev->type = ETCD_EVENT_DELETE;
	else
		return fail(c, "unknown watch event type");
	if (get_object(c, o, "kv", true, &kv) < 0)
		return -1;
	return parse_kv(c, kv, &ev->kv);
}

static int parse_watch_result(pctx *c, json_t *r, etcd_watch_msg *msg, etcd_status *status)
{
	json_t *header, *events, *reason;
	if (get_object(c, r, "header", true, &header) < 0 ||
	    get_int64(c, header, "revision", &msg->revision) < 0 ||
	    get_bool(c, r, "created", &msg->created) < 0 ||
	    get_bool(c, r, "canceled", &msg->canceled) < 0 ||
	    get_int64(c, r, "compact_revision", &msg->compact_revision) < 0 ||
	    get_array(c, r, "events", &events) < 0)
		return -1;
	reason = member(r, "cancel_reason");
	if (reason && !json_is_string(reason))
		return fail(c, "field \"cancel_reason\" is not a string");

	size_t n = json_array_size(events), i;
	etcd_event *evs = alloc_array(c, n, sizeof *evs);
	if (n && !evs)
		return -1;
	json_t *o;
	json_array_foreach(events, i, o)
	{
		if (parse_event(c, o, &evs[i]) < 0)
			return -1;
	}
	msg->events = evs;
	msg->nevents = n;

	if (msg->compact_revision > 0 && !msg->canceled)
		msg->canceled = true; /* etcd always cancels a watch on a compacted revision */
	if (msg->canceled) {
		const char *text = reason ? json_string_value(reason) : "";
		if (*text)
			msg->error = arena_message(c->a, text);
		else if (msg->compact_revision > 0)
			msg->error = "the requested revision has been compacted";
		else
			msg->error = "the watch was canceled";
		if (msg->compact_revision > 0)
			*status = ETCD_REJECTED;
		else if (etcd_is_token_error(text))
			*status = ETCD_UNAVAILABLE; /* a new watch authenticates again */
		else
			*status = etcd_classify(-1, text, ETCD_REJECTED);
	}
	return 0;
}

int etcd_parse_watch_msg_status(const char *body, size_t len, etcd_watch_msg *msg,
                                etcd_arena **arena, etcd_status *status)
{
	memset(msg, 0, sizeof *msg);
	*status = ETCD_OK;
	pctx c = {arena_new(), NULL};
	*arena = c.a;
	json_t *root = load(&c, body, len);
	int rc = -1;
	if (root) {
		const char *text = NULL;
		json_t *result;
		int e = parse_error(&c, root, ETCD_UNAVAILABLE, status, &text);
		if (e > 0) {
			/* The stream broke: a transport problem unless etcd says otherwise. */
			msg->canceled = true;
			msg->error = text;
			rc = 0;
		} else if (e == 0 && get_object(&c, root, "result", true, &result) == 0 &&
		           parse_watch_result(&c, result, msg, status) == 0) {
			rc = 0;
		}
		json_decref(root);
	}
	if (rc < 0) {
		memset(msg, 0, sizeof *msg);
		msg->error = c.err ? c.err : "malformed watch message";
		*status = ETCD_BAD_ANSWER;
	}
	return rc;
}

int etcd_parse_watch_msg(const char *body, size_t len, etcd_watch_msg *msg, etcd_arena **arena)
{
	etcd_status st;
	return etcd_parse_watch_msg_status(body, len, msg, arena, &st);
}
