-- Reorder points and the end-of-day view (syncd/ledger/reports.py), SQLite. Sales are the
-- movements of till receipts and web orders (whatever their reason: a sale, a refund, a
-- cancellation, a void), by the time the sale happened (occurred_us).

-- name: reorder_points_all
SELECT sku, point, quantity, source, updated_us FROM reorder_points ORDER BY sku;

-- name: reorder_points_clear
DELETE FROM reorder_points;

-- name: reorder_point_upsert
INSERT INTO reorder_points (sku, point, quantity, source, updated_us)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (sku) DO UPDATE SET
    point = excluded.point, quantity = excluded.quantity, source = excluded.source,
    updated_us = excluded.updated_us;

-- name: report_units_sold
SELECT m.sku, -SUM(m.delta)
FROM movements m
JOIN documents d ON d.channel = m.channel AND d.doc_id = m.doc_id
WHERE m.occurred_us >= ?1 AND m.occurred_us < ?2 AND d.kind IN ('till_receipt', 'web_order')
GROUP BY m.sku;

-- name: report_first_moved_since
SELECT m.sku, MIN(m.occurred_us)
FROM movements m
WHERE m.occurred_us >= ?1
GROUP BY m.sku
HAVING NOT EXISTS (SELECT 1 FROM movements o WHERE o.sku = m.sku AND o.occurred_us < ?1);

-- name: report_stock
SELECT p.sku, p.name, COALESCE(l.on_hand, 0)
FROM products p LEFT JOIN levels l ON l.sku = p.sku
UNION ALL
SELECT l.sku, '', l.on_hand
FROM levels l WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.sku = l.sku)
ORDER BY 1;

-- name: report_channel_sales
SELECT m.channel,
       COUNT(DISTINCT m.doc_id),
       -SUM(CASE WHEN m.delta < 0 THEN m.delta ELSE 0 END),
       SUM(CASE WHEN m.delta > 0 THEN m.delta ELSE 0 END)
FROM movements m
JOIN documents d ON d.channel = m.channel AND d.doc_id = m.doc_id
WHERE m.occurred_us >= ?1 AND m.occurred_us < ?2 AND d.kind IN ('till_receipt', 'web_order')
GROUP BY m.channel
ORDER BY m.channel;

-- name: report_stock_documents
-- Deliveries, counts, adjustments and manual corrections of the day: those booked by syncd
-- (channel ?3, keyed by its primary key) and any other that moved stock that day.
SELECT d.channel, d.doc_id, d.kind, d.reference, d.cancelled, d.occurred_us, d.updated_us,
       d.meta, l.line_key, l.sku, l.wanted, l.applied
FROM (
    SELECT channel, doc_id FROM documents
    WHERE channel = ?3 AND occurred_us >= ?1 AND occurred_us < ?2
    UNION
    SELECT channel, doc_id FROM movements WHERE occurred_us >= ?1 AND occurred_us < ?2
) k
JOIN documents d ON d.channel = k.channel AND d.doc_id = k.doc_id
LEFT JOIN document_lines l ON l.channel = d.channel AND l.doc_id = d.doc_id
WHERE d.kind IN ('goods_receipt', 'stock_count', 'adjustment', 'manual')
  AND d.occurred_us >= ?1 AND d.occurred_us < ?2
ORDER BY d.occurred_us, d.channel, d.doc_id, l.line_key;

-- name: report_voided_documents
-- Documents voided during the day (when the void was recorded), with what each void gave back.
SELECT d.channel, d.doc_id, d.kind, d.reference, d.updated_us, d.meta, m.sku, m.delta
FROM (
    SELECT channel, doc_id FROM documents
    WHERE channel = ?3 AND cancelled = 1 AND updated_us >= ?1 AND updated_us < ?2
    UNION
    SELECT channel, doc_id FROM movements
    WHERE reason = 'void' AND recorded_us >= ?1 AND recorded_us < ?2
) k
JOIN documents d ON d.channel = k.channel AND d.doc_id = k.doc_id
LEFT JOIN movements m ON m.channel = d.channel AND m.doc_id = d.doc_id AND m.reason = 'void'
WHERE d.cancelled = 1 AND d.kind <> 'web_order' AND d.updated_us >= ?1 AND d.updated_us < ?2
ORDER BY d.updated_us, d.channel, d.doc_id, m.sku;

-- name: report_conflicts_created
SELECT id, kind, status, sku, channel, shortfall, detail, created_us, updated_us
FROM conflicts WHERE created_us >= ?1 AND created_us < ?2 ORDER BY id;

-- name: report_out_of_stock
SELECT l.sku, COALESCE(p.name, ''), l.on_hand,
       (SELECT m.occurred_us FROM movements m WHERE m.sku = l.sku ORDER BY m.id DESC LIMIT 1)
FROM levels l LEFT JOIN products p ON p.sku = l.sku
WHERE l.on_hand <= 0
ORDER BY l.sku;
