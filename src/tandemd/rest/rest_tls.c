/* See rest_tls.h. */
#include "rest_tls.h"

#include <stdlib.h>
#include <string.h>

#include "secret_file.h"
#include "strbuf.h"

enum { REST_TLS_MAX_FILE = 1 << 20 };

static char *read_pem(const char *key, const char *path, bool secret, char **err)
{
	strbuf sb = STRBUF_INIT;
	int rc = secret ? secret_file_read(&sb, path, REST_TLS_MAX_FILE, err)
	                : sb_read_file(&sb, path, REST_TLS_MAX_FILE, err);
	if (rc < 0) {
		err_prefix(err, "%s", key);
		sb_free(&sb);
		return NULL;
	}
	if (!strstr(sb.data ? sb.data : "", "-----BEGIN ")) {
		err_set(err, "%s: %s holds no PEM block (-----BEGIN ...)", key, path);
		sb_free(&sb);
		return NULL;
	}
	return sb_steal(&sb);
}

int rest_tls_load(const tandemd_settings *s, rest_tls *t, char **err)
{
	memset(t, 0, sizeof *t);
	if (!s->restapi_certfile)
		return 0;
	tandemd_verify v = tandemd_verify_client(s);
	t->cert_pem = read_pem("restapi.certfile", s->restapi_certfile, false, err);
	if (t->cert_pem)
		t->key_pem = read_pem("restapi.keyfile", s->restapi_keyfile, true, err);
	if (t->key_pem && v != TANDEMD_VERIFY_NONE)
		t->trust_pem = read_pem("restapi.cafile", s->restapi_cafile, false, err);
	if (!t->key_pem || (v != TANDEMD_VERIFY_NONE && !t->trust_pem)) {
		rest_tls_free(t);
		return -1;
	}
	t->require_client = v == TANDEMD_VERIFY_REQUIRED;
	t->client_verified = v != TANDEMD_VERIFY_NONE;
	return 0;
}

void rest_tls_free(rest_tls *t)
{
	free(t->cert_pem);
	if (t->key_pem) {
		memset(t->key_pem, 0, strlen(t->key_pem));
		free(t->key_pem);
	}
	free(t->trust_pem);
	memset(t, 0, sizeof *t);
}
