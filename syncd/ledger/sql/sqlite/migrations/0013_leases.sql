-- Leases per job (issue 20, syncd/ledger/leases.py): who runs a channel's loops, the alert
-- mails, the scheduled reconciliation; the epoch rises at every takeover, and fenced writes
-- check it in their transaction.
CREATE TABLE leases (
    job        TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    since_us   INTEGER NOT NULL,
    expires_us INTEGER NOT NULL
);
