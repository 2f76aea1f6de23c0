-- syncd ledger, SQLite: the current schema, used for a new ledger (upgrades: migrations/).
-- the same representation as the PostgreSQL ledger, so both stores share one implementation.

CREATE TABLE channels (
    name          TEXT PRIMARY KEY,
    type          TEXT NOT NULL,
    push          INTEGER NOT NULL DEFAULT 1,
    registered_us INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'unknown',
    last_pull_us  INTEGER,
    last_push_us  INTEGER,
    last_error    TEXT NOT NULL DEFAULT '',
    health_us     INTEGER,
    follows_own_sales INTEGER NOT NULL DEFAULT 1,
    locations     TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE products (
    sku        TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    barcode    TEXT,
    updated_us INTEGER NOT NULL
);
CREATE INDEX products_barcode ON products (barcode) WHERE barcode IS NOT NULL;

CREATE TABLE sku_aliases (
    alias TEXT PRIMARY KEY,
    sku   TEXT NOT NULL
);

CREATE TABLE documents (
    channel      TEXT NOT NULL,
    doc_id       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    reference    TEXT NOT NULL DEFAULT '',
    cancelled    INTEGER NOT NULL DEFAULT 0,
    url          TEXT NOT NULL DEFAULT '',
    occurred_us  INTEGER NOT NULL,
    first_us     INTEGER NOT NULL,
    updated_us   INTEGER NOT NULL,
    meta         TEXT NOT NULL DEFAULT '{}',
    basis        TEXT NOT NULL DEFAULT '{}',
    location     TEXT NOT NULL DEFAULT '',
    destination  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (channel, doc_id)
);

CREATE TABLE document_lines (
    channel  TEXT NOT NULL,
    doc_id   TEXT NOT NULL,
    line_key TEXT NOT NULL,
    sku      TEXT,
    wanted   INTEGER NOT NULL,
    applied  INTEGER NOT NULL,
    placed   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (channel, doc_id, line_key)
);
CREATE INDEX document_lines_pending ON document_lines (line_key) WHERE sku IS NULL;

CREATE TABLE movements (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sku         TEXT NOT NULL,
    delta       INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    channel     TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    doc_version INTEGER NOT NULL,
    occurred_us INTEGER NOT NULL,
    recorded_us INTEGER NOT NULL,
    kit         TEXT NOT NULL DEFAULT '',
    location    TEXT NOT NULL DEFAULT 'main'
);
CREATE INDEX movements_sku ON movements (sku, id);
CREATE INDEX movements_doc ON movements (channel, doc_id);
CREATE INDEX movements_recorded ON movements (recorded_us);

CREATE TABLE levels (
    sku        TEXT PRIMARY KEY,
    on_hand    INTEGER NOT NULL,
    updated_us INTEGER NOT NULL
);

CREATE TABLE buffers (
    channel  TEXT NOT NULL,
    sku      TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (channel, sku)
);

CREATE TABLE channel_levels (
    channel    TEXT NOT NULL,
    sku        TEXT NOT NULL,
    shown      INTEGER,
    source     TEXT NOT NULL,
    updated_us INTEGER NOT NULL,
    written        TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (channel, sku)
);
CREATE INDEX channel_levels_sku ON channel_levels (sku);

CREATE TABLE outbox (
    channel     TEXT NOT NULL,
    sku         TEXT NOT NULL,
    wanted      INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    enqueued_us INTEGER NOT NULL,
    updated_us  INTEGER NOT NULL,
    PRIMARY KEY (channel, sku)
);
CREATE INDEX outbox_age ON outbox (channel, enqueued_us);
CREATE INDEX outbox_sku ON outbox (sku);

CREATE TABLE cursors (
    channel    TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_us INTEGER NOT NULL,
    PRIMARY KEY (channel, key)
);

CREATE TABLE conflicts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    sku        TEXT NOT NULL DEFAULT '',
    channel    TEXT NOT NULL DEFAULT '',
    shortfall  INTEGER NOT NULL DEFAULT 0,
    detail     TEXT NOT NULL DEFAULT '{}',
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL
);
CREATE INDEX conflicts_status ON conflicts (status, kind, sku);

