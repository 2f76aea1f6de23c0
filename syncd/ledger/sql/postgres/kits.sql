-- Kits and packs (syncd/ledger/kits.py, kitrows.py), PostgreSQL. Lists arrive as text[].

-- name: kits_exist
SELECT 1 FROM kits LIMIT 1;

-- name: kits_for
-- Every kit that is, or holds, one of the SKUs, or holds a component of a kit among them (a kit
-- sold moves its components: every other kit holding one of them changes too).
WITH batch (sku) AS (SELECT unnest($1::text[])),
moved (sku) AS (
    SELECT sku FROM batch
    UNION
    SELECT c.component FROM batch b JOIN kit_components c ON c.kit = b.sku
),
wanted (kit) AS (
    SELECT c.kit FROM batch b JOIN kit_components c ON c.kit = b.sku
    UNION
    SELECT c.kit FROM moved m JOIN kit_components c ON c.component = m.sku
)
SELECT c.kit, c.component, c.quantity, k.derived_by
FROM wanted w
JOIN kit_components c ON c.kit = w.kit
JOIN kits k ON k.sku = c.kit
ORDER BY c.kit, c.component;

-- name: kit_table
-- The whole kit table for the rows a writer keeps (keptrows.py): whether there is any kit (the
-- test syncd_snapshot starts with), how many component rows, and, unless more than $1, every one
-- as syncd_snapshot builds its kits array ([kit, component, quantity, derived_by]; derived_by
-- null: a component row of no kit, which only links kits there).
SELECT EXISTS (SELECT 1 FROM kits), t.n,
       CASE WHEN t.n <= $1 THEN (
           SELECT COALESCE(jsonb_agg(jsonb_build_array(c.kit, c.component, c.quantity,
                                                       k.derived_by)), '[]')::text
           FROM kit_components c LEFT JOIN kits k ON k.sku = c.kit) END
FROM (SELECT count(*) AS n FROM kit_components) AS t;

-- name: kits_all
SELECT k.sku, k.source, k.derived_by, c.component, c.quantity
FROM kits k
LEFT JOIN kit_components c ON c.kit = k.sku
ORDER BY k.sku, c.component;

-- name: upsert_kit
INSERT INTO kits (sku, source, derived_by, updated_us) VALUES ($1, $2, $3, $4)
ON CONFLICT (sku) DO UPDATE SET
    source = excluded.source, derived_by = excluded.derived_by, updated_us = excluded.updated_us;

-- name: delete_kit
DELETE FROM kits WHERE sku = $1;

-- name: delete_kit_components
DELETE FROM kit_components WHERE kit = $1;

-- name: insert_kit_component
INSERT INTO kit_components (kit, component, quantity) VALUES ($1, $2, $3);

