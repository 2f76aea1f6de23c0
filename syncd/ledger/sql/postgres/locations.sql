-- Stock per location (syncd/ledger/locations.py). The load and write steps of a batch are in
-- documents.sql (locations, channel_locations, location_levels_for, upsert_location_level).

-- name: clear_locations
DELETE FROM locations;

-- name: insert_location
INSERT INTO locations (name, kind, position) VALUES ($1, $2, $3);

-- name: location_in_use
SELECT 1 FROM location_levels WHERE location = $1 LIMIT 1;

-- name: rename_location_levels
UPDATE location_levels SET location = $2, updated_us = $3 WHERE location = $1;

-- name: rename_location_movements
UPDATE movements SET location = $2 WHERE location = $1;

-- name: location_levels_all
SELECT location, sku, on_hand FROM location_levels ORDER BY sku, location;

-- name: transfers_sent
-- The latest transfers sent (not voided), with their lines.
SELECT d.doc_id, d.location, d.destination, d.occurred_us, d.reference, l.sku, l.wanted
FROM documents d
LEFT JOIN document_lines l ON l.channel = d.channel AND l.doc_id = d.doc_id
WHERE d.doc_id IN (
    SELECT doc_id FROM documents
    WHERE channel = 'stock' AND kind = 'transfer_out' AND NOT cancelled
    ORDER BY occurred_us DESC LIMIT $1)
  AND d.channel = 'stock';

-- name: transfers_received
SELECT l.doc_id, l.sku, l.wanted FROM document_lines l
JOIN documents d ON d.channel = l.channel AND d.doc_id = l.doc_id
WHERE l.channel = 'stock' AND l.doc_id = ANY($1::text[]) AND NOT d.cancelled;
