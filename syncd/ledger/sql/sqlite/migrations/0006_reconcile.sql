-- Reconciliation (issue 9): runs, resumable after a crash (progress per channel), what each run
-- found, and the fixes remembered to tell drift that comes back right after a fix.
CREATE TABLE reconcile_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mode        TEXT NOT NULL,
    channels    TEXT NOT NULL,
    progress    TEXT NOT NULL DEFAULT '{}',
    started_us  INTEGER NOT NULL,
    updated_us  INTEGER NOT NULL,
    finished_us INTEGER
);

CREATE TABLE reconcile_findings (
    run_id  INTEGER NOT NULL,
    channel TEXT NOT NULL,
    sku     TEXT NOT NULL,
    kind    TEXT NOT NULL,
    wanted  INTEGER,
    figure  INTEGER,
    shown   INTEGER,
    state   TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, channel, sku, kind)
);

CREATE TABLE reconcile_fixes (
    channel  TEXT NOT NULL,
    sku      TEXT NOT NULL,
    figure   INTEGER NOT NULL,
    wanted   INTEGER NOT NULL,
    fixed_us INTEGER NOT NULL,
    PRIMARY KEY (channel, sku)
);
