-- pgbench script: hellod's PUT statement, an upsert of an almost always new letters-only user.
\set r random(1, 1000000000)
INSERT INTO hello_users (username, date_of_birth)
 VALUES (translate(:r::text, '0123456789', 'abcdefghij'), '1990-05-17'::date)
 ON CONFLICT (username) DO UPDATE SET date_of_birth = EXCLUDED.date_of_birth, updated_at = now();
