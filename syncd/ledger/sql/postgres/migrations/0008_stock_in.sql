-- Stock in (issue 16): what a person wrote on a document (meta) and a count's basis; count lines
-- keep the change they made (applied), so a count can be voided; drafts of page bookings (a
-- delivery being scanned, a count session); reorder points imported from a file.
ALTER TABLE documents ADD COLUMN meta text NOT NULL DEFAULT '{}';
ALTER TABLE documents ADD COLUMN basis text NOT NULL DEFAULT '{}';

UPDATE document_lines l SET applied = COALESCE((
    SELECT SUM(m.delta) FROM movements m
    WHERE m.channel = l.channel AND m.doc_id = l.doc_id AND m.sku = l.sku), 0)
FROM documents d
WHERE d.channel = l.channel AND d.doc_id = l.doc_id AND d.kind = 'stock_count';

CREATE TABLE drafts (
    id          text PRIMARY KEY,
    kind        text NOT NULL,
    state       text NOT NULL DEFAULT 'open',
    meta        text NOT NULL DEFAULT '{}',
    lines       text NOT NULL DEFAULT '[]',
    created_us  bigint NOT NULL,
    updated_us  bigint NOT NULL,
    doc_id      text NOT NULL DEFAULT ''
);
CREATE INDEX drafts_state ON drafts (state, kind, updated_us);

CREATE TABLE reorder_points (
    sku        text PRIMARY KEY,
    point      integer NOT NULL CHECK (point >= 0),
    quantity   integer NOT NULL CHECK (quantity >= 0),
    source     text NOT NULL DEFAULT '',
    updated_us bigint NOT NULL
);

CREATE INDEX movements_occurred ON movements (occurred_us);
