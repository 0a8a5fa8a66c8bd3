-- migrate: without a transaction
-- Which rule code judged each check (gateway.revision.RULES_REVISION: the package version
-- and a hash of the policy package and the check script), as its answer gave it: a
-- decision is explained by the rules that made it, even years later, and a retry answered
-- from the stored decision gets the revision it was made with. Rows from before this
-- migration have none (NULL): their answers carried none, and are put back without it.
--
-- Adding a column without a default rewrites nothing, but takes the table's exclusive lock
-- for a moment; lock_timeout keeps decisions from queueing behind it for long, and the
-- migration run starts over after a pause (as in 015). Safe to run again.
SELECT pg_cancel_backend(pid) FROM pg_stat_activity
    WHERE backend_type = 'autovacuum worker' AND datname = current_database()
    AND query ~ '^autovacuum: .*public\.calls( |$)' AND query !~ 'to prevent wraparound';
SET lock_timeout = '200ms';
ALTER TABLE calls ADD COLUMN IF NOT EXISTS rules_revision text;
RESET lock_timeout;
