"""Stock per location (issue 17): the configured locations, and reads of stock per location.

Every movement happens at one location; ``location_levels`` keeps the on hand per (location,
SKU) in the transaction that writes ``levels`` (:mod:`syncd.ledger.apply`, its load and write
steps), so Σ over locations = on hand. Units sent from one location to another and not received
yet are held at ``transit:<destination>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

from syncd.domain import DEFAULT_LOCATION, TRANSIT_PREFIX, is_transit, utcnow
from syncd.ledger.apply import DocumentApplier
from syncd.ledger.planner import Plan
from syncd.ledger.sqlbase import Tx
from syncd.ledger.values import from_us, to_us

log = structlog.get_logger("syncd.ledger")


@dataclass(frozen=True, slots=True)
class LocationInfo:
    name: str
    kind: str = "store"


@dataclass(frozen=True, slots=True)
class LocationStock:
    """On hand of one SKU at one location (a ``transit:`` location: units on their way)."""

    location: str
    sku: str
    on_hand: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer sent (document ``doc_id``) and what of it arrived (``<doc_id>/in``)."""

    doc_id: str
    source: str
    destination: str
    sent_at: datetime
    sent: dict[str, int] = field(default_factory=dict)  # SKU → units sent
    received: dict[str, int] = field(default_factory=dict)  # SKU → units received so far
    reference: str = ""

    @property
    def in_transit(self) -> dict[str, int]:
        """SKU → units sent and not received yet (negative: more received than sent)."""
        skus = set(self.sent) | set(self.received)
        gaps = {s: self.sent.get(s, 0) - self.received.get(s, 0) for s in skus}
        return {s: q for s, q in sorted(gaps.items()) if q}


def stock_per_location(
    locations: Sequence[LocationInfo], stock: Sequence[LocationStock]
) -> dict[str, Any]:
    """For `syncd status` and the status page: per location its units on hand, SKUs in stock,
    SKUs below zero and units in transit to it; per SKU its figure at each location. Nothing
    when no location is configured (the ledger is one location)."""
    if not locations:
        return {}
    summary: dict[str, dict[str, Any]] = {
        loc.name: {
            "name": loc.name,
            "kind": loc.kind,
            "on_hand": 0,
            "skus": 0,
            "negative": 0,
            "in_transit": 0,
        }
        for loc in locations
    }
    per_sku: dict[str, dict[str, int]] = {}
    for row in stock:
        if not row.on_hand:
            continue
        per_sku.setdefault(row.sku, {})[row.location] = row.on_hand
        if is_transit(row.location):
            target = summary.get(row.location[len(TRANSIT_PREFIX) :])
            if target is not None:
                target["in_transit"] += row.on_hand
            continue
        place = summary.setdefault(
            row.location,  # stock at a location no longer configured: shown, never hidden
            {
                "name": row.location,
                "kind": "",
                "on_hand": 0,
                "skus": 0,
                "negative": 0,
                "in_transit": 0,
            },
        )
        place["on_hand"] += row.on_hand
        place["skus"] += row.on_hand > 0
        place["negative"] += row.on_hand < 0
    return {"locations": list(summary.values()), "stock_per_location": per_sku}


class LocationStore(Protocol):
    async def register_locations(self, locations: Sequence[LocationInfo]) -> None: ...
    async def locations(self) -> list[LocationInfo]: ...
    async def location_stock(self, skus: Sequence[str] | None = None) -> list[LocationStock]: ...
    async def transfers(self, *, open_only: bool = True, limit: int = 100) -> list[Transfer]: ...


class LocationsSql(DocumentApplier):
    """:class:`LocationStore` over SQL (queries: ``locations.sql``)."""

    async def register_locations(self, locations: Sequence[LocationInfo]) -> None:
        """Declare the configured locations, in order (the first is the default one).

        A ledger that held its stock at the default location ``main`` (every ledger before
        migration 0012, or run without locations) and is now given locations that do not
        include ``main``: its stock is the first location's, so ``main`` is renamed once (its
        rows and its movements), before anything was booked at the first location. No figure
        changes; every channel's figure is then refreshed.
        """
        now_us = to_us(utcnow())
        names = [loc.name for loc in locations]

        async def body(tx: Tx) -> Plan:
            await tx.execute("clear_locations")
            await tx.executemany(
                "insert_location",
                [(loc.name, loc.kind, position) for position, loc in enumerate(locations)],
            )
            if not names or DEFAULT_LOCATION in names:
                return Plan()
            first = names[0]
            rows = await tx.fetch("location_in_use", first)
            if rows:
                return Plan()
            await tx.execute("rename_location_levels", DEFAULT_LOCATION, first, now_us)
            await tx.execute("rename_location_movements", DEFAULT_LOCATION, first)
            log.info("default_location_adopted", location=first)
            skus = [row[0] for row in await tx.fetch("all_skus")]
            return await self._refresh_in(tx, skus, now_us)

        self._wake((await self._run(body)).changed_channels)

    async def locations(self) -> list[LocationInfo]:
        async with self._read() as tx:
            rows = await tx.fetch("locations")
        return [LocationInfo(str(name), str(kind)) for name, kind in rows]

    async def location_stock(self, skus: Sequence[str] | None = None) -> list[LocationStock]:
        """On hand per location and SKU (rows at zero included), every SKU or the ones given."""
        async with self._read() as tx:
            if skus is None:
                rows = await tx.fetch("location_levels_all")
            else:
                rows = await tx.fetch("location_levels_for", sorted(set(skus)))
        return sorted(
            (LocationStock(str(loc), str(sku), int(q)) for loc, sku, q in rows),
            key=lambda r: (r.sku, r.location),
        )

    async def transfers(self, *, open_only: bool = True, limit: int = 100) -> list[Transfer]:
        """Transfers sent (not voided), newest first; ``open_only``: those with units still in
        transit."""
        async with self._read() as tx:
            sent = await tx.fetch("transfers_sent", limit)
            ids = sorted({row[0] for row in sent})
            received = await tx.fetch("transfers_received", [f"{i}/in" for i in ids]) if ids else []
        found: dict[str, Transfer] = {}
        for doc_id, source, destination, occurred_us, reference, sku, wanted in sent:
            transfer = found.setdefault(
                doc_id,
                Transfer(doc_id, source, destination, from_us(occurred_us), reference=reference),
            )
            if sku is not None and wanted:
                transfer.sent[sku] = int(wanted)
        for arrival, sku, wanted in received:
            sent_one = found.get(arrival.removesuffix("/in"))
            if sent_one is not None and sku is not None and wanted:
                sent_one.received[sku] = int(wanted)
        out = sorted(found.values(), key=lambda t: (t.sent_at, t.doc_id), reverse=True)
        return [t for t in out if t.in_transit or not open_only]
