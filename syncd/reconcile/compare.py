"""Compare what a channel shows with what it should show, SKU by SKU, and say why they differ.

Pure: values in, findings out. The engine feeds pages of figures read from a channel into a
:class:`Comparison` seeded with the ledger's view of that channel (wanted figure, last known
figure, queued pushes), then confirms the candidates against a fresh view of the ledger before
anything is fixed, so a figure that moved during the run is never reported as drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from syncd.domain import LANE_MARK, lane_channel


class FindingKind(StrEnum):
    """Why a channel's figure differs from the ledger's (or why it cannot be compared)."""

    IN_FLIGHT = "in_flight"  # behind on a push still in the outbox: not drift
    HAND_EDIT = "hand_edit"  # changed outside syncd since we last wrote or read it
    NOT_PUSHED = "not_pushed"  # still what we last knew, but not what it should be
    ONLY_IN_CHANNEL = "only_in_channel"  # a SKU the ledger does not know
    ONLY_IN_LEDGER = "only_in_ledger"  # a ledger SKU the channel does not have
    DUPLICATE_REFERENCE = "duplicate_reference"  # two stock rows share one reference
    NO_REFERENCE = "no_reference"  # a stock row without a reference (combination…)
    MANAGED_BY_CHANNEL = "managed_by_channel"  # the channel computes it (depends_on_stock)
    MISSED_ORDER = "missed_order"  # an order in the channel the ledger never applied
    MISSED_FILE = "missed_file"  # a till file the ledger never applied


# Differences a correction pushed from the ledger repairs.
FIXABLE = frozenset({FindingKind.HAND_EDIT, FindingKind.NOT_PUSHED})
# What is counted as a difference (a push in flight is not).
DIFFERENCES = frozenset(FindingKind) - {FindingKind.IN_FLIGHT}


@dataclass(frozen=True, slots=True)
class LedgerView:
    """What the ledger says about one SKU on one channel."""

    wanted: int  # available(on_hand − buffer): what the channel should show
    shown: int | None  # what the channel is known to show (None: never written or read)
    queued: int | None = None  # the figure waiting in the outbox, if any


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference on one channel, with the figures that explain it."""

    channel: str
    sku: str
    kind: FindingKind
    wanted: int | None = None
    figure: int | None = None  # what the channel shows
    shown: int | None = None  # what the ledger believed it shows
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fixable(self) -> bool:
        return self.kind in FIXABLE

    @property
    def is_difference(self) -> bool:
        return self.kind in DIFFERENCES

    def explain(self) -> str:
        """The finding in a merchant's words."""
        return explain(self)


@dataclass(frozen=True, slots=True)
class Figure:
    """One stock row read from a channel (a ChannelLevel, without the connector types)."""

    sku: str
    quantity: int
    barcode: str = ""
    name: str = ""
    managed: bool = False  # the channel computes this figure itself; we never write it
    where: str = ""  # the row in the channel (product/combination id), for rows without a SKU


@dataclass
class Comparison:
    """Feeds pages of one channel's figures; collects findings and belief refreshes.

    ``refresh`` holds figures equal to what the channel should show but not what the ledger
    believed it shows: recording them keeps the ledger's belief honest, no push needed.
    """

    channel: str
    ledger: Mapping[str, LedgerView]
    seen: dict[str, int] = field(default_factory=dict)  # SKU → times read
    refresh: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    compared: int = 0

    def feed(self, page: Iterable[Figure], *, record: bool = True) -> list[Finding]:
        """Compare one page; ``record=False`` only marks its SKUs as seen (a resumed run)."""
        found: list[Finding] = []
        for fig in page:
            if not fig.sku:
                if record:
                    found.append(
                        Finding(
                            self.channel,
                            fig.where or "?",
                            FindingKind.NO_REFERENCE,
                            figure=fig.quantity,
                            detail={"row": fig.where, "name": fig.name},
                        )
                    )
                continue
            times = self.seen.get(fig.sku, 0) + 1
            self.seen[fig.sku] = times
            if not record:
                continue
            if times == 2:
                found.append(
                    Finding(
                        self.channel,
                        fig.sku,
                        FindingKind.DUPLICATE_REFERENCE,
                        figure=fig.quantity,
                        detail={"name": fig.name},
                    )
                )
            if times > 1:
                continue
            self.compared += 1
            finding = self._compare_one(fig)
            if finding is not None:
                found.append(finding)
        return found

    def _compare_one(self, fig: Figure) -> Finding | None:
        view = self.ledger.get(fig.sku)
        if view is None:
            return Finding(
                self.channel,
                fig.sku,
                FindingKind.ONLY_IN_CHANNEL,
                figure=fig.quantity,
                detail={"name": fig.name} if fig.name else {},
            )
        if fig.managed:
            if fig.quantity == view.wanted:
                return None
            return Finding(
                self.channel,
                fig.sku,
                FindingKind.MANAGED_BY_CHANNEL,
                view.wanted,
                fig.quantity,
                view.shown,
            )
        return classify(self.channel, fig.sku, fig.quantity, view, self)

    def finish(self) -> list[Finding]:
        """Ledger SKUs the channel never showed."""
        return [
            Finding(self.channel, sku, FindingKind.ONLY_IN_LEDGER, wanted=view.wanted)
            for sku, view in sorted(self.ledger.items())
            if sku not in self.seen
        ]

    @property
    def duplicates(self) -> set[str]:
        return {sku for sku, times in self.seen.items() if times > 1}


