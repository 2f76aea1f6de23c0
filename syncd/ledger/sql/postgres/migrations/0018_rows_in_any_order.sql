-- Kept rows checked whatever the database's collation (issue 17): a ledger on a PostgreSQL
-- created with the system's locale (fr_FR.UTF-8, or ICU fr-FR) sorted the rows it read again in
-- another order than the rows the daemon kept, so every batch checked after a commit elsewhere
-- was refused and read again (tests/ledger/test_kept_collation.py). Only the comparison changes.

-- Rows compared whatever their order (issue 17). syncd_apply_next compares the rows a batch was
-- planned from (assembled in Python's order by syncd/ledger/keptrows.py: code points, as the C
-- collation) with syncd_snapshot's (ORDER BY in the database's collation: fr-FR sorts "mug"
-- before "TEA", C the other way). Each array is compared as the set of its rows, except
-- "locations", whose order is the configured one (a web order takes units from the first).
CREATE FUNCTION syncd_rows_unordered(p_rows jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_object_agg(r.key, CASE
        WHEN r.key = 'locations' OR jsonb_typeof(r.value) <> 'array' THEN r.value
        ELSE (SELECT COALESCE(jsonb_agg(e ORDER BY e::text COLLATE "C"), '[]')
              FROM jsonb_array_elements(r.value) AS e)
        END)
    FROM jsonb_each(p_rows) AS r
$$;

CREATE OR REPLACE FUNCTION syncd_apply_next(
    p_channels text[], p_ids text[], p_identifiers text[], p_strict boolean, p_now bigint,
    p_seen text, p_plan jsonb, p_since text, p_skus text[], p_idents text[], p_own text[],
    p_absent_channels text[], p_absent_ids text[], p_assumed text,
    OUT r_since text, OUT r_own text, OUT r_clean boolean
) LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_fence record;
    -- p_since is '<snapshot>@<server>': a snapshot of another server (a promoted standby,
    -- this one restarted: transaction ids, and our last writes, may not be what they were)
    -- is none.
    v_server text := syncd_server_id();
    v_since pg_snapshot := CASE WHEN split_part(p_since, '@', 2) = v_server
                                THEN split_part(p_since, '@', 1)::pg_snapshot END;
    v_own xid8[] := COALESCE(p_own, '{}')::xid8[];
    v_now pg_snapshot;
    v_changed boolean;
    v_rows text;
BEGIN
    FOR v_fence IN
        SELECT * FROM jsonb_to_recordset(COALESCE(p_plan -> 'fences', '[]'))
            AS f(job text, holder text, epoch bigint)
    LOOP
        PERFORM 1 FROM leases l
        WHERE l.job = v_fence.job AND l.holder = v_fence.holder AND l.epoch = v_fence.epoch
        FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'job %: the lease of % (epoch %) was taken by another daemon',
                v_fence.job, v_fence.holder, v_fence.epoch USING ERRCODE = 'SY002';
        END IF;
    END LOOP;
    -- The locks of syncd_snapshot (p_lock), in its order: document keys, documents, new
    -- products, level rows.
    PERFORM pg_advisory_xact_lock(s.h) FROM (
        SELECT hashtextextended(k.c || chr(31) || k.i, 0) AS h
        FROM unnest(p_channels, p_ids) AS k(c, i) ORDER BY 1
    ) s;
    PERFORM 1 FROM unnest(p_channels, p_ids) AS k(c, i), LATERAL (
        SELECT 1 FROM documents d WHERE d.channel = k.c AND d.doc_id = k.i FOR UPDATE
    ) AS locked;
    IF NOT p_strict THEN
        INSERT INTO products (sku, updated_us)
        SELECT i, p_now FROM unnest(p_idents) AS i
        WHERE NOT EXISTS (SELECT 1 FROM sku_aliases a WHERE a.alias = i)
          AND NOT EXISTS (SELECT 1 FROM products p WHERE p.barcode = i)
        ORDER BY i
        ON CONFLICT (sku) DO NOTHING;
    END IF;
    INSERT INTO levels (sku, on_hand, updated_us)
    SELECT s, 0, p_now FROM unnest(p_skus) AS s
    ON CONFLICT (sku) DO NOTHING;
    PERFORM 1 FROM unnest(p_skus) AS s, LATERAL (  -- in SKU order (p_skus is sorted)
        SELECT 1 FROM levels l WHERE l.sku = s FOR UPDATE
    ) AS locked;
    -- Committed since p_since, the locks held: a transaction that snapshot did not see (running
    -- then, or started after it), other than p_own, whose status is not "in progress" or
    -- "aborted" (unknown, too old: taken for committed); a long gap: assumed. v_now is taken
    -- first, so every transaction it sees is either checked here or was seen by p_since: the
    -- rows kept after this write are the ledger's as of v_now, but for this transaction.
    v_now := pg_current_snapshot();
    SELECT v_since IS NULL
           OR pg_snapshot_xmax(v_now)::text::bigint - pg_snapshot_xmax(v_since)::text::bigint > 256
           OR EXISTS (
               SELECT 1 FROM (
                   SELECT x FROM pg_snapshot_xip(v_since) AS x
                   UNION ALL
                   SELECT n::text::xid8 FROM generate_series(
                       pg_snapshot_xmax(v_since)::text::bigint,
                       pg_snapshot_xmax(v_now)::text::bigint - 1) AS n
               ) AS s
               WHERE s.x <> ALL (v_own)
                 AND COALESCE(pg_xact_status(s.x), 'committed') NOT IN ('in progress', 'aborted'))
    INTO v_changed;
    IF v_changed THEN
        v_rows := syncd_snapshot(p_channels, p_ids, p_identifiers, p_strict, true, p_now);
        IF (p_seen IS NOT NULL AND md5(v_rows) <> p_seen)
           OR (p_seen IS NULL AND (p_assumed IS NULL OR syncd_rows_unordered(v_rows::jsonb) IS DISTINCT FROM
                                                  syncd_rows_unordered(p_assumed::jsonb))) THEN
            RAISE EXCEPTION 'the rows of this batch changed since they were read'
                USING ERRCODE = 'SY001';
        END IF;
    END IF;
    -- One index probe per key (LATERAL ... OFFSET 0, as in syncd_snapshot): a generic plan
    -- may otherwise hash the whole documents table.
    IF EXISTS (SELECT 1 FROM unnest(p_absent_channels, p_absent_ids) AS k(c, i), LATERAL (
                   SELECT 1 FROM documents d WHERE d.channel = k.c AND d.doc_id = k.i OFFSET 0
               ) AS stored) THEN
        RAISE EXCEPTION 'a document of this batch taken for new is stored already'
            USING ERRCODE = 'SY001';
    END IF;
    PERFORM syncd_write_plan(p_plan, p_now);
    r_since := v_now::text || '@' || v_server;
    r_own := pg_current_xact_id()::text;
    r_clean := NOT v_changed;
END $$;
