-- A scrub job's results are kept as CSV text, one row per chunk of lines in order, rather
-- than one row per number: a job of millions of numbers writes hundreds of rows, not
-- millions. Results already stored are carried over as one chunk per job.
CREATE TABLE scrub_result_chunks (
    job_id uuid NOT NULL REFERENCES scrub_jobs (job_id) ON DELETE CASCADE,
    chunk  integer NOT NULL,
    lines  integer NOT NULL,
    csv    text NOT NULL,
    PRIMARY KEY (job_id, chunk)
);

INSERT INTO scrub_result_chunks (job_id, chunk, lines, csv)
SELECT job_id, 0, count(*), string_agg(
    CASE WHEN input ~ '[",\r\n]' THEN '"' || replace(input, '"', '""') || '"' ELSE input END
    || ',' || coalesce(callee_e164, '') || ',' || CASE WHEN callable THEN 'true' ELSE 'false' END
    || ',' || reasons || E'\n', '' ORDER BY line)
FROM scrub_results GROUP BY job_id;

DROP TABLE scrub_results;
