"""Pure ledger decisions: from the rows a batch touches, compute what to write. No I/O.

The stores load a :class:`Snapshot` of the rows a batch of document versions touches (locked),
call :func:`plan_batch`, and write the :class:`Plan` back in the same transaction. Keeping the
decisions here means both stores (SQLite, PostgreSQL) share one implementation of the domain rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from syncd.domain import (
    DEFAULT_LOCATION,
    Document,
    DocumentKind,
    DocumentRef,
    Movement,
    available,
    is_transit,
    lane_name,
    movement_reason,
    stock_delta,
    transit,
)

DocKey = tuple[str, str]
ChannelSku = tuple[str, str]
LocationSku = tuple[str, str]
WILDCARD = "*"


class ApplyStatus(StrEnum):
    APPLIED = "applied"  # movements written (or lines recorded)
    UNCHANGED = "unchanged"  # same version and content as already applied
    STALE = "stale"  # older than the version already applied; ignored
    REJECTED = "rejected"  # invalid; nothing written


@dataclass(frozen=True, slots=True)
class ApplyResult:
    channel: str
    doc_id: str
    status: ApplyStatus
    movements: int = 0
    pending: tuple[str, ...] = ()  # identifiers no SKU mapping knows yet (kept, applied later)
    error: str = ""


@dataclass(slots=True)
class DocState:
    kind: str
    version: int
    content_hash: str
    cancelled: bool
    location: str = ""  # as the stored version names them
    destination: str = ""


@dataclass(slots=True)
class LineState:
    sku: str | None  # None while the identifier is unknown (pending)
    wanted: int
    applied: int
    # Where the line's stock change so far is, per location ({location: units}); None for a line
    # applied before migration 0012: all of it at the document's (first) location.
    placed: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class PushChannel:
    name: str
    type: str
    follows_own_sales: bool = True  # its own sales lower its figure (a shop); not a stock file


@dataclass(frozen=True, slots=True)
class Kit:
    """A SKU made of components (``component → units per kit``). A kit has no stock of its own:
    a document line on it moves its components, and a channel is told
    min over components of ⌊available / quantity⌋ (:func:`channel_figure`)."""

    sku: str
    components: Mapping[str, int]
    # Channels that compute the kit's figure themselves (a Magento bundle): never pushed to.
    derived_by: frozenset[str] = frozenset()


@dataclass(slots=True)
class Snapshot:
    """The locked rows one batch touches."""

    docs: dict[DocKey, DocState]
    lines: dict[DocKey, dict[str, LineState]]
    on_hand: dict[str, int]  # every resolved SKU involved; missing means 0
    resolve: Mapping[str, str]  # identifier → SKU, for every identifier in the batch that is known
    channels: Sequence[PushChannel]  # channels that are pushed to
    buffers: Mapping[ChannelSku, int]  # (channel or '*', sku or '*') → units kept back
    shown: dict[ChannelSku, int | None]  # what each channel is known to show
    outbox: Mapping[ChannelSku, int]  # wanted figure currently queued
    # Every kit that is, or holds, a SKU of the batch, with all its components (their levels,
    # buffers, figures and outbox rows are loaded too).
    kits: Mapping[str, Kit] = field(default_factory=dict)
    # Stock per location (issue 17): (location, sku) → on hand, every location of every SKU
    # involved (missing means 0); Σ over locations = on_hand.
    at: dict[LocationSku, int] = field(default_factory=dict)
    # channel → the locations it sells from, in order; a channel missing or with none sells
    # from the whole stock (a ledger without configured locations).
    sells_from: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The configured locations, in order (the first one is syncd's own documents' default);
    # empty: none configured, everything happens at DEFAULT_LOCATION.
    locations: tuple[str, ...] = ()


class StockView(Protocol):
    """What a channel's figure is computed from: a batch's :class:`Snapshot`, or the rows a read
    (the status page, a stock file) loads for the SKUs it shows (:class:`Levels`)."""

    @property
    def on_hand(self) -> Mapping[str, int]: ...
    @property
    def at(self) -> Mapping[LocationSku, int]: ...
    @property
    def sells_from(self) -> Mapping[str, tuple[str, ...]]: ...
    @property
    def buffers(self) -> Mapping[ChannelSku, int]: ...
    @property
    def kits(self) -> Mapping[str, Kit]: ...


@dataclass(frozen=True, slots=True)
class Levels:
    """A :class:`StockView` built from rows read outside a batch."""

    on_hand: Mapping[str, int]
    buffers: Mapping[ChannelSku, int]
    kits: Mapping[str, Kit] = field(default_factory=dict)
    at: Mapping[LocationSku, int] = field(default_factory=dict)
    sells_from: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LineWrite:
    channel: str
    doc_id: str
    line_key: str
    sku: str | None
    wanted: int
    applied: int
    placed: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class OversellEvent:
    """A movement that took on_hand at a location below zero, or further below."""

    sku: str
    before: int  # on hand at the location
    after: int
    document: DocumentRef
    kit: str = ""  # the kit the SKU was sold as part of ('' when sold on its own)
    location: str = DEFAULT_LOCATION


@dataclass(slots=True)
class Plan:
    results: list[ApplyResult] = field(default_factory=list)
    documents: dict[DocKey, Document] = field(default_factory=dict)  # versions to store
    hashes: dict[DocKey, str] = field(default_factory=dict)  # their content hashes
    lines: list[LineWrite] = field(default_factory=list)
    movements: list[Movement] = field(default_factory=list)
    levels: dict[str, int] = field(default_factory=dict)  # new on_hand of changed SKUs
    levels_before: dict[str, int] = field(default_factory=dict)  # their on_hand before the batch
    at: dict[LocationSku, int] = field(default_factory=dict)  # new on hand per changed location
    at_before: dict[LocationSku, int] = field(default_factory=dict)
    shown: dict[ChannelSku, int | None] = field(default_factory=dict)
    outbox_set: dict[ChannelSku, int] = field(default_factory=dict)
    outbox_delete: set[ChannelSku] = field(default_factory=set)
    oversells: list[OversellEvent] = field(default_factory=list)
    unknown: list[tuple[str, str, str]] = field(default_factory=list)  # channel, doc_id, identifier

    @property
    def changed_channels(self) -> set[str]:
        return {c for c, _ in self.outbox_set} | {c for c, _ in self.outbox_delete}


def buffer_for(buffers: Mapping[ChannelSku, int], channel: str, sku: str) -> int:
    """Units kept back: per channel and SKU, else per SKU, else per channel, else 0."""
    for key in ((channel, sku), (WILDCARD, sku), (channel, WILDCARD), (WILDCARD, WILDCARD)):
        if key in buffers:
            return buffers[key]
    return 0


def channel_available(view: StockView, channel: str, sku: str) -> int:
    """What ``channel`` may sell of a SKU: the on hand of the locations it sells from (all of
    them when it names none) less its buffer, never below zero. The one place a channel's
    figure is computed."""
    locations = view.sells_from.get(channel)
    if locations:
        on_hand = sum(view.at.get((location, sku), 0) for location in locations)
    else:
        on_hand = view.on_hand.get(sku, 0)
    return available(on_hand, buffer_for(view.buffers, channel, sku))


def channel_figure(view: StockView, channel: str, sku: str) -> int | None:
    """The figure ``channel`` should show for ``sku``; None when it is never pushed there.

    A kit shows min over its components of ⌊channel_available(component) / quantity⌋: the kits
    that can still be made from what that channel may sell of each part. A channel that derives
    the kit's figure itself (a Magento bundle, from its children) is never told one.
    """
    kit = view.kits.get(sku)
    if kit is None:
        return channel_available(view, channel, sku)
    if channel in kit.derived_by:
        return None
    return kit_figure(view, channel, kit)


def kit_figure(view: StockView, channel: str, kit: Kit) -> int:
    if not kit.components:
        return 0
    return min(channel_available(view, channel, c) // q for c, q in kit.components.items())


def kits_holding(kits: Mapping[str, Kit], skus: Iterable[str]) -> set[str]:
    """The kits among ``kits`` that hold one of ``skus`` as a component."""
    wanted = set(skus)
    return {k.sku for k in kits.values() if not wanted.isdisjoint(k.components)}


def default_location(snap: Snapshot) -> str:
    """Where syncd's own documents happen when they name no location."""
    return snap.locations[0] if snap.locations else DEFAULT_LOCATION


