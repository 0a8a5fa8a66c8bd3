-- Scrubs of large lists run in the background; any gateway process answers for them.
CREATE TABLE scrub_jobs (
    job_id      uuid PRIMARY KEY,
    campaign_id text,
    purpose     text NOT NULL,
    state       text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    processed   integer NOT NULL DEFAULT 0,
    total       integer NOT NULL,
    error       text,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE scrub_results (
    job_id      uuid NOT NULL REFERENCES scrub_jobs (job_id) ON DELETE CASCADE,
    line        integer NOT NULL,
    input       text NOT NULL,
    callee_e164 text,
    callable    boolean NOT NULL,
    reasons     text NOT NULL,
    PRIMARY KEY (job_id, line)
);
