-- One snapshot per batch (issue 17): syncd_apply_plan read every row of a batch again, with its
-- locks, to compare it with what the planner saw (0.4 ms of the 1.4 ms a closed-loop batch of 8
-- sales cost the server); syncd_apply_batch takes the same locks and reads the rows again only
-- when some transaction has committed since they were read. syncd_apply_plan stays (a daemon
-- of the previous version applies through it during an upgrade).
-- Applies a plan made from an unlocked snapshot with one snapshot per batch (issue 17): the
-- batch's rows are locked as syncd_snapshot locks them (p_skus and p_idents: the SKUs and the
-- identifiers that snapshot named), then, if no transaction has committed since p_since (the
-- snapshot of the statement that read them: every transaction it did not see is still in
-- progress or rolled back), what the planner saw is what is there and the plan is written;
-- otherwise the rows are read again and compared as syncd_apply_plan does (SY001 if they
-- changed). The same fences as syncd_apply_plan (SY002).
CREATE FUNCTION syncd_apply_batch(
    p_channels text[], p_ids text[], p_identifiers text[], p_strict boolean, p_now bigint,
    p_seen text, p_plan jsonb, p_since text, p_skus text[], p_idents text[]
) RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_fence record;
    v_since pg_snapshot := p_since::pg_snapshot;
    v_changed boolean;
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
    -- Committed since the read: a transaction the read's snapshot did not see (running then,
    -- or started after it) that has committed by now, the locks held (a long gap: assumed).
    SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint
               - pg_snapshot_xmax(v_since)::text::bigint > 256
           OR EXISTS (
               SELECT 1 FROM (
                   SELECT x FROM pg_snapshot_xip(v_since) AS x
                   UNION ALL
                   SELECT n::text::xid8 FROM generate_series(
                       pg_snapshot_xmax(v_since)::text::bigint,
                       pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 1) AS n
               ) AS s
               WHERE pg_xact_status(s.x) = 'committed')
    INTO v_changed;
    IF v_changed AND md5(syncd_snapshot(p_channels, p_ids, p_identifiers, p_strict, true, p_now))
            <> p_seen THEN
        RAISE EXCEPTION 'the rows of this batch changed since they were read'
            USING ERRCODE = 'SY001';
    END IF;
    PERFORM syncd_write_plan(p_plan, p_now);
END $$;
