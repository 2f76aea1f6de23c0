-- Reconciliation runs, findings and fixes (syncd/ledger/reconcile.py), SQLite.
-- Each query starts with "-- name: <name>"; parameters only (?n). Lists arrive as JSON arrays
-- (json_each); rows are locked by BEGIN IMMEDIATE, not FOR UPDATE. A name is defined in one file.

-- name: reconcile_run_insert
INSERT INTO reconcile_runs (mode, channels, progress, started_us, updated_us)
VALUES (?1, ?2, '{}', ?3, ?3)
RETURNING id, mode, channels, progress, started_us, updated_us, finished_us;

-- name: reconcile_run_open
SELECT id, mode, channels, progress, started_us, updated_us, finished_us
FROM reconcile_runs
WHERE finished_us IS NULL AND mode = ?1 AND channels = ?2 AND updated_us < ?3
ORDER BY id DESC
LIMIT 1;

-- name: reconcile_run_progress_get
SELECT progress FROM reconcile_runs WHERE id = ?1;

-- name: reconcile_run_progress_set
UPDATE reconcile_runs SET progress = ?2, updated_us = ?3 WHERE id = ?1;

-- name: reconcile_run_finish
UPDATE reconcile_runs SET finished_us = ?2, updated_us = ?2 WHERE id = ?1;

-- name: reconcile_runs_prune
DELETE FROM reconcile_runs WHERE id < ?1;

-- name: reconcile_findings_prune
DELETE FROM reconcile_findings WHERE run_id < ?1;

-- name: reconcile_finding_upsert
INSERT INTO reconcile_findings (run_id, channel, sku, kind, wanted, figure, shown, state, detail)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (run_id, channel, sku, kind) DO UPDATE SET
    wanted = excluded.wanted, figure = excluded.figure, shown = excluded.shown,
    state = excluded.state, detail = excluded.detail;

-- name: reconcile_findings_for
SELECT sku, kind, wanted, figure, shown, state, detail
FROM reconcile_findings WHERE run_id = ?1 AND channel = ?2
ORDER BY sku, kind;

-- name: reconcile_fixes_for
SELECT sku, figure, wanted, fixed_us FROM reconcile_fixes WHERE channel = ?1 ORDER BY sku;

-- name: reconcile_fix_upsert
INSERT INTO reconcile_fixes (channel, sku, figure, wanted, fixed_us) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (channel, sku) DO UPDATE SET
    figure = excluded.figure, wanted = excluded.wanted, fixed_us = excluded.fixed_us;

-- name: reconcile_fix_delete
DELETE FROM reconcile_fixes WHERE channel = ?1 AND sku = ?2;
