/* The `shutdown_checkpoint` key and the end of the record it names (dcs_ckpt.h). */
#include "dcs_ckpt.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "dcs_codec.h"
#include "dcs_codec_priv.h"

enum { WAL_PAGE = 8192, PAGE_HEADER = 24, LONG_PAGE_HEADER = 40, MAX_RECORD = 1 << 30 };

char *dcs_ckpt_encode(const dcs_ckpt *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "sysid", json_string(c->sysid));
	json_object_set_new(o, "timeline", json_integer(c->timeline));
	json_object_set_new(o, "lsn", json_integer((json_int_t)(c->lsn & INT64_MAX)));
	json_object_set_new(o, "end", json_integer((json_int_t)(c->end & INT64_MAX)));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

int dcs_ckpt_decode(const char *text, dcs_ckpt *out, char **err)
{
	memset(out, 0, sizeof *out);
	json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
	const char *sysid = json_string_value(json_object_get(j, "sysid"));
	const json_t *tl = json_object_get(j, "timeline"), *lsn = json_object_get(j, "lsn"),
	             *end = json_object_get(j, "end");
	int rc = -1;
	if (!json_is_object(j))
		err_set(err, "shutdown_checkpoint: not a JSON object");
	else if (!sysid || !*sysid || strlen(sysid) >= sizeof out->sysid ||
	         strspn(sysid, "0123456789") != strlen(sysid))
		err_set(err, "shutdown_checkpoint: sysid is not a system identifier");
	else if (!json_is_integer(tl) || json_integer_value(tl) < 1 ||
	         json_integer_value(tl) > DCS_MAX_TIMELINE)
		err_set(err, "shutdown_checkpoint: timeline is not 1 to %lld",
		        (long long)DCS_MAX_TIMELINE);
	else if (!json_is_integer(lsn) || !json_is_integer(end) || json_integer_value(lsn) < 0 ||
	         json_integer_value(end) <= json_integer_value(lsn))
		err_set(err, "shutdown_checkpoint: lsn and end are not two positions, lsn first");
	else {
		memcpy(out->sysid, sysid, strlen(sysid) + 1);
		out->timeline = json_integer_value(tl);
		out->lsn = (uint64_t)json_integer_value(lsn);
		out->end = (uint64_t)json_integer_value(end);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

uint64_t dcs_ckpt_record_end(uint64_t start, uint32_t tot_len, uint64_t seg_size)
{
	if (!tot_len || tot_len > MAX_RECORD || start % 8 || start % WAL_PAGE < PAGE_HEADER ||
	    seg_size < WAL_PAGE || seg_size % WAL_PAGE || start > UINT64_MAX / 2)
		return 0;
	uint64_t pos = start, left = tot_len;
	for (;;) {
		uint64_t page_end = (pos / WAL_PAGE + 1) * WAL_PAGE;
		if (left <= page_end - pos)
			return (pos + left + 7) & ~(uint64_t)7;
		left -= page_end - pos;
		pos = page_end + (page_end % seg_size == 0 ? LONG_PAGE_HEADER : PAGE_HEADER);
	}
}

uint32_t dcs_ckpt_waldump_len(const char *out)
{
	const char *line = out ? strstr(out, "desc: CHECKPOINT_SHUTDOWN") : NULL;
	if (!line)
		return 0;
	while (line > out && line[-1] != '\n')
		line--;
	const char *p = strstr(line, "len (rec/tot):");
	const char *nl = strchr(line, '\n');
	if (!p || (nl && p > nl) || !(p = strchr(p + strlen("len (rec/tot):"), '/')))
		return 0;
	char *e;
	unsigned long v = strtoul(p + 1, &e, 10);
	return e != p + 1 && v > 0 && v <= MAX_RECORD ? (uint32_t)v : 0;
}
