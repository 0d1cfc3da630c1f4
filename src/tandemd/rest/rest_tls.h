/* The REST API's TLS material, read from the files restapi.certfile, restapi.keyfile and
 * restapi.cafile name: the key only from a private file (secret_file.h), everything at most
 * 1 MiB, and a message naming the key and the file when one cannot be used. */
#ifndef TANDEMD_REST_TLS_H
#define TANDEMD_REST_TLS_H

#include <stdbool.h>

#include "err.h"
#include "options.h"

typedef struct rest_tls {
	char *cert_pem;       /* NULL: plain HTTP */
	char *key_pem;        /* with cert_pem */
	char *trust_pem;      /* restapi.cafile, when verify_client is not none; else NULL */
	bool require_client;  /* verify_client: required */
	bool client_verified; /* verify_client: optional or required */
} rest_tls;

/* Fills `t` (all NULL when restapi.certfile is not set). On error `t` holds nothing. */
int rest_tls_load(const tandemd_settings *s, rest_tls *t, char **err) TND_MUST_CHECK;
void rest_tls_free(rest_tls *t);

#endif
