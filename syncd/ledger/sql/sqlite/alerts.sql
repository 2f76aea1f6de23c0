-- The alert outbox (syncd/ledger/alerts.py), SQLite.
-- Each query starts with "-- name: <name>"; parameters only (?n). Lists arrive as JSON arrays
-- (json_each); rows are locked by BEGIN IMMEDIATE, not FOR UPDATE. A name is defined in one file.

-- name: alert_conflict_candidates
SELECT c.id, c.kind, c.status, c.sku, c.channel, c.shortfall, c.detail, c.created_us, c.updated_us
FROM conflicts c
WHERE c.status = 'open' AND NOT EXISTS (
    SELECT 1 FROM alert_items a WHERE a.conflict_id = c.id AND a.shortfall >= c.shortfall)
ORDER BY c.id
LIMIT ?1;

-- name: alert_rejections_after
SELECT id, channel, source, row_number, column_name, value, reason, recorded_us
FROM rejections WHERE id > ?1 ORDER BY id LIMIT ?2;

-- name: alert_last_rejection
SELECT COALESCE(max(id), 0) FROM rejections;

-- name: insert_alert_item
INSERT INTO alert_items (item_key, kind, conflict_id, shortfall, payload, created_us)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (item_key) DO NOTHING;

-- name: get_alert_state
SELECT value FROM alert_state WHERE name = ?1;

-- name: set_alert_state
INSERT INTO alert_state (name, value) VALUES (?1, ?2)
ON CONFLICT (name) DO UPDATE SET value = excluded.value;

-- name: pending_alert_items
SELECT a.id, a.item_key, a.kind, a.conflict_id, a.shortfall, a.payload, a.created_us,
       COALESCE(c.status, '') AS conflict_status
FROM alert_items a
LEFT JOIN conflicts c ON c.id = a.conflict_id
WHERE a.state = 'pending'
ORDER BY a.id
LIMIT ?1;

-- name: insert_alert_mail
INSERT INTO alert_mails (kind, subject, body_text, body_html, items, created_us)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
RETURNING id;

-- name: settle_alert_items
UPDATE alert_items SET state = ?2, mail_id = ?1
WHERE state = 'pending' AND id IN (SELECT value FROM json_each(?3));

-- name: unsent_alert_mails
SELECT id, kind, subject, body_text, body_html, items, created_us, attempts, last_error, sent_us
FROM alert_mails WHERE sent_us IS NULL ORDER BY id LIMIT ?1;

-- name: recent_alert_mails
SELECT id, kind, subject, body_text, body_html, items, created_us, attempts, last_error, sent_us
FROM alert_mails ORDER BY id DESC LIMIT ?1;

-- name: alert_mail_sent
UPDATE alert_mails SET sent_us = ?2, attempts = attempts + 1, last_error = ''
WHERE id = ?1 AND sent_us IS NULL
RETURNING id;

-- name: alert_mail_failed
UPDATE alert_mails SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1 AND sent_us IS NULL;

-- name: alert_mails_since
SELECT created_us FROM alert_mails WHERE kind = ?1 AND created_us >= ?2 ORDER BY created_us;

-- name: alert_counts
SELECT (SELECT count(*) FROM alert_items WHERE state = 'pending') AS items,
       (SELECT count(*) FROM alert_mails WHERE sent_us IS NULL) AS mails,
       (SELECT max(sent_us) FROM alert_mails) AS last_sent_us;
