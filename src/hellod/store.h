/* hellod's data: the schema, created and migrated by the service itself, and the two statements it
 * runs. The setup SQL runs on every new connection; it takes a transaction-scoped advisory lock, so
 * any number of instances starting at once migrate one database safely, one after the other. */
#ifndef HELLOD_STORE_H
#define HELLOD_STORE_H

#include <stddef.h>

#include "pgpool.h"

#define STORE_GET "hellod_get_user"
#define STORE_PUT "hellod_put_user"
/* On the primary, after a commit: the WAL insert position (text) and the name of its WAL file,
 * whose first 8 hexadecimal digits are the timeline. */
#define STORE_POSITION "hellod_wal_position"
/* On a replica: the position replayed (text, NULL on a primary) and the timeline received (NULL
 * without a WAL receiver, or without the privileges of pg_read_all_stats). */
#define STORE_REPLICA "hellod_replica_position"

/* The schema version this build creates. */
enum { STORE_SCHEMA_VERSION = 1 };

extern const char store_setup_sql[];
extern const pg_statement store_statements[];
extern const size_t store_nstatements;
/* The statements of the read pool (read-from local). */
extern const pg_statement store_read_statements[];
extern const size_t store_read_nstatements;

#endif
