/* Internals of the etcd client shared by its files: range ends and request bodies
 * (etcd_wire.c), answer parsing and error classification (etcd_json.c). The transport has its own
 * header, etcd_priv.h. Not for other modules. */
#ifndef TANDEM_ETCD_INTERNAL_H
#define TANDEM_ETCD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.h"

/* Answers (and single watch messages) larger than this are refused. */
#define ETCD_MAX_ANSWER ((size_t)64 << 20)

/* The end of the range of keys starting with `prefix` (prefix with its last byte below 0xff
 * incremented and the rest dropped; "\0", i.e. no end, when there is none): a heap buffer of
 * *outlen bytes. */
unsigned char *etcd_prefix_end(const char *prefix, size_t len, size_t *outlen);

/* Request bodies (JSON text, heap strings). */
char *etcd_req_range(const char *key, bool prefix);
char *etcd_req_put(const char *key, const char *value, int64_t lease);
char *etcd_req_delete(const char *key, bool prefix);
char *etcd_req_txn(const etcd_compare *cmp, size_t ncmp, const etcd_op *success, size_t nsuccess,
                   const etcd_op *failure, size_t nfailure);
char *etcd_req_lease_grant(int64_t ttl_s);
char *etcd_req_lease_id(int64_t lease); /* keepalive and revoke */
/* NULL when the name or the password is not valid UTF-8. */
char *etcd_req_auth(const char *name, const char *password);
char *etcd_req_watch(const char *prefix, int64_t start_revision);

/* What an error from etcd means: `code` is the gRPC code (-1 when unknown), `message` its text.
 * Unavailable-class errors (no leader, timeouts, gRPC UNAVAILABLE) give ETCD_UNAVAILABLE,
 * client-class errors ETCD_REJECTED, anything else `dflt`. */
etcd_status etcd_classify(int64_t code, const char *message, etcd_status dflt);
/* Whether the message says that the auth token must be renewed. */
bool etcd_is_token_error(const char *message);

/* The token of an authenticate answer that etcd_parse_answer accepted: a heap string, or NULL
 * when it is missing, empty or not fit for an HTTP header. */
char *etcd_parse_auth_token(const char *body, size_t len);

/* etcd_parse_watch_msg, also telling what a cancellation or stream error means (ETCD_OK when the
 * message is neither). */
int etcd_parse_watch_msg_status(const char *body, size_t len, etcd_watch_msg *msg,
                                etcd_arena **arena, etcd_status *status) TND_MUST_CHECK;

#endif
