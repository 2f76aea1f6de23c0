"""Booking stock that is not a sale: deliveries, counts, adjustments, voids (issue 16).

Every front-end (the page, `syncd receive|count|adjust|void`, the drop folders, an adopted
back-office edit) books through these functions, so a document means the same wherever it came
from: identifiers resolved to SKUs first (an unknown one is refused with where it came from, never
kept pending), one ledger document per booking, applied once (its id makes a second submission of
the same file or form a no-op), and pushed to every channel like a sale.

Documents are booked on the channel :data:`~syncd.domain.STOCK_CHANNEL`; their meta records
``origin`` (page, file, command, folder, channel_edit) and what a person wrote.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from syncd.domain import (
    ADJUSTMENT_REASONS,
    ORIGINS,
    STOCK_CHANNEL,
    Document,
    DocumentKind,
    Reason,
    utcnow,
)
from syncd.exceptions import SyncdError
from syncd.ledger.planner import ApplyResult, ApplyStatus
from syncd.ledger.stockin import StockInStore

MAX_QUANTITY = 1_000_000


class BookingError(SyncdError):
    """A booking that cannot be made as asked; nothing was booked."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line as a person gave it: an identifier (SKU, barcode or alias) and a quantity.

    ``where`` says where it came from (``delivery.csv row 4``, ``scan 12``) for error messages;
    ``at`` is when a count line was counted (a scan), None when unknown.
    """

    identifier: str
    quantity: int
    where: str = ""
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """A line that was not booked, and why."""

    line: Line
    reason: str


@dataclass(slots=True)
class Booking:
    """What a booking did (or, for a dry run, would do)."""

    doc_id: str
    kind: DocumentKind
    lines: dict[str, int]  # SKU → quantity booked
    refused: list[Refused] = field(default_factory=list)
    before: dict[str, int] = field(default_factory=dict)  # on hand before, per SKU
    after: dict[str, int] = field(default_factory=dict)  # on hand after (expected on a dry run)
    status: str = "planned"  # planned (dry run) | applied | unchanged (already booked)
    movements: int = 0
    location: str = ""  # where it was booked; before/after are that location's ('' = everywhere)
    destination: str = ""  # a transfer sent out: where to

    @property
    def booked(self) -> bool:
        return self.status in ("applied", "unchanged")

    def as_json(self) -> dict[str, object]:
        return {
            "doc_id": self.doc_id,
            "channel": STOCK_CHANNEL,
            "kind": self.kind.value,
            "status": self.status,
            "lines": [
                {
                    "sku": sku,
                    "quantity": qty,
                    "on_hand_before": self.before.get(sku),
                    "on_hand_after": self.after.get(sku),
                }
                for sku, qty in sorted(self.lines.items())
            ],
            "refused": [
                {"identifier": r.line.identifier, "where": r.line.where, "reason": r.reason}
                for r in self.refused
            ],
            "movements": self.movements,
            **({"location": self.location} if self.location else {}),
            **({"destination": self.destination} if self.destination else {}),
        }


def content_id(prefix: str, parts: Iterable[object]) -> str:
    """A document id from content: the same file or form twice gives the same id."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:20]
    return f"{prefix}:{digest}"


def new_id(prefix: str) -> str:
    return f"{prefix}:{uuid.uuid4().hex[:20]}"


async def resolve_lines(
    store: StockInStore, lines: Sequence[Line], *, allow_negative: bool = False
) -> tuple[list[tuple[Line, str]], list[Refused]]:
    """Each usable line with its SKU; the others refused with a reason."""
    known = await store.resolve_identifiers([ln.identifier.strip() for ln in lines])
    ok: list[tuple[Line, str]] = []
    refused: list[Refused] = []
    for ln in lines:
        code = ln.identifier.strip()
        if not code:
            refused.append(Refused(ln, "no SKU or barcode"))
        elif isinstance(ln.quantity, bool) or not isinstance(ln.quantity, int):
            refused.append(Refused(ln, f"quantity {ln.quantity!r} is not a whole number"))
        elif abs(ln.quantity) > MAX_QUANTITY:
            refused.append(Refused(ln, f"quantity {ln.quantity} is out of range"))
        elif ln.quantity < 0 and not allow_negative:
            refused.append(Refused(ln, f"quantity {ln.quantity} is below zero"))
        elif code not in known:
            refused.append(Refused(ln, f"{code!r} is not a known SKU, barcode or alias"))
        else:
            ok.append((ln, known[code]))
    return ok, refused


