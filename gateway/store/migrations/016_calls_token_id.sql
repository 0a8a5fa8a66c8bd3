-- migrate: without a transaction
-- Which token made each check, by id as well as by name: a dialer's retry (the same
-- request_id) is answered from Redis under the token's id, and after Redis has lost its
-- data the gateway puts those answers back from the last day's decisions. Names need not
-- be unique; ids are. Rows from before this migration have none and are not put back.
--
-- Adding a column without a default rewrites nothing, but takes the table's exclusive lock
-- for a moment; lock_timeout keeps decisions from queueing behind it for long, and the
-- migration run starts over after a pause (as in 015). Safe to run again.
SELECT pg_cancel_backend(pid) FROM pg_stat_activity
    WHERE backend_type = 'autovacuum worker' AND datname = current_database()
    AND query ~ '^autovacuum: .*public\.calls( |$)' AND query !~ 'to prevent wraparound';
SET lock_timeout = '200ms';
ALTER TABLE calls ADD COLUMN IF NOT EXISTS token_id text;
RESET lock_timeout;
