#include "store.h"

/* Runs as one implicit transaction (a multi-statement simple query). Each migration step is
 * guarded by the recorded version; a database already at a newer version (migrated by a newer
 * hellod during a rolling upgrade) is left alone. */
const char store_setup_sql[] =
    "SELECT pg_advisory_xact_lock(4242424242);"
    "CREATE TABLE IF NOT EXISTS hellod_schema (version integer NOT NULL);"
    "INSERT INTO hellod_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT FROM hellod_schema);"
    "DO $$ BEGIN"
    "  IF (SELECT version FROM hellod_schema) < 1 THEN"
    "    CREATE TABLE hello_users ("
    "      username text PRIMARY KEY CHECK (username ~ '^[A-Za-z]{1,64}$'),"
    "      date_of_birth date NOT NULL,"
    "      updated_at timestamptz NOT NULL DEFAULT now());"
    "    UPDATE hellod_schema SET version = 1;"
    "  END IF;"
    "END $$;";

const pg_statement store_statements[] = {
    {STORE_GET, "SELECT to_char(date_of_birth, 'YYYY-MM-DD') FROM hello_users WHERE username = $1",
     1},
    {STORE_PUT,
     "INSERT INTO hello_users (username, date_of_birth) VALUES ($1, $2::date) "
     "ON CONFLICT (username) DO UPDATE SET date_of_birth = EXCLUDED.date_of_birth, "
     "updated_at = now()",
     2},
    {STORE_POSITION,
     "SELECT pg_current_wal_insert_lsn()::text, pg_walfile_name(pg_current_wal_insert_lsn())", 0},
};

const size_t store_nstatements = sizeof store_statements / sizeof store_statements[0];

const pg_statement store_read_statements[] = {
    {STORE_GET, "SELECT to_char(date_of_birth, 'YYYY-MM-DD') FROM hello_users WHERE username = $1",
     1},
    {STORE_REPLICA,
     "SELECT pg_last_wal_replay_lsn()::text, (SELECT received_tli FROM pg_stat_wal_receiver)", 0},
};

const size_t store_read_nstatements =
    sizeof store_read_statements / sizeof store_read_statements[0];
