"""The Store protocol: the one narrow door to the stock ledger, and the values it returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from syncd.domain import Conflict, ConflictKind, ConflictStatus, Document, Movement, Rejection
from syncd.ledger.planner import ApplyResult

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(when: datetime) -> int:
    """Microseconds since the epoch: how the ledger stores every time (both backends)."""
    return (when - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    name: str
    type: str
    push: bool = True  # False: the ledger never queues figures for it (pull-only)
    follows_own_sales: bool = True  # its own sales lower its figure (False: a stock file)


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str = ""
    barcode: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A figure waiting to be written to a channel."""

    channel: str
    sku: str
    wanted: int
    last_known: int | None  # what the channel is believed to show now
    enqueued_at: datetime
    revision: int


@dataclass(frozen=True, slots=True)
class Ack:
    """A pushed figure: ``shown`` is what the channel shows now (None: the SKU was skipped)."""

    sku: str
    wanted: int
    shown: int | None


@dataclass(frozen=True, slots=True)
class OutboxStats:
    channel: str
    depth: int
    oldest: datetime | None

    def lag_seconds(self, now: datetime) -> float:
        return 0.0 if self.oldest is None else max(0.0, (now - self.oldest).total_seconds())


@dataclass(frozen=True, slots=True)
class WantedLevel:
    sku: str
    wanted: int
    shown: int | None


@dataclass(frozen=True, slots=True)
class PendingLine:
    """Lines kept for an identifier no SKU mapping knows yet."""

    identifier: str
    channel: str
    documents: int
    quantity: int


@dataclass(frozen=True, slots=True)
class StoredRejection:
    id: int
    channel: str
    source: str
    row: int | None
    column: str
    value: str
    reason: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelFigure:
    channel: str
    shown: int | None
    source: str  # pushed | read | document
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """What the daemon last recorded of a channel."""

    name: str
    type: str
    push: bool
    state: str
    last_pull: datetime | None
    last_push: datetime | None
    last_error: str
    updated_at: datetime | None


class Store(Protocol):
    """What the engine, the CLI and the status page may ask of the ledger."""

    backend: str

    async def migrate(self) -> list[int]: ...
    async def close(self) -> None: ...

    # set-up
    async def register_channels(self, channels: Sequence[ChannelInfo]) -> None: ...
    async def upsert_products(self, products: Sequence[Product]) -> list[ApplyResult]: ...
    async def set_aliases(self, aliases: Mapping[str, str]) -> list[ApplyResult]: ...
    async def set_buffer(self, quantity: int, *, channel: str = "*", sku: str = "*") -> None: ...

    # documents
    async def apply_batch(
        self,
        documents: Sequence[Document],
        *,
        channel: str = "",
        cursors: Mapping[str, str] | None = None,
        rejections: Sequence[Rejection] = (),
    ) -> list[ApplyResult]: ...
    async def apply_document(self, document: Document) -> ApplyResult: ...
    async def cursors(self, channel: str) -> dict[str, str]: ...

    # reads
    async def levels(self, skus: Sequence[str] | None = None) -> dict[str, int]: ...
    async def movements(
        self,
        *,
        sku: str | None = None,
        channel: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[Movement]: ...
    async def document_lines(self, channel: str, doc_id: str) -> dict[str, tuple[int, int]]: ...
    async def channel_figures(self, sku: str) -> list[ChannelFigure]: ...
    async def pending_lines(self) -> list[PendingLine]: ...
    async def rejections(self, limit: int = 100) -> list[StoredRejection]: ...

    # outbox
    async def take_outbox(self, channel: str, limit: int) -> list[OutboxItem]: ...
    async def ack_outbox(self, channel: str, acks: Sequence[Ack]) -> int: ...
    async def wanted_levels(self, channel: str) -> list[WantedLevel]: ...
    async def record_shown(
        self, channel: str, figures: Mapping[str, int], *, only_higher: bool = False
    ) -> int: ...
    async def enqueue_all(self, channel: str | None = None) -> int: ...
    async def outbox_stats(self) -> dict[str, OutboxStats]: ...
    async def wait_for_outbox(self, channel: str, max_wait: float) -> None: ...

    # health
    async def record_health(
        self,
        channel: str,
        state: str,
        *,
        last_pull: datetime | None = None,
        last_push: datetime | None = None,
        last_error: str = "",
    ) -> None: ...
    async def channel_health(self) -> list[ChannelHealth]: ...

    # conflicts
    async def conflicts(
        self, *, status: ConflictStatus | None = None, limit: int = 100
    ) -> list[Conflict]: ...
    async def record_conflict(
        self, kind: ConflictKind, *, sku: str = "", channel: str = "", detail: Mapping[str, object]
    ) -> int: ...
    async def set_conflict_status(self, conflict_id: int, status: ConflictStatus) -> bool: ...
