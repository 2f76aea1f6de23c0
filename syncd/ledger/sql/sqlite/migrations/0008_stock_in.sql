-- Stock in (issue 16): what a person wrote on a document (meta) and a count's basis; count lines
-- keep the change they made (applied), so a count can be voided; drafts of page bookings (a
-- delivery being scanned, a count session); reorder points imported from a file.
ALTER TABLE documents ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
ALTER TABLE documents ADD COLUMN basis TEXT NOT NULL DEFAULT '{}';

UPDATE document_lines SET applied = COALESCE((
    SELECT SUM(m.delta) FROM movements m
    WHERE m.channel = document_lines.channel AND m.doc_id = document_lines.doc_id
      AND m.sku = document_lines.sku), 0)
WHERE (channel, doc_id) IN (SELECT channel, doc_id FROM documents WHERE kind = 'stock_count');

CREATE TABLE drafts (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'open',
    meta        TEXT NOT NULL DEFAULT '{}',
    lines       TEXT NOT NULL DEFAULT '[]',
    created_us  INTEGER NOT NULL,
    updated_us  INTEGER NOT NULL,
    doc_id      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX drafts_state ON drafts (state, kind, updated_us);

CREATE TABLE reorder_points (
    sku        TEXT PRIMARY KEY,
    point      INTEGER NOT NULL CHECK (point >= 0),
    quantity   INTEGER NOT NULL CHECK (quantity >= 0),
    source     TEXT NOT NULL DEFAULT '',
    updated_us INTEGER NOT NULL
);

CREATE INDEX movements_occurred ON movements (occurred_us);
