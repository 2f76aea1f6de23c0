"""Value types of the stock domain: documents, lines, movements, conflicts. No I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class DocumentKind(StrEnum):
    """What a document is; it decides the sign of its lines and the movement reasons."""

    TILL_RECEIPT = "till_receipt"  # lines: units sold (negative: refunded)
    WEB_ORDER = "web_order"  # lines: units in effect (ordered − cancelled − restocked refunds)
    GOODS_RECEIPT = "goods_receipt"  # lines: units received
    # lines: units counted on the shelf; with a basis (on hand when each line was counted) the
    # count moves stock by counted − basis, so sales made while counting are kept.
    STOCK_COUNT = "stock_count"
    MANUAL = "manual"  # lines: units added (negative: removed)
    ADJUSTMENT = "adjustment"  # lines: units added (negative: removed), with a reason in meta
    # A transfer between locations is two documents: units sent out of ``location`` towards
    # ``destination`` (they are in transit meanwhile), then units received at the destination.
    TRANSFER_OUT = "transfer_out"  # lines: units sent
    TRANSFER_IN = "transfer_in"  # lines: units received


class Reason(StrEnum):
    """Why a movement happened."""

    TILL_SALE = "till_sale"
    TILL_REFUND = "till_refund"
    WEB_ORDER = "web_order"
    WEB_CANCEL = "web_cancel"
    WEB_REFUND = "web_refund"
    RECEIPT = "receipt"
    COUNT_ADJUSTMENT = "count_adjustment"
    MANUAL = "manual"
    # Adjustments, by the reason a person gives (`syncd adjust --reason`, the page).
    BREAKAGE = "breakage"
    THEFT = "theft"
    GIFT = "gift"
    SUPPLIER_RETURN = "supplier_return"
    CORRECTION = "correction"
    HAND_EDIT = "hand_edit"  # a figure typed in a shop's back office, adopted (hand_edits)
    VOID = "void"  # a document booked by mistake, undone
    TRANSFER_OUT = "transfer_out"  # units sent to another location (into transit)
    TRANSFER_IN = "transfer_in"  # units received from another location (out of transit)


# Reasons a person may give to an adjustment.
ADJUSTMENT_REASONS: tuple[str, ...] = (
    Reason.BREAKAGE,
    Reason.THEFT,
    Reason.GIFT,
    Reason.SUPPLIER_RETURN,
    Reason.CORRECTION,
)

# The channel of documents syncd books itself (deliveries, counts, adjustments, adopted edits);
# no configured channel may take this name.
STOCK_CHANNEL = "stock"
# Where a booked document came from (meta "origin").
# The location of a ledger without configured locations (and of everything before migration 0012).
DEFAULT_LOCATION = "main"
# Units sent to location X and not received yet are held at the location "transit:X": the
# business still owns them (on hand counts them), no channel sells them.
TRANSIT_PREFIX = "transit:"
# Kinds of location a config may name.
LOCATION_KINDS: tuple[str, ...] = ("store", "warehouse", "stand")


def transit(destination: str) -> str:
    """The location holding units on their way to ``destination``."""
    return TRANSIT_PREFIX + destination


def is_transit(location: str) -> bool:
    return location.startswith(TRANSIT_PREFIX)


# A shop channel that writes each of its locations' figures to a location of its own (Shopify's
# ``shopify_locations``) has one "lane" per location in the ledger: a pushed channel named
# ``<channel>@<location>`` selling from that location only, with its own outbox rows and figures
# shown. Channel names never hold "@" (letters, digits, - and _), so a lane is never a channel.
LANE_MARK = "@"


def lane_name(channel: str, location: str) -> str:
    """The ledger's name of ``channel``'s lane for ``location``."""
    return f"{channel}{LANE_MARK}{location}"


def lane_channel(name: str) -> str:
    """The channel a lane belongs to (a channel's own name for a channel)."""
    return name.split(LANE_MARK, 1)[0]


ORIGINS: tuple[str, ...] = ("page", "file", "command", "channel_edit", "init", "folder")


class ConflictKind(StrEnum):
    OVERSELL = "oversell"  # on_hand went below zero
    UNKNOWN_SKU = "unknown_sku"  # a document names a SKU no mapping knows
    UNREADABLE = "unreadable"  # a file or document could not be parsed
    DRIFT_AGAIN = "drift_again"  # a channel figure found wrong again after a fix
    CHANNEL_DOWN = "channel_down"  # a channel unreachable longer than its threshold
    HAND_EDIT = "hand_edit"  # a figure changed in a shop's back office (hand_edits = "report")


class ConflictStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# Units a document line takes out of stock per unit of its quantity.
_OUTFLOW_SIGN: Mapping[DocumentKind, int] = {
    DocumentKind.TILL_RECEIPT: -1,
    DocumentKind.WEB_ORDER: -1,
    DocumentKind.GOODS_RECEIPT: +1,
    DocumentKind.MANUAL: +1,
    DocumentKind.ADJUSTMENT: +1,
    DocumentKind.TRANSFER_OUT: -1,
    DocumentKind.TRANSFER_IN: +1,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_utc(when: datetime) -> str:
    """A time in JSON, everywhere (CLI --json, the JSON API, the event feed): ISO 8601 in UTC,
    "2026-03-14T11:00:00+00:00", whatever zone it was read in. People see local times; JSON
    readers compare and sort them."""
    return when.astimezone(UTC).isoformat()


# What json.dumps(..., separators=(",", ":")) builds anew at each call (a fifth of a content hash's
# cost, hashed for every document a batch applies); the same encoder, so the same text.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Document:
    """One version of a stock-affecting document from a channel.

    ``lines`` maps SKU → quantity in effect, in the document's own terms (units sold for a
    receipt or an order, units received, units counted). Applying a newer version applies only
    the difference with what the ledger already applied for that document.
    """

    channel: str
    doc_id: str
    kind: DocumentKind
    lines: Mapping[str, int]
    occurred_at: datetime
    # Newer versions replace older ones; an older version than the one applied is ignored.
    # The channel's update time in microseconds, or a sequence; 0 for immutable documents.
    version: int = 0
    reference: str = ""  # what a merchant recognises: ticket 4-10378, order XKBKNABJK
    cancelled: bool = False
    names: Mapping[str, str] = field(default_factory=dict)  # SKU → product name, when known
    url: str = ""  # back-office link, when the channel has one
    # What a person wrote or where it came from: origin, supplier, delivery_note, reason, note,
    # edited_in (the channel whose back office changed the figure), file. Not part of the content.
    meta: Mapping[str, str] = field(default_factory=dict)
    # Stock counts only: SKU → on hand when that line was counted (see DocumentKind.STOCK_COUNT).
    basis: Mapping[str, int] = field(default_factory=dict)
    # Where it happened; '' = its channel's location(s) (a web order: the ones its shop sells
    # from, in order), or the first configured location for syncd's own documents.
    location: str = ""
    destination: str = ""  # a transfer sent out: the location the units go to

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel, self.doc_id)

    def content_hash(self) -> str:
        """Identifies the content of this version, to tell a replay from a same-time edit."""
        content: list[object] = [self.kind.value, sorted(self.lines.items()), self.cancelled]
        if self.basis:  # only counts have one: every other document keeps its earlier hash
            content.append(sorted(self.basis.items()))
        if self.location or self.destination:  # likewise: a document naming none keeps its hash
            content.append([self.location, self.destination])
        payload = _COMPACT_JSON.encode(content)  # json.dumps(content, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def validate(self) -> list[str]:
        """Problems that make this document unusable; empty when it is fine."""
        problems = []
        if not self.channel:
            problems.append("empty channel")
        if not self.doc_id:
            problems.append("empty document id")
        if self.occurred_at.tzinfo is None:
            problems.append("occurred_at has no time zone")
        for sku, qty in self.lines.items():
            if not sku or not sku.strip():
                problems.append("empty SKU in a line")
            if isinstance(qty, bool) or not isinstance(qty, int):
                problems.append(f"quantity {qty!r} of {sku!r} is not a whole number")
            elif abs(qty) > 1_000_000_000:
                problems.append(f"quantity {qty} of {sku!r} is out of range")
        if self.version < 0:
            problems.append("negative version")
        if self.basis and self.kind is not DocumentKind.STOCK_COUNT:
            problems.append("only a stock count has a basis")
        if self.kind is DocumentKind.TRANSFER_OUT:
            if not self.location or not self.destination:
                problems.append("a transfer names the location it leaves and its destination")
            elif self.location == self.destination:
                problems.append("a transfer goes to another location")
        elif self.destination:
            problems.append("only a transfer sent out has a destination")
        if self.kind is DocumentKind.TRANSFER_IN and not self.location:
            problems.append("a transfer received names the location receiving it")
        if (self.location or self.destination) and (
            is_transit(self.location) or is_transit(self.destination)
        ):
            problems.append(f"{TRANSIT_PREFIX}… is not a location a document may name")
        for sku, qty in self.basis.items():
            if isinstance(qty, bool) or not isinstance(qty, int):
                problems.append(f"basis {qty!r} of {sku!r} is not a whole number")
        texts = (
            self.channel,
            self.doc_id,
            self.reference,
            *self.lines,
            *self.names.values(),
            *self.meta.values(),
            self.location,
            self.destination,
        )
        if not _is_unicode("".join(texts)):  # one encode for them all (the ledger's hot path)
            # JSON may carry lone surrogates ("\ud800"); no database can store them.
            problems.append("text with a lone surrogate (not valid Unicode)")
        return problems


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Movement:
    """An append-only change of on_hand for one SKU."""

    sku: str
    delta: int
    reason: Reason
    channel: str
    doc_id: str
    doc_version: int
    occurred_at: datetime
    recorded_at: datetime
    id: int | None = None
    kit: str = ""  # the kit this SKU was sold (returned, received) as part of; '' on its own
    location: str = DEFAULT_LOCATION


def stock_delta(kind: DocumentKind, applied: int, wanted: int) -> int:
    """Change of on_hand when a line goes from ``applied`` to ``wanted`` (not for stock counts)."""
    return _OUTFLOW_SIGN[kind] * (wanted - applied)


def movement_reason(kind: DocumentKind, delta: int, *, cancelled: bool, reason: str = "") -> Reason:
    """The reason recorded for a movement of ``delta`` units caused by a document.

    ``reason`` is the one a person gave an adjustment (meta "reason").
    """
    if cancelled and kind is not DocumentKind.WEB_ORDER:
        return Reason.VOID  # a web order cancelled is the shop's own cancellation, not a void
    if kind is DocumentKind.ADJUSTMENT:
        known = reason in ADJUSTMENT_REASONS or reason == Reason.HAND_EDIT
        return Reason(reason) if known else Reason.CORRECTION
    if kind is DocumentKind.TILL_RECEIPT:
        return Reason.TILL_SALE if delta < 0 else Reason.TILL_REFUND
    if kind is DocumentKind.WEB_ORDER:
        if delta < 0:
            return Reason.WEB_ORDER
        return Reason.WEB_CANCEL if cancelled else Reason.WEB_REFUND
    if kind is DocumentKind.GOODS_RECEIPT:
        return Reason.RECEIPT
    if kind is DocumentKind.STOCK_COUNT:
        return Reason.COUNT_ADJUSTMENT
    if kind is DocumentKind.TRANSFER_OUT:
        return Reason.TRANSFER_OUT
    if kind is DocumentKind.TRANSFER_IN:
        return Reason.TRANSFER_IN
    return Reason.MANUAL


def kit_problems(kits: Mapping[str, Mapping[str, int]]) -> list[str]:
    """What makes a set of kit definitions (kit → component → units per kit) unusable.

    A kit is made of stocked SKUs: a component may not itself be a kit (no kits of kits), a kit
    may not hold itself, and every quantity is a whole number of at least one.
    """
    problems = []
    for kit, components in sorted(kits.items()):
        if not kit.strip():
            problems.append("a kit has an empty SKU")
        if not components:
            problems.append(f"kit {kit!r} has no component")
        for component, qty in sorted(components.items()):
            if not component.strip():
                problems.append(f"kit {kit!r} has a component with an empty SKU")
            elif component == kit:
                problems.append(f"kit {kit!r} holds itself")
            elif component in kits:
                problems.append(f"kit {kit!r} holds {component!r}, which is a kit itself")
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
                problems.append(
                    f"kit {kit!r}: quantity {qty!r} of {component!r} is not a whole number ≥ 1"
                )
    return problems


def available(on_hand: int, buffer: int) -> int:
    """What a channel is told it can sell: never below zero, the buffer kept for the shop floor."""
    return max(0, on_hand - buffer)


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input row that could not be used, kept with everything needed to fix it."""

    channel: str
    source: str  # file name or order id
    row: int | None
    column: str
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """A document named in a conflict, as a merchant would look it up."""

    channel: str
    doc_id: str
    reference: str
    kind: str
    quantity: int  # units it took (positive) of the SKU in conflict
    occurred_at: datetime
    url: str = ""


@dataclass(frozen=True, slots=True)
class Conflict:
    id: int
    kind: ConflictKind
    status: ConflictStatus
    sku: str
    channel: str
    shortfall: int
    detail: Mapping[str, object]
    documents: tuple[DocumentRef, ...]
    created_at: datetime
    updated_at: datetime
