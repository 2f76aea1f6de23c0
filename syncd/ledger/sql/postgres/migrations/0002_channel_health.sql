-- What the daemon last knew of each channel, so `syncd status` and the status page can show it
-- from the ledger while the daemon runs (or after it stopped).
ALTER TABLE channels ADD COLUMN state text NOT NULL DEFAULT 'unknown';
ALTER TABLE channels ADD COLUMN last_pull_us bigint;
ALTER TABLE channels ADD COLUMN last_push_us bigint;
ALTER TABLE channels ADD COLUMN last_error text NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN health_us bigint;
