"""The transaction machinery every part of the SQL ledger runs on, and the row helpers they share.

Each database supplies :meth:`SqlBase._transaction`, :meth:`SqlBase._read` and its connections (the
SQLite store runs write transactions whole in its writer thread, see :mod:`syncd.ledger.sqlite`);
each concern of :mod:`syncd.ledger.sqlstore` runs its named queries through the same :class:`Tx`.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from syncd.domain import Conflict, ConflictKind, ConflictStatus, DocumentRef, lane_channel
from syncd.ledger.fencing import fenced
from syncd.ledger.values import from_us

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Pairs:
    """A list of (channel, doc_id) keys as one query parameter: two arrays on PostgreSQL, one
    JSON array of pairs on SQLite (joining two json_each() on their index is quadratic)."""

    first: Sequence[str]
    second: Sequence[str]


class Tx(Protocol):
    """One connection inside one transaction (or a read-only connection)."""

    async def fetch(self, name: str, *args: Any) -> list[Any]: ...
    async def execute(self, name: str, *args: Any) -> None: ...
    async def executemany(self, name: str, rows: Sequence[Sequence[Any]]) -> None: ...


class SqlBase:
    """Connections, transactions and outbox wake-ups; no ledger knowledge of its own."""

    backend = "sql"

    def __init__(self, *, strict_skus: bool = True) -> None:
        # strict_skus: a line whose identifier is not a known SKU, alias or barcode is kept
        # pending (and reported) until mapped. Off: any identifier becomes a SKU on first sight.
        self.strict_skus = strict_skus
        self._events: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    # -- what each database supplies ------------------------------------------------------------

    def _transaction(self) -> AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    async def _run(self, body: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``body`` in one write transaction: all of it commits or none of it does. A write
        made for a job under a lease checks it first (:mod:`syncd.ledger.leases`)."""
        body = fenced(body)
        async with self._transaction() as tx:
            return await body(tx)

    def _read(self) -> AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    async def _notify(self, tx: Tx, channels: set[str]) -> None:
        """Tell other processes (PostgreSQL NOTIFY); the local wake-up happens after commit."""

    async def _close_connections(self) -> None:
        raise NotImplementedError

    async def migrate(self, *, target: int | None = None, fresh: bool = True) -> list[int]:
        """Bring the schema up to date; returns the migration versions applied."""
        raise NotImplementedError

    async def close(self) -> None:
        await self._close_connections()

    # -- outbox wake-ups ------------------------------------------------------------------------

    def _wake(self, channels: set[str]) -> None:
        for channel in channels:
            self._events[lane_channel(channel)].set()  # a lane's rows are its channel's to push

    def wake_all(self) -> None:
        """Wake every pusher (after a reconnect: notifications may have been missed)."""
        for event in self._events.values():
            event.set()

    async def wait_for_outbox(self, channel: str, max_wait: float) -> None:
        event = self._events[channel]
        try:
            await asyncio.wait_for(event.wait(), max_wait)
        except TimeoutError:
            pass
        event.clear()


# -- row helpers ----------------------------------------------------------------------------------


def opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def storable(text: str) -> str:
    """Text any database stores: lone surrogates (JSON can carry them) become "?"."""
    return text.encode("utf-8", "replace").decode("utf-8")


def ref_json(ref: DocumentRef) -> dict[str, object]:
    return {
        "channel": ref.channel,
        "doc_id": ref.doc_id,
        "reference": ref.reference,
        "kind": ref.kind,
        "quantity": ref.quantity,
        "occurred_at": ref.occurred_at.isoformat(),
        "url": ref.url,
    }


def _ref_from_json(data: Mapping[str, Any]) -> DocumentRef:
    return DocumentRef(
        channel=str(data.get("channel", "")),
        doc_id=str(data.get("doc_id", "")),
        reference=str(data.get("reference", "")),
        kind=str(data.get("kind", "")),
        quantity=int(data.get("quantity", 0)),
        occurred_at=datetime.fromisoformat(str(data["occurred_at"])),
        url=str(data.get("url", "")),
    )


def conflict_from_row(row: Sequence[Any]) -> Conflict:
    cid, kind, status, sku, channel, shortfall, detail, created, updated = row
    data = json.loads(detail)
    docs = tuple(_ref_from_json(d) for d in data.get("documents", []) if isinstance(d, dict))
    return Conflict(
        id=int(cid),
        kind=ConflictKind(kind),
        status=ConflictStatus(status),
        sku=sku,
        channel=channel,
        shortfall=int(shortfall),
        detail=data,
        documents=docs,
        created_at=from_us(created),
        updated_at=from_us(updated),
    )
