-- No purpose is a loophole.
--
-- Agents have a kind: call-centre staff (`telesales`) or an individual agent (营销员,
-- `individual_agent`), who may make no marketing calls. Every agent registered before
-- is call-centre staff, as the gateway has treated them so far.
ALTER TABLE agents ADD COLUMN kind text NOT NULL DEFAULT 'telesales'
    CONSTRAINT agents_kind CHECK (kind IN ('telesales', 'individual_agent'));
