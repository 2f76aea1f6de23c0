-- The ledger core (syncd/ledger/apply.py, documents.py), SQLite: documents, levels, the outbox,
-- cursors, catalogue, buffers, conflicts, health, retention.
-- Each query starts with "-- name: <name>"; parameters only (?n). Lists arrive as JSON arrays
-- (json_each); rows are locked by BEGIN IMMEDIATE, not FOR UPDATE. A name is defined in one file.

-- name: resolve_products
SELECT sku FROM products WHERE sku IN (SELECT value FROM json_each(?1));

-- name: resolve_aliases
SELECT alias, sku FROM sku_aliases WHERE alias IN (SELECT value FROM json_each(?1));

-- name: resolve_barcodes
SELECT barcode, sku FROM products WHERE barcode IN (SELECT value FROM json_each(?1));

-- name: insert_product_min
INSERT INTO products (sku, updated_us) VALUES (?1, ?2) ON CONFLICT (sku) DO NOTHING;

-- name: snapshot
-- snapshot, write_plan, read_snapshot, apply_next: PostgreSQL applies a batch through functions,
-- in few round trips (issue 17); SQLite runs the statements below in process. Never run here,
-- defined so that both dialects keep the same queries.
SELECT NULL WHERE ?1 IS NULL;

-- name: write_plan
SELECT NULL WHERE ?1 IS NULL;

-- name: read_snapshot
SELECT NULL WHERE ?1 IS NULL;

-- name: apply_next
SELECT NULL WHERE ?1 IS NULL;

-- name: lock_documents
SELECT d.channel, d.doc_id, d.kind, d.version, d.content_hash, d.cancelled, d.location,
       d.destination
FROM documents d
WHERE (d.channel, d.doc_id) IN (
    SELECT value ->> 0, value ->> 1 FROM json_each(?1))
ORDER BY d.channel, d.doc_id;

-- name: lock_lines
SELECT l.channel, l.doc_id, l.line_key, l.sku, l.wanted, l.applied, l.placed
FROM document_lines l
WHERE (l.channel, l.doc_id) IN (
    SELECT value ->> 0, value ->> 1 FROM json_each(?1));

-- name: ensure_levels
INSERT INTO levels (sku, on_hand, updated_us)
SELECT value, 0, ?2 FROM json_each(?1) WHERE true
ON CONFLICT (sku) DO NOTHING;

-- name: lock_levels
SELECT sku, on_hand FROM levels WHERE sku IN (SELECT value FROM json_each(?1)) ORDER BY sku;

-- name: channels
SELECT name, type, push, follows_own_sales FROM channels ORDER BY name;

-- name: buffers_for
SELECT channel, sku, quantity FROM buffers WHERE sku IN (SELECT value FROM json_each(?1)) OR sku = '*';

-- name: shown_for
SELECT channel, sku, shown FROM channel_levels WHERE sku IN (SELECT value FROM json_each(?1));

-- name: outbox_for
SELECT channel, sku, wanted FROM outbox WHERE sku IN (SELECT value FROM json_each(?1));

-- name: sku_context
-- What the planner needs besides levels, for some SKUs: buffers, figures shown, queued figures.
SELECT 'buffers' AS source, channel, sku, quantity FROM buffers WHERE sku IN (SELECT value FROM json_each(?1)) OR sku = '*'
UNION ALL
SELECT 'shown', channel, sku, shown FROM channel_levels WHERE sku IN (SELECT value FROM json_each(?1))
UNION ALL
SELECT 'outbox', channel, sku, wanted FROM outbox WHERE sku IN (SELECT value FROM json_each(?1));

-- name: upsert_document
INSERT INTO documents (channel, doc_id, kind, version, content_hash, reference, cancelled, url,
                       occurred_us, first_us, updated_us, meta, basis, location, destination)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14)
ON CONFLICT (channel, doc_id) DO UPDATE SET
    kind = excluded.kind, version = excluded.version, content_hash = excluded.content_hash,
    reference = excluded.reference, cancelled = excluded.cancelled, url = excluded.url,
    occurred_us = excluded.occurred_us, updated_us = excluded.updated_us,
    meta = excluded.meta, basis = excluded.basis, location = excluded.location,
    destination = excluded.destination;

