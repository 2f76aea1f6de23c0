-- Leases per job (syncd/ledger/leases.py), SQLite: the daemons sharing a SQLite ledger share one
-- machine, and its clock (the last parameter, the daemon's).

-- name: lease_acquire
-- Free, or expired for ?4 µs: taken with the next epoch. Else no row.
INSERT INTO leases (job, holder, epoch, since_us, expires_us)
VALUES (?1, ?2, 1, ?5, ?5 + ?3)
ON CONFLICT (job) DO UPDATE SET
    holder = excluded.holder, epoch = leases.epoch + 1, since_us = excluded.since_us,
    expires_us = excluded.expires_us
WHERE leases.expires_us < excluded.since_us - ?4
RETURNING epoch, since_us, expires_us;

-- name: lease_take_over
-- From a holder known dead (a restarted daemon's earlier process): at once, the next epoch.
UPDATE leases SET holder = ?2, epoch = epoch + 1, since_us = ?6, expires_us = ?6 + ?3
WHERE job = ?1 AND holder = ?4 AND epoch = ?5
RETURNING epoch, since_us, expires_us;

-- name: lease_renew
UPDATE leases SET expires_us = ?5 + ?4
WHERE job = ?1 AND holder = ?2 AND epoch = ?3
RETURNING epoch, since_us, expires_us;

-- name: lease_release
UPDATE leases SET expires_us = 0 WHERE job = ?1 AND holder = ?2 AND epoch = ?3;

-- name: leases_all
SELECT job, holder, epoch, since_us, expires_us FROM leases ORDER BY job;

-- name: lease_check
-- Write transactions run one at a time (BEGIN IMMEDIATE): a takeover is before or after.
SELECT 1 FROM leases WHERE job = ?1 AND holder = ?2 AND epoch = ?3;

-- name: leases_forget_daemons
-- Presence rows (job 'daemon:…', one per daemon process) of daemons gone before ?1.
DELETE FROM leases WHERE job LIKE 'daemon:%' AND expires_us < ?1 RETURNING 1;

-- name: lease_lock_wait
-- Nothing to limit: SQLite locks the whole file, not the lease's row, and its daemons share one
-- machine (PostgreSQL: a takeover waits 1 s at most on the row).
SELECT 1;

-- name: lease_end_stalled
-- Not needed on SQLite (above); PostgreSQL ends a stalled holder's sessions here.
SELECT NULL, 0 WHERE 0;
