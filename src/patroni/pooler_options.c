/* The pgbouncer: section's checks (pooler_options.h). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "pgpool.h"
#include "pooler_options.h"

bool tandemd_pooler_on(const tandemd_settings *s)
{
	return s->pgbouncer_admin.n > 0;
}

int pooler_check_settings(const tandemd_settings *s, char **err)
{
	bool route = s->pgbouncer_route && s->pgbouncer_route[0];
	if (tandemd_pooler_on(s) && !route) {
		err_set(err, "pgbouncer.admin needs pgbouncer.route: the connection string through "
		             "which the PgBouncers reach the primary, to know when to resume them");
		return -1;
	}
	char *why = NULL;
	for (size_t i = 0; i < s->pgbouncer_admin.n; i++) {
		if (!s->pgbouncer_admin.v[i][0]) {
			err_set(err, "pgbouncer.admin: entry %zu is empty", i + 1);
			return -1;
		}
		/* Refused when the file is read, not at the first handover that needs it. */
		if (pgpool_check_conninfo(s->pgbouncer_admin.v[i], &why) != 0) {
			err_set(err, "pgbouncer.admin: entry %zu: %s", i + 1, why);
			free(why);
			return -1;
		}
	}
	if (route && pgpool_check_conninfo(s->pgbouncer_route, &why) != 0) {
		err_set(err, "pgbouncer.route: %s", why);
		free(why);
		return -1;
	}
	return 0;
}
