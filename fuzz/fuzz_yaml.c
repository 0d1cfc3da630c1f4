/* Fuzzes the YAML configuration reader (cfg_yaml_parse) on arbitrary bytes.
 *
 * Invariants: on success there is no error and every entry has a non-empty dotted key, a line
 * number and at least one value (only a scalar may have a NULL value, `key:`), with no key twice;
 * on failure the error names the file ("fuzz.yaml:...") and the document is left empty. Each
 * scalar entry whose key is a hellod option is then applied with cfg_set_text, as a file would. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_yaml.h"
#include "fuzz_util.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_memdup(data, size);
	cfg_doc doc;
	char *err = NULL;
	if (cfg_yaml_parse(text, size, "fuzz.yaml", &doc, &err) < 0) {
		FUZZ_CHECK(err != NULL, "failure without a message");
		FUZZ_CHECK(strncmp(err, "fuzz.yaml:", 10) == 0, "error does not name the file: %s",
		           err);
		FUZZ_CHECK(doc.n == 0 && doc.entries == NULL, "failure left %zu entries", doc.n);
		free(err);
		free(text);
		return 0;
	}
	FUZZ_CHECK(err == NULL, "success with a message: %s", err);

	hellod_settings s;
	memset(&s, 0, sizeof s);
	for (size_t i = 0; i < doc.n; i++) {
		const cfg_entry *e = &doc.entries[i];
		FUZZ_CHECK(e->key && *e->key, "entry %zu without a key", i);
		FUZZ_CHECK(e->line >= 1, "key '%s' on line %d", e->key, e->line);
		FUZZ_CHECK(e->nvalues >= 1 || e->is_sequence, "key '%s' without values", e->key);
		for (size_t j = 0; j < e->nvalues; j++)
			FUZZ_CHECK(e->values[j] || (!e->is_sequence && e->nvalues == 1),
			           "key '%s': NULL value %zu", e->key, j);
		for (size_t k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(doc.entries[k].key, e->key) != 0, "key '%s' twice",
			           e->key);

		const cfg_option *o = cfg_find(&hellod_options, e->key);
		if (o && !e->is_sequence && strcmp(o->name, "config") != 0) {
			char *serr = NULL;
			if (cfg_set_text(o, &s, e->values[0], "fuzz.yaml:1", &serr) < 0)
				FUZZ_CHECK(serr != NULL, "key '%s' refused without a message",
				           e->key);
			free(serr);
		}
	}
	hellod_settings_free(&s);
	cfg_doc_free(&doc);
	FUZZ_CHECK(doc.n == 0 && doc.entries == NULL, "cfg_doc_free left entries");
	free(text);
	return 0;
}