-- name: upsert_line
INSERT INTO document_lines (channel, doc_id, line_key, sku, wanted, applied, placed)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (channel, doc_id, line_key) DO UPDATE SET
    sku = excluded.sku, wanted = excluded.wanted, applied = excluded.applied, placed = excluded.placed;

-- name: insert_movement
INSERT INTO movements (sku, delta, reason, channel, doc_id, doc_version, occurred_us, recorded_us,
                       kit, location)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10);

-- name: update_level
UPDATE levels SET on_hand = ?2, updated_us = ?3 WHERE sku = ?1;

-- name: upsert_shown
INSERT INTO channel_levels (channel, sku, shown, source, updated_us) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (channel, sku) DO UPDATE SET
    shown = excluded.shown, source = excluded.source, updated_us = excluded.updated_us;

-- name: upsert_outbox
INSERT INTO outbox (channel, sku, wanted, revision, enqueued_us, updated_us)
VALUES (?1, ?2, ?3, 1, ?4, ?4)
ON CONFLICT (channel, sku) DO UPDATE SET
    wanted = excluded.wanted, revision = outbox.revision + 1, updated_us = excluded.updated_us;

-- name: delete_outbox
DELETE FROM outbox WHERE channel = ?1 AND sku = ?2;

-- name: upsert_cursor
INSERT INTO cursors (channel, key, value, updated_us) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (channel, key) DO UPDATE SET value = excluded.value, updated_us = excluded.updated_us;

-- name: insert_rejection
INSERT INTO rejections (channel, source, row_number, column_name, value, reason, recorded_us)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
WHERE NOT EXISTS (  -- the same bad order read again at the next poll is recorded once
    SELECT 1 FROM rejections r
    WHERE r.channel = ?1 AND r.source = ?2 AND r.row_number IS NOT DISTINCT FROM ?3
      AND r.column_name = ?4 AND r.reason = ?6);

-- name: recent_outflows
SELECT m.channel, m.doc_id, COALESCE(NULLIF(d.reference, ''), m.doc_id) AS reference,
       COALESCE(d.kind, '') AS kind, -m.delta AS quantity, m.occurred_us, COALESCE(d.url, '') AS url
FROM movements m
LEFT JOIN documents d ON d.channel = m.channel AND d.doc_id = m.doc_id
WHERE m.sku = ?1 AND m.delta < 0 AND m.location = ?3
ORDER BY m.id DESC
LIMIT ?2;

-- name: open_oversells
SELECT id, sku, status, shortfall, detail FROM conflicts
WHERE kind = 'oversell' AND status <> 'resolved' AND sku IN (SELECT value FROM json_each(?1));

-- name: insert_conflict
INSERT INTO conflicts (kind, status, sku, channel, shortfall, detail, created_us, updated_us)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
RETURNING id;

-- name: update_conflict
UPDATE conflicts SET status = ?2, shortfall = ?3, detail = ?4, updated_us = ?5 WHERE id = ?1;

-- name: open_conflict_like
SELECT id FROM conflicts
WHERE kind = ?1 AND sku = ?2 AND channel = ?3 AND status <> 'resolved'
LIMIT 1;

-- name: touch_conflict
UPDATE conflicts SET detail = ?2, updated_us = ?3 WHERE id = ?1;

-- name: take_outbox
SELECT o.sku, o.wanted, o.revision, o.enqueued_us, cl.shown
FROM outbox o
LEFT JOIN channel_levels cl ON cl.channel = o.channel AND cl.sku = o.sku
WHERE o.channel = ?1
ORDER BY o.enqueued_us, o.sku
LIMIT ?2;

-- name: ack_outbox
DELETE FROM outbox WHERE channel = ?1 AND sku = ?2 AND wanted = ?3;

-- name: get_cursors
SELECT key, value FROM cursors WHERE channel = ?1;

-- name: upsert_channel
INSERT INTO channels (name, type, push, registered_us, follows_own_sales,
                      locations) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (name) DO UPDATE SET type = excluded.type, push = excluded.push,
    follows_own_sales = excluded.follows_own_sales, locations = excluded.locations;

-- name: upsert_product
INSERT INTO products (sku, name, barcode, updated_us) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (sku) DO UPDATE SET
    name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE products.name END,
    barcode = COALESCE(excluded.barcode, products.barcode),
    updated_us = excluded.updated_us;