CREATE TABLE rejections (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT NOT NULL,
    source      TEXT NOT NULL,
    row_number  INTEGER,
    column_name TEXT NOT NULL,
    value       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    recorded_us INTEGER NOT NULL
);
CREATE INDEX rejections_source ON rejections (channel, source);

-- Alert emails: items to mail, the mails (an outbox the alert loop sends from), bookkeeping.
CREATE TABLE alert_items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    item_key    TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    conflict_id INTEGER,
    shortfall   INTEGER NOT NULL DEFAULT 0,
    payload     TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL DEFAULT 'pending',
    mail_id     INTEGER,
    created_us  INTEGER NOT NULL
);
CREATE INDEX alert_items_state ON alert_items (state, id);
CREATE INDEX alert_items_conflict ON alert_items (conflict_id, shortfall);

CREATE TABLE alert_mails (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body_text  TEXT NOT NULL,
    body_html  TEXT NOT NULL,
    items      INTEGER NOT NULL DEFAULT 0,
    created_us INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    sent_us    INTEGER
);
CREATE INDEX alert_mails_unsent ON alert_mails (id) WHERE sent_us IS NULL;
CREATE INDEX alert_mails_created ON alert_mails (kind, created_us);

CREATE TABLE alert_state (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Reconciliation (issue 9): runs (resumable), their findings, fixes remembered for drift-again.
CREATE TABLE reconcile_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mode        TEXT NOT NULL,
    channels    TEXT NOT NULL,
    progress    TEXT NOT NULL DEFAULT '{}',
    started_us  INTEGER NOT NULL,
    updated_us  INTEGER NOT NULL,
    finished_us INTEGER
);

CREATE TABLE reconcile_findings (
    run_id  INTEGER NOT NULL,
    channel TEXT NOT NULL,
    sku     TEXT NOT NULL,
    kind    TEXT NOT NULL,
    wanted  INTEGER,
    figure  INTEGER,
    shown   INTEGER,
    state   TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, channel, sku, kind)
);

CREATE TABLE reconcile_fixes (
    channel  TEXT NOT NULL,
    sku      TEXT NOT NULL,
    figure   INTEGER NOT NULL,
    wanted   INTEGER NOT NULL,
    fixed_us INTEGER NOT NULL,
    PRIMARY KEY (channel, sku)
);

-- Stock in (issue 16): drafts of page bookings, reorder points.
CREATE TABLE drafts (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'open',
    meta        TEXT NOT NULL DEFAULT '{}',
    lines       TEXT NOT NULL DEFAULT '[]',
    created_us  INTEGER NOT NULL,
    updated_us  INTEGER NOT NULL,
    doc_id      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX drafts_state ON drafts (state, kind, updated_us);

CREATE TABLE reorder_points (
    sku        TEXT PRIMARY KEY,
    point      INTEGER NOT NULL CHECK (point >= 0),
    quantity   INTEGER NOT NULL CHECK (quantity >= 0),
    source     TEXT NOT NULL DEFAULT '',
    updated_us INTEGER NOT NULL
);

CREATE INDEX movements_occurred ON movements (occurred_us);

-- Kits and packs (issue 17): see migrations/0010_kits.sql.
CREATE TABLE kits (
    sku        TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    derived_by TEXT NOT NULL DEFAULT '',
    updated_us INTEGER NOT NULL
);

CREATE TABLE kit_components (
    kit       TEXT NOT NULL,
    component TEXT NOT NULL,
    quantity  INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (kit, component)
);
CREATE INDEX kit_components_component ON kit_components (component);
-- Stock per location (issue 17): Σ location_levels = levels, kept in the same transaction.
CREATE TABLE locations (
    name     TEXT PRIMARY KEY,
    kind     TEXT NOT NULL DEFAULT 'store',
    position INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE location_levels (
    location   TEXT NOT NULL,
    sku        TEXT NOT NULL,
    on_hand    INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    PRIMARY KEY (sku, location)
);
CREATE INDEX location_levels_location ON location_levels (location, sku);
