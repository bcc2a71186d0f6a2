-- Up Migration
-- Tenancy hardening (issue 9): an account can be disabled (its keys stop working at once, nothing is
-- deleted); revoked_at on api_keys already exists and is now set by DELETE /v1/accounts/:id/keys/:keyId.
ALTER TABLE accounts ADD COLUMN disabled_at timestamptz;
CREATE INDEX api_keys_account_idx ON api_keys (account_id);

-- Down Migration
DROP INDEX api_keys_account_idx;
ALTER TABLE accounts DROP COLUMN disabled_at;
