-- No purpose is a loophole.
--
-- Agents have a kind: call-centre staff (`telesales`) or an individual agent (营销员,
-- `individual_agent`), who may make no marketing calls. Every agent registered before
-- is call-centre staff, as the gateway has treated them so far.
ALTER TABLE agents ADD COLUMN kind text NOT NULL DEFAULT 'telesales'
    CONSTRAINT agents_kind CHECK (kind IN ('telesales', 'individual_agent'));

-- Campaigns have the type of product they sell; only the types the policy allows for
-- telephone sales (`telesales_product_types`, default ordinary products) may be sold
-- by marketing and appointment calls. Every campaign registered before sells ordinary
-- products, the only type telephone sales offered without conditions.
ALTER TABLE campaigns ADD COLUMN product_type text NOT NULL DEFAULT 'ordinary'
    CONSTRAINT campaigns_product_type
    CHECK (product_type IN ('ordinary', 'participating', 'universal', 'unit_linked'));

-- An active caller id needs published_at: a dedicated telemarketing number is one the
-- company has published. A number registered active before this was required keeps
-- working, with its registration time as its publication time (it has been presented
-- to callees as the company's number since then); inactive ones keep what they had.
-- Rows that are mobiles or not valid numbers are kept as they are: the check refuses to
-- present them whatever the row says, and they can only be made inactive.
UPDATE caller_ids SET published_at = created_at WHERE active AND published_at IS NULL;
ALTER TABLE caller_ids ADD CONSTRAINT caller_ids_active_published
    CHECK (NOT active OR published_at IS NOT NULL);
