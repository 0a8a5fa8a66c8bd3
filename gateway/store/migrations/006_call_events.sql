-- What happened on each call, as the dialer reports it. Events arrive in any order and
-- may be repeated; an identical repeat is kept once.
CREATE TABLE call_events (
    id          bigserial PRIMARY KEY,
    call_id     uuid NOT NULL REFERENCES calls (call_id),
    type        text NOT NULL CHECK (type IN ('dialed', 'answered', 'ended', 'opt_out',
                                              'complaint')),
    at          timestamptz NOT NULL,
    duration_s  integer CHECK (duration_s >= 0),
    disposition text,
    scope       text CHECK (scope IN ('all', 'marketing')),
    fingerprint text NOT NULL,
    token_name  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (call_id, fingerprint)
);
CREATE INDEX call_events_call ON call_events (call_id, at);

-- Calls that broke the rules, found when an event arrives or by the nightly jobs, for a
-- supervisor to acknowledge and resolve.
CREATE TABLE compliance_exceptions (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL,
    call_id    uuid,
    detail     jsonb NOT NULL,
    state      text NOT NULL DEFAULT 'open'
               CHECK (state IN ('open', 'acknowledged', 'resolved')),
    note       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text
);
CREATE UNIQUE INDEX compliance_exceptions_once ON compliance_exceptions (kind, call_id)
    WHERE call_id IS NOT NULL;
CREATE INDEX compliance_exceptions_open ON compliance_exceptions (state, created_at DESC);
