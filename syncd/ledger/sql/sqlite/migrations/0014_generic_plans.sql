-- PostgreSQL only (its apply functions keep generic plans); SQLite has no such functions. Kept so
-- both ledgers share their schema versions.
SELECT 1;
