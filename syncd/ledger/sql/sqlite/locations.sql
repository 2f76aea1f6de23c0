-- Stock per location (syncd/ledger/locations.py). The load and write steps of a batch are in
-- documents.sql (locations, channel_locations, location_levels_for, upsert_location_level).

-- name: clear_locations
DELETE FROM locations;

-- name: insert_location
INSERT INTO locations (name, kind, position) VALUES (?1, ?2, ?3);

-- name: location_in_use
SELECT 1 FROM location_levels WHERE location = ?1 LIMIT 1;

-- name: rename_location_levels
UPDATE location_levels SET location = ?2, updated_us = ?3 WHERE location = ?1;

-- name: rename_location_movements
UPDATE movements SET location = ?2 WHERE location = ?1;

-- name: location_levels_all
SELECT location, sku, on_hand FROM location_levels ORDER BY sku, location;
