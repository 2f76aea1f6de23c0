"""Documents and set-up shared by the location tests: two stores (A, B), a warehouse (W), a till
at each store and a web shop selling from A then B."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syncd.domain import STOCK_CHANNEL, Document, DocumentKind
from syncd.ledger import ChannelInfo
from syncd.ledger.locations import LocationInfo
from syncd.ledger.sqlstore import SqlStore

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
LOCATIONS = [LocationInfo("A", "store"), LocationInfo("B", "store"), LocationInfo("W", "warehouse")]
CHANNELS = [
    ChannelInfo("till_a", "csv_till", True, False, ("A",)),
    ChannelInfo("till_b", "csv_till", True, False, ("B",)),
    ChannelInfo("web", "prestashop", True, True, ("A", "B")),
]


async def set_up(store: SqlStore) -> None:
    await store.register_locations(LOCATIONS)
    await store.register_channels(CHANNELS)


def sale(channel: str, doc_id: str, lines: dict[str, int], minute: int = 0) -> Document:
    return Document(
        channel, doc_id, DocumentKind.TILL_RECEIPT, lines, T0 + timedelta(minutes=minute)
    )


def order(
    doc_id: str, lines: dict[str, int], version: int = 1, cancelled: bool = False
) -> Document:
    return Document(
        "web",
        doc_id,
        DocumentKind.WEB_ORDER,
        lines,
        T0 + timedelta(seconds=version),
        version=version,
        reference=f"WEB-{doc_id}",
        cancelled=cancelled,
    )


def receipt(doc_id: str, lines: dict[str, int], location: str) -> Document:
    return Document(STOCK_CHANNEL, doc_id, DocumentKind.GOODS_RECEIPT, lines, T0, location=location)


def send(doc_id: str, lines: dict[str, int], source: str, destination: str) -> Document:
    return Document(
        STOCK_CHANNEL,
        doc_id,
        DocumentKind.TRANSFER_OUT,
        lines,
        T0,
        location=source,
        destination=destination,
    )


def arrive(doc_id: str, lines: dict[str, int], destination: str, version: int = 0) -> Document:
    return Document(
        STOCK_CHANNEL,
        f"{doc_id}/in",
        DocumentKind.TRANSFER_IN,
        lines,
        T0,
        version=version,
        location=destination,
    )


async def at(store: SqlStore, sku: str) -> dict[str, int]:
    """On hand of one SKU per location (zero rows left out)."""
    return {r.location: r.on_hand for r in await store.location_stock([sku]) if r.on_hand}


async def queued(store: SqlStore, channel: str) -> dict[str, int]:
    return {i.sku: i.wanted for i in await store.take_outbox(channel, 1000)}
