/* Fuzzes the `backup` key's value (src/backup/backup_state.c), which whoever can write to etcd
 * chooses: backup_state_parse on arbitrary bytes, then what the runner and tandemctl do with it.
 *
 * Invariants: a failure has a message; what was read stays within its bounds; encoding it and
 * reading that back gives the same text again (a fixed point after one round); the runner's next
 * step (backup_due_next), a lookup and the verify answer never crash, and a request the record
 * names is one of its requests. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup_choice.h"
#include "backup_state.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	if (size)
		memcpy(copy, data, size);
	backup_state st;
	char *err = NULL;
	if (backup_state_parse(copy, size, &st, &err) != 0) {
		FUZZ_CHECK(err != NULL, "a failure without a message");
		free(err);
		backup_state_free(&st);
		free(copy);
		return 0;
	}
	FUZZ_CHECK(st.nrequests <= BACKUP_MAX_REQUESTS && st.nhistory <= BACKUP_MAX_HISTORY,
	           "%zu requests, %zu runs", st.nrequests, st.nhistory);
	char *text = backup_state_encode(&st);
	backup_state back;
	FUZZ_CHECK(backup_state_parse(text, strlen(text), &back, NULL) == 0, "%s unreadable", text);
	char *again = backup_state_encode(&back);
	FUZZ_CHECK(strcmp(text, again) == 0, "%s became %s", text, again);
	int64_t fires[BACKUP_NTYPES] = {1, 2, 3};
	backup_due d = backup_due_next(&st, fires, 100);
	if (d.run && d.request && strcmp(d.reason, "request") == 0)
		FUZZ_CHECK(strcmp(d.request, st.requests[0].id) == 0, "request %s", d.request);
	(void)backup_state_find(&st, "x");
	int v = backup_state_verify(&st);
	FUZZ_CHECK(v >= -1 && v <= 1, "verify %d", v);
	free(text);
	free(again);
	backup_state_free(&back);
	backup_state_free(&st);
	free(copy);
	return 0;
}
