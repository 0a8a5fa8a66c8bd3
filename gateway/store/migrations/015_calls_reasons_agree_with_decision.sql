-- migrate: without a transaction
-- A call's reasons are a list, empty exactly when the call was allowed: the answer promises
-- it, and the gateway derives the decision from the reasons. From here on the table holds
-- it too, so that no writer (an older gateway, a script, a hand-made row) can store an
-- allowed call with reasons or a denied one without any.
--
-- Added NOT VALID (checked for every new row, no scan of the old ones), then validated
-- under a lock that lets decisions go on being stored. Adding it takes the table's
-- exclusive lock for a moment; while that lock is waited for, decisions wait behind it.
-- lock_timeout keeps that wait short, and the migration run tries again (docs/OPERATIONS.md,
-- "Schema migrations"). Rows that fail the check, which the gateway never writes, are
-- reported and left as they are: the table is append-only, and the check still holds for
-- every new row. Each statement may be run again.
SET lock_timeout = '200ms';
ALTER TABLE calls DROP CONSTRAINT IF EXISTS calls_reasons_agree;
ALTER TABLE calls ADD CONSTRAINT calls_reasons_agree CHECK (
    jsonb_typeof(reasons) = 'array' AND (decision = 'allow') = (reasons = '[]'::jsonb)
) NOT VALID;
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
RESET lock_timeout;
