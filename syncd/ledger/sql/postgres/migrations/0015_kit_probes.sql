-- syncd_snapshot looks up a batch's kits by index probes per key, like every other lookup in it:
-- its joins, planned once per session (generic plans, 0014), hashed the whole of kit_components
-- four times a batch (issue 17: 1.2 ms of a call with 100 kits; a shop with thousands of kits
-- paid for each of them at every sale). The rows returned are the same. The whole function is
-- restated (PostgreSQL replaces a function whole), with its generic plans.
CREATE OR REPLACE FUNCTION syncd_snapshot(
    p_channels text[], p_ids text[], p_identifiers text[], p_strict boolean, p_lock boolean,
    p_now bigint
) RETURNS text LANGUAGE plpgsql
-- Generic plans (migrations/0014_generic_plans.sql): planning was most of the cost of a call.
-- A migration that replaces one of these functions must set it again.
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_docs jsonb;
    v_lines jsonb;
    v_idents text[];
    v_resolve jsonb;
    v_skus text[];
    v_kits jsonb := '[]';
BEGIN
    -- Few statements (each costs), and every lookup one index probe per key (LATERAL ... OFFSET
    -- 0 is never turned into a join): the plans PL/pgSQL caches stay good whatever the sizes of
    -- the tables.
    IF p_lock THEN
        -- Sorted: two batches never wait on each other in a cycle.
        PERFORM pg_advisory_xact_lock(s.h) FROM (
            SELECT hashtextextended(k.c || chr(31) || k.i, 0) AS h
            FROM unnest(p_channels, p_ids) AS k(c, i) ORDER BY 1
        ) s;
        PERFORM 1 FROM unnest(p_channels, p_ids) AS k(c, i), LATERAL (
            SELECT 1 FROM documents d WHERE d.channel = k.c AND d.doc_id = k.i FOR UPDATE
        ) AS locked;
    END IF;
    SELECT
        (SELECT COALESCE(jsonb_agg(jsonb_build_array(d.channel, d.doc_id, d.kind, d.version,
                                                     d.content_hash, d.cancelled, d.location,
                                                     d.destination)
                                   ORDER BY d.channel, d.doc_id), '[]')
         FROM unnest(p_channels, p_ids) AS k(c, i), LATERAL (
             SELECT * FROM documents d WHERE d.channel = k.c AND d.doc_id = k.i OFFSET 0) AS d),
        (SELECT COALESCE(jsonb_agg(jsonb_build_array(l.channel, l.doc_id, l.line_key, l.sku,
                                                     l.wanted, l.applied, l.placed)
                                   ORDER BY l.channel, l.doc_id, l.line_key), '[]')
         FROM unnest(p_channels, p_ids) AS k(c, i), LATERAL (
             SELECT * FROM document_lines l
             WHERE l.channel = k.c AND l.doc_id = k.i OFFSET 0) AS l)
    INTO v_docs, v_lines;
    -- Identifiers to resolve: the batch's lines and stored lines still pending.
    v_idents := ARRAY(
        SELECT DISTINCT u.i FROM (
            SELECT unnest(p_identifiers) AS i
            UNION ALL
            SELECT e ->> 2 FROM jsonb_array_elements(v_lines) AS e WHERE e ->> 3 IS NULL
        ) u ORDER BY 1);
    IF p_lock AND NOT p_strict THEN
        INSERT INTO products (sku, updated_us)
        SELECT i, p_now FROM unnest(v_idents) AS i
        WHERE NOT EXISTS (SELECT 1 FROM sku_aliases a WHERE a.alias = i)
          AND NOT EXISTS (SELECT 1 FROM products p WHERE p.barcode = i)
        ORDER BY i
        ON CONFLICT (sku) DO NOTHING;
    END IF;
    -- A SKU, else an alias, else a barcode; not strict: the identifier itself.
    WITH r AS (
        SELECT i, COALESCE(
            (SELECT p.sku FROM products p WHERE p.sku = i),
            (SELECT a.sku FROM sku_aliases a WHERE a.alias = i),
            (SELECT min(p.sku) FROM products p WHERE p.barcode = i),
            CASE WHEN NOT p_strict THEN i END) AS sku
        FROM unnest(v_idents) AS i
    )
    SELECT
        COALESCE(jsonb_agg(jsonb_build_array(r.i, r.sku) ORDER BY r.i)
                 FILTER (WHERE r.sku IS NOT NULL), '[]'),
        ARRAY(SELECT DISTINCT s FROM (
                  SELECT r2.sku FROM r AS r2 WHERE r2.sku IS NOT NULL
                  UNION ALL
                  SELECT e ->> 3 FROM jsonb_array_elements(v_lines) AS e WHERE e ->> 3 IS NOT NULL
              ) AS x(s) ORDER BY 1)
    INTO v_resolve, v_skus
    FROM r;
    -- Kits (kits_for in kits.sql): every kit that is, or holds, a SKU of the batch, or holds a
    -- component of a kit among them, with all its components; their SKUs join the batch's.
    IF EXISTS (SELECT 1 FROM kits) THEN
        -- Index probes per key like every lookup here (migrations/0015_kit_probes.sql): joins
        -- planned once for the session hashed the whole of kit_components four times a batch.
        WITH batch (sku) AS (SELECT unnest(v_skus)),
        direct (kit) AS (  -- the batch's kits
            SELECT b.sku FROM batch b
            WHERE EXISTS (SELECT 1 FROM kit_components c WHERE c.kit = b.sku)
        ),
        moved (sku) AS (
            SELECT sku FROM batch
            UNION
            SELECT c.component FROM direct d, LATERAL (
                SELECT c.component FROM kit_components c WHERE c.kit = d.kit OFFSET 0) AS c
        ),
        wanted (kit) AS (
            SELECT kit FROM direct
            UNION
            SELECT c.kit FROM moved m, LATERAL (
                SELECT c.kit FROM kit_components c WHERE c.component = m.sku OFFSET 0) AS c
        )
        SELECT COALESCE(jsonb_agg(jsonb_build_array(x.kit, x.component, x.quantity, x.derived_by)
                                  ORDER BY x.kit, x.component), '[]')
        INTO v_kits
        FROM wanted w, LATERAL (
            SELECT c.kit, c.component, c.quantity, k.derived_by
            FROM kit_components c JOIN kits k ON k.sku = c.kit
            WHERE c.kit = w.kit OFFSET 0) AS x;
        v_skus := ARRAY(SELECT DISTINCT s FROM (
                      SELECT unnest(v_skus)
                      UNION ALL
                      SELECT e ->> 0 FROM jsonb_array_elements(v_kits) AS e
                      UNION ALL
                      SELECT e ->> 1 FROM jsonb_array_elements(v_kits) AS e
                  ) AS x(s) ORDER BY 1);
    END IF;
    IF p_lock THEN
        INSERT INTO levels (sku, on_hand, updated_us)
        SELECT s, 0, p_now FROM unnest(v_skus) AS s
        ON CONFLICT (sku) DO NOTHING;
        PERFORM 1 FROM unnest(v_skus) AS s, LATERAL (  -- in SKU order (v_skus is sorted)
            SELECT 1 FROM levels l WHERE l.sku = s FOR UPDATE
        ) AS locked;
    END IF;
    RETURN jsonb_build_object(
        'docs', v_docs,
        'lines', v_lines,
        'resolve', v_resolve,
        'levels', (SELECT COALESCE(jsonb_agg(jsonb_build_array(
                              s, COALESCE((SELECT l.on_hand FROM levels l WHERE l.sku = s), 0))
                              ORDER BY s), '[]')
                   FROM unnest(v_skus) AS s),
        'buffers', (SELECT COALESCE(jsonb_agg(jsonb_build_array(b.channel, b.sku, b.quantity)
                                              ORDER BY b.channel, b.sku), '[]')
                    FROM buffers b WHERE b.sku = ANY(v_skus) OR b.sku = '*'),
        'shown', (SELECT COALESCE(jsonb_agg(jsonb_build_array(c.channel, c.sku, c.shown)
                                            ORDER BY c.channel, c.sku), '[]')
                  FROM unnest(v_skus) AS s, LATERAL (
                      SELECT * FROM channel_levels c WHERE c.sku = s OFFSET 0) AS c),
        'outbox', (SELECT COALESCE(jsonb_agg(jsonb_build_array(o.channel, o.sku, o.wanted)
                                             ORDER BY o.channel, o.sku), '[]')
                   FROM unnest(v_skus) AS s, LATERAL (
                       SELECT * FROM outbox o WHERE o.sku = s OFFSET 0) AS o),
        'channels', (SELECT COALESCE(jsonb_agg(jsonb_build_array(c.name, c.type,
                                                                 c.follows_own_sales)
                                               ORDER BY c.name), '[]')
                     FROM channels c WHERE c.push),
        'kits', v_kits,
        -- Stock per location (issue 17): every location of every SKU, the configured locations
        -- in order, and the channels that sell from some of them.
        'at', (SELECT COALESCE(jsonb_agg(jsonb_build_array(ll.location, ll.sku, ll.on_hand)
                                         ORDER BY ll.sku, ll.location), '[]')
               FROM unnest(v_skus) AS s, LATERAL (
                   SELECT * FROM location_levels ll WHERE ll.sku = s OFFSET 0) AS ll),
        'locations', (SELECT COALESCE(jsonb_agg(l.name ORDER BY l.position, l.name), '[]')
                      FROM locations l),
        'sells_from', (SELECT COALESCE(jsonb_agg(jsonb_build_array(c.name, c.locations)
                                                 ORDER BY c.name), '[]')
                       FROM channels c WHERE c.locations <> '[]')
    )::text;
END $$;