def document_locations(doc: Document, snap: Snapshot) -> tuple[str, ...]:
    """The locations a document's lines move, in the order they are taken from: the one it
    names, else its channel's (a web shop selling from several: each line is taken from the
    first that has the units, then the next), else the default location."""
    if doc.location:
        return (doc.location,)
    # A figure edited in a shop's back office and adopted, an opening count read from a shop:
    # that shop's locations.
    channel = doc.meta.get("edited_in") or doc.meta.get("locations_of") or doc.channel
    return snap.sells_from.get(channel) or (default_location(snap),)


def _location_problems(doc: Document, snap: Snapshot) -> list[str]:
    if not doc.location and not doc.destination:
        return []
    known = set(snap.locations) or {DEFAULT_LOCATION}
    return [
        f"unknown location {name!r} (known: {', '.join(sorted(known))})"
        for name in (doc.location, doc.destination)
        if name and name not in known
    ]


_TRANSFERS = (DocumentKind.TRANSFER_OUT, DocumentKind.TRANSFER_IN)


# Documents whose channel already changed its own figure by the same lines (its own sales). A set
# built once: naming enum members costs a descriptor call each (Python 3.11), per movement.
_OWN_SALES = frozenset((DocumentKind.TILL_RECEIPT, DocumentKind.WEB_ORDER))


