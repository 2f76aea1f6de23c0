-- syncd ledger, PostgreSQL: the current schema, used for a new ledger (upgrades: migrations/).
-- the same representation as the SQLite ledger, so both stores share one implementation.

CREATE TABLE channels (
    name          text PRIMARY KEY,
    type          text NOT NULL,
    push          boolean NOT NULL DEFAULT true,
    registered_us bigint NOT NULL,
    state         text NOT NULL DEFAULT 'unknown',
    last_pull_us  bigint,
    last_push_us  bigint,
    last_error    text NOT NULL DEFAULT '',
    health_us     bigint,
    follows_own_sales boolean NOT NULL DEFAULT true,
    locations     text NOT NULL DEFAULT '[]'
);

CREATE TABLE products (
    sku        text PRIMARY KEY,
    name       text NOT NULL DEFAULT '',
    barcode    text,
    updated_us bigint NOT NULL
);
CREATE INDEX products_barcode ON products (barcode) WHERE barcode IS NOT NULL;

CREATE TABLE sku_aliases (
    alias text PRIMARY KEY,
    sku   text NOT NULL
);

CREATE TABLE documents (
    channel      text NOT NULL,
    doc_id       text NOT NULL,
    kind         text NOT NULL,
    version      bigint NOT NULL,
    content_hash text NOT NULL,
    reference    text NOT NULL DEFAULT '',
    cancelled    boolean NOT NULL DEFAULT false,
    url          text NOT NULL DEFAULT '',
    occurred_us  bigint NOT NULL,
    first_us     bigint NOT NULL,
    updated_us   bigint NOT NULL,
    meta         text NOT NULL DEFAULT '{}',
    basis        text NOT NULL DEFAULT '{}',
    location     text NOT NULL DEFAULT '',
    destination  text NOT NULL DEFAULT '',
    PRIMARY KEY (channel, doc_id)
);

CREATE TABLE document_lines (
    channel  text NOT NULL,
    doc_id   text NOT NULL,
    line_key text NOT NULL,
    sku      text,
    wanted   bigint NOT NULL,
    applied  bigint NOT NULL,
    placed   text NOT NULL DEFAULT '',
    PRIMARY KEY (channel, doc_id, line_key)
);
CREATE INDEX document_lines_pending ON document_lines (line_key) WHERE sku IS NULL;

CREATE TABLE movements (
    id          bigserial PRIMARY KEY,
    sku         text NOT NULL,
    delta       bigint NOT NULL,
    reason      text NOT NULL,
    channel     text NOT NULL,
    doc_id      text NOT NULL,
    doc_version bigint NOT NULL,
    occurred_us bigint NOT NULL,
    recorded_us bigint NOT NULL,
    kit         text NOT NULL DEFAULT '',
    location    text NOT NULL DEFAULT 'main'
);
CREATE INDEX movements_sku ON movements (sku, id);
CREATE INDEX movements_doc ON movements (channel, doc_id);
CREATE INDEX movements_recorded ON movements (recorded_us);

CREATE TABLE levels (
    sku        text PRIMARY KEY,
    on_hand    bigint NOT NULL,
    updated_us bigint NOT NULL
);

CREATE TABLE buffers (
    channel  text NOT NULL,
    sku      text NOT NULL,
    quantity bigint NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (channel, sku)
);

CREATE TABLE channel_levels (
    channel    text NOT NULL,
    sku        text NOT NULL,
    shown      bigint,
    source     text NOT NULL,
    updated_us bigint NOT NULL,
    written        text NOT NULL DEFAULT '[]',
    PRIMARY KEY (channel, sku)
);
CREATE INDEX channel_levels_sku ON channel_levels (sku);

CREATE TABLE outbox (
    channel     text NOT NULL,
    sku         text NOT NULL,
    wanted      bigint NOT NULL,
    revision    bigint NOT NULL,
    enqueued_us bigint NOT NULL,
    updated_us  bigint NOT NULL,
    PRIMARY KEY (channel, sku)
);
CREATE INDEX outbox_age ON outbox (channel, enqueued_us);
CREATE INDEX outbox_sku ON outbox (sku);

CREATE TABLE cursors (
    channel    text NOT NULL,
    key        text NOT NULL,
    value      text NOT NULL,
    updated_us bigint NOT NULL,
    PRIMARY KEY (channel, key)
);

CREATE TABLE conflicts (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL,
    status     text NOT NULL,
    sku        text NOT NULL DEFAULT '',
    channel    text NOT NULL DEFAULT '',
    shortfall  bigint NOT NULL DEFAULT 0,
    detail     text NOT NULL DEFAULT '{}',
    created_us bigint NOT NULL,
    updated_us bigint NOT NULL
);
CREATE INDEX conflicts_status ON conflicts (status, kind, sku);

