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


@dataclass(frozen=True, slots=True)
class Levels:
    """A :class:`StockView` built from rows read outside a batch."""

    on_hand: Mapping[str, int]
    buffers: Mapping[ChannelSku, int]
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


def _moves_own_figure(kind: DocumentKind) -> bool:
    """Documents whose channel already changed its own figure by the same lines (its own sales)."""
    return kind in (DocumentKind.TILL_RECEIPT, DocumentKind.WEB_ORDER)


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
) -> int:
    """Move a line's stock change ``delta`` (its change so far: ``effect``) across locations.

    A change that undoes part of what the line did (an order cancelled, a count voided) goes
    back where it was taken or put, latest location first. A new outflow is taken from the
    first of ``locations`` that has the units, then the next; what none of them has is taken
    from the first (which goes below zero: an oversell there). A new inflow goes to the first.
    A transfer's units also leave or enter transit, so a transfer never changes on hand.
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
            have = max(0, snap.at.get((location, sku), 0) + moves.get(location, 0))
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
        moved += _move(doc, sku, location, change, snap, plan, touched, now)
        if twin:
            moved += _move(doc, sku, twin, -change, snap, plan, touched, now)
    return moved


def _move(
    doc: Document,
    sku: str,
    location: str,
    delta: int,
    snap: Snapshot,
    plan: Plan,
    touched: set[str],
    now: datetime,
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
        )
    )
    # A channel's own sales already moved its figure; so did a back-office edit adopted from it.
    own = doc.channel if _moves_own_figure(doc.kind) else doc.meta.get("edited_in", "")
    if own:
        key = (own, sku)
        if any(c.name == own and c.follows_own_sales for c in snap.channels):
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
            )
        )
    return 1


def refresh_outbox(plan: Plan, snap: Snapshot, skus: Iterable[str]) -> None:
    """Queue, per pushed channel, the figure each SKU should show where it differs from what the
    channel is known to show; drop queued rows that became unnecessary."""
    for sku in skus:
        for channel in snap.channels:
            key = (channel.name, sku)
            want = channel_available(snap, channel.name, sku)
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
