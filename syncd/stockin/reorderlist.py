"""The reorder list as `syncd reorder`, the "To reorder" page and the daily digest show it: the
ledger's stock, sales and imported points with the config's, through :mod:`syncd.stockin.reorder`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from syncd.config import StockSettings
from syncd.csvcells import safe_row
from syncd.domain import iso_utc, utcnow
from syncd.i18n import Translator
from syncd.ledger.reports import ReportReads
from syncd.stockin.reorder import (
    DAY,
    Imported,
    Suggestion,
    days_measured,
    merge_rules,
    order,
    suggest,
)

CSV_BOM = "\ufeff"  # Excel (French or not) reads a CSV as UTF-8 only with it


@dataclass(frozen=True, slots=True)
class ReorderList:
    generated_at: datetime
    since: datetime  # sales measured from here to generated_at
    sales_days: int
    lead_days: int
    cover_days: int
    lines: list[Suggestion]  # every SKU, to reorder first (see reorder.order)
    overridden: list[str] = field(default_factory=list)  # SKUs the config and a file both set

    @property
    def to_reorder(self) -> list[Suggestion]:
        return [s for s in self.lines if s.to_reorder]

    def shown(self, everything: bool) -> list[Suggestion]:
        return self.lines if everything else self.to_reorder

    def as_json(self, *, everything: bool = False) -> dict[str, object]:
        return {
            "generated_at": iso_utc(self.generated_at),
            "sales_since": iso_utc(self.since),
            "sales_days": self.sales_days,
            "lead_days": self.lead_days,
            "cover_days": self.cover_days,
            "to_reorder": len(self.to_reorder),
            "config_wins": self.overridden,
            "lines": [s.as_json() for s in self.shown(everything)],
        }


async def reorder_list(
    store: ReportReads, stock: StockSettings, *, now: datetime | None = None
) -> ReorderList:
    """Every SKU the ledger knows or a point names, with its rate, cover and suggestion."""
    now = now or utcnow()
    since = now - stock.sales_days * DAY
    imported = {
        sku: Imported(p.point, p.quantity, p.source)
        for sku, p in (await store.reorder_points()).items()
    }
    rules = merge_rules(stock.reorder_points, stock.reorder_quantities, imported)
    sold = await store.units_sold(since, now)
    new = await store.first_moved_since(since)
    stock_rows = {row.sku: row for row in await store.stock_list()}
    missing = [sku for sku in rules.rules if sku not in stock_rows]
    names = await store.product_name_map(missing) if missing else {}
    lines = []
    for sku in sorted({*stock_rows, *rules.rules}):
        row = stock_rows.get(sku)
        lines.append(
            suggest(
                sku,
                name=row.name if row is not None else names.get(sku, ""),
                on_hand=row.on_hand if row is not None else 0,
                units_sold=sold.get(sku, 0),
                days=days_measured(since, now, new.get(sku)),
                rule=rules.rules.get(sku),
                lead_days=stock.lead_days,
                cover_days=stock.cover_days,
            )
        )
    return ReorderList(
        generated_at=now,
        since=since,
        sales_days=stock.sales_days,
        lead_days=stock.lead_days,
        cover_days=stock.cover_days,
        lines=order(lines),
        overridden=rules.overridden,
    )


def source_label(t: Translator, source: str) -> str:
    """Where a point or quantity came from, in the merchant's words."""
    if source == "config":
        return t.gettext("config")
    if source == "suggested":
        return t.gettext("suggested")
    return source


def decimal(value: float | None, t: Translator) -> str:
    """A figure as the merchant's spreadsheet reads it (French: decimal comma)."""
    if value is None:
        return ""
    text = f"{value:g}" if value == int(value) else f"{value}"
    return text.replace(".", ",") if t.lang == "fr" else text


def csv_header(t: Translator) -> list[str]:
    return [
        t.gettext("SKU"),
        t.gettext("Product"),
        t.gettext("On hand"),
        t.gettext("Reorder point"),
        t.gettext("Sold per day"),
        t.gettext("Days of cover"),
        t.gettext("Suggested quantity"),
    ]


def reorder_csv(lines: Sequence[Suggestion], t: Translator, *, bom: bool = True) -> str:
    """The list as a ``;``-separated CSV (UTF-8 with a BOM: Excel in French opens it as is)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(csv_header(t))
    for s in lines:
        writer.writerow(
            safe_row(
                [
                    s.sku,
                    s.name,
                    s.on_hand,
                    "" if s.point is None else s.point,
                    decimal(s.rate_per_day, t),
                    decimal(s.cover, t),
                    s.quantity,
                ]
            )
        )
    return (CSV_BOM if bom else "") + out.getvalue()


def digest_payloads(found: ReorderList) -> list[dict[str, object]]:
    """What the daily digest mail lists: every SKU to reorder now."""
    return [
        {
            "sku": s.sku,
            "name": s.name,
            "on_hand": s.on_hand,
            "point": s.point,
            "suggested": s.point_source == "suggested",
            "quantity": s.quantity,
            "rate_per_day": s.rate_per_day,
            "days_of_cover": s.cover,
        }
        for s in found.to_reorder
    ]
