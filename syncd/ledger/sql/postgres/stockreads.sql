-- What the status page's stock-in forms read (syncd/ledger/stockreads.py), PostgreSQL. Also runs
-- the core's product_names.

-- name: document_summaries
SELECT d.channel, d.doc_id, d.kind, d.reference, d.cancelled, d.meta
FROM documents d
WHERE (d.channel, d.doc_id) IN (SELECT * FROM unnest($1::text[], $2::text[]));

-- name: skus_with_prefix
SELECT sku FROM (
    SELECT sku FROM products WHERE left(sku, length($1)) = $1
    UNION
    SELECT sku FROM levels WHERE left(sku, length($1)) = $1) AS found
ORDER BY sku
LIMIT $2;