def classify(
    channel: str, sku: str, figure: int, view: LedgerView, into: Comparison | None = None
) -> Finding | None:
    """The finding for one figure read, or None when the channel shows what it should."""
    if view.queued is not None:
        if into is not None:
            into.in_flight += 1
        if figure == view.wanted and view.queued == view.wanted:
            return None  # already there; the queued push will find nothing to write
        return Finding(
            channel,
            sku,
            FindingKind.IN_FLIGHT,
            view.wanted,
            figure,
            view.shown,
            {"queued": view.queued},
        )
    if figure == view.wanted:
        if into is not None and view.shown != figure:
            into.refresh[sku] = figure
        return None
    kind = (
        FindingKind.NOT_PUSHED
        if view.shown is None or view.shown == figure
        else FindingKind.HAND_EDIT
    )
    return Finding(channel, sku, kind, view.wanted, figure, view.shown)


def confirm(
    candidates: Iterable[Finding], fresh: Mapping[str, LedgerView], duplicates: set[str]
) -> tuple[list[Finding], list[Finding]]:
    """Check fixable candidates against the ledger as it is now: (confirmed, moved).

    A candidate whose wanted or known figure changed since the run started moved during the
    run (a push, or an order pulled meanwhile): it is checked again next time, not fixed now.
    A SKU whose reference is shared by two rows cannot be written: never fixed.
    """
    confirmed: list[Finding] = []
    moved: list[Finding] = []
    for finding in candidates:
        if not finding.fixable:
            confirmed.append(finding)
            continue
        if finding.sku in duplicates:
            continue
        view = fresh.get(finding.sku)
        assert finding.figure is not None
        if view is None or view.wanted != finding.wanted or view.shown != finding.shown:
            moved.append(finding)
            continue
        again = classify(finding.channel, finding.sku, finding.figure, view)
        if again is None:
            continue
        if again.kind is FindingKind.IN_FLIGHT:
            moved.append(again)
        else:
            confirmed.append(again)
    return confirmed, moved


def lane_location(channel: str) -> str:
    """The location a lane's ledger name names (syncd.domain.lane_name); '' for a channel."""
    return channel.partition(LANE_MARK)[2]


def where(channel: str) -> str:
    """A channel, or a lane as a merchant names it: "webshop at warehouse"."""
    location = lane_location(channel)
    return f"{lane_channel(channel)} at {location}" if location else channel


def explain(f: Finding) -> str:
    """One sentence per finding, in a merchant's words."""
    ch = where(f.channel)
    if f.kind is FindingKind.IN_FLIGHT:
        return (
            f"{ch} shows {f.figure}; {f.detail.get('queued')} is queued to be written "
            "(a push still in the outbox, not drift)"
        )
    if f.kind is FindingKind.HAND_EDIT:
        return (
            f"{ch} shows {f.figure} but should show {f.wanted}; it was last known to show "
            f"{f.shown}: changed outside syncd (edited by hand, or an event syncd missed)"
        )
    if f.kind is FindingKind.NOT_PUSHED:
        if f.shown is None:
            return (
                f"{ch} shows {f.figure} but should show {f.wanted}; syncd never wrote this "
                "figure there"
            )
        return (
            f"{ch} shows {f.figure} but should show {f.wanted}; the correction was never "
            "written (the last push was skipped)"
        )
    if f.kind is FindingKind.ONLY_IN_CHANNEL:
        return (
            f"{ch} has this SKU ({f.figure} in stock) but the ledger does not know it: map it "
            "([mapping] aliases) or onboard it (syncd init)"
        )
    if f.kind is FindingKind.ONLY_IN_LEDGER and lane_location(f.channel):
        shop, location = lane_channel(f.channel), lane_location(f.channel)
        return (
            f"the ledger has this SKU (should show {f.wanted}) but {shop} does not stock it at "
            f"{location}: stock it there in {shop}, or map its reference"
        )
    if f.kind is FindingKind.ONLY_IN_LEDGER:
        return (
            f"the ledger has this SKU (should show {f.wanted}) but {ch} does not: create it "
            f"in {ch} or map its reference"
        )
    if f.kind is FindingKind.DUPLICATE_REFERENCE:
        return f"several stock rows in {ch} share this reference: syncd cannot write any of them"
    if f.kind is FindingKind.NO_REFERENCE:
        name = f.detail.get("name") or ""
        return (
            f"a stock row in {ch} ({f.sku}{', ' + str(name) if name else ''}) has no SKU of its "
            "own (no reference, or only its product's): give it a reference in the shop, or a "
            "SKU rule in the channel's settings (config.example.toml: combination_sku, skus)"
        )
    if f.kind is FindingKind.MANAGED_BY_CHANNEL:
        return (
            f"{ch} computes this figure itself ({f.figure}, the ledger says {f.wanted}); "
            "syncd does not write it"
        )
    if f.kind is FindingKind.MISSED_ORDER:
        state = "applied now" if f.detail.get("applied") else "could not be pulled"
        return f"order {f.sku} in {ch} was missing from the ledger: {state}"
    name = f.detail.get("file", f.sku)
    if f.detail.get("folder") == "inbox":
        return f"till file {name} waits in the inbox and is not in the ledger: is syncd running?"
    state = "applied now" if f.detail.get("applied") else "it cannot be read"
    return f"till file {name} in done/ was missing from the ledger: {state}"
