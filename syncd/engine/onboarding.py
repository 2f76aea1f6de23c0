"""Onboarding (`syncd init`), the I/O side: read every channel, plan the ledger from the chosen
source of truth, and, once confirmed, write it as one stock-count document.

Order of the writes, once confirmed: the catalogue (so the history's lines name known SKUs),
each channel's history, recorded as already in the figures (see :func:`apply`), then the source
read again and counted, then what every channel shows is recorded and the differences are queued
(and pushed, when asked).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import structlog

from syncd.config import Settings
from syncd.domain import DEFAULT_LOCATION, Document, DocumentKind, lane_name, utcnow
from syncd.engine.catchup import pull_into
from syncd.engine.reconciler import ChannelTarget, NoProgress, Progress, figure_of
from syncd.exceptions import ConnectorError
from syncd.ledger.planner import WILDCARD, buffer_for
from syncd.ledger.store import DocumentStore, KitStore, Product
from syncd.reconcile.compare import Figure
from syncd.reconcile.onboard import Lanes, OnboardPlan, plan_onboarding

log = structlog.get_logger("syncd.reconcile")
INIT_CHANNEL = "init"  # the channel name of onboarding stock counts


class OnboardLedger(DocumentStore, KitStore, Protocol):
    """What onboarding writes: documents, figures and the kits the channels define."""


async def define_channel_kits(store: KitStore, targets: Iterable[ChannelTarget]) -> int:
    """The kits each channel defines (PrestaShop packs, Magento bundles), written to the ledger
    before any document is: a pack line in the history must already move its components.
    A channel whose kits cannot be read or do not fit the others is reported and left out."""
    defined = 0
    for target in targets:
        try:
            kits = await target.connector.read_kits()
        except ConnectorError as err:
            log.warning("kits_not_read", channel=target.name, error=str(err))
            continue
        for derived in (False, True):
            chosen = {k.sku: dict(k.components) for k in kits if k.derived is derived}
            if not chosen:
                continue
            try:
                await store.set_kits(
                    chosen, source=target.name, derived_by=target.name if derived else ""
                )
            except ValueError as err:
                log.warning("kits_refused", channel=target.name, problem=str(err))
                continue
            defined += len(chosen)
            log.info("kits_read", channel=target.name, kits=len(chosen), derived=derived)
    return defined


@dataclass
class OnboardOutcome:
    plan: OnboardPlan  # what was shown and confirmed
    applied: bool = False
    counted: int = 0  # SKUs in the stock count (from the source read again just before)
    history_documents: int = 0  # order/receipt versions pulled before the count
    queued: int = 0  # figures queued for the channels
    pushed: int = 0  # of which written by this run
    counted_at: datetime = field(default_factory=utcnow)  # when the count was taken (UTC)


def buffers_from(settings: Settings) -> Callable[[str, str], int]:
    """buffer(channel, sku) as the daemon sets it from the config (per SKU, per channel)."""
    table: dict[tuple[str, str], int] = {}
    for sku, qty in settings.buffers.items():
        table[(WILDCARD, sku)] = qty
    for channel in settings.channels:
        table[(channel.name, WILDCARD)] = channel.buffer
        for sku, qty in channel.buffers.items():
            table[(channel.name, sku)] = qty
    return lambda channel, sku: buffer_for(table, channel, sku)


async def read_figures(target: ChannelTarget, progress: Progress) -> list[Figure]:
    """What a channel shows (a lane: what its location shows)."""
    figures: list[Figure] = []
    progress.start(target.name, None)
    try:
        async for page in target.read_levels():
            figures.extend(figure_of(level) for level in page)
            progress.advance(len(page))
    finally:
        progress.finish()
    return figures


def _products(figures: Iterable[Figure]) -> dict[str, Product]:
    """The catalogue a channel's figures name: SKU → product (name, barcode)."""
    return {f.sku: Product(f.sku, f.name, f.barcode or None) for f in figures if f.sku}


def lanes_of(
    settings: Settings,
    source: str,
    targets: Iterable[ChannelTarget],
    on_hand_at: Mapping[tuple[str, str], int],
) -> Lanes:
    """Which reads are lanes (a channel told each location apart), for plan_onboarding."""
    sells = settings.channel(source).locations
    first = sells[0] if sells else (settings.locations[0].name if settings.locations else "")
    return Lanes(
        of={t.name: (t.channel, t.location) for t in targets if t.location},
        on_hand_at=on_hand_at,
        counted_at=first or DEFAULT_LOCATION,
    )


def per_channel(targets: Iterable[ChannelTarget]) -> list[ChannelTarget]:
    """One target per channel (a channel's lanes share its orders, kits and pushes)."""
    seen: dict[str, ChannelTarget] = {}
    for t in targets:
        seen.setdefault(t.channel, ChannelTarget(t.settings, t.connector))
    return list(seen.values())


