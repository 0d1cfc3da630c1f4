/* The backup.tls_server.* and backup.tls_client.* keys (backup_options.h): pgBackRest's TLS
 * server on every member, so that a replica on another host can back up from its standby. */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "backup_options.h"
#include "options.h"

static bool cn_char_ok(const char *s)
{
	/* tls-server-auth=CN=STANZA,...: no '=', ',' or line break in a CN */
	return *s && !strpbrk(s, "=,\r\n");
}

int backup_check_tls_auth(const void *v, char **err)
{
	const cfg_list *l = v;
	for (size_t i = 0; i < l->n; i++)
		if (!cn_char_ok(l->v[i])) {
			err_set(err,
			        "'%s' is not a certificate common name tandem can pass to "
			        "pgBackRest (not empty, no '=', ',' or line break)",
			        l->v[i]);
			return -1;
		}
	return 0;
}

bool tandemd_backup_tls(const tandemd_settings *s)
{
	return s->backup_tls_server_address != NULL;
}

static int check_address(const char *text, char **err)
{
	addr a = {0};
	char *e = NULL;
	if (addr_parse(text, 0, 0, &a, &e) != 0) {
		err_set(err, "backup.tls_server.address '%s': %s (HOST:PORT)", text, e);
		free(e);
		return -1;
	}
	addr_clear(&a);
	return 0;
}

int backup_check_tls_settings(const tandemd_settings *s, char **err)
{
	const struct {
		const char *key;
		bool set;
	} keys[] = {
	    {"backup.tls_server.address", s->backup_tls_server_address != NULL},
	    {"backup.tls_server.host", s->backup_tls_server_host != NULL},
	    {"backup.tls_server.cert_file", s->backup_tls_server_cert_file != NULL},
	    {"backup.tls_server.key_file", s->backup_tls_server_key_file != NULL},
	    {"backup.tls_server.ca_file", s->backup_tls_server_ca_file != NULL},
	    {"backup.tls_server.auth", s->backup_tls_server_auth.n > 0},
	    {"backup.tls_client.cert_file", s->backup_tls_client_cert_file != NULL},
	    {"backup.tls_client.key_file", s->backup_tls_client_key_file != NULL},
	    {"backup.tls_client.ca_file", s->backup_tls_client_ca_file != NULL},
	};
	size_t n = sizeof keys / sizeof keys[0], nset = 0;
	for (size_t i = 0; i < n; i++)
		nset += keys[i].set;
	if (nset == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!keys[i].set) {
			err_set(
			    err,
			    "%s is missing: backups from a standby through pgBackRest's TLS server "
			    "need every backup.tls_server.* and backup.tls_client.* key (any "
			    "member "
			    "may be the primary or a replica), or none",
			    keys[i].key);
			return -1;
		}
	if (!tandemd_backup_on(s)) {
		err_set(err,
		        "backup.tls_server.* is set but backup.pgbackrest names no repository");
		return -1;
	}
	const char *h = s->backup_tls_server_host;
	if (!*h ||
	    strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
	        strlen(h) ||
	    strspn(h, "0123456789.") == strlen(h)) {
		err_set(err,
		        "backup.tls_server.host '%s' must be a DNS name (pgBackRest 2.45 checks it "
		        "against the certificate's CN and DNS names, never an IP address)",
		        h);
		return -1;
	}
	return check_address(s->backup_tls_server_address, err);
}
