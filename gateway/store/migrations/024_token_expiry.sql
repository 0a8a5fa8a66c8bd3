-- Tokens expire: `expires_at` is when a token stops working (NULL: never). Tokens made
-- before expiry existed keep working as they did, never expiring, until revoked; `gateway
-- token list` shows them as never expiring so that they can be replaced.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;

-- Active (unrevoked) token names are unique, so that a name says which client called.
-- Older tokens sharing a name with a newer active one keep working under their name
-- followed by their id.
UPDATE api_tokens t SET name = t.name || ' ' || t.token_id
WHERE t.revoked_at IS NULL
  AND EXISTS (
      SELECT 1 FROM api_tokens n
      WHERE n.name = t.name AND n.revoked_at IS NULL
        AND (n.created_at, n.token_id) > (t.created_at, t.token_id)
  );

CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
