/* hellod's data: the schema, created and migrated by the service itself, and the two statements it
 * runs. The setup SQL runs on every new connection; it takes a transaction-scoped advisory lock, so
 * any number of instances starting at once migrate one database safely, one after the other. */
#ifndef HELLOD_STORE_H
#define HELLOD_STORE_H

#include <stddef.h>

#include "pgpool.h"

#define STORE_GET "hellod_get_user"
#define STORE_PUT "hellod_put_user"

/* The schema version this build creates. */
enum { STORE_SCHEMA_VERSION = 1 };

extern const char store_setup_sql[];
extern const pg_statement store_statements[];
extern const size_t store_nstatements;

#endif
