-- Reconciliation (issue 9): runs, resumable after a crash (progress per channel), what each run
-- found, and the fixes remembered to tell drift that comes back right after a fix.
CREATE TABLE reconcile_runs (
    id          bigserial PRIMARY KEY,
    mode        text NOT NULL,
    channels    text NOT NULL,
    progress    text NOT NULL DEFAULT '{}',
    started_us  bigint NOT NULL,
    updated_us  bigint NOT NULL,
    finished_us bigint
);

CREATE TABLE reconcile_findings (
    run_id  bigint NOT NULL,
    channel text NOT NULL,
    sku     text NOT NULL,
    kind    text NOT NULL,
    wanted  bigint,
    figure  bigint,
    shown   bigint,
    state   text NOT NULL,
    detail  text NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, channel, sku, kind)
);

CREATE TABLE reconcile_fixes (
    channel  text NOT NULL,
    sku      text NOT NULL,
    figure   bigint NOT NULL,
    wanted   bigint NOT NULL,
    fixed_us bigint NOT NULL,
    PRIMARY KEY (channel, sku)
);