def _meta(origin: str, **fields: str) -> dict[str, str]:
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    return {"origin": origin, **{k: v for k, v in fields.items() if v}}


async def _figures(store: StockInStore, location: str, skus: list[str]) -> dict[str, int]:
    return await store.levels_at(location, skus) if location else await store.levels(skus)


async def _book(store: StockInStore, doc: Document, booking: Booking, *, dry_run: bool) -> Booking:
    skus = sorted(booking.lines)
    booking.location = doc.location
    booking.destination = doc.destination
    booking.before = await _figures(store, doc.location, skus)
    if not dry_run:
        result: ApplyResult = await store.apply_document(doc)
        if result.status is ApplyStatus.REJECTED:
            raise BookingError(f"the ledger refused {doc.doc_id}: {result.error}")
        booking.status = "unchanged" if result.status is ApplyStatus.UNCHANGED else "applied"
        booking.movements = result.movements
        booking.after = await _figures(store, doc.location, skus)
    return booking


async def book_receipt(
    store: StockInStore,
    lines: Sequence[Line],
    *,
    origin: str,
    doc_id: str = "",
    supplier: str = "",
    delivery_note: str = "",
    note: str = "",
    source: str = "",
    occurred_at: datetime | None = None,
    dry_run: bool = False,
    location: str = "",
) -> Booking:
    """Book a delivery: every line adds its units (at ``location``; '' = the first configured
    location). Without ``doc_id``, the id comes from the supplier and delivery-note number when
    given, else from the lines (the same note twice books once)."""
    ok, refused = await resolve_lines(store, lines)
    quantities: dict[str, int] = {}
    for ln, sku in ok:
        quantities[sku] = quantities.get(sku, 0) + ln.quantity
    quantities = {s: q for s, q in quantities.items() if q}
    if not doc_id:
        if delivery_note:
            doc_id = content_id("receipt", [supplier.strip().casefold(), delivery_note.strip()])
        else:
            doc_id = content_id("receipt", sorted(quantities.items()))
    booking = Booking(doc_id, DocumentKind.GOODS_RECEIPT, quantities, refused)
    if not quantities:
        raise BookingError(_nothing("delivery", refused))
    reference = " ".join(p for p in (supplier, delivery_note) if p) or source or doc_id
    doc = Document(
        channel=STOCK_CHANNEL,
        doc_id=doc_id,
        kind=DocumentKind.GOODS_RECEIPT,
        lines=quantities,
        occurred_at=occurred_at or utcnow(),
        reference=reference,
        meta=_meta(origin, supplier=supplier, delivery_note=delivery_note, note=note, file=source),
        location=location,
    )
    booking = await _book(store, doc, booking, dry_run=dry_run)
    for sku, qty in quantities.items():
        booking.after.setdefault(sku, booking.before.get(sku, 0) + qty)
    return booking


async def book_count(
    store: StockInStore,
    lines: Sequence[Line],
    *,
    origin: str,
    doc_id: str = "",
    zero: Iterable[str] = (),
    note: str = "",
    source: str = "",
    at: datetime | None = None,
    dry_run: bool = False,
    location: str = "",
) -> Booking:
    """Book a count (of the shelves of ``location``; '' = the first configured location). Each line moves stock by counted − on hand when it was counted (its ``at``,
    else ``at``, else the moment the count is applied), so sales made while counting stay.
    ``zero``: SKUs inside the count's scope (a prefix, a full count) not counted: counted as 0.
    Lines naming one SKU twice (two shelves) add up; the first one's time is the SKU's."""
    ok, refused = await resolve_lines(store, lines)
    counted: dict[str, int] = {}
    when: dict[str, datetime | None] = {}
    for ln, sku in ok:
        counted[sku] = counted.get(sku, 0) + ln.quantity
        when.setdefault(sku, ln.at or at)
    for sku in zero:
        if sku not in counted:
            counted[sku] = 0
            when[sku] = at
    if not counted:
        raise BookingError(_nothing("count", refused))
    basis: dict[str, int] = {}
    times = {t for t in when.values() if t is not None}
    for moment in sorted(times):
        skus = [s for s, t in when.items() if t == moment]
        basis.update(await store.on_hand_at(skus, moment, location))
    if not doc_id:
        doc_id = content_id(
            "count", [sorted(counted.items()), sorted((s, str(t)) for s, t in when.items())]
        )
    existing = await store.stored_document(STOCK_CHANNEL, doc_id)
    if existing is not None and set(existing.basis) == set(basis):
        # Booked before: its basis was fixed then (the count's own movements now count in
        # on_hand_at), so the same count books once.
        basis = dict(existing.basis)
    booking = Booking(doc_id, DocumentKind.STOCK_COUNT, counted, refused)
    doc = Document(
        channel=STOCK_CHANNEL,
        doc_id=doc_id,
        kind=DocumentKind.STOCK_COUNT,
        lines=counted,
        # When the shelf was counted (the earliest line): the count's movements belong to that
        # moment (ledger on_hand_at), so a corrected count of the same moment starts from it.
        occurred_at=at or min(times, default=None) or utcnow(),
        reference=source or "count",
        meta=_meta(origin, note=note, file=source),
        basis=basis,
        location=location,
    )
    booking = await _book(store, doc, booking, dry_run=dry_run)
    now = booking.before
    for sku, qty in counted.items():
        expected = qty - basis[sku] + now.get(sku, 0) if sku in basis else qty
        booking.after.setdefault(sku, expected)
    return booking


