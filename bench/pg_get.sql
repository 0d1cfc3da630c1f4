-- pgbench script: hellod's GET query, one primary-key lookup by a preloaded username.
-- The preloaded usernames are derived from their id (see bench/hellod.sh), so the name is
-- computed in the query from a random id instead of being sent as text.
\set id random(1, 10000)
SELECT to_char(date_of_birth, 'YYYY-MM-DD') FROM hello_users
 WHERE username = translate(left(md5(:id::text), 16), '0123456789', 'ghijklmnop');
