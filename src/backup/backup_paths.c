#include "backup_paths.h"

#include <stdlib.h>

#include "backup_options.h"
#include "err.h"

char *backup_conf_path(const tandemd_settings *s)
{
	return s->backup_config ? xstrdup(s->backup_config)
	                        : xasprintf("%s.pgbackrest.conf", s->data_dir);
}

char *backup_spool_path(const tandemd_settings *s)
{
	return s->backup_spool_path ? xstrdup(s->backup_spool_path)
	                            : xasprintf("%s.pgbackrest", s->data_dir);
}

char *backup_drill_path(const tandemd_settings *s)
{
	return s->backup_drill_path ? xstrdup(s->backup_drill_path)
	                            : xasprintf("%s.drill", s->data_dir);
}

void backup_conf_in(const tandemd_settings *s, const char *spool, const pgbr_pg *pg, size_t npg,
                    pgbr_conf_in *out)
{
	*out = (pgbr_conf_in){.stanza = tandemd_backup_stanza(s),
	                      .global = &s->backup_pgbackrest,
	                      .spool_path = spool,
	                      .archive_async = s->backup_archive_async,
	                      .process_max = s->backup_process_max,
	                      .archive_push_queue_max = s->backup_archive_push_queue_max,
	                      .retention_full = s->backup_retention_full,
	                      .pg = pg,
	                      .npg = npg};
}