async def book_adjustment(
    store: StockInStore,
    identifier: str,
    delta: int,
    *,
    reason: str,
    origin: str,
    note: str = "",
    doc_id: str = "",
    edited_in: str = "",
    dry_run: bool = False,
    location: str = "",
) -> Booking:
    """Add (or remove, negative) units of one SKU, with a reason. ``doc_id``: the page's form
    token, so submitting it twice books once; else a new id every call."""
    allowed = (*ADJUSTMENT_REASONS, Reason.HAND_EDIT.value) if edited_in else ADJUSTMENT_REASONS
    if reason not in allowed:
        raise BookingError(f"reason {reason!r} is not one of {', '.join(ADJUSTMENT_REASONS)}")
    if delta == 0:
        raise BookingError("an adjustment of 0 units changes nothing")
    line = Line(identifier, delta, "adjustment")
    ok, refused = await resolve_lines(store, [line], allow_negative=True)
    if refused:
        raise BookingError(refused[0].reason)
    sku = ok[0][1]
    doc_id = doc_id or new_id("adjust")
    booking = Booking(doc_id, DocumentKind.ADJUSTMENT, {sku: delta})
    reference = f"edited in {edited_in}: {delta:+d}" if edited_in else f"{reason} {delta:+d}"
    doc = Document(
        channel=STOCK_CHANNEL,
        doc_id=doc_id,
        kind=DocumentKind.ADJUSTMENT,
        lines={sku: delta},
        occurred_at=utcnow(),
        reference=reference,
        meta=_meta(origin, reason=reason, note=note, edited_in=edited_in),
        location=location,
    )
    booking = await _book(store, doc, booking, dry_run=dry_run)
    booking.after.setdefault(sku, booking.before.get(sku, 0) + delta)
    return booking


async def void(
    store: StockInStore, channel: str, doc_id: str, *, origin: str, note: str = ""
) -> list[ApplyResult]:
    """Undo a document booked by mistake: a new version with no lines, never a deletion.

    ``doc_id`` may also name a till file (the documents read from it are voided together).
    Voiding a voided document changes nothing.
    """
    ids = [doc_id]
    stored = await store.stored_document(channel, doc_id)
    if stored is None:
        ids = await store.documents_with_meta(channel, "file", doc_id)
        if not ids:
            raise BookingError(f"no document {doc_id!r} on channel {channel!r}")
    documents = []
    for one in ids:
        found = stored if stored is not None else await store.stored_document(channel, one)
        if found is None:
            continue
        if found.kind is DocumentKind.WEB_ORDER:
            raise BookingError(
                f"{channel} {one} is a web order: cancel it in the shop, syncd follows"
            )
        if found.cancelled and not any(ln.applied for ln in found.lines):
            continue  # already void
        if found.kind is DocumentKind.TRANSFER_OUT:
            arrival = await store.stored_document(channel, received_id(one))
            if arrival is not None and any(ln.applied for ln in arrival.lines):
                raise BookingError(
                    f"transfer {one} has arrived: void its arrival {received_id(one)} first"
                )
        documents.append(
            Document(
                channel=channel,
                doc_id=one,
                kind=found.kind,
                lines={},
                occurred_at=found.occurred_at,
                version=found.version + 1,
                reference=found.reference,
                cancelled=True,
                meta={**found.meta, "voided_by": origin, **({"void_note": note} if note else {})},
                basis=found.basis if found.kind is DocumentKind.STOCK_COUNT else {},
                location=found.location,
                destination=found.destination,
            )
        )
    if not documents:
        return []
    return await store.apply_batch(documents)


