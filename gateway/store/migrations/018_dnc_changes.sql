-- Every change to the do-not-call list is numbered, in commit order, and kept with what it
-- does to the Redis cache. Redis records the number of the last change it has applied; a
-- check that knows of a later change (its own process made it, or PostgreSQL announced it)
-- is denied as degraded until the cache has caught up, and any process brings the cache
-- up to date by replaying the missing changes in order. So a change that was acknowledged
-- while Redis was unreachable, or that Redis lost, is never forgotten.
--
-- The counter is one row: a transaction that changes the list takes the next number as its
-- last statement and holds the row until it commits, so numbers are gap-free and in the
-- order the changes became visible.
CREATE TABLE dnc_change_seq (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    value bigint NOT NULL
);
INSERT INTO dnc_change_seq (value) VALUES (0);

CREATE TABLE dnc_changes (
    seq bigint PRIMARY KEY,
    made_at timestamptz NOT NULL DEFAULT now(),
    kind text NOT NULL,
    -- the cache's lines "<digits> <value>\n", an empty value taking the number out
    lines text NOT NULL,
    numbers integer NOT NULL
);
