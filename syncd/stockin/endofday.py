"""The end of the merchant's day (`syncd day`, the "Today" page): one shop-time-zone day's sales
per channel, deliveries, counts, adjustments, voids and new conflicts, and the SKUs at zero now.

A day runs from midnight to midnight in the shop's time zone (``[web] timezone``), so the day the
clocks go forward has 23 hours and the day they go back 25. Documents belong to the day they
happened (their ``occurred_at``: a sale, a delivery booked, a count taken); a void to the day it was
recorded; a conflict to the day it was opened. JSON times are UTC (``+00:00``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from syncd.domain import Conflict, DocumentKind, iso_utc, utcnow
from syncd.ledger.reports import (
    ChannelSales,
    DayDocument,
    DayVoid,
    OutOfStock,
    ReportReads,
)


def shop_day(now: datetime, zone: ZoneInfo) -> date:
    """The shop's date at ``now``."""
    return now.astimezone(zone).date()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The first instant of ``day`` in the shop and the first of the next, in UTC.

    Midnight that does not exist (a zone whose clocks jump at 00:00) is read before the jump,
    which is the first instant of the day there."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def parse_day(text: str) -> date:
    """``2026-11-26``; raises ValueError naming the expected form."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date like 2026-11-26") from None


@dataclass(frozen=True, slots=True)
class DayReport:
    day: date
    zone: ZoneInfo
    start: datetime  # UTC
    end: datetime  # UTC
    generated_at: datetime
    sales: list[ChannelSales]
    deliveries: list[DayDocument]
    counts: list[DayDocument]
    adjustments: list[DayDocument]  # adjustments with a reason, adopted edits, manual corrections
    voids: list[DayVoid]
    conflicts: list[Conflict]
    out_of_stock: list[OutOfStock]
    names: Mapping[str, str] = field(default_factory=dict)  # SKU → product name

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    @property
    def sales_total(self) -> ChannelSales:
        return ChannelSales(
            "",
            sum(s.documents for s in self.sales),
            sum(s.sold for s in self.sales),
            sum(s.returned for s in self.sales),
        )

    def name(self, sku: str | None) -> str:
        return self.names.get(sku or "", "")

    def as_json(self) -> dict[str, object]:
        return {
            "date": self.day.isoformat(),
            "timezone": self.zone.key,
            "start": _utc(self.start),
            "end": _utc(self.end),
            "hours": self.hours,
            "generated_at": _utc(self.generated_at),
            "sales": {
                "channels": [_sales_json(s) for s in self.sales],
                "total": {k: v for k, v in _sales_json(self.sales_total).items() if k != "channel"},
            },
            "deliveries": [self._delivery_json(d) for d in self.deliveries],
            "counts": [self._count_json(d) for d in self.counts],
            "adjustments": [self._adjustment_json(d) for d in self.adjustments],
            "voids": [self._void_json(v) for v in self.voids],
            "conflicts": [
                {
                    "id": c.id,
                    "kind": c.kind.value,
                    "status": c.status.value,
                    "sku": c.sku,
                    "name": self.name(c.sku) or str(c.detail.get("name", "")),
                    "channel": c.channel,
                    "shortfall": c.shortfall,
                    "created_at": _utc(c.created_at),
                }
                for c in self.conflicts
            ],
            "out_of_stock": [
                {
                    "sku": z.sku,
                    "name": z.name,
                    "on_hand": z.on_hand,
                    "last_moved_at": None if z.last_moved_at is None else _utc(z.last_moved_at),
                }
                for z in self.out_of_stock
            ],
        }

    def _document_json(self, d: DayDocument) -> dict[str, object]:
        return {
            "channel": d.channel,
            "doc_id": d.doc_id,
            "reference": d.reference,
            "occurred_at": _utc(d.occurred_at),
            "origin": d.meta.get("origin", ""),
            "note": d.meta.get("note", ""),
            "voided": d.cancelled,
        }

    def _delivery_json(self, d: DayDocument) -> dict[str, object]:
        return {
            **self._document_json(d),
            "supplier": d.meta.get("supplier", ""),
            "delivery_note": d.meta.get("delivery_note", ""),
            "units": sum(ln.wanted for ln in d.lines),
            "lines": [
                {"sku": ln.sku or ln.line_key, "name": self.name(ln.sku), "quantity": ln.wanted}
                for ln in d.lines
            ],
        }

    def _count_json(self, d: DayDocument) -> dict[str, object]:
        return {
            **self._document_json(d),
            "lines_counted": len(d.lines),
            "lines_with_difference": sum(1 for ln in d.lines if ln.applied),
            "difference": sum(ln.applied for ln in d.lines),
            "lines": [
                {
                    "sku": ln.sku or ln.line_key,
                    "name": self.name(ln.sku),
                    "counted": ln.wanted,
                    "difference": ln.applied,
                }
                for ln in d.lines
            ],
        }

    def _adjustment_json(self, d: DayDocument) -> dict[str, object]:
        manual = d.kind is DocumentKind.MANUAL
        return {
            **self._document_json(d),
            "reason": "manual" if manual else d.meta.get("reason", "correction"),
            "edited_in": d.meta.get("edited_in", ""),
            "lines": [
                {"sku": ln.sku or ln.line_key, "name": self.name(ln.sku), "quantity": ln.wanted}
                for ln in d.lines
            ],
        }

    def _void_json(self, v: DayVoid) -> dict[str, object]:
        return {
            "channel": v.channel,
            "doc_id": v.doc_id,
            "kind": v.kind.value,
            "reference": v.reference,
            "voided_at": _utc(v.voided_at),
            "voided_by": v.meta.get("voided_by", ""),
            "note": v.meta.get("void_note", ""),
            "given_back": [
                {"sku": sku, "name": self.name(sku), "quantity": qty}
                for sku, qty in sorted(v.deltas.items())
            ],
        }


def _utc(when: datetime) -> str:
    return iso_utc(when)


def _sales_json(s: ChannelSales) -> dict[str, object]:
    return {
        "channel": s.channel,
        "documents": s.documents,
        "units_sold": s.sold,
        "units_returned": s.returned,
        "net_units": s.net,
    }


async def day_report(
    store: ReportReads, day: date, zone: ZoneInfo, *, now: datetime | None = None
) -> DayReport:
    """Everything the end-of-day view shows for ``day`` in the shop's time zone."""
    start, end = day_bounds(day, zone)
    documents = await store.stock_documents(start, end)
    voids = await store.voided_documents(start, end)
    conflicts = await store.conflicts_created(start, end)
    skus = _skus(documents, voids, conflicts)
    return DayReport(
        day=day,
        zone=zone,
        start=start,
        end=end,
        generated_at=now or utcnow(),
        sales=await store.channel_sales(start, end),
        deliveries=[d for d in documents if d.kind is DocumentKind.GOODS_RECEIPT],
        counts=[d for d in documents if d.kind is DocumentKind.STOCK_COUNT],
        adjustments=[
            d for d in documents if d.kind in (DocumentKind.ADJUSTMENT, DocumentKind.MANUAL)
        ],
        voids=voids,
        conflicts=conflicts,
        out_of_stock=await store.out_of_stock(),
        names=await store.product_name_map(sorted(skus)) if skus else {},
    )


def _skus(
    documents: Sequence[DayDocument], voids: Sequence[DayVoid], conflicts: Sequence[Conflict]
) -> set[str]:
    found = {ln.sku for d in documents for ln in d.lines if ln.sku}
    found.update(sku for v in voids for sku in v.deltas)
    found.update(c.sku for c in conflicts if c.sku)
    return found
