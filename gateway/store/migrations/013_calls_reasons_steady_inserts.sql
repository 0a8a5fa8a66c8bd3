-- The reasons index takes each decision's entries as it is written, instead of gathering
-- them in a pending list that the next insert past 4 MB has to merge: that merge made a
-- pre-call check now and then wait tens of milliseconds for its decision to be stored.
ALTER INDEX calls_reasons SET (fastupdate = off);
