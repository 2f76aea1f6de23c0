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
