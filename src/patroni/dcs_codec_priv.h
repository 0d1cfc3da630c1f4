/* Shared by the files of the DCS codec (dcs_codec.c, dcs_decode.c, dcs_encode.c) only. */
#ifndef PATRONI_DCS_CODEC_PRIV_H
#define PATRONI_DCS_CODEC_PRIV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcs_codec.h"
#include "err.h"

/* `j` as compact JSON text in its own key order; "null" when it cannot be written. A heap
 * string. */
char *dcs_json_text(const json_t *j);
/* The config's standby_cluster value (NULL: absent) into `out`; -1 with *err when present but
 * unusable (out->present stays true, out->valid false). */
int dcs_standby_decode(const json_t *j, dcs_standby *out, char **err);
void dcs_standby_clear(dcs_standby *sb);

/* ---- dcs_decode.c ---- */

void dcs_free_strv(char **v, size_t n);
/* A string member of `obj`, copied; NULL when absent or not a string. */
char *dcs_get_str(const json_t *obj, const char *name);
/* A decimal integer from a JSON integer or a string holding one (Patroni accepts both). */
bool dcs_get_int(const json_t *obj, const char *name, int64_t *out);
/* A non-negative integer. */
bool dcs_get_lsn(const json_t *obj, const char *name, uint64_t *out);
/* Patroni's parse_bool: true, or a string such as "true", "on", "yes", "1". */
bool dcs_get_bool(const json_t *obj, const char *name);
/* A timing in seconds: absent (0, true), 1..DCS_MAX_SECONDS, or refused (0, false). */
bool dcs_get_seconds(const json_t *obj, const char *name, int64_t *out);
/* The value as JSON (any type), or NULL with *err "<what>: not JSON: ...". */
json_t *dcs_parse(const char *value, size_t len, char **err, const char *what);
bool dcs_has_nul(const char *s, size_t len);
/* A name as tandem accepts it from the DCS: 1 to DCS_MAX_NAME bytes, no control character
 * (names reach logs, PostgreSQL's files and application_name). */
bool dcs_name_ok(const char *s, size_t len);
/* `s` (len bytes) is one of v[0..n). */
bool dcs_listed(char *const *v, size_t n, const char *s, size_t len);
/* Splits "a,b , c" into trimmed, non-empty names, each once, at most DCS_MAX_NAMES read; names
 * that are not dcs_name_ok are left out. False when some were left out (duplicates aside). */
bool dcs_split_names(const char *s, char ***out, size_t *n);

#endif