CREATE TABLE rejections (
    id          bigserial PRIMARY KEY,
    channel     text NOT NULL,
    source      text NOT NULL,
    row_number  bigint,
    column_name text NOT NULL,
    value       text NOT NULL,
    reason      text NOT NULL,
    recorded_us bigint NOT NULL
);
CREATE INDEX rejections_source ON rejections (channel, source);

-- Alert emails: items to mail, the mails (an outbox the alert loop sends from), bookkeeping.
CREATE TABLE alert_items (
    id          bigserial PRIMARY KEY,
    item_key    text NOT NULL UNIQUE,
    kind        text NOT NULL,
    conflict_id bigint,
    shortfall   bigint NOT NULL DEFAULT 0,
    payload     text NOT NULL DEFAULT '{}',
    state       text NOT NULL DEFAULT 'pending',
    mail_id     bigint,
    created_us  bigint NOT NULL
);
CREATE INDEX alert_items_state ON alert_items (state, id);
CREATE INDEX alert_items_conflict ON alert_items (conflict_id, shortfall);

CREATE TABLE alert_mails (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL,
    subject    text NOT NULL,
    body_text  text NOT NULL,
    body_html  text NOT NULL,
    items      bigint NOT NULL DEFAULT 0,
    created_us bigint NOT NULL,
    attempts   bigint NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT '',
    sent_us    bigint
);
CREATE INDEX alert_mails_unsent ON alert_mails (id) WHERE sent_us IS NULL;
CREATE INDEX alert_mails_created ON alert_mails (kind, created_us);

CREATE TABLE alert_state (
    name  text PRIMARY KEY,
    value text NOT NULL
);

-- Reconciliation (issue 9): runs (resumable), their findings, fixes remembered for drift-again.
CREATE TABLE reconcile_runs (
    id          bigserial PRIMARY KEY,
    mode        text NOT NULL,
    channels    text NOT NULL,
    progress    text NOT NULL DEFAULT '{}',
    started_us  bigint NOT NULL,
    updated_us  bigint NOT NULL,
    finished_us bigint
);

CREATE TABLE reconcile_findings (
    run_id  bigint NOT NULL,
    channel text NOT NULL,
    sku     text NOT NULL,
    kind    text NOT NULL,
    wanted  bigint,
    figure  bigint,
    shown   bigint,
    state   text NOT NULL,
    detail  text NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, channel, sku, kind)
);

CREATE TABLE reconcile_fixes (
    channel  text NOT NULL,
    sku      text NOT NULL,
    figure   bigint NOT NULL,
    wanted   bigint NOT NULL,
    fixed_us bigint NOT NULL,
    PRIMARY KEY (channel, sku)
);

-- Stock in (issue 16): drafts of page bookings, reorder points.
CREATE TABLE drafts (
    id          text PRIMARY KEY,
    kind        text NOT NULL,
    state       text NOT NULL DEFAULT 'open',
    meta        text NOT NULL DEFAULT '{}',
    lines       text NOT NULL DEFAULT '[]',
    created_us  bigint NOT NULL,
    updated_us  bigint NOT NULL,
    doc_id      text NOT NULL DEFAULT ''
);
CREATE INDEX drafts_state ON drafts (state, kind, updated_us);

CREATE TABLE reorder_points (
    sku        text PRIMARY KEY,
    point      integer NOT NULL CHECK (point >= 0),
    quantity   integer NOT NULL CHECK (quantity >= 0),
    source     text NOT NULL DEFAULT '',
    updated_us bigint NOT NULL
);

CREATE INDEX movements_occurred ON movements (occurred_us);

-- Applying a batch of documents in few round trips (issue 17): one function reads every row the
-- planner needs (syncd/ledger/planner.py, Snapshot), one writes what it decided (Plan), one does
-- both checks and writes in one statement. They load and write rows only: every domain rule stays
-- in the planner. A new table is one more key in the snapshot and one more array in the plan.

