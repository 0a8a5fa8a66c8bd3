-- A call may sell several policies, and a policy's term and termination are its own (one
-- row per policy, changed only by a supervisor), not each call's. Disputes keep a call's
-- recording; policies of more than a year get a return visit (回访) in the cooling-off
-- period.

CREATE TABLE policies (
    policy_no     text PRIMARY KEY,
    term_months   integer NOT NULL CHECK (term_months > 0),
    terminated_at timestamptz,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The policies sold on a call. `signed_at` starts the return visit's cooling-off period.
CREATE TABLE call_policies (
    call_id   uuid NOT NULL REFERENCES calls (call_id),
    policy_no text NOT NULL REFERENCES policies (policy_no),
    signed_at timestamptz NOT NULL,
    linked_by text NOT NULL,
    linked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, policy_no)
);
CREATE INDEX call_policies_policy ON call_policies (policy_no);

-- Every sale linked so far becomes a policy linked to its call. The old table allowed one
-- policy number on two calls with different terms; the policy takes the terms that keep
-- its calls longest (in force first, then the latest end of retention), and the old table
-- stays, renamed, with every row as it was.
INSERT INTO policies (policy_no, term_months, terminated_at, created_by, created_at, updated_at)
SELECT DISTINCT ON (policy_no) policy_no, term_months, terminated_at, linked_by, linked_at,
       updated_at
FROM call_sales
ORDER BY policy_no,
         add_years_utc(terminated_at, CASE WHEN term_months <= 12 THEN 5 ELSE 10 END)
             DESC NULLS FIRST,
         linked_at;
INSERT INTO call_policies (call_id, policy_no, signed_at, linked_by, linked_at)
SELECT call_id, policy_no, linked_at, linked_by, linked_at FROM call_sales;
ALTER TABLE call_sales RENAME TO call_sales_before_022;
COMMENT ON TABLE call_sales_before_022 IS
    'Sales as linked before migration 022, kept as they were; read policies and call_policies';

-- The policy a return-visit (callback) call visited, when a supervisor named it after the
-- call. A call whose check named `policy_no` has it in its stored request instead.
CREATE TABLE call_visits (
    call_id   uuid PRIMARY KEY REFERENCES calls (call_id),
    policy_no text NOT NULL REFERENCES policies (policy_no),
    named_by  text NOT NULL,
    named_at  timestamptz NOT NULL DEFAULT now()
);

-- A return visit per policy of more than a year sold on a sales call, due by the end of
-- the cooling-off period.
CREATE TABLE return_visits (
    id              bigserial PRIMARY KEY,
    policy_no       text NOT NULL UNIQUE REFERENCES policies (policy_no),
    sales_call_id   uuid NOT NULL REFERENCES calls (call_id),
    seller_agent_id text NOT NULL,
    campaign_id     text,
    signed_at       timestamptz NOT NULL,
    due_by          timestamptz NOT NULL,
    done_at         timestamptz,
    done_call_id    uuid REFERENCES calls (call_id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX return_visits_due ON return_visits (due_by);

-- Complaints, litigation and regulators' enquiries about a call: while one is open, and
-- for two years after it closed, the call's recording is kept.
CREATE TABLE disputes (
    id        bigserial PRIMARY KEY,
    call_id   uuid NOT NULL REFERENCES calls (call_id),
    kind      text NOT NULL CHECK (kind IN ('complaint', 'litigation', 'regulator')),
    ref       text NOT NULL,
    event_id  bigint UNIQUE REFERENCES call_events (id),
    opened_by text NOT NULL,
    opened_at timestamptz NOT NULL,
    closed_at timestamptz,
    closed_by text,
    note      text
);
CREATE INDEX disputes_call ON disputes (call_id);

ALTER TABLE call_events DROP CONSTRAINT call_events_type_check;
ALTER TABLE call_events ADD CONSTRAINT call_events_type_check CHECK (
    type IN ('dialed', 'answered', 'ended', 'opt_out', 'complaint', 'visit_completed'));

-- The policy a callback call visited: named by its check, else by a supervisor.
CREATE FUNCTION call_visited_policy(p_call_id uuid, purpose text, request jsonb)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN purpose = 'callback' THEN coalesce(
        request ->> 'policy_no',
        (SELECT v.policy_no FROM call_visits v WHERE v.call_id = p_call_id))
    END
$$;

-- The retention date of a call, as gateway.policy.retention.retention_until computes it
-- (a test holds the two to the same answers): the longest-lived of its policies (those
-- sold on it and the one it visited), NULL while any is in force; 5 years after the end
-- of a policy of 12 months or less, 10 years otherwise and for a return visit, which is
-- also kept at least 10 years from the call; any other call never less than
-- `no_sale_days` after it. Without a policy: `no_sale_days` after the call, and a return
-- visit is kept (NULL).
CREATE FUNCTION call_retention_until(
    p_call_id uuid, call_time timestamptz, purpose text, visited text, no_sale_days integer
) RETURNS timestamptz LANGUAGE sql STABLE AS $$
    WITH terms AS (
        SELECT p.term_months, p.terminated_at
        FROM call_policies cp JOIN policies p USING (policy_no) WHERE cp.call_id = p_call_id
        UNION ALL
        SELECT p.term_months, p.terminated_at FROM policies p WHERE p.policy_no = visited
    ), ends AS (
        SELECT CASE
            WHEN terminated_at IS NULL THEN NULL
            WHEN purpose = 'callback' OR term_months > 12 THEN add_years_utc(terminated_at, 10)
            ELSE add_years_utc(terminated_at, 5)
        END AS kept FROM terms
    )
    SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM ends) THEN CASE
            WHEN purpose = 'callback' THEN NULL
            ELSE call_time + make_interval(days => greatest(least(no_sale_days, 36500), 90))
        END
        WHEN EXISTS (SELECT 1 FROM ends WHERE kept IS NULL) THEN NULL
        WHEN purpose = 'callback'
            THEN greatest((SELECT max(kept) FROM ends), add_years_utc(call_time, 10))
        ELSE greatest((SELECT max(kept) FROM ends),
                      call_time + make_interval(days => greatest(least(no_sale_days, 36500), 90)))
    END
$$;

-- Whether a dispute keeps the call at `now`: one is open, or closed less than two years ago.
CREATE FUNCTION call_kept_by_dispute(p_call_id uuid, now timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM disputes d WHERE d.call_id = p_call_id
          AND (d.closed_at IS NULL OR now < add_years_utc(d.closed_at, 2)))
$$;
