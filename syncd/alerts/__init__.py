"""Conflict alert emails: outbox, grouping, throttling, SMTP sending, FR/EN templates."""