-- The rows a batch touches, as JSON (one array per table, in a fixed order: two snapshots of the
-- same rows are the same text). p_lock: lock them (advisory lock per document key, since a new
-- document has no row yet; documents and levels FOR UPDATE), insert the products an identifier
-- becomes when SKUs are not strict, and the missing level rows.
CREATE FUNCTION syncd_snapshot(
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

-- Writes a plan: one JSON object, one array of rows per table (syncd/ledger/apply.py, plan_rows).
CREATE FUNCTION syncd_write_plan(p_plan jsonb, p_now bigint) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_row record;
BEGIN
    INSERT INTO documents (channel, doc_id, kind, version, content_hash, reference, cancelled,
                           url, occurred_us, first_us, updated_us, meta, basis, location,
                           destination)
    SELECT r.channel, r.doc_id, r.kind, r.version, r.content_hash, r.reference, r.cancelled,
           r.url, r.occurred_us, p_now, p_now, r.meta, r.basis, r.location, r.destination
    FROM jsonb_to_recordset(p_plan -> 'documents') AS r(
        channel text, doc_id text, kind text, version bigint, content_hash text, reference text,
        cancelled boolean, url text, occurred_us bigint, meta text, basis text, location text,
        destination text)
    ON CONFLICT (channel, doc_id) DO UPDATE SET
        kind = EXCLUDED.kind, version = EXCLUDED.version, content_hash = EXCLUDED.content_hash,
        reference = EXCLUDED.reference, cancelled = EXCLUDED.cancelled, url = EXCLUDED.url,
        occurred_us = EXCLUDED.occurred_us, updated_us = EXCLUDED.updated_us,
        meta = EXCLUDED.meta, basis = EXCLUDED.basis, location = EXCLUDED.location,
        destination = EXCLUDED.destination;
    INSERT INTO document_lines (channel, doc_id, line_key, sku, wanted, applied, placed)
    SELECT r.channel, r.doc_id, r.line_key, r.sku, r.wanted, r.applied, r.placed
    FROM jsonb_to_recordset(p_plan -> 'lines') AS r(
        channel text, doc_id text, line_key text, sku text, wanted bigint, applied bigint,
        placed text)
    ON CONFLICT (channel, doc_id, line_key) DO UPDATE SET
        sku = EXCLUDED.sku, wanted = EXCLUDED.wanted, applied = EXCLUDED.applied,
        placed = EXCLUDED.placed;
    IF jsonb_array_length(COALESCE(p_plan -> 'movements', '[]')) > 0 THEN
        INSERT INTO movements (sku, delta, reason, channel, doc_id, doc_version, occurred_us,
                               recorded_us, kit, location)
        SELECT r.sku, r.delta, r.reason, r.channel, r.doc_id, r.doc_version, r.occurred_us, p_now,
               r.kit, r.location
        FROM ROWS FROM (jsonb_to_recordset(p_plan -> 'movements') AS (
            sku text, delta bigint, reason text, channel text, doc_id text, doc_version bigint,
            occurred_us bigint, kit text, location text)) WITH ORDINALITY AS r(
            sku, delta, reason, channel, doc_id, doc_version, occurred_us, kit, location, n)
        ORDER BY r.n;  -- ids in the order the planner made them
    END IF;
    IF jsonb_array_length(COALESCE(p_plan -> 'at', '[]')) > 0 THEN
        INSERT INTO location_levels (location, sku, on_hand, updated_us)
        SELECT r.location, r.sku, r.on_hand, p_now
        FROM jsonb_to_recordset(p_plan -> 'at') AS r(location text, sku text, on_hand bigint)
        ON CONFLICT (sku, location) DO UPDATE SET
            on_hand = EXCLUDED.on_hand, updated_us = EXCLUDED.updated_us;
    END IF;
    IF jsonb_array_length(COALESCE(p_plan -> 'levels', '[]')) > 0 THEN
        INSERT INTO levels (sku, on_hand, updated_us)  -- rows exist: an update through the index
        SELECT r.sku, r.on_hand, p_now
        FROM jsonb_to_recordset(p_plan -> 'levels') AS r(sku text, on_hand bigint)
        ON CONFLICT (sku) DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_us = EXCLUDED.updated_us;
    END IF;
    IF jsonb_array_length(COALESCE(p_plan -> 'shown', '[]')) > 0 THEN
        INSERT INTO channel_levels (channel, sku, shown, source, updated_us)
        SELECT r.channel, r.sku, r.shown, 'document', p_now
        FROM jsonb_to_recordset(p_plan -> 'shown') AS r(channel text, sku text, shown bigint)
        ON CONFLICT (channel, sku) DO UPDATE SET
            shown = EXCLUDED.shown, source = EXCLUDED.source, updated_us = EXCLUDED.updated_us;
    END IF;
    IF jsonb_array_length(COALESCE(p_plan -> 'outbox_set', '[]')) > 0 THEN
        INSERT INTO outbox (channel, sku, wanted, revision, enqueued_us, updated_us)
        SELECT r.channel, r.sku, r.wanted, 1, p_now, p_now
        FROM jsonb_to_recordset(p_plan -> 'outbox_set') AS r(channel text, sku text, wanted bigint)
        ON CONFLICT (channel, sku) DO UPDATE SET
            wanted = EXCLUDED.wanted, revision = outbox.revision + 1, updated_us = EXCLUDED.updated_us;
    END IF;
    FOR v_row IN
        SELECT * FROM jsonb_to_recordset(p_plan -> 'outbox_delete') AS r(channel text, sku text)
    LOOP
        DELETE FROM outbox WHERE channel = v_row.channel AND sku = v_row.sku;
    END LOOP;
    IF jsonb_array_length(COALESCE(p_plan -> 'cursors', '[]')) > 0 THEN
        INSERT INTO cursors (channel, key, value, updated_us)
        SELECT r.channel, r.key, r.value, p_now
        FROM jsonb_to_recordset(p_plan -> 'cursors') AS r(channel text, key text, value text)
        ON CONFLICT (channel, key) DO UPDATE SET
            value = EXCLUDED.value, updated_us = EXCLUDED.updated_us;
    END IF;
    IF jsonb_array_length(COALESCE(p_plan -> 'notify', '[]')) > 0 THEN
        PERFORM pg_notify('syncd_outbox', c)
        FROM (SELECT DISTINCT jsonb_array_elements_text(p_plan -> 'notify') AS c ORDER BY 1) n;
    END IF;
END $$;

-- The database's clock, shared by daemons on several machines.
CREATE FUNCTION syncd_now_us() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
$$;

-- Applies a plan made from an unlocked snapshot, in the statement's own transaction (one round
-- trip, committed with it): the rows are locked and read again, and the plan is written only if
-- they are still what the planner saw (the md5 of that snapshot's text); else SQLSTATE SY001,
-- nothing is written, and the caller plans again. A plan made for fenced jobs (issue 20) is
-- written only while each lease still has its holder and epoch; else SQLSTATE SY002.
CREATE FUNCTION syncd_apply_plan(
    p_channels text[], p_ids text[], p_identifiers text[], p_strict boolean, p_now bigint,
    p_seen text, p_plan jsonb
) RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_fence record;
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
    IF md5(syncd_snapshot(p_channels, p_ids, p_identifiers, p_strict, true, p_now)) <> p_seen THEN
        RAISE EXCEPTION 'the rows of this batch changed since they were read'
            USING ERRCODE = 'SY001';
    END IF;
    PERFORM syncd_write_plan(p_plan, p_now);
END $$;

-- Applies a plan made from an unlocked snapshot with one snapshot per batch (issue 17, migrations/0016_one_snapshot.sql): the
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

-- This server's life: the start of its postmaster, in microseconds (syncd_apply_next).
CREATE FUNCTION syncd_server_id() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint::text
$$;

-- Applies a plan made from the rows the daemon keeps, or from a read, with no read round trip
-- while nothing else writes (issue 17): see migrations/0017_apply_next.sql.
CREATE FUNCTION syncd_apply_next(
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

-- Kits and packs (issue 17): see migrations/0010_kits.sql.
CREATE TABLE kits (
    sku        text PRIMARY KEY,
    source     text NOT NULL,
    derived_by text NOT NULL DEFAULT '',
    updated_us bigint NOT NULL
);

CREATE TABLE kit_components (
    kit       text NOT NULL,
    component text NOT NULL,
    quantity  integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (kit, component)
);
CREATE INDEX kit_components_component ON kit_components (component);
-- Stock per location (issue 17): Σ location_levels = levels, kept in the same transaction.
CREATE TABLE locations (
    name     text PRIMARY KEY,
    kind     text NOT NULL DEFAULT 'store',
    position integer NOT NULL DEFAULT 0
);

CREATE TABLE location_levels (
    location   text NOT NULL,
    sku        text NOT NULL,
    on_hand    bigint NOT NULL,
    updated_us bigint NOT NULL,
    PRIMARY KEY (sku, location)
);
CREATE INDEX location_levels_location ON location_levels (location, sku);

-- Leases per job (issue 20, syncd/ledger/leases.py): who runs a channel's loops, the alert
-- mails, the scheduled reconciliation; the epoch rises at every takeover, and fenced writes
-- check it in their transaction.
CREATE TABLE leases (
    job        text PRIMARY KEY,
    holder     text NOT NULL,
    epoch      bigint NOT NULL,
    since_us   bigint NOT NULL,
    expires_us bigint NOT NULL
);
