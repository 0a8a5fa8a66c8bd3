-- Each run of a scheduled job, keyed by job and scheduled time: the process that inserts
-- the row is the one that does the run, so a run is never done twice.
CREATE TABLE job_runs (
    job          text NOT NULL,
    scheduled_at timestamptz NOT NULL,
    trigger      text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    dry_run      boolean NOT NULL DEFAULT false,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    outcome      text NOT NULL DEFAULT 'running'
                 CHECK (outcome IN ('running', 'done', 'failed', 'skipped')),
    counts       jsonb,
    error        text,
    host         text NOT NULL,
    PRIMARY KEY (job, scheduled_at)
);
CREATE INDEX job_runs_latest ON job_runs (job, started_at DESC);
