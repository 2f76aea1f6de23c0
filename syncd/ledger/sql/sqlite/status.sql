-- What the status page and `syncd status` read (syncd/ledger/status.py), SQLite. The SKU detail
-- also reads the core's levels_for, product_names, buffers_for, channel_levels_for, outbox_for.
-- Each query starts with "-- name: <name>"; parameters only (?n). Lists arrive as JSON arrays
-- (json_each); rows are locked by BEGIN IMMEDIATE, not FOR UPDATE. A name is defined in one file.

-- name: outbox_stats
SELECT channel, count(*) AS depth, min(enqueued_us) AS oldest_us FROM outbox GROUP BY channel;

-- name: movements
SELECT id, sku, delta, reason, channel, doc_id, doc_version, occurred_us, recorded_us, kit,
       location
FROM movements
WHERE (?1 IS NULL OR sku = ?1) AND (?2 IS NULL OR channel = ?2) AND id > ?3
ORDER BY id DESC
LIMIT ?4;

-- name: rejections
SELECT id, channel, source, row_number, column_name, value, reason, recorded_us
FROM rejections ORDER BY id DESC LIMIT ?1;

-- name: pending_lines
SELECT line_key, channel, count(*) AS documents, sum(wanted) AS quantity
FROM document_lines WHERE sku IS NULL
GROUP BY line_key, channel ORDER BY line_key, channel;

-- name: channel_health
SELECT name, type, push, state, last_pull_us, last_push_us, last_error, health_us
FROM channels ORDER BY name;

-- name: oversell_exposure
SELECT o.channel, sum(max(0, cl.shown - o.wanted)) AS units
FROM outbox o
JOIN channel_levels cl ON cl.channel = o.channel AND cl.sku = o.sku
WHERE cl.shown IS NOT NULL
GROUP BY o.channel;

-- name: sales_per_hour
SELECT channel, recorded_us / 3600000000 AS hour, -sum(delta) AS units
FROM movements
WHERE recorded_us >= ?1 AND reason IN ('till_sale', 'web_order')
GROUP BY channel, hour
ORDER BY hour, channel;

-- name: find_skus
SELECT l.sku, p.name, l.on_hand
FROM levels l
LEFT JOIN products p ON p.sku = l.sku
WHERE l.sku LIKE ?1 ESCAPE '\' OR p.name LIKE ?1 ESCAPE '\'
ORDER BY l.sku
LIMIT ?2;
