"""What to reorder: reorder points, the measured sales rate, days of cover and suggestions. Pure.

The rules, as `syncd reorder`, the "To reorder" page and the daily digest apply them:

- **Sales** are the net units of till receipts and web orders (sold − refunded − cancelled; see
  :mod:`syncd.ledger.reports`) over the last ``sales_days`` days. A SKU whose first movement is
  younger than that is measured since its first movement (at least one day), so a product put on
  sale last week is not taken for a slow seller.
- **Rate** = units sold / days measured; **days of cover** = on hand (never below 0) / rate, none
  when nothing sold.
- **Point**: from the config (``[stock] reorder_points``), else imported from a file (`syncd
  reorder import`); the config wins. Without one the suggested point is ⌈rate × lead_days⌉.
- **To reorder**: on hand at or below the point when one is set; otherwise fewer days of cover
  than ``lead_days`` (a SKU that sells and has nothing left always qualifies).
- **Quantity**: the configured or imported one (0 in a file: "suggest one"); otherwise enough for
  ``cover_days`` of sales, ⌈rate × cover_days⌉, plus the units owed when on hand is below zero,
  and never less than what brings on hand back above a point that is set.

Rates are kept as fractions so that 10 units over 28 days times 28 is exactly 10, not 10.000…1
rounded up to 11.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

DAY = timedelta(days=1)
CONFIG = "config"  # the source of a point or quantity set in the config file
SUGGESTED = "suggested"  # a point computed from the sales rate


@dataclass(frozen=True, slots=True)
class Rule:
    """A SKU's reorder point and quantity and where each came from (config, a file name)."""

    point: int | None = None
    quantity: int | None = None
    point_source: str = ""
    quantity_source: str = ""


@dataclass(frozen=True, slots=True)
class Imported:
    """What a file set for one SKU (the ledger's ``reorder_points``); quantity 0: not set."""

    point: int
    quantity: int
    source: str


@dataclass(frozen=True, slots=True)
class Rules:
    rules: dict[str, Rule]
    overridden: list[str]  # SKUs whose imported point or quantity the config sets too (it wins)


def merge_rules(
    config_points: Mapping[str, int],
    config_quantities: Mapping[str, int],
    imported: Mapping[str, Imported],
) -> Rules:
    """Per SKU, the config's point and quantity where it sets them, else the imported ones."""
    rules: dict[str, Rule] = {}
    overridden: list[str] = []
    for sku in sorted({*config_points, *config_quantities, *imported}):
        file = imported.get(sku)
        point, point_source = None, ""
        quantity, quantity_source = None, ""
        if sku in config_points:
            point, point_source = config_points[sku], CONFIG
        elif file is not None:
            point, point_source = file.point, file.source
        if sku in config_quantities and config_quantities[sku] > 0:
            quantity, quantity_source = config_quantities[sku], CONFIG
        elif file is not None and file.quantity > 0:
            quantity, quantity_source = file.quantity, file.source
        if file is not None and (
            sku in config_points or (sku in config_quantities and file.quantity)
        ):
            overridden.append(sku)
        rules[sku] = Rule(point, quantity, point_source, quantity_source)
    return Rules(rules, overridden)


def days_measured(
    since: datetime, until: datetime, first_moved: datetime | None = None
) -> Fraction:
    """Days the sales rate is measured over: the window, or since the SKU's first movement when
    that is later; never less than one day."""
    start = max(since, first_moved) if first_moved is not None else since
    span = until - start
    micros = span.days * 86_400_000_000 + span.seconds * 1_000_000 + span.microseconds
    return max(Fraction(1), Fraction(micros, 86_400_000_000))


def sales_rate(units: int, days: Fraction) -> Fraction:
    """Units per day; a net return (more refunded than sold) counts as no sale."""
    return Fraction(max(0, units)) / days if days > 0 else Fraction(0)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One SKU's line on the reorder list."""

    sku: str
    name: str
    on_hand: int
    point: int | None  # the point in force: set, or suggested from the rate
    point_source: str  # config | <file name> | suggested | "" (no point: nothing sold)
    rate: Fraction  # units sold per day
    days_of_cover: Fraction | None  # None: nothing sold, the stock lasts
    quantity: int  # suggested order
    quantity_source: str  # config | <file name> | suggested
    to_reorder: bool
    units_sold: int = 0
    days: Fraction = Fraction(28)

    @property
    def rate_per_day(self) -> float:
        return round(float(self.rate), 2)

    @property
    def cover(self) -> float | None:
        return None if self.days_of_cover is None else round(float(self.days_of_cover), 1)

    def as_json(self) -> dict[str, object]:
        return {
            "sku": self.sku,
            "name": self.name,
            "on_hand": self.on_hand,
            "point": self.point,
            "point_source": self.point_source,
            "units_sold": self.units_sold,
            "days_measured": round(float(self.days), 2),
            "rate_per_day": self.rate_per_day,
            "days_of_cover": self.cover,
            "suggested_quantity": self.quantity,
            "quantity_source": self.quantity_source,
            "to_reorder": self.to_reorder,
        }


def suggest(
    sku: str,
    *,
    name: str = "",
    on_hand: int,
    units_sold: int,
    days: Fraction,
    rule: Rule | None = None,
    lead_days: int,
    cover_days: int,
) -> Suggestion:
    """The reorder line of one SKU (see the module's rules)."""
    rule = rule or Rule()
    rate = sales_rate(units_sold, days)
    cover = Fraction(max(0, on_hand)) / rate if rate else None
    if rule.point is not None:
        point: int | None = rule.point
        point_source = rule.point_source
        to_reorder = on_hand <= rule.point
    else:
        point = math.ceil(rate * lead_days) if rate else None
        point_source = SUGGESTED if rate else ""
        to_reorder = cover is not None and (cover < lead_days or on_hand <= 0)
    if rule.quantity is not None:
        quantity, quantity_source = rule.quantity, rule.quantity_source
    else:
        quantity = math.ceil(rate * cover_days) + max(0, -on_hand)
        if rule.point is not None:
            quantity = max(quantity, rule.point + 1 - on_hand)
        quantity_source = SUGGESTED
    return Suggestion(
        sku=sku,
        name=name,
        on_hand=on_hand,
        point=point,
        point_source=point_source,
        rate=rate,
        days_of_cover=cover,
        quantity=quantity,
        quantity_source=quantity_source,
        to_reorder=to_reorder,
        units_sold=units_sold,
        days=days,
    )


def order(suggestions: Iterable[Suggestion]) -> list[Suggestion]:
    """To reorder first, fewest days of cover first (nothing sold last), then by SKU."""
    return sorted(
        suggestions,
        key=lambda s: (
            not s.to_reorder,
            s.days_of_cover is None,
            s.days_of_cover if s.days_of_cover is not None else 0,
            s.on_hand - (s.point or 0),
            s.sku,
        ),
    )
