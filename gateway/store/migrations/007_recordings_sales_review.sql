-- One recording per call, stored twice. A row in state 'uploading' claims the call while
-- its upload runs; only a 'stored' row describes files on disk.
CREATE TABLE recordings (
    call_id      uuid PRIMARY KEY REFERENCES calls (call_id),
    state        text NOT NULL CHECK (state IN ('uploading', 'stored')),
    key          text,
    sha256       text,
    size         bigint,
    content_type text NOT NULL,
    token_name   text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    stored_at    timestamptz,
    CHECK (state = 'uploading' OR (key IS NOT NULL AND sha256 IS NOT NULL AND size IS NOT NULL))
);
CREATE INDEX recordings_stored ON recordings (stored_at) WHERE state = 'stored';

-- A sale made on a call: its recording is kept for years after the contract ends.
CREATE TABLE call_sales (
    call_id       uuid PRIMARY KEY REFERENCES calls (call_id),
    policy_no     text NOT NULL,
    term_months   integer NOT NULL CHECK (term_months > 0),
    terminated_at timestamptz,
    linked_by     text NOT NULL,
    linked_at     timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Legal hold: a held call's recording is never deleted, whatever its retention date.
CREATE TABLE call_holds (
    call_id uuid PRIMARY KEY REFERENCES calls (call_id),
    hold    boolean NOT NULL,
    reason  text NOT NULL,
    set_by  text NOT NULL,
    set_at  timestamptz NOT NULL DEFAULT now()
);

-- Review filters, newest first.
CREATE INDEX calls_agent ON calls (agent_id, created_at DESC, call_id DESC);
CREATE INDEX calls_campaign ON calls (campaign_id, created_at DESC, call_id DESC);
CREATE INDEX calls_reasons ON calls USING gin (reasons jsonb_path_ops);
