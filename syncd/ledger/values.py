"""The values the ledger takes and hands out, shared by its concerns, and how it stores a time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(when: datetime) -> int:
    """Microseconds since the epoch: how the ledger stores every time (both backends)."""
    return (when - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


def to_json(value: object) -> str:
    """Rows or lists as JSON text for the database, which parses it (PostgreSQL's ``jsonb``,
    SQLite's ``json_each``), so its spelling is free: orjson, ~8x json.dumps, which took a tenth
    of a closed-loop batch's Python time (issue 17). What orjson refuses (a lone surrogate, an
    integer past 64 bits) goes through json.dumps, so the database refuses it as before. Never
    for a text stored or hashed as it is (a document's ``meta``, its content hash): orjson
    writes non-ASCII characters as they are where json.dumps escapes them."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def from_json(text: str | bytes) -> Any:
    """JSON text read from the database (PostgreSQL's ``syncd_snapshot`` rows)."""
    return orjson.loads(text)


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    name: str
    type: str
    push: bool = True  # False: the ledger never queues figures for it (pull-only)
    follows_own_sales: bool = True  # its own sales lower its figure (False: a stock file)
    locations: tuple[str, ...] = ()  # the locations it sells from, in order; () = all


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
