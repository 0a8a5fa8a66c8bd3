-- migrate: without a transaction
-- A call's reasons are a list, empty exactly when the call was allowed: the answer promises
-- it, and the gateway derives the decision from the reasons. From here on the table holds
-- it too, so that no writer (an older gateway, a script, a hand-made row) can store an
-- allowed call with reasons or a denied one without any.
--
-- Added NOT VALID (checked for every new row, no scan of the old ones), then validated
-- under a lock that lets decisions go on being stored. Adding it takes the table's
-- exclusive lock for a moment; while that lock is waited for, decisions wait behind it.
-- lock_timeout keeps that wait short, and the migration run starts over after a pause
-- (docs/OPERATIONS.md, "Schema migrations"). An autovacuum of calls would hold the lock
-- up for as long as it runs: PostgreSQL cancels one in a lock's way only after
-- deadlock_timeout (1 s), longer than this wait, so the migration cancels it first, as
-- PostgreSQL would (not one that prevents wraparound; autovacuum comes back later). Rows
-- that fail the check, which the gateway never writes, are reported and left as they
-- are: the table is append-only, and the check still holds for every new row. Each
-- statement may be run again.
SELECT pg_cancel_backend(pid) FROM pg_stat_activity
    WHERE backend_type = 'autovacuum worker' AND datname = current_database()
    AND query ~ '^autovacuum: .*public\.calls( |$)' AND query !~ 'to prevent wraparound';
SET lock_timeout = '200ms';
ALTER TABLE calls DROP CONSTRAINT IF EXISTS calls_reasons_agree;
ALTER TABLE calls ADD CONSTRAINT calls_reasons_agree CHECK (
    jsonb_typeof(reasons) = 'array' AND (decision = 'allow') = (reasons = '[]'::jsonb)
) NOT VALID;
-- Validating takes a lock that lets decisions through; it may wait.
RESET lock_timeout;
DO $$
BEGIN
    ALTER TABLE calls VALIDATE CONSTRAINT calls_reasons_agree;
EXCEPTION WHEN check_violation THEN
    RAISE WARNING USING MESSAGE = 'calls holds rows whose reasons disagree with their '
        || 'decision; the check calls_reasons_agree holds for new rows only (NOT VALID). '
        || 'List them with: SELECT call_id, decision, reasons FROM calls WHERE NOT '
        || '(jsonb_typeof(reasons) = ''array'' AND (decision = ''allow'') = '
        || '(reasons = ''[]''::jsonb))';
END $$;
