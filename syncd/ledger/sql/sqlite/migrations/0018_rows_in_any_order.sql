-- PostgreSQL only (syncd_apply_next compares kept rows whatever their order); SQLite applies
-- a batch in process. Kept so both ledgers share their schema versions.
SELECT 1;
