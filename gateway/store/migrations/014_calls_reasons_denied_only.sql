-- Only a denied call has reasons (an allowed one stores an empty list), and only reasons
-- are looked up through this index: index the denied calls alone. An allowed decision,
-- most of what the pre-call check writes, then maintains one index fewer; the review
-- query's reason filter says `decision = 'deny'` so that the planner can use it.
DROP INDEX calls_reasons;
CREATE INDEX calls_reasons ON calls USING gin (reasons jsonb_path_ops)
    WITH (fastupdate = off) WHERE decision = 'deny';