def _moves_own_figure(kind: DocumentKind) -> bool:
    """Documents whose channel already changed its own figure by the same lines (its own sales)."""
    return kind in _OWN_SALES


def plan_batch(
    documents: Sequence[Document],
    snap: Snapshot,
    *,
    now: datetime,
    replay: frozenset[DocKey] = frozenset(),
    settled: frozenset[DocKey] = frozenset(),
) -> Plan:
    """Decide the writes for a batch of document versions, applied in order.

    Each document is judged on its own: invalid or stale ones are reported and skipped, the rest
    change ``snap`` in place so later documents of the batch see earlier ones. Documents in
    ``replay`` are re-applied at their stored version, to apply lines whose SKU became known.
    Documents in ``settled`` are already in the stock figures (onboarding's history, which the
    opening count read after the shop had applied it): stored with their lines in effect, so that
    a later version applies only its difference, but they move nothing now.
    """
    plan = Plan()
    touched: set[str] = set()
    for doc in documents:
        problems = doc.validate() or _location_problems(doc, snap)
        if problems:
            plan.results.append(
                ApplyResult(
                    doc.channel, doc.doc_id, ApplyStatus.REJECTED, error="; ".join(problems)
                )
            )
            continue
        plan.results.append(
            _apply_one(doc, snap, plan, touched, now, doc.key in replay, doc.key in settled)
        )
    refresh_outbox(plan, snap, touched)
    return plan