async def plan(
    settings: Settings,
    source: Sequence[ChannelTarget],
    others: Sequence[ChannelTarget],
    on_hand: Mapping[str, int],
    *,
    on_hand_at: Mapping[tuple[str, str], int] | None = None,
    progress: Progress | None = None,
) -> tuple[OnboardPlan, dict[str, list[Figure]]]:
    """Read every channel and plan the ledger from ``source`` (the source channel's target, or
    its lanes' for a channel told each location apart; ``on_hand``: the ledger's levels now,
    ``on_hand_at`` per location); nothing is written."""
    bar = progress or NoProgress()
    reads: dict[str, list[Figure]] = {}
    for target in (*source, *others):
        reads[target.name] = await read_figures(target, bar)
    name = source[0].channel
    lanes = lanes_of(settings, name, (*source, *others), on_hand_at or {})
    return (
        plan_onboarding(name, reads, on_hand, buffer=buffers_from(settings), lanes=lanes),
        reads,
    )


async def apply(
    store: OnboardLedger,
    confirmed: OnboardPlan,
    source: Sequence[ChannelTarget],
    others: Sequence[ChannelTarget],
    reads: Mapping[str, Sequence[Figure]],
    *,
    push: Callable[[ChannelTarget], Awaitable[int]] | None = None,
    progress: Progress | None = None,
) -> OnboardOutcome:
    """Write the onboarding: catalogue, history, the count (from a fresh read of the source),
    figures. A source told each location apart is counted per location (its lanes)."""
    bar = progress or NoProgress()
    name = source[0].channel
    catalogue = {
        sku: p
        for sku, p in _products(f for t in source for f in reads[t.name]).items()
        if sku in confirmed.counts
    }
    channels = per_channel((*source, *others))
    await store.upsert_products(list(catalogue.values()))
    await define_channel_kits(store, channels)
    # The history (every order and till file each channel has, up to now) is pulled so that
    # the cursors start at now and every document is known: a later version of one (an order
    # cancelled, refunded, edited) then applies only its difference, and the daemon's first pull
    # applies nothing twice. It is NOT applied as movements: the count below is read after the
    # shop applied those orders to its figure, so the count already holds them. Applied before
    # it, they would take a ledger that does not hold the stock yet below zero (an oversell for
    # every product ever sold) and then be overwritten by the count all the same (a count without
    # a basis sets on hand); applied after it, they would be taken off a second time. So each
    # version is stored as settled: its lines in effect, no movement, no conflict.
    # The history is pulled before the source is read again, never after: an order placed in
    # between is then in the count and also taken off by the daemon's first pull (fewer units
    # offered, never more); the other way round, it would be settled without being in the
    # count, and units already sold would be offered again.
    history = 0
    for target in channels:
        if target.settings.pull:
            cursors = await store.cursors(target.name)
            history += await pull_into(
                store, target.connector, target.name, cursors, store_cursors=True, settled=True
            )
    fresh_reads = dict(reads)
    for target in source:
        fresh_reads[target.name] = await read_figures(target, bar)
    products = _products(f for t in source for f in fresh_reads[t.name])
    lanes = Lanes(of={t.name: (t.channel, t.location) for t in source if t.location})
    final = plan_onboarding(
        name, fresh_reads, await store.levels(), buffer=lambda c, s: 0, lanes=lanes
    )
    added = [p for sku, p in products.items() if sku in final.counts and catalogue.get(sku) != p]
    if added:  # created or renamed since the plan was read
        await store.upsert_products(added)
    now = utcnow()
    movements = 0
    for count in _count_documents(name, final, now):
        movements += (await store.apply_document(count)).movements
    log.info(
        "onboarding_counted",
        source=name,
        skus=len(final.counts),
        locations=sorted(final.at),
        movements=movements,
        history_documents=history,
    )
    if final.at:  # each lane shows its location's count
        for target in source:
            await store.record_shown(target.name, final.at[target.location])
    else:
        await store.record_shown(name, final.counts)
    for target in others:
        shown = {f.sku: f.quantity for f in reads[target.name] if f.sku and not f.managed}
        known = {sku: q for sku, q in shown.items() if sku in final.counts}
        if known:
            await store.record_shown(target.name, known)
    queued = await store.enqueue_all()
    outcome = OnboardOutcome(confirmed, True, len(final.counts), history, queued, counted_at=now)
    if push is not None:
        for target in channels:
            if target.settings.push:
                outcome.pushed += await push(target)
    return outcome


def _count_documents(source: str, final: OnboardPlan, now: datetime) -> list[Document]:
    """The stock count(s): one of the source's figures, or one per location for a source told
    each location apart (each location's on hand becomes what the shop shows there)."""
    stamp = f"{now:%Y%m%dT%H%M%S%f}"
    if final.at:
        return [
            Document(
                channel=INIT_CHANNEL,
                doc_id=f"{lane_name(source, location)}:{stamp}",
                kind=DocumentKind.STOCK_COUNT,
                lines=lines,
                occurred_at=now,
                reference=f"onboarding from {source} at {location}",
                location=location,
            )
            for location, lines in final.at.items()
            if lines
        ]
    return [
        Document(
            channel=INIT_CHANNEL,
            doc_id=f"{source}:{stamp}",
            kind=DocumentKind.STOCK_COUNT,
            lines=final.counts,
            occurred_at=now,
            reference=f"onboarding from {source}",
            # The source's locations are counted (issue 17): one, or several whose sum becomes
            # its figure, the change made at the first (planner._count_delta).
            meta={"locations_of": source},
        )
    ]
