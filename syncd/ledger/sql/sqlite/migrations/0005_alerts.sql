-- Alert emails (issue 7): what must be mailed (alert_items, one per conflict and shortfall, per
-- rejected row, per channel back), the mails built from them (alert_mails, the outbox the alert
-- loop sends from), and small bookkeeping values (alert_state: high-water marks, digest day).
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