def _apply_one(
    doc: Document,
    snap: Snapshot,
    plan: Plan,
    touched: set[str],
    now: datetime,
    replay: bool,
    settled: bool = False,
) -> ApplyResult:
    key = doc.key
    content_hash = doc.content_hash()
    state = snap.docs.get(key)
    if state is not None and not replay:
        if doc.version < state.version:
            return ApplyResult(doc.channel, doc.doc_id, ApplyStatus.STALE)
        if doc.version == state.version and content_hash == state.content_hash:
            return ApplyResult(doc.channel, doc.doc_id, ApplyStatus.UNCHANGED)
    route = (doc.location, doc.destination)
    if (
        state is not None
        and doc.kind in _TRANSFERS
        and (state.location, state.destination) != route
    ):
        # Its units are in transit to one place: another route is another transfer.
        error = "a transfer's locations cannot change: void it and send a new one"
        return ApplyResult(doc.channel, doc.doc_id, ApplyStatus.REJECTED, error=error)
    lines = snap.lines.setdefault(key, {})
    # Every line this version names, plus lines of earlier versions it no longer names (→ 0). A
    # count's unnamed lines stay as counted, unless the count is voided (cancelled, no lines).
    wanted = {k: int(v) for k, v in doc.lines.items()}
    if doc.kind is not DocumentKind.STOCK_COUNT or doc.cancelled:
        for line_key in lines:
            wanted.setdefault(line_key, 0)
    moved = 0
    pending: list[str] = []
    locations = document_locations(doc, snap)
    for line_key, qty in wanted.items():
        line = lines.get(line_key)
        if line is None:
            line = LineState(sku=snap.resolve.get(line_key), wanted=0, applied=0, placed={})
            lines[line_key] = line
        elif line.sku is None:
            line.sku = snap.resolve.get(line_key)
        line.wanted = qty
        if settled:
            # In effect already, moving nothing (a count line's ``applied`` is its change so far:
            # none). An identifier no mapping knows yet is kept as usual but raises no conflict:
            # the line is in effect, so once mapped its replay moves nothing either.
            if doc.kind is not DocumentKind.STOCK_COUNT:
                line.applied = qty
                line.placed = None  # in effect at the document's first location
            if line.sku is None:
                pending.append(line_key)
        elif line.sku is None:
            pending.append(line_key)
            plan.unknown.append((doc.channel, doc.doc_id, line_key))
        elif line.sku in snap.kits:
            # A kit has no stock of its own: its line moves its components, each movement naming
            # the kit. A count of a kit moves nothing (count its components); ``applied`` stays in
            # kit units, so a later version moves only the difference, by the kit's definition
            # at that time.
            # With locations, the line is placed in kit units like any line (``placed``): each
            # kit unit takes all its components at one location, so a cancellation gives them
            # back where they were taken.
            if doc.kind is not DocumentKind.STOCK_COUNT:
                kit = snap.kits[line.sku]
                delta = stock_delta(doc.kind, line.applied, line.wanted)
                effect = stock_delta(doc.kind, 0, line.applied)
                moved += _place(
                    doc, line, effect, delta, locations, snap, plan, touched, now, kit=kit
                )
                touched.add(kit.sku)
                line.applied = qty
        elif doc.kind is DocumentKind.STOCK_COUNT:
            # A count line's ``applied`` is the change it has made so far (migration 0008).
            delta = _count_delta(doc, line_key, line, snap, locations)
            moved += _place(doc, line, line.applied, delta, locations, snap, plan, touched, now)
            line.applied += delta
        else:
            delta = stock_delta(doc.kind, line.applied, line.wanted)
            effect = stock_delta(doc.kind, 0, line.applied)
            moved += _place(doc, line, effect, delta, locations, snap, plan, touched, now)
            line.applied = qty
        plan.lines.append(
            LineWrite(
                doc.channel,
                doc.doc_id,
                line_key,
                line.sku,
                line.wanted,
                line.applied,
                None if line.placed is None else dict(line.placed),
            )
        )
    snap.docs[key] = DocState(
        doc.kind.value, doc.version, content_hash, doc.cancelled, doc.location, doc.destination
    )
    plan.documents[key] = doc
    plan.hashes[key] = content_hash
    return ApplyResult(
        doc.channel, doc.doc_id, ApplyStatus.APPLIED, movements=moved, pending=tuple(pending)
    )


def _count_delta(
    doc: Document, line_key: str, line: LineState, snap: Snapshot, locations: Sequence[str]
) -> int:
    """What a version of a count still has to move for one line.

    Voided: undo what the line moved. With a basis (on hand at the counted location when the
    line was counted): the line's total change is counted − basis, so a sale made since the
    line was counted still counts. Without one (an opening count, a count booked at once): on
    hand at the location becomes counted (several locations, an opening count from a shop that
    sells from them: their sum becomes counted, the change made at the first).
    """
    assert line.sku is not None
    if doc.cancelled:
        return -line.applied
    basis = doc.basis.get(line_key)
    if basis is not None:
        return (line.wanted - basis) - line.applied
    return line.wanted - sum(snap.at.get((loc, line.sku), 0) for loc in locations)


