/* The pgbouncer: section's checks (pooler_options.h). */
#include <stddef.h>
#include <string.h>

#include "options.h"
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
	for (size_t i = 0; i < s->pgbouncer_admin.n; i++)
		if (!s->pgbouncer_admin.v[i][0]) {
			err_set(err, "pgbouncer.admin: entry %zu is empty", i + 1);
			return -1;
		}
	return 0;
}
