-- What the status page's stock-in forms read (syncd/ledger/stockreads.py), SQLite. Also runs the
-- core's product_names.

-- name: document_summaries
SELECT d.channel, d.doc_id, d.kind, d.reference, d.cancelled, d.meta
FROM documents d
WHERE (d.channel, d.doc_id) IN (
    SELECT value ->> 0, value ->> 1 FROM json_each(?1));

-- name: skus_with_prefix
SELECT sku FROM (
    SELECT sku FROM products WHERE substr(sku, 1, length(?1)) = ?1
    UNION
    SELECT sku FROM levels WHERE substr(sku, 1, length(?1)) = ?1)
ORDER BY sku
LIMIT ?2;
