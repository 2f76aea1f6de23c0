-- PostgreSQL only (syncd_apply_batch: one snapshot per batch); SQLite applies a batch in process.
-- Kept so both ledgers share their schema versions.
SELECT 1;
