-- Stock in (syncd/ledger/stockin.py), SQLite: on hand at a moment, stored documents, drafts.

-- name: on_hand_at
-- A count's own movement belongs to the moment it counted (its occurred time), not to when it
-- was booked: a corrected count of the same moment starts from the first one's result.
SELECT l.sku, l.on_hand - COALESCE((
    SELECT SUM(m.delta) FROM movements m WHERE m.sku = l.sku AND m.recorded_us > ?2
      AND NOT (m.reason = 'count_adjustment' AND m.occurred_us <= ?2)), 0)
FROM levels l WHERE l.sku IN (SELECT value FROM json_each(?1));

-- name: on_hand_at_location
-- The same, at one location (a count's basis there).
SELECT l.sku, l.on_hand - COALESCE((
    SELECT SUM(m.delta) FROM movements m
    WHERE m.sku = l.sku AND m.location = l.location AND m.recorded_us > ?2
      AND NOT (m.reason = 'count_adjustment' AND m.occurred_us <= ?2)), 0)
FROM location_levels l
WHERE l.location = ?3 AND l.sku IN (SELECT value FROM json_each(?1));

-- name: stored_document
SELECT kind, version, reference, cancelled, occurred_us, updated_us, meta, basis, location,
       destination
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

-- name: written_for
SELECT sku, written FROM channel_levels
WHERE channel = ?1 AND sku IN (SELECT value FROM json_each(?2));

-- name: set_written
INSERT INTO channel_levels (channel, sku, shown, source, updated_us, written)
VALUES (?1, ?2, NULL, 'attempt', ?4, ?3)
ON CONFLICT (channel, sku) DO UPDATE SET written = excluded.written;

-- name: written_acknowledged
-- The shop shows this write now: earlier attempts are settled. The write's own attempt keeps the
-- last movement recorded before it: an order pulled between the write and this acknowledgement
-- moved a belief the acknowledgement then set, so it may still be in what the shop shows.
UPDATE channel_levels SET written = COALESCE(
    (SELECT json_array(json(e.value)) FROM json_each(channel_levels.written) e
     WHERE e.type = 'array' AND json_extract(e.value, '$[0]') = ?3 LIMIT 1),
    json_array(?3))
WHERE channel = ?1 AND sku = ?2;

-- name: last_movement
SELECT COALESCE(max(id), 0) FROM movements;

-- name: own_movements_after
-- A channel's own orders and cancellations recorded after an attempt (written_figures).
SELECT sku, id, delta FROM movements
WHERE channel = ?1 AND sku IN (SELECT value FROM json_each(?2)) AND id > ?3 ORDER BY id;

-- name: uncounted_cancellations
-- The SKUs of a channel's orders first seen already cancelled since a time (never a movement):
-- a shop may have given back units that our write had already written over (hand edits).
SELECT DISTINCT l.sku FROM documents d
JOIN document_lines l ON l.channel = d.channel AND l.doc_id = d.doc_id
WHERE d.channel = ?1 AND d.cancelled AND d.first_us >= ?3
  AND l.sku IN (SELECT value FROM json_each(?2))
  AND NOT EXISTS (SELECT 1 FROM movements m
                  WHERE m.channel = d.channel AND m.doc_id = d.doc_id AND m.sku = l.sku);
