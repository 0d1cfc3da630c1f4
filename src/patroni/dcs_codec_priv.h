/* Shared by the files of the DCS codec (dcs_codec.c, dcs_encode.c) only. */
#ifndef PATRONI_DCS_CODEC_PRIV_H
#define PATRONI_DCS_CODEC_PRIV_H

#include <jansson.h>

/* `j` as compact JSON text in its own key order; "null" when it cannot be written. A heap
 * string. */
char *dcs_json_text(const json_t *j);

#endif
