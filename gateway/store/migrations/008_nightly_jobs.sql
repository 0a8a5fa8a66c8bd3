-- What the retention job removed: the call, the files' key and hash, when and why.
-- A tombstone is written in the same transaction that drops the recording row; the
-- files go after it, and files_removed records that they did (a crash in between is
-- finished on the next run).
CREATE TABLE recording_tombstones (
    call_id          uuid PRIMARY KEY REFERENCES calls (call_id),
    key              text NOT NULL,
    sha256           text NOT NULL,
    size             bigint NOT NULL,
    retention_until  timestamptz NOT NULL,
    reason           text NOT NULL,
    deleted_at       timestamptz NOT NULL DEFAULT now(),
    files_removed    boolean NOT NULL DEFAULT false
);
CREATE INDEX recording_tombstones_pending ON recording_tombstones (deleted_at)
    WHERE NOT files_removed;

-- Where the integrity job's rotating sample of older recordings goes on from.
CREATE TABLE integrity_cursor (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    call_id uuid NOT NULL
);

-- Call detail records from the switch or PBX, matched against the gateway's decisions.
CREATE TABLE cdrs (
    id          bigserial PRIMARY KEY,
    caller      text NOT NULL,
    callee_e164 text,
    callee_raw  text NOT NULL,
    start_at    timestamptz NOT NULL,
    end_at      timestamptz,
    call_id     uuid,
    received_at timestamptz NOT NULL DEFAULT now(),
    received_by text NOT NULL,
    matched     boolean,
    finding     text
);
CREATE INDEX cdrs_unmatched ON cdrs (id) WHERE matched IS NULL;
CREATE INDEX calls_answered_events ON call_events (at) WHERE type = 'answered';

-- Daily report rows: per Beijing day, campaign and agent.
CREATE TABLE daily_reports (
    day         date NOT NULL,
    campaign_id text NOT NULL,
    agent_id    text NOT NULL,
    figures     jsonb NOT NULL,
    made_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, campaign_id, agent_id)
);

-- The retention date of a call's recording, as gateway.policy.retention computes it (a
-- test holds the two to the same answers): no sale, the policy's days after the call; a
-- sale, 5 years (term <= 12 months) or 10 years after the contract ends, 29 February
-- moving to 1 March; NULL while the contract is in force. Times in UTC.
CREATE FUNCTION add_years_utc(t timestamptz, years integer) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE WHEN to_char(t AT TIME ZONE 'UTC', 'MM-DD') = '02-29'
                 THEN (t AT TIME ZONE 'UTC') + make_interval(years => years) + interval '1 day'
                 ELSE (t AT TIME ZONE 'UTC') + make_interval(years => years)
            END) AT TIME ZONE 'UTC'
$$;

CREATE FUNCTION recording_retention_until(
    call_time timestamptz, no_sale_days integer, term_months integer, terminated_at timestamptz
) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN term_months IS NULL THEN call_time + make_interval(days => no_sale_days)
        WHEN terminated_at IS NULL THEN NULL
        WHEN term_months <= 12 THEN add_years_utc(terminated_at, 5)
        ELSE add_years_utc(terminated_at, 10)
    END
$$;
