"""Onboarding: set the ledger from one channel chosen as the source of truth, and audit the SKU
mapping of every channel. Pure: figures read in, a plan (the count, the diff table) out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from syncd.domain import available
from syncd.reconcile.compare import Figure, Finding, FindingKind


@dataclass(frozen=True, slots=True)
class LedgerChange:
    sku: str
    before: int | None  # on hand in the ledger now (None: a SKU the ledger does not know)
    after: int  # what the source shows
    # The location counted, for a source told each location apart ('' for one figure):
    # ``before`` and ``after`` are then that location's.
    location: str = ""


@dataclass(frozen=True, slots=True)
class ChannelChange:
    channel: str
    sku: str
    shows: int | None  # what the channel shows now (None: the SKU is not there)
    will_show: int  # what syncd will write once the ledger is set


@dataclass(frozen=True, slots=True)
class OnboardPlan:
    source: str
    counts: dict[str, int]  # the stock count document's lines: SKU → units
    ledger: list[LedgerChange] = field(default_factory=list)
    channels: list[ChannelChange] = field(default_factory=list)
    audit: list[Finding] = field(default_factory=list)
    # A source told each location apart (its lanes): location → its count's lines, each
    # location counted apart; ``counts`` holds their sums. Empty for a source told one figure.
    at: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def unchanged(self) -> int:
        counted = sum(len(lines) for lines in self.at.values()) if self.at else len(self.counts)
        return counted - len(self.ledger)

    def changes_for(self, channel: str) -> list[ChannelChange]:
        return [c for c in self.channels if c.channel == channel]


def audit(
    reads: Mapping[str, Sequence[Figure]], barcodes: Mapping[str, str] | None = None
) -> list[Finding]:
    """Mapping problems across channels.

    - a SKU present in one channel only (when several channels are read);
    - a reference shared by two rows of one channel;
    - a row (a combination) without a reference;
    - a barcode that maps to two SKUs (across channels and the ledger's catalogue, ``barcodes``
      SKU → barcode).
    """
    found: list[Finding] = []
    where: dict[str, set[str]] = defaultdict(set)
    by_barcode: dict[str, set[str]] = defaultdict(set)
    for sku, code in (barcodes or {}).items():
        if code:
            by_barcode[code].add(sku)
    for channel, figures in sorted(reads.items()):
        counts: dict[str, int] = defaultdict(int)
        for fig in figures:
            if not fig.sku:
                found.append(
                    Finding(
                        channel,
                        fig.where or "?",
                        FindingKind.NO_REFERENCE,
                        figure=fig.quantity,
                        detail={"row": fig.where, "name": fig.name},
                    )
                )
                continue
            counts[fig.sku] += 1
            where[fig.sku].add(channel)
            if fig.barcode:
                by_barcode[fig.barcode].add(fig.sku)
        for sku, n in sorted(counts.items()):
            if n > 1:
                found.append(
                    Finding(channel, sku, FindingKind.DUPLICATE_REFERENCE, detail={"rows": n})
                )
    # A channel that reports no figure at all (a till before syncd wrote its stock file) cannot
    # be missing a SKU: it is not compared, or every SKU would be "missing in till".
    reporting = {channel for channel, figures in reads.items() if figures}
    if len(reporting) > 1:
        for sku, channels in sorted(where.items()):
            if len(channels) == 1:
                (only,) = channels
                found.append(
                    Finding(
                        only,
                        sku,
                        FindingKind.ONLY_IN_CHANNEL,
                        detail={"missing_in": sorted(reporting - channels)},
                    )
                )
    for code, skus in sorted(by_barcode.items()):
        if len(skus) > 1:
            found.append(
                Finding(
                    "",
                    ", ".join(sorted(skus)),
                    FindingKind.DUPLICATE_REFERENCE,
                    detail={"barcode": code, "skus": sorted(skus)},
                )
            )
    return found


@dataclass(frozen=True, slots=True)
class Lanes:
    """Where a read comes from, for channels told each location apart: read name (a lane's
    ledger name) → (channel, location); ``on_hand_at`` the ledger's on hand per (location, SKU)
    now; ``counted_at``: the location a count from a source told one figure changes (the first
    it sells from, planner._count_delta)."""

    of: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    on_hand_at: Mapping[tuple[str, str], int] = field(default_factory=dict)
    counted_at: str = ""


def _unique(figures: Sequence[Figure]) -> dict[str, int]:
    """SKU → figure, leaving out a reference shared by two rows (which row is right?)."""
    per_sku: dict[str, list[Figure]] = defaultdict(list)
    for fig in figures:
        if fig.sku:
            per_sku[fig.sku].append(fig)
    return {sku: rows[0].quantity for sku, rows in sorted(per_sku.items()) if len(rows) == 1}


def plan_onboarding(
    source: str,
    reads: Mapping[str, Sequence[Figure]],
    on_hand: Mapping[str, int],
    *,
    buffer: Callable[[str, str], int],
    barcodes: Mapping[str, str] | None = None,
    lanes: Lanes | None = None,
) -> OnboardPlan:
    """The stock count taken from ``source`` and what it changes in the ledger and elsewhere.

    ``reads`` holds every channel's figures (the source's included; a channel told each
    location apart has one read per lane, named in ``lanes``); ``on_hand`` the ledger's levels
    now; ``buffer(channel, sku)`` the units kept back from a channel. A reference shared by two
    rows of the source is left out of the count (which row is right?) and reported. A figure
    the source computes itself (PrestaShop's depends_on_stock) is counted all the same: the
    units are on the shelf, and the other channels may sell them. A source told each location
    apart is counted per location: each location's on hand becomes what the shop shows there.
    """
    lanes = lanes or Lanes()
    source_lanes = {n: loc for n, (ch, loc) in lanes.of.items() if ch == source and n in reads}
    at = {loc: _unique(reads[name]) for name, loc in source_lanes.items()}
    if at:
        counts: dict[str, int] = defaultdict(int)
        for lines in at.values():
            for sku, qty in lines.items():
                counts[sku] += qty
        counts = dict(sorted(counts.items()))
        ledger = [
            LedgerChange(
                sku, lanes.on_hand_at.get((loc, sku), 0) if sku in on_hand else None, qty, loc
            )
            for loc, lines in at.items()
            for sku, qty in lines.items()
            if sku not in on_hand or lanes.on_hand_at.get((loc, sku), 0) != qty
        ]
    else:
        counts = _unique(reads[source])
        ledger = [
            LedgerChange(sku, on_hand.get(sku), qty)
            for sku, qty in counts.items()
            if on_hand.get(sku) != qty
        ]

    def after(location: str, sku: str) -> int:
        """On hand at ``location`` once counted (a lane of another channel will show it)."""
        if at:
            return (
                at[location][sku]
                if sku in at.get(location, {})
                else lanes.on_hand_at.get((location, sku), 0)
            )
        if location == lanes.counted_at:
            return counts[sku]
        return lanes.on_hand_at.get((location, sku), 0)

    channels: list[ChannelChange] = []
    for name, rows in sorted(reads.items()):
        if name == source or name in source_lanes:
            continue
        shows = {f.sku: f.quantity for f in rows if f.sku and not f.managed}
        lane = lanes.of.get(name)
        for sku, qty in counts.items():
            if lane is not None:
                will = available(after(lane[1], sku), buffer(lane[0], sku))
            else:
                will = available(qty, buffer(name, sku))
            now = shows.get(sku)
            if now != will:
                channels.append(ChannelChange(name, sku, now, will))
    return OnboardPlan(source, counts, ledger, channels, audit(reads, barcodes), at)
