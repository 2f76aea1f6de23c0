-- PostgreSQL only (syncd_apply_next: no read round trip while nothing else writes); SQLite
-- applies a batch in process. Kept so both ledgers share their schema versions.
SELECT 1;
