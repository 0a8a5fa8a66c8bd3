-- Registries: the reference data every pre-call check is judged against. Every change bumps
-- registry_state.version in the same transaction and notifies 'gateway_registry', so each
-- gateway process reloads its in-memory snapshot.
CREATE TABLE registry_state (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
INSERT INTO registry_state (id, version) VALUES (true, 1);

CREATE TABLE policy_document (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    document   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

CREATE TABLE caller_ids (
    number       text PRIMARY KEY,
    purposes     text[] NOT NULL,
    provinces    text[],
    published_at timestamptz,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE scripts (
    script_id          text NOT NULL,
    version            integer NOT NULL CHECK (version > 0),
    title              text NOT NULL,
    text               text NOT NULL,
    status             text NOT NULL CHECK (status IN ('draft', 'approved', 'filed', 'retired')),
    filing_ref         text,
    discloses_identity boolean NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (script_id, version),
    CHECK (status NOT IN ('filed') OR filing_ref IS NOT NULL)
);

CREATE TABLE agents (
    agent_id             text PRIMARY KEY,
    name                 text NOT NULL,
    licence_no           text NOT NULL,
    licence_valid_until  date NOT NULL,
    training_valid_until date NOT NULL,
    purposes             text[] NOT NULL,
    active               boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- An agent's own customers and referrals: the only numbers it may call for appointments.
CREATE TABLE agent_customers (
    agent_id text NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    number   text NOT NULL,
    PRIMARY KEY (agent_id, number)
);

CREATE TABLE campaigns (
    campaign_id text PRIMARY KEY,
    purpose     text NOT NULL CHECK (purpose IN ('marketing', 'appointment', 'callback', 'service')),
    script_ids  text[] NOT NULL,
    caller_ids  text[] NOT NULL,
    list_ids    text[] NOT NULL,
    starts_at   timestamptz,
    ends_at     timestamptz,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Approved call lists, with where they came from and who approved them.
CREATE TABLE call_lists (
    list_id     text PRIMARY KEY,
    provenance  text NOT NULL,
    approved_by text NOT NULL,
    size        integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE call_list_numbers (
    list_id text NOT NULL REFERENCES call_lists (list_id) ON DELETE CASCADE,
    number  text NOT NULL,
    PRIMARY KEY (list_id, number)
);

-- Employee, agent and branch numbers: never a customer's contact number.
CREATE TABLE staff_numbers (
    number     text PRIMARY KEY,
    note       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL
);

-- Operator calendar entries; they win over the built-in statutory calendar.
CREATE TABLE holidays (
    day        date PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('holiday', 'workday', 'restday')),
    name       text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

-- The do-not-call list. Entries are never erased: removal sets ended_at.
CREATE TABLE dnc_entries (
    id               bigserial PRIMARY KEY,
    number           text NOT NULL,
    scope            text NOT NULL CHECK (scope IN ('all', 'marketing')),
    source           text NOT NULL,
    reason           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text NOT NULL,
    expires_at       timestamptz,
    evidence_call_id uuid,
    ended_at         timestamptz,
    ended_by         text,
    end_reason       text
);
CREATE UNIQUE INDEX dnc_entries_one_active ON dnc_entries (number) WHERE ended_at IS NULL;
CREATE INDEX dnc_entries_number ON dnc_entries (number, id);

-- Every pre-call check: the request, the verdict and why, written before the answer is sent.
CREATE TABLE calls (
    call_id        uuid PRIMARY KEY,
    created_at     timestamptz NOT NULL,
    decision       text NOT NULL CHECK (decision IN ('allow', 'deny')),
    reasons        jsonb NOT NULL,
    request        jsonb NOT NULL,
    callee_e164    text,
    caller_id      text NOT NULL,
    agent_id       text NOT NULL,
    campaign_id    text,
    purpose        text NOT NULL,
    list_id        text,
    policy_version text NOT NULL,
    token_name     text NOT NULL,
    request_id     text,
    valid_until    timestamptz NOT NULL
);
CREATE INDEX calls_newest ON calls (created_at DESC, call_id DESC);
CREATE INDEX calls_callee ON calls (callee_e164, created_at DESC);

CREATE FUNCTION calls_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'decisions are append-only';
END $$;
CREATE TRIGGER calls_no_update BEFORE UPDATE OR DELETE ON calls
    FOR EACH ROW EXECUTE FUNCTION calls_append_only();
