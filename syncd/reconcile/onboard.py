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

    @property
    def unchanged(self) -> int:
        return len(self.counts) - len(self.ledger)

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


def plan_onboarding(
    source: str,
    reads: Mapping[str, Sequence[Figure]],
    on_hand: Mapping[str, int],
    *,
    buffer: Callable[[str, str], int],
    barcodes: Mapping[str, str] | None = None,
) -> OnboardPlan:
    """The stock count taken from ``source`` and what it changes in the ledger and elsewhere.

    ``reads`` holds every channel's figures (the source's included); ``on_hand`` the ledger's
    levels now; ``buffer(channel, sku)`` the units kept back from a channel. A reference shared
    by two rows of the source is left out of the count (which row is right?) and reported. A
    figure the source computes itself (PrestaShop's depends_on_stock) is counted all the same:
    the units are on the shelf, and the other channels may sell them.
    """
    figures = reads[source]
    per_sku: dict[str, list[Figure]] = defaultdict(list)
    for fig in figures:
        if fig.sku:
            per_sku[fig.sku].append(fig)
    counts = {sku: rows[0].quantity for sku, rows in sorted(per_sku.items()) if len(rows) == 1}
    ledger = [
        LedgerChange(sku, on_hand.get(sku), qty)
        for sku, qty in counts.items()
        if on_hand.get(sku) != qty
    ]
    channels: list[ChannelChange] = []
    for channel, rows in sorted(reads.items()):
        if channel == source:
            continue
        shows = {f.sku: f.quantity for f in rows if f.sku and not f.managed}
        for sku, qty in counts.items():
            will = available(qty, buffer(channel, sku))
            now = shows.get(sku)
            if now != will:
                channels.append(ChannelChange(channel, sku, now, will))
    return OnboardPlan(source, counts, ledger, channels, audit(reads, barcodes))