def _place(
    doc: Document,
    line: LineState,
    effect: int,
    delta: int,
    locations: Sequence[str],
    snap: Snapshot,
    plan: Plan,
    touched: set[str],
    now: datetime,
    *,
    kit: Kit | None = None,
) -> int:
    """Move a line's stock change ``delta`` (its change so far: ``effect``) across locations.

    A change that undoes part of what the line did (an order cancelled, a count voided) goes
    back where it was taken or put, latest location first. A new outflow is taken from the
    first of ``locations`` that has the units, then the next; what none of them has is taken
    from the first (which goes below zero: an oversell there). A new inflow goes to the first.
    A transfer's units also leave or enter transit, so a transfer never changes on hand.
    A kit's line is placed in kit units: a location has as many as its components make, and
    each unit moves every component there.
    """
    assert line.sku is not None
    relocated = bool(doc.location and line.placed and set(line.placed) != {doc.location})
    if delta == 0 and not relocated:
        return 0
    sku = line.sku
    if line.placed is None:  # applied before locations existed: all at the first location
        line.placed = {locations[0]: effect} if effect else {}
    placed = line.placed
    moves: dict[str, int] = {}
    current = dict(placed)  # where the line's change is, once relocated
    if doc.location and doc.kind not in _TRANSFERS:
        # A new version naming another location (a delivery booked again at the right store):
        # what the line did elsewhere moves there.
        for location in [loc for loc in current if loc != doc.location]:
            held = current.pop(location)
            moves[location] = moves.get(location, 0) - held
            moves[doc.location] = moves.get(doc.location, 0) + held
            current[doc.location] = current.get(doc.location, 0) + held
    remaining = delta
    for location in reversed(list(current)):
        if remaining == 0:
            break
        held = current[location]
        if held * remaining < 0:  # opposite signs: give back what this location gave
            step = -held if abs(held) <= abs(remaining) else remaining
            moves[location] = moves.get(location, 0) + step
            remaining -= step
    if remaining < 0 and len(locations) > 1:
        need = -remaining
        for location in locations:
            have = _units_at(snap, location, sku, kit, moves.get(location, 0))
            take = min(need, have)
            if take:
                moves[location] = moves.get(location, 0) - take
                need -= take
            if need == 0:
                break
        if need:
            moves[locations[0]] = moves.get(locations[0], 0) - need
    elif remaining:
        moves[locations[0]] = moves.get(locations[0], 0) + remaining
    twin = ""
    if doc.kind is DocumentKind.TRANSFER_OUT:
        twin = transit(doc.destination)
    elif doc.kind is DocumentKind.TRANSFER_IN:
        twin = transit(doc.location)
    moved = 0
    for location, change in moves.items():
        if change == 0:
            continue
        placed[location] = placed.get(location, 0) + change
        if placed[location] == 0:
            del placed[location]
        parts = sorted(kit.components.items()) if kit is not None else [(sku, 1)]
        name = kit.sku if kit is not None else ""
        for part, per_unit in parts:
            step = change * per_unit
            moved += _move(doc, part, location, step, snap, plan, touched, now, kit=name)
            if twin:
                moved += _move(doc, part, twin, -step, snap, plan, touched, now, kit=name)
    return moved


def _units_at(snap: Snapshot, location: str, sku: str, kit: Kit | None, pending: int) -> int:
    """Units of ``sku`` a location can still give (``pending``: already moved there, not yet
    applied to ``snap``); for a kit, the kits its components there make."""
    if kit is None:
        return max(0, snap.at.get((location, sku), 0) + pending)
    if not kit.components:
        return 0
    return min(
        max(0, snap.at.get((location, c), 0) + pending * q) // q for c, q in kit.components.items()
    )


