-- Alert emails (issue 7): what must be mailed (alert_items, one per conflict and shortfall, per
-- rejected row, per channel back), the mails built from them (alert_mails, the outbox the alert
-- loop sends from), and small bookkeeping values (alert_state: high-water marks, digest day).
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
