/* The input shape of the DCS fuzzers (fuzz_dcs, fuzz_plan): records "KEY\tVALUE\n", the key
 * relative to /service/batman/, a key starting with '-' a DELETE of the rest; applied to one view
 * in order, as a range answer and watch events would be. */
#ifndef TANDEM_FUZZ_VIEW_H
#define TANDEM_FUZZ_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dcs_codec.h"
#include "fuzz_util.h"

#define FUZZ_VIEW_PREFIX "/service/batman/"

typedef struct fuzz_record {
	const uint8_t *key, *val;
	size_t klen, vlen;
} fuzz_record;

/* The record at *pos, which moves past it; false at the end of the input. */
static inline bool fuzz_record_next(const uint8_t *data, size_t size, size_t *pos, fuzz_record *r)
{
	if (*pos >= size)
		return false;
	const uint8_t *nl = memchr(data + *pos, '\n', size - *pos);
	size_t end = nl ? (size_t)(nl - data) : size;
	const uint8_t *tab = memchr(data + *pos, '\t', end - *pos);
	r->key = data + *pos;
	r->klen = tab ? (size_t)(tab - r->key) : end - *pos;
	r->val = tab ? tab + 1 : data + end;
	r->vlen = (size_t)(data + end - r->val);
	*pos = end + 1;
	return true;
}

/* Applies one record to `v` (revision `rev`) from exactly-sized heap copies, as the etcd
 * client's values are; checks that dcs_view_apply returns 0, or -1 with a message. */
static inline void fuzz_view_record(dcs_view *v, const fuzz_record *r, int64_t rev)
{
	bool del = r->klen > 0 && r->key[0] == '-';
	size_t koff = del ? 1 : 0, plen = strlen(FUZZ_VIEW_PREFIX);
	size_t full = plen + r->klen - koff;
	char *key = malloc(full);
	char *val = malloc(r->vlen ? r->vlen : 1);
	FUZZ_CHECK(key && val, "malloc");
	memcpy(key, FUZZ_VIEW_PREFIX, plen);
	memcpy(key + plen, r->key + koff, r->klen - koff);
	if (r->vlen)
		memcpy(val, r->val, r->vlen);
	if (del) {
		dcs_view_delete(v, key, full);
	} else {
		char *err = NULL;
		int rc = dcs_view_apply(v, key, full, val, r->vlen, rev, rev % 3, &err);
		FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
		FUZZ_CHECK((rc == -1) == (err != NULL), "rc %d with error %s", rc,
		           err ? err : "(none)");
		free(err);
	}
	free(key);
	free(val);
}

#endif
