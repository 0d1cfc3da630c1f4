/* Fuzzes the log's JSON lines (src/lib/log_json.c, log_format_json): the context and the
 * message come from the input (before and after its first newline), as a peer's address, an
 * etcd error or a PostgreSQL message can put any bytes into a log line.
 *
 * Invariants: the line ends with exactly one newline, which is its only newline; the rest parses
 * as a JSON object with string members time, level, context and message; when the message is
 * valid UTF-8 (jansson accepts it as a string), the decoded message is exactly the input's. */
#include <jansson.h>
#include <string.h>

#include "fuzz_util.h"
#include "log.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	char *nl = strchr(text, '\n');
	const char *ctx = "", *msg = text;
	if (nl) {
		*nl = '\0';
		ctx = text;
		msg = nl + 1;
	}
	strbuf out = STRBUF_INIT;
	log_format_json(&out, "2026-01-02T03:04:05.678Z", "info", ctx, msg);
	FUZZ_CHECK(out.len > 0 && out.data[out.len - 1] == '\n', "no final newline");
	FUZZ_CHECK(memchr(out.data, '\n', out.len - 1) == NULL, "a newline inside the line");
	json_error_t je;
	json_t *j = json_loadb(out.data, out.len - 1, 0, &je);
	FUZZ_CHECK(json_is_object(j), "not a JSON object (%s): %s", je.text, out.data);
	static const char *const keys[] = {"time", "level", "context", "message"};
	for (size_t i = 0; i < 4; i++)
		FUZZ_CHECK(json_is_string(json_object_get(j, keys[i])), "%s is not a string",
		           keys[i]);
	json_t *want = json_string(msg);
	if (want)
		FUZZ_CHECK(json_equal(want, json_object_get(j, "message")),
		           "the message changed: %s", out.data);
	json_decref(want);
	json_decref(j);
	sb_free(&out);
	free(text);
	return 0;
}
