-- migrate: without a transaction
-- Only a denied call has reasons (an allowed one stores an empty list), and only reasons
-- are looked up through this index: index the denied calls alone. An allowed decision,
-- most of what the pre-call check writes, then maintains one index fewer; the review
-- query's reason filter says `decision = 'deny'` so that the planner can use it.
--
-- Built concurrently, so that pre-call checks go on storing their decisions meanwhile. Each
-- statement may be run again: an interrupted build leaves an invalid calls_reasons_denied,
-- which the first statement removes.
DROP INDEX CONCURRENTLY IF EXISTS calls_reasons_denied;
CREATE INDEX CONCURRENTLY calls_reasons_denied ON calls USING gin (reasons jsonb_path_ops)
    WITH (fastupdate = off) WHERE decision = 'deny';
DROP INDEX CONCURRENTLY IF EXISTS calls_reasons;
ALTER INDEX calls_reasons_denied RENAME TO calls_reasons;
