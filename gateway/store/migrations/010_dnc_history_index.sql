-- Bulk imports insert active entries only: keep the index they must maintain to the one
-- that enforces a single active entry per number. Ended entries (history) get their own
-- partial index, written when an entry ends.
DROP INDEX dnc_entries_number;
CREATE INDEX dnc_entries_ended ON dnc_entries (number) WHERE ended_at IS NOT NULL;
