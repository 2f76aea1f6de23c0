"""What reordering and the end-of-day view read from the ledger (issue 16), as a protocol and over
SQL (``reports.sql``): reorder points imported from a file, units sold per SKU over a window, the
stock list, and one day's sales, stock documents, voids, conflicts and SKUs out of stock.

Sales are the movements of till receipts and web orders whatever their reason (a sale, a refund,
a cancellation, a void undoing a till file), dated by when the sale happened (``occurred_at``): a
web order cancelled three days later lowers the sales of the day it was placed, and a till file
voided by mistake sells nothing. Deliveries, counts and adjustments are never sales.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from syncd.domain import STOCK_CHANNEL, Conflict, DocumentKind, utcnow
from syncd.ledger.sqlbase import SqlBase, Tx, conflict_from_row
from syncd.ledger.values import from_us, to_us


@dataclass(frozen=True, slots=True)
class ReorderPoint:
    """A SKU's reorder point and quantity as imported (``quantity`` 0: suggest one)."""

    sku: str
    point: int
    quantity: int
    source: str  # the file it came from
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StockRow:
    sku: str
    name: str
    on_hand: int


@dataclass(frozen=True, slots=True)
class ChannelSales:
    """One channel's sales of a day: the receipts or orders that moved stock, units out and back."""

    channel: str
    documents: int
    sold: int  # units that left (sale lines)
    returned: int  # units that came back (refunds, cancellations, voids)

    @property
    def net(self) -> int:
        return self.sold - self.returned


@dataclass(frozen=True, slots=True)
class DayLine:
    line_key: str  # what the document named (SKU, barcode)
    sku: str | None
    wanted: int  # units received, counted, or added (negative: removed)
    applied: int  # what the line did to on hand (a count: its difference)


@dataclass(frozen=True, slots=True)
class DayDocument:
    """A delivery, count, adjustment or manual correction, with its lines and meta."""

    channel: str
    doc_id: str
    kind: DocumentKind
    reference: str
    cancelled: bool
    occurred_at: datetime
    updated_at: datetime
    meta: Mapping[str, str]
    lines: tuple[DayLine, ...]


@dataclass(frozen=True, slots=True)
class DayVoid:
    """A document voided during the day, and per SKU what the void gave back."""

    channel: str
    doc_id: str
    kind: DocumentKind
    reference: str
    voided_at: datetime
    meta: Mapping[str, str]
    deltas: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class OutOfStock:
    sku: str
    name: str
    on_hand: int
    last_moved_at: datetime | None


class ReportReads(Protocol):
    """What `syncd reorder`, `syncd day`, the "To reorder" and "Today" pages and the digest read."""

    async def reorder_points(self) -> dict[str, ReorderPoint]: ...
    async def save_reorder_points(
        self, points: Sequence[ReorderPoint], *, replace: bool = False
    ) -> None: ...
    async def units_sold(self, since: datetime, until: datetime) -> dict[str, int]: ...
    async def first_moved_since(self, since: datetime) -> dict[str, datetime]: ...
    async def stock_list(self) -> list[StockRow]: ...
    async def channel_sales(self, start: datetime, end: datetime) -> list[ChannelSales]: ...
    async def stock_documents(self, start: datetime, end: datetime) -> list[DayDocument]: ...
    async def voided_documents(self, start: datetime, end: datetime) -> list[DayVoid]: ...
    async def conflicts_created(self, start: datetime, end: datetime) -> list[Conflict]: ...
    async def out_of_stock(self) -> list[OutOfStock]: ...
    async def product_name_map(self, skus: Sequence[str]) -> dict[str, str]: ...


