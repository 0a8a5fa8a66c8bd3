-- Do-not-call entries merge and never weaken by accident.
-- supersedes: the active entry a new one took over from (merged with, or replaced), so
--   the start of an unbroken blocking can be followed back ("since when, and why").
-- refusal_made_at: when the newest customer refusal an entry holds was made; the entry
--   is protected for six calendar months (never fewer than 183 days) from then.
-- consent_evidence: on an entry that was ended or weakened inside that protection, where
--   the customer asked to be called again.
ALTER TABLE dnc_entries
    ADD COLUMN supersedes bigint,
    ADD COLUMN refusal_made_at timestamptz,
    ADD COLUMN consent_evidence text;

UPDATE dnc_entries SET refusal_made_at = created_at WHERE source = 'customer_refusal';

-- An active entry also holds a refusal made before it that the previous release let a
-- later listing take over (a supervisor's change of scope or expiry ended the refusal as
-- superseded), or kept without a row of its own (an opt-out that matched an entry
-- already there): its protection counts from the newest such refusal.
UPDATE dnc_entries e SET refusal_made_at = r.made
FROM (
    SELECT number, max(made) AS made
    FROM (
        SELECT number, created_at AS made FROM dnc_entries
        WHERE source = 'customer_refusal' AND end_reason = 'superseded by a new entry'
        UNION ALL
        SELECT c.callee_e164, ev.received_at
        FROM call_events ev JOIN calls c ON c.call_id = ev.call_id
        WHERE ev.type = 'opt_out' AND c.callee_e164 IS NOT NULL
    ) refusals
    GROUP BY number
) r
WHERE e.number = r.number AND e.ended_at IS NULL
  AND (e.refusal_made_at IS NULL OR e.refusal_made_at < r.made);
