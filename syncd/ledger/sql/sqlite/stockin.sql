-- Stock in (syncd/ledger/stockin.py), SQLite: on hand at a moment, stored documents, drafts.

-- name: on_hand_at
-- A count's own movement belongs to the moment it counted (its occurred time), not to when it
-- was booked: a corrected count of the same moment starts from the first one's result.
SELECT l.sku, l.on_hand - COALESCE((
    SELECT SUM(m.delta) FROM movements m WHERE m.sku = l.sku AND m.recorded_us > ?2
      AND NOT (m.reason = 'count_adjustment' AND m.occurred_us <= ?2)), 0)
FROM levels l WHERE l.sku IN (SELECT value FROM json_each(?1));

-- name: stored_document
SELECT kind, version, reference, cancelled, occurred_us, updated_us, meta, basis
FROM documents WHERE channel = ?1 AND doc_id = ?2;

-- name: documents_with_meta
SELECT doc_id FROM documents
WHERE channel = ?1 AND json_extract(meta, '$.' || ?2) = ?3 ORDER BY doc_id;

-- name: upsert_draft
INSERT INTO drafts (id, kind, state, meta, lines, created_us, updated_us, doc_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (id) DO UPDATE SET
    state = excluded.state, meta = excluded.meta, lines = excluded.lines,
    updated_us = excluded.updated_us, doc_id = excluded.doc_id;

-- name: get_draft
SELECT id, kind, state, meta, lines, created_us, updated_us, doc_id FROM drafts WHERE id = ?1;

-- name: list_drafts
SELECT id, kind, state, meta, lines, created_us, updated_us, doc_id FROM drafts
WHERE state = ?1 AND (?2 = '' OR kind = ?2) ORDER BY updated_us DESC LIMIT 100;
