-- Kits and packs (syncd/ledger/kits.py, kitrows.py), SQLite. Lists arrive as JSON arrays.

-- name: kits_exist
SELECT 1 FROM kits LIMIT 1;

-- name: kits_for
-- Every kit that is, or holds, one of the SKUs, or holds a component of a kit among them (a kit
-- sold moves its components: every other kit holding one of them changes too). CROSS JOIN keeps
-- the join order (batch → its kits → their components), each step an index search.
WITH batch (sku) AS (SELECT value FROM json_each(?1)),
moved (sku) AS (
    SELECT sku FROM batch
    UNION
    SELECT c.component FROM batch b CROSS JOIN kit_components c ON c.kit = b.sku
),
wanted (kit) AS (
    SELECT c.kit FROM batch b CROSS JOIN kit_components c ON c.kit = b.sku
    UNION
    SELECT c.kit FROM moved m CROSS JOIN kit_components c ON c.component = m.sku
)
SELECT c.kit, c.component, c.quantity, k.derived_by
FROM wanted w
CROSS JOIN kit_components c ON c.kit = w.kit
JOIN kits k ON k.sku = c.kit
ORDER BY c.kit, c.component;

-- name: kit_table
-- PostgreSQL's writer keeps the kit table between batches (keptrows.py); SQLite reads in
-- process. Never run here, defined so that both dialects keep the same queries.
SELECT NULL WHERE ?1 IS NULL;

-- name: kits_all
SELECT k.sku, k.source, k.derived_by, c.component, c.quantity
FROM kits k
LEFT JOIN kit_components c ON c.kit = k.sku
ORDER BY k.sku, c.component;

-- name: upsert_kit
INSERT INTO kits (sku, source, derived_by, updated_us) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (sku) DO UPDATE SET
    source = excluded.source, derived_by = excluded.derived_by, updated_us = excluded.updated_us;

-- name: delete_kit
DELETE FROM kits WHERE sku = ?1;

-- name: delete_kit_components
DELETE FROM kit_components WHERE kit = ?1;

-- name: insert_kit_component
INSERT INTO kit_components (kit, component, quantity) VALUES (?1, ?2, ?3);

