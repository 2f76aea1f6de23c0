-- Applying documents in few round trips (issue 17) needs PL/pgSQL functions on PostgreSQL only;
-- SQLite runs its statements in process. Kept so both ledgers share their schema versions.
SELECT 1;
