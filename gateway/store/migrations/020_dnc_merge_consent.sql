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
