/* Standard base64 (RFC 4648, "+/" alphabet): etcd's keys and values on the wire, HTTP basic
 * authentication. */
#ifndef TANDEM_BASE64_H
#define TANDEM_BASE64_H

#include <stddef.h>

/* With padding; a heap string. */
char *b64_encode(const void *data, size_t len);
/* Decodes (padding optional, no whitespace) into `out`, which has room for b64_decoded_max(len)
 * bytes; returns -1 on a character or length that is not base64. */
int b64_decode(const char *in, size_t len, unsigned char *out, size_t *outlen);
size_t b64_decoded_max(size_t len);

#endif
