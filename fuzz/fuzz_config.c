/* Fuzzes option conversion: the input (a NUL-terminated copy) is given as the value of every
 * option of hellod's table with cfg_set_text, each into a zeroed hellod_settings that is freed
 * with hellod_settings_free.
 *
 * Invariants: a refused value has a message that starts with its origin and names the option,
 * and leaves the setting untouched; an accepted number is within the option's bounds; the value
 * as printed (cfg_format) is accepted again and gives the same setting. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "fuzz_util.h"
#include "options.h"

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_strndup(data, size);
	for (size_t i = 0; i < hellod_options.n; i++) {
		const cfg_option *o = &hellod_options.options[i];
		hellod_settings s;
		memset(&s, 0, sizeof s);
		char *err = NULL;
		if (cfg_set_text(o, &s, value, "fuzz", &err) < 0) {
			FUZZ_CHECK(err != NULL, "--%s refused '%s' without a message", o->name,
			           value);
			FUZZ_CHECK(strncmp(err, "fuzz: ", 6) == 0 && strstr(err, o->name),
			           "--%s: the message does not name origin and option: %s", o->name,
			           err);
			FUZZ_CHECK(all_zero(&s, sizeof s),
			           "--%s: a refused value changed the settings", o->name);
			free(err);
			hellod_settings_free(&s);
			continue;
		}
		FUZZ_CHECK(err == NULL, "--%s: success with a message: %s", o->name, err);
		const void *slot = (const char *)&s + o->offset;
		if ((o->type == CFG_INT || o->type == CFG_DURATION || o->type == CFG_SIZE) &&
		    (o->min || o->max)) {
			long long v = *(const long long *)slot;
			FUZZ_CHECK(v >= o->min && v <= o->max,
			           "--%s '%s' gave %lld, out of %lld..%lld", o->name, value, v,
			           o->min, o->max);
		}

		char *text = cfg_format(o, &s);
		FUZZ_CHECK(text != NULL, "--%s: no formatted value", o->name);
		hellod_settings again;
		memset(&again, 0, sizeof again);
		char *err2 = NULL;
		int rc = cfg_set_text(o, &again, text, "fuzz", &err2);
		/* A list option with no items prints as "", which its check may refuse. */
		if (!(rc < 0 && o->type == CFG_LIST && *text == '\0')) {
			FUZZ_CHECK(rc == 0,
			           "--%s: '%s' was accepted, its printed form '%s' is not: %s",
			           o->name, value, text, err2 ? err2 : "");
			FUZZ_CHECK(!cfg_differs(o, &s, &again),
			           "--%s: '%s' printed as '%s' reads back differently", o->name,
			           value, text);
		}
		free(err2);
		free(text);
		hellod_settings_free(&again);
		hellod_settings_free(&s);
	}
	free(value);
	return 0;
}