-- name: upsert_alias
INSERT INTO sku_aliases (alias, sku) VALUES (?1, ?2)
ON CONFLICT (alias) DO UPDATE SET sku = excluded.sku;

-- name: upsert_buffer
INSERT INTO buffers (channel, sku, quantity) VALUES (?1, ?2, ?3)
ON CONFLICT (channel, sku) DO UPDATE SET quantity = excluded.quantity;

-- name: pending_documents
SELECT DISTINCT l.channel, l.doc_id
FROM document_lines l
WHERE l.sku IS NULL AND l.line_key IN (SELECT value FROM json_each(?1));

-- name: replay_documents
SELECT d.channel, d.doc_id, d.kind, d.version, d.reference, d.cancelled, d.url, d.occurred_us,
       d.location, d.destination
FROM documents d
WHERE (d.channel, d.doc_id) IN (
    SELECT value ->> 0, value ->> 1 FROM json_each(?1));

-- name: all_skus
SELECT sku FROM levels ORDER BY sku;

-- name: levels_all
SELECT sku, on_hand FROM levels ORDER BY sku;

-- name: levels_for
SELECT sku, on_hand FROM levels WHERE sku IN (SELECT value FROM json_each(?1));

-- name: wanted_levels
SELECT l.sku, l.on_hand, cl.shown
FROM levels l
LEFT JOIN channel_levels cl ON cl.channel = ?1 AND cl.sku = l.sku
ORDER BY l.sku;

-- name: movement_totals
SELECT count(*) AS movements, COALESCE(sum(delta), 0) AS total FROM movements;

-- name: conflicts
SELECT id, kind, status, sku, channel, shortfall, detail, created_us, updated_us
FROM conflicts
WHERE (?1 IS NULL OR status = ?1)
ORDER BY (status = 'open') DESC, id DESC
LIMIT ?2;

-- name: set_conflict_status
UPDATE conflicts SET status = ?2, updated_us = ?3 WHERE id = ?1 RETURNING id;

-- name: channel_levels_for
SELECT channel, shown, source, updated_us FROM channel_levels WHERE sku = ?1 ORDER BY channel;

-- name: document_lines
SELECT line_key, sku, wanted, applied FROM document_lines WHERE channel = ?1 AND doc_id = ?2;

-- name: product_names
SELECT sku, name FROM products WHERE sku IN (SELECT value FROM json_each(?1));

-- name: notify_outbox
SELECT ?1;

-- name: record_health
UPDATE channels SET state = ?2, last_pull_us = COALESCE(?3, last_pull_us),
    last_push_us = COALESCE(?4, last_push_us), last_error = ?5, health_us = ?6
WHERE name = ?1;

-- name: document_ids
SELECT doc_id FROM documents WHERE channel = ?1;

-- Retention (DocumentStore.prune): what may go once old; movements and documents are history
-- and stay.

-- name: prune_file_cursors
DELETE FROM cursors WHERE value = 'done' AND updated_us < ?1 RETURNING 1;

-- name: prune_rejections
DELETE FROM rejections WHERE recorded_us < ?1 RETURNING 1;

-- name: prune_conflicts
DELETE FROM conflicts WHERE status = 'resolved' AND updated_us < ?1 RETURNING 1;

-- name: prune_alert_mails
DELETE FROM alert_mails WHERE sent_us IS NOT NULL AND sent_us < ?1 RETURNING 1;

-- name: prune_alert_items
DELETE FROM alert_items
WHERE created_us < ?1 AND state <> 'pending'
  AND (conflict_id IS NULL OR conflict_id NOT IN (SELECT id FROM conflicts))
  AND (mail_id IS NULL OR mail_id NOT IN (SELECT id FROM alert_mails WHERE sent_us IS NULL))
RETURNING 1;

-- Stock per location (issue 17; syncd/ledger/apply.py _load_locations, _write_locations).

-- name: locations
SELECT name, kind FROM locations ORDER BY position, name;

-- name: channel_locations
SELECT name, locations FROM channels ORDER BY name;

-- name: location_levels_for
SELECT location, sku, on_hand FROM location_levels WHERE sku IN (SELECT value FROM json_each(?1));

-- name: upsert_location_level
INSERT INTO location_levels (location, sku, on_hand, updated_us) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (sku, location) DO UPDATE SET
    on_hand = excluded.on_hand, updated_us = excluded.updated_us;
