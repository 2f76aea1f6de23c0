-- Leases per job (syncd/ledger/leases.py), PostgreSQL. Times are the database's clock
-- (syncd_now_us()), shared by daemons on several machines; the daemon's own (last parameter)
-- is SQLite's.

-- name: lease_acquire
-- Free, or expired for $4 µs: taken with the next epoch. Else no row.
INSERT INTO leases (job, holder, epoch, since_us, expires_us)
SELECT $1, $2, 1, n.now_us, n.now_us + $3
FROM (SELECT syncd_now_us() AS now_us, $5::bigint AS daemon_us) AS n
ON CONFLICT (job) DO UPDATE SET
    holder = EXCLUDED.holder, epoch = leases.epoch + 1, since_us = EXCLUDED.since_us,
    expires_us = EXCLUDED.expires_us
WHERE leases.expires_us < EXCLUDED.since_us - $4
RETURNING epoch, since_us, expires_us;

-- name: lease_take_over
-- From a holder known dead (a restarted daemon's earlier process): at once, the next epoch.
UPDATE leases SET holder = $2, epoch = epoch + 1, since_us = syncd_now_us(), expires_us = syncd_now_us() + $3
WHERE job = $1 AND holder = $4 AND epoch = $5
    AND $6::bigint IS NOT NULL
RETURNING epoch, since_us, expires_us;

-- name: lease_renew
UPDATE leases SET expires_us = n.now_us + $4
FROM (SELECT syncd_now_us() AS now_us, $5::bigint AS daemon_us) AS n
WHERE job = $1 AND holder = $2 AND epoch = $3
RETURNING epoch, since_us, expires_us;

-- name: lease_release
UPDATE leases SET expires_us = 0 WHERE job = $1 AND holder = $2 AND epoch = $3;

-- name: leases_all
SELECT job, holder, epoch, since_us, expires_us FROM leases ORDER BY job;

-- name: lease_check
-- In a fenced write: FOR SHARE, so a takeover (an UPDATE of this row) waits for the write to
-- commit, and a write after it reads the new epoch.
SELECT 1 FROM leases WHERE job = $1 AND holder = $2 AND epoch = $3 FOR SHARE;

-- name: leases_forget_daemons
-- Presence rows (job 'daemon:…', one per daemon process) of daemons gone before $1.
DELETE FROM leases WHERE job LIKE 'daemon:%' AND expires_us < $1 RETURNING 1;

-- name: lease_lock_wait
-- A takeover waits 1 s at most on the lease's row, in this transaction only (syncd/ledger/
-- postgres.py, PostgresStore.acquire_lease: then a stalled holder's sessions are ended).
SELECT set_config('lock_timeout', '1000ms', true);

-- name: lease_end_stalled
-- The sessions of a job's holder, its lease expired, whose transaction began before it expired
-- (its daemon stalled mid-transaction): ended, rolled back as after a kill. A row per session:
-- the holder, and whether it was ended. $2: the prefix of a daemon's application_name.
SELECT l.holder, pg_terminate_backend(a.pid)
FROM leases l
JOIN pg_stat_activity a
    ON a.datname = current_database() AND a.application_name = left($2 || l.holder, 63)
WHERE l.job = $1
    AND l.expires_us < syncd_now_us()
    AND a.pid <> pg_backend_pid()
    AND a.xact_start IS NOT NULL
    AND (extract(epoch FROM a.xact_start) * 1000000)::bigint < l.expires_us;