class ReportsSql(SqlBase):
    """:class:`ReportReads` over SQL."""

    async def reorder_points(self) -> dict[str, ReorderPoint]:
        async with self._read() as tx:
            rows = await tx.fetch("reorder_points_all")
        return {
            str(sku): ReorderPoint(str(sku), int(point), int(qty), str(source), from_us(us))
            for sku, point, qty, source, us in rows
        }

    async def save_reorder_points(
        self, points: Sequence[ReorderPoint], *, replace: bool = False
    ) -> None:
        """Store imported points (one transaction); ``replace`` first forgets every earlier one."""
        now = to_us(utcnow())

        async def body(tx: Tx) -> None:
            if replace:
                await tx.execute("reorder_points_clear")
            if points:
                await tx.executemany(
                    "reorder_point_upsert",
                    [(p.sku, p.point, p.quantity, p.source, now) for p in points],
                )

        await self._run(body)

    async def units_sold(self, since: datetime, until: datetime) -> dict[str, int]:
        """Net units sold per SKU (sold − refunded − cancelled) between ``since`` and ``until``."""
        async with self._read() as tx:
            rows = await tx.fetch("report_units_sold", to_us(since), to_us(until))
        return {str(sku): int(units) for sku, units in rows}

    async def first_moved_since(self, since: datetime) -> dict[str, datetime]:
        """SKUs whose very first movement is at or after ``since``, with its time (new SKUs)."""
        async with self._read() as tx:
            rows = await tx.fetch("report_first_moved_since", to_us(since))
        return {str(sku): from_us(int(us)) for sku, us in rows}

    async def stock_list(self) -> list[StockRow]:
        """Every SKU the ledger knows (a product or a level), with its name and on hand."""
        async with self._read() as tx:
            rows = await tx.fetch("report_stock")
        return [StockRow(str(sku), str(name or ""), int(on_hand)) for sku, name, on_hand in rows]

    async def product_name_map(self, skus: Sequence[str]) -> dict[str, str]:
        async with self._read() as tx:
            rows = await tx.fetch("product_names", sorted(set(skus)))
        return {str(sku): str(name or "") for sku, name in rows}

    async def channel_sales(self, start: datetime, end: datetime) -> list[ChannelSales]:
        async with self._read() as tx:
            rows = await tx.fetch("report_channel_sales", to_us(start), to_us(end))
        return [ChannelSales(str(ch), int(n), int(out), int(back)) for ch, n, out, back in rows]

    async def stock_documents(self, start: datetime, end: datetime) -> list[DayDocument]:
        """Deliveries, counts, adjustments and manual corrections that happened in the span."""
        async with self._read() as tx:
            rows = await tx.fetch("report_stock_documents", to_us(start), to_us(end), STOCK_CHANNEL)
        found: dict[tuple[str, str], DayDocument] = {}
        lines: dict[tuple[str, str], list[DayLine]] = {}
        for (
            channel,
            doc_id,
            kind,
            reference,
            cancelled,
            occurred_us,
            updated_us,
            meta,
            line_key,
            sku,
            wanted,
            applied,
        ) in rows:
            key = (str(channel), str(doc_id))
            if key not in found:
                found[key] = DayDocument(
                    channel=key[0],
                    doc_id=key[1],
                    kind=DocumentKind(kind),
                    reference=str(reference),
                    cancelled=bool(cancelled),
                    occurred_at=from_us(occurred_us),
                    updated_at=from_us(updated_us),
                    meta=json.loads(meta or "{}"),
                    lines=(),
                )
                lines[key] = []
            if line_key is not None:
                lines[key].append(DayLine(str(line_key), sku, int(wanted), int(applied)))
        return [replace(doc, lines=tuple(lines[key])) for key, doc in found.items()]

    async def voided_documents(self, start: datetime, end: datetime) -> list[DayVoid]:
        async with self._read() as tx:
            rows = await tx.fetch(
                "report_voided_documents", to_us(start), to_us(end), STOCK_CHANNEL
            )
        found: dict[tuple[str, str], DayVoid] = {}
        deltas: dict[tuple[str, str], dict[str, int]] = {}
        for channel, doc_id, kind, reference, updated_us, meta, sku, delta in rows:
            key = (str(channel), str(doc_id))
            if key not in found:
                found[key] = DayVoid(
                    channel=key[0],
                    doc_id=key[1],
                    kind=DocumentKind(kind),
                    reference=str(reference),
                    voided_at=from_us(updated_us),
                    meta=json.loads(meta or "{}"),
                    deltas={},
                )
                deltas[key] = {}
            if sku is not None:
                gave = deltas[key]
                gave[str(sku)] = gave.get(str(sku), 0) + int(delta)
        return [replace(void, deltas=deltas[key]) for key, void in found.items()]

    async def conflicts_created(self, start: datetime, end: datetime) -> list[Conflict]:
        async with self._read() as tx:
            rows = await tx.fetch("report_conflicts_created", to_us(start), to_us(end))
        return [conflict_from_row(r) for r in rows]

    async def out_of_stock(self) -> list[OutOfStock]:
        """SKUs with nothing left (on hand ≤ 0), with when their stock last moved."""
        async with self._read() as tx:
            rows = await tx.fetch("report_out_of_stock")
        return [
            OutOfStock(str(sku), str(name), int(on_hand), None if us is None else from_us(us))
            for sku, name, on_hand, us in rows
        ]