async def book_transfer(
    store: StockInStore,
    lines: Sequence[Line],
    *,
    source: str,
    destination: str,
    origin: str,
    doc_id: str = "",
    note: str = "",
    dry_run: bool = False,
) -> Booking:
    """Send units from one location to another: they leave ``source`` now and are in transit
    (still on hand, sold by no channel) until :func:`receive_transfer` books their arrival.
    ``doc_id``: the page's form token or a file's content id (booked once); else a new id."""
    if not source or not destination:
        raise BookingError("a transfer names the location it leaves and its destination")
    if source == destination:
        raise BookingError(f"a transfer goes from one location to another, not {source} → itself")
    ok, refused = await resolve_lines(store, lines)
    quantities: dict[str, int] = {}
    for ln, sku in ok:
        quantities[sku] = quantities.get(sku, 0) + ln.quantity
    quantities = {s: q for s, q in quantities.items() if q}
    if not quantities:
        raise BookingError(_nothing("transfer", refused))
    doc_id = doc_id or new_id("transfer")
    booking = Booking(doc_id, DocumentKind.TRANSFER_OUT, quantities, refused)
    doc = Document(
        channel=STOCK_CHANNEL,
        doc_id=doc_id,
        kind=DocumentKind.TRANSFER_OUT,
        lines=quantities,
        occurred_at=utcnow(),
        reference=f"{source} → {destination}",
        meta=_meta(origin, note=note),
        location=source,
        destination=destination,
    )
    booking = await _book(store, doc, booking, dry_run=dry_run)
    for sku, qty in quantities.items():
        booking.after.setdefault(sku, booking.before.get(sku, 0) - qty)
    return booking


def received_id(transfer_id: str) -> str:
    """The id of the document that books a transfer's arrival."""
    return f"{transfer_id}/in"


async def receive_transfer(
    store: StockInStore,
    transfer_id: str,
    *,
    origin: str,
    lines: Sequence[Line] | None = None,
    note: str = "",
    dry_run: bool = False,
) -> Booking:
    """Book the arrival of a transfer at its destination: every unit sent (or the ``lines``
    actually received; what is missing stays in transit and is shown). Booking it again with
    other lines corrects it, by difference."""
    sent = await store.stored_document(STOCK_CHANNEL, transfer_id)
    if sent is None or sent.kind is not DocumentKind.TRANSFER_OUT:
        raise BookingError(f"no transfer {transfer_id!r}")
    if sent.cancelled:
        raise BookingError(f"transfer {transfer_id} was voided")
    refused: list[Refused] = []
    if lines is None:
        quantities = {ln.sku or ln.line_key: ln.wanted for ln in sent.lines if ln.wanted}
    else:
        ok, refused = await resolve_lines(store, lines)
        quantities = {}
        for ln, sku in ok:
            quantities[sku] = quantities.get(sku, 0) + ln.quantity
    doc_id = received_id(transfer_id)
    previous = await store.stored_document(STOCK_CHANNEL, doc_id)
    booking = Booking(doc_id, DocumentKind.TRANSFER_IN, quantities, refused)
    doc = Document(
        channel=STOCK_CHANNEL,
        doc_id=doc_id,
        kind=DocumentKind.TRANSFER_IN,
        lines=quantities,
        occurred_at=utcnow(),
        # Booked again as sent: the same version (unchanged); with other lines: a correction.
        version=0 if previous is None else previous.version + (lines is not None),
        reference=f"{sent.reference} ({transfer_id})",
        meta=_meta(origin, note=note, transfer=transfer_id),
        location=sent.destination,
    )
    booking = await _book(store, doc, booking, dry_run=dry_run)
    for sku, qty in quantities.items():
        booking.after.setdefault(sku, booking.before.get(sku, 0) + qty)
    return booking


def _nothing(what: str, refused: Sequence[Refused]) -> str:
    if not refused:
        return f"the {what} has no line to book"
    first = "; ".join(f"{r.line.where or r.line.identifier}: {r.reason}" for r in list(refused)[:5])
    more = f" (and {len(refused) - 5} more)" if len(refused) > 5 else ""
    return f"no line of the {what} can be booked: {first}{more}"
