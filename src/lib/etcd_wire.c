/* The wire format of etcd's gateway: range ends and the
 * JSON bodies of the requests (int64 numbers as strings, as the gateway writes them itself). */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "etcd_internal.h"

unsigned char *etcd_prefix_end(const char *prefix, size_t len, size_t *outlen)
{
	unsigned char *end = xmalloc(len + 1);
	memcpy(end, prefix, len);
	for (size_t i = len; i > 0; i--) {
		if (end[i - 1] < 0xff) {
			end[i - 1]++;
			*outlen = i;
			return end;
		}
	}
	end[0] = '\0'; /* every byte is 0xff (or no prefix): to the end of the key space */
	*outlen = 1;
	return end;
}

/* ---- request bodies ---- */

static json_t *b64_string(const void *data, size_t len)
{
	char *s = b64_encode(data, len);
	json_t *j = json_string(s); /* base64 is ASCII: never NULL but for lack of memory */
	free(s);
	return j;
}

static json_t *int64_string(int64_t v)
{
	char buf[24]; /* "-9223372036854775808" */
	snprintf(buf, sizeof buf, "%" PRId64, v);
	return json_string(buf);
}

/* Adds "key" and, for a prefix, "range_end" (prefix + 1). An empty prefix is every key. */
static void set_key_range(json_t *o, const char *key, bool prefix)
{
	size_t len = strlen(key);
	if (prefix && len == 0) {
		static const char zero[] =
		    ""; /* the single byte 0: from the first key to the end */
		json_object_set_new(o, "key", b64_string(zero, 1));
		json_object_set_new(o, "range_end", b64_string(zero, 1));
		return;
	}
	json_object_set_new(o, "key", b64_string(key, len));
	if (prefix) {
		size_t n;
		unsigned char *end = etcd_prefix_end(key, len, &n);
		json_object_set_new(o, "range_end", b64_string(end, n));
		free(end);
	}
}

static char *dump(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s) {
		fprintf(stderr, "fatal: out of memory\n");
		abort();
	}
	return s;
}

char *etcd_req_range(const char *key, bool prefix)
{
	json_t *o = json_object();
	set_key_range(o, key, prefix);
	return dump(o);
}

static json_t *put_object(const char *key, const char *value, int64_t lease)
{
	json_t *o = json_object();
	json_object_set_new(o, "key", b64_string(key, strlen(key)));
	json_object_set_new(o, "value", b64_string(value, strlen(value)));
	if (lease)
		json_object_set_new(o, "lease", int64_string(lease));
	return o;
}

char *etcd_req_put(const char *key, const char *value, int64_t lease)
{
	return dump(put_object(key, value ? value : "", lease));
}

char *etcd_req_delete(const char *key, bool prefix)
{
	json_t *o = json_object();
	set_key_range(o, key, prefix);
	return dump(o);
}

static json_t *compare_object(const etcd_compare *c)
{
	static const char *const targets[] = {
	    [ETCD_CMP_VERSION] = "VERSION", [ETCD_CMP_CREATE] = "CREATE", [ETCD_CMP_MOD] = "MOD",
	    [ETCD_CMP_VALUE] = "VALUE",     [ETCD_CMP_LEASE] = "LEASE",
	};
	static const char *const fields[] = {
	    [ETCD_CMP_VERSION] = "version",  [ETCD_CMP_CREATE] = "create_revision",
	    [ETCD_CMP_MOD] = "mod_revision", [ETCD_CMP_VALUE] = "value",
	    [ETCD_CMP_LEASE] = "lease",
	};
	json_t *o = json_object();
	unsigned t = (unsigned)c->target <= ETCD_CMP_LEASE ? (unsigned)c->target : ETCD_CMP_VERSION;
	json_object_set_new(o, "key", b64_string(c->key, strlen(c->key)));
	json_object_set_new(o, "target", json_string(targets[t]));
	json_object_set_new(o, "result", json_string("EQUAL"));
	if (t == ETCD_CMP_VALUE) {
		const char *v = c->value ? c->value : "";
		json_object_set_new(o, fields[t], b64_string(v, strlen(v)));
	} else {
		json_object_set_new(o, fields[t], int64_string(c->number));
	}
	return o;
}

static json_t *op_object(const etcd_op *op)
{
	json_t *o = json_object(), *r;
	switch (op->kind) {
	case ETCD_OP_PUT:
		json_object_set_new(o, "request_put",
		                    put_object(op->key, op->value ? op->value : "", op->lease));
		break;
	case ETCD_OP_DELETE:
		r = json_object();
		set_key_range(r, op->key, false);
		json_object_set_new(o, "request_delete_range", r);
		break;
	case ETCD_OP_GET:
	default:
		r = json_object();
		set_key_range(r, op->key, false);
		json_object_set_new(o, "request_range", r);
		break;
	}
	return o;
}

static json_t *op_array(const etcd_op *ops, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, op_object(&ops[i]));
	return a;
}

char *etcd_req_txn(const etcd_compare *cmp, size_t ncmp, const etcd_op *success, size_t nsuccess,
                   const etcd_op *failure, size_t nfailure)
{
	json_t *o = json_object(), *c = json_array();
	for (size_t i = 0; i < ncmp; i++)
		json_array_append_new(c, compare_object(&cmp[i]));
	json_object_set_new(o, "compare", c);
	json_object_set_new(o, "success", op_array(success, nsuccess));
	json_object_set_new(o, "failure", op_array(failure, nfailure));
	return dump(o);
}

char *etcd_req_lease_grant(int64_t ttl_s)
{
	json_t *o = json_object();
	json_object_set_new(o, "TTL", int64_string(ttl_s));
	return dump(o);
}

char *etcd_req_lease_id(int64_t lease)
{
	json_t *o = json_object();
	json_object_set_new(o, "ID", int64_string(lease));
	return dump(o);
}

char *etcd_req_auth(const char *name, const char *password)
{
	json_t *n = json_string(name), *p = json_string(password);
	if (!n || !p) {
		json_decref(n);
		json_decref(p);
		return NULL;
	}
	json_t *o = json_object();
	json_object_set_new(o, "name", n);
	json_object_set_new(o, "password", p);
	return dump(o);
}

char *etcd_req_watch(const char *prefix, int64_t start_revision)
{
	json_t *c = json_object(), *o = json_object();
	set_key_range(c, prefix, true);
	if (start_revision > 0)
		json_object_set_new(c, "start_revision", int64_string(start_revision));
	json_object_set_new(o, "create_request", c);
	return dump(o);
}
