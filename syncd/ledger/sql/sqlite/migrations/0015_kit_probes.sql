-- PostgreSQL only (syncd_snapshot's kit lookups); SQLite reads kits in process. Kept so both
-- ledgers share their schema versions.
SELECT 1;
