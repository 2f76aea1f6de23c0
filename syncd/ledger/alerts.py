"""The alert outbox (syncd/alerts): items to mail, the mails, their bookkeeping; protocol and SQL."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from syncd.domain import Conflict, utcnow
from syncd.ledger.documents import ConflictStore
from syncd.ledger.sqlbase import SqlBase, Tx, conflict_from_row, opt_int
from syncd.ledger.values import StoredRejection, from_us, to_us


@dataclass(frozen=True, slots=True)
class NewAlertItem:
    """Something to mail, keyed so that it is queued once (``conflict:12:3``, ``rejection:55``)."""

    key: str
    kind: str  # a ConflictKind value, rejected_row, channel_back
    payload: Mapping[str, object]  # what the mail shows, as it was when queued
    conflict_id: int | None = None
    shortfall: int = 0


@dataclass(frozen=True, slots=True)
class AlertItem:
    id: int
    key: str
    kind: str
    conflict_id: int | None
    shortfall: int
    payload: Mapping[str, object]
    created_at: datetime
    conflict_status: str  # the conflict's status now; "" when the item is not about a conflict


@dataclass(frozen=True, slots=True)
class NewAlertMail:
    kind: str  # alert | digest
    subject: str
    body_text: str
    body_html: str
    items: int = 0
    created_at: datetime | None = None  # None: now


@dataclass(frozen=True, slots=True)
class AlertMail:
    """A mail in the alert outbox; ``sent_at`` is set once the SMTP server accepted it."""

    id: int
    kind: str
    subject: str
    body_text: str
    body_html: str
    items: int
    created_at: datetime
    attempts: int
    last_error: str
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlertCounts:
    pending_items: int  # queued, not in a mail yet
    unsent_mails: int
    last_sent_at: datetime | None


class AlertStore(ConflictStore, Protocol):
    """What the alert service asks of the ledger: the conflicts and rejected rows to mail about,
    and the alert outbox (items, mails, state)."""

    async def alert_candidates(self, limit: int = 200) -> list[Conflict]: ...
    async def rejections_after(self, after_id: int, limit: int = 500) -> list[StoredRejection]: ...
    async def last_rejection_id(self) -> int: ...
    async def add_alert_items(
        self, items: Sequence[NewAlertItem], *, state: Mapping[str, str] | None = None
    ) -> None: ...
    async def alert_state(self, name: str) -> str | None: ...
    async def pending_alert_items(self, limit: int = 1000) -> list[AlertItem]: ...
    async def create_alert_mail(
        self,
        mail: NewAlertMail | None,
        *,
        items: Sequence[int] = (),
        dropped: Sequence[int] = (),
        state: Mapping[str, str] | None = None,
    ) -> int | None: ...
    async def unsent_alert_mails(self, limit: int = 20) -> list[AlertMail]: ...
    async def alert_mails(self, limit: int = 20) -> list[AlertMail]: ...
    async def mark_alert_mail_sent(self, mail_id: int, sent_at: datetime) -> bool: ...
    async def mark_alert_mail_failed(self, mail_id: int, error: str) -> None: ...
    async def alert_mail_times(self, kind: str, since: datetime) -> list[datetime]: ...
    async def alert_counts(self) -> AlertCounts: ...


class AlertsSql(SqlBase):
    """:class:`AlertStore` over SQL, but the conflicts (see DocumentsSql); ``alerts.sql``."""

    async def alert_candidates(self, limit: int = 200) -> list[Conflict]:
        """Open conflicts not yet queued for a mail at their current shortfall, oldest first."""
        async with self._read() as tx:
            rows = await tx.fetch("alert_conflict_candidates", limit)
        return [conflict_from_row(row) for row in rows]

    async def rejections_after(self, after_id: int, limit: int = 500) -> list[StoredRejection]:
        async with self._read() as tx:
            rows = await tx.fetch("alert_rejections_after", after_id, limit)
        return [
            StoredRejection(int(i), ch, src, opt_int(row), col, val, reason, from_us(us))
            for i, ch, src, row, col, val, reason, us in rows
        ]

    async def last_rejection_id(self) -> int:
        async with self._read() as tx:
            rows = await tx.fetch("alert_last_rejection")
        return int(rows[0][0])

    async def add_alert_items(
        self, items: Sequence[NewAlertItem], *, state: Mapping[str, str] | None = None
    ) -> None:
        """Queue items to mail (an item already queued under its key is left alone) and store
        bookkeeping values, in one transaction."""
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> None:
            if items:
                await tx.executemany(
                    "insert_alert_item",
                    [
                        (i.key, i.kind, i.conflict_id, i.shortfall, json.dumps(i.payload), now_us)
                        for i in items
                    ],
                )
            for name, value in sorted((state or {}).items()):
                await tx.execute("set_alert_state", name, value)

        await self._run(body)

    async def alert_state(self, name: str) -> str | None:
        async with self._read() as tx:
            rows = await tx.fetch("get_alert_state", name)
        return str(rows[0][0]) if rows else None

    async def pending_alert_items(self, limit: int = 1000) -> list[AlertItem]:
        async with self._read() as tx:
            rows = await tx.fetch("pending_alert_items", limit)
        return [
            AlertItem(
                id=int(iid),
                key=key,
                kind=kind,
                conflict_id=opt_int(cid),
                shortfall=int(shortfall),
                payload=json.loads(payload),
                created_at=from_us(created),
                conflict_status=status,
            )
            for iid, key, kind, cid, shortfall, payload, created, status in rows
        ]

    async def create_alert_mail(
        self,
        mail: NewAlertMail | None,
        *,
        items: Sequence[int] = (),
        dropped: Sequence[int] = (),
        state: Mapping[str, str] | None = None,
    ) -> int | None:
        """Put a mail in the alert outbox and mark the items it carries (and those dropped, e.g.
        acknowledged before they were mailed), in one transaction. Returns the mail's id."""
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> int | None:
            mail_id = None
            if mail is not None:
                rows = await tx.fetch(
                    "insert_alert_mail",
                    mail.kind,
                    mail.subject,
                    mail.body_text,
                    mail.body_html,
                    mail.items,
                    now_us if mail.created_at is None else to_us(mail.created_at),
                )
                mail_id = int(rows[0][0])
                if items:
                    await tx.execute("settle_alert_items", mail_id, "mailed", list(items))
            if dropped:
                await tx.execute("settle_alert_items", None, "dropped", list(dropped))
            for name, value in sorted((state or {}).items()):
                await tx.execute("set_alert_state", name, value)
            return mail_id

        return await self._run(body)

    async def unsent_alert_mails(self, limit: int = 20) -> list[AlertMail]:
        async with self._read() as tx:
            rows = await tx.fetch("unsent_alert_mails", limit)
        return [_alert_mail(row) for row in rows]

    async def alert_mails(self, limit: int = 20) -> list[AlertMail]:
        """The latest mails of the alert outbox, newest first."""
        async with self._read() as tx:
            rows = await tx.fetch("recent_alert_mails", limit)
        return [_alert_mail(row) for row in rows]

    async def mark_alert_mail_sent(self, mail_id: int, sent_at: datetime) -> bool:
        """The SMTP server accepted the mail; False if it was already marked sent."""

        async def body(tx: Tx) -> bool:
            return bool(await tx.fetch("alert_mail_sent", mail_id, to_us(sent_at)))

        return await self._run(body)

    async def mark_alert_mail_failed(self, mail_id: int, error: str) -> None:
        async def body(tx: Tx) -> None:
            await tx.execute("alert_mail_failed", mail_id, error)

        await self._run(body)

    async def alert_mail_times(self, kind: str, since: datetime) -> list[datetime]:
        """When the mails of this kind created since ``since`` were created, oldest first."""
        async with self._read() as tx:
            rows = await tx.fetch("alert_mails_since", kind, to_us(since))
        return [from_us(row[0]) for row in rows]

    async def alert_counts(self) -> AlertCounts:
        async with self._read() as tx:
            rows = await tx.fetch("alert_counts")
        items, mails, last_sent = rows[0]
        return AlertCounts(
            int(items), int(mails), None if last_sent is None else from_us(last_sent)
        )


def _alert_mail(row: Sequence[Any]) -> AlertMail:
    mid, kind, subject, text, html, items, created, attempts, error, sent = row
    return AlertMail(
        id=int(mid),
        kind=kind,
        subject=subject,
        body_text=text,
        body_html=html,
        items=int(items),
        created_at=from_us(created),
        attempts=int(attempts),
        last_error=error,
        sent_at=None if sent is None else from_us(sent),
    )