def _move(
    doc: Document,
    sku: str,
    location: str,
    delta: int,
    snap: Snapshot,
    plan: Plan,
    touched: set[str],
    now: datetime,
    *,
    kit: str = "",
) -> int:
    if delta == 0:
        return 0
    before_total = snap.on_hand.get(sku, 0)
    snap.on_hand[sku] = before_total + delta
    plan.levels_before.setdefault(sku, before_total)
    plan.levels[sku] = before_total + delta
    where = (location, sku)
    before = snap.at.get(where, 0)
    after = before + delta
    snap.at[where] = after
    plan.at_before.setdefault(where, before)
    plan.at[where] = after
    touched.add(sku)
    plan.movements.append(
        Movement(
            sku=sku,
            delta=delta,
            reason=movement_reason(
                doc.kind, delta, cancelled=doc.cancelled, reason=doc.meta.get("reason", "")
            ),
            channel=doc.channel,
            doc_id=doc.doc_id,
            doc_version=doc.version,
            occurred_at=doc.occurred_at,
            recorded_at=now,
            location=location,
            kit=kit,
        )
    )
    # A channel's own sales already moved its figure; so did a back-office edit adopted from it.
    # Not so a component sold through a kit: whether the channel lowered its parts (a PrestaShop
    # pack that decrements its products) or only the kit's own row (a till) is the channel's
    # business, so the component is pushed to it; a write it did not need changes nothing.
    own = doc.channel if _moves_own_figure(doc.kind) else doc.meta.get("edited_in", "")
    if own and not kit:
        # A channel told each location apart lowered the figure of the location it sold from:
        # its lane's (syncd.domain.lane_name).
        for name in (own, lane_name(own, location)):
            key = (name, sku)
            if any(c.name == name and c.follows_own_sales for c in snap.channels):
                shown = snap.shown.get(key)
                if shown is not None:
                    snap.shown[key] = shown + delta
                    plan.shown[key] = shown + delta
    if delta < 0 and after < 0 and not is_transit(location):
        plan.oversells.append(
            OversellEvent(
                sku=sku,
                before=before,
                after=after,
                location=location,
                document=DocumentRef(
                    channel=doc.channel,
                    doc_id=doc.doc_id,
                    reference=doc.reference or doc.doc_id,
                    kind=doc.kind.value,
                    quantity=-delta,
                    occurred_at=doc.occurred_at,
                    url=doc.url,
                ),
                kit=kit,
            )
        )
    return 1


def refresh_outbox(plan: Plan, snap: Snapshot, skus: Iterable[str]) -> None:
    """Queue, per pushed channel, the figure each SKU should show where it differs from what the
    channel is known to show; drop queued rows that became unnecessary."""
    chosen = set(skus)
    # A kit's figure follows its components: every kit holding a SKU that moved is refreshed.
    chosen |= kits_holding(snap.kits, chosen)
    for sku in sorted(chosen):
        for channel in snap.channels:
            key = (channel.name, sku)
            want = channel_figure(snap, channel.name, sku)
            if want is None:
                if key in snap.outbox:
                    plan.outbox_delete.add(key)
                    plan.outbox_set.pop(key, None)
                continue
            shown = snap.shown.get(key)
            if shown is None or shown != want:
                if snap.outbox.get(key) != want:
                    plan.outbox_set[key] = want
                plan.outbox_delete.discard(key)
            elif key in snap.outbox:
                plan.outbox_delete.add(key)
                plan.outbox_set.pop(key, None)


def oversell_documents(
    event: OversellEvent, earlier: Sequence[DocumentRef], *, limit: int = 10
) -> list[DocumentRef]:
    """The documents that took the last units, oldest first.

    ``earlier`` are the SKU's previous outflows, newest first. The document that crossed below
    zero comes with the earlier ones that together took at least as many units as it wanted.
    """
    chosen = [event.document]
    covered = 0
    need = event.document.quantity
    for ref in earlier:
        if covered >= need or len(chosen) >= limit:
            break
        if (ref.channel, ref.doc_id) == (event.document.channel, event.document.doc_id):
            continue
        chosen.append(ref)
        covered += ref.quantity
    chosen.reverse()
    return chosen
