"""What goes into an alert mail: conflicts, rejected rows and outages as queued items (JSON
payloads kept in the ledger), and the views the templates show. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from syncd.domain import DEFAULT_LOCATION, Conflict, ConflictKind, DocumentKind
from syncd.ledger.store import NewAlertItem, StoredRejection

REJECTED_ROW = "rejected_row"
CHANNEL_BACK = "channel_back"
MAX_SHOWN = 50  # entries of one kind in one mail; the rest is counted
TIME_FIELDS = frozenset({"since", "back_at", "last_seen", "fixed_at"})


def conflict_item(conflict: Conflict, admin_order_urls: Mapping[str, str]) -> NewAlertItem:
    """One item per conflict and shortfall: a conflict that grows (another order took a unit
    already gone) is mailed again; one that is only touched again is not."""
    return NewAlertItem(
        key=f"conflict:{conflict.id}:{conflict.shortfall}",
        kind=conflict.kind.value,
        payload=conflict_payload(conflict, admin_order_urls),
        conflict_id=conflict.id,
        shortfall=conflict.shortfall,
    )


def conflict_payload(conflict: Conflict, admin_order_urls: Mapping[str, str]) -> dict[str, Any]:
    detail = {k: v for k, v in conflict.detail.items() if k != "documents"}
    documents = [
        {
            "channel": d.channel,
            "doc_id": d.doc_id,
            "reference": d.reference or d.doc_id,
            "kind": d.kind,
            "quantity": d.quantity,
            "occurred_at": d.occurred_at.isoformat(),
            "url": d.url or _admin_url(admin_order_urls.get(d.channel, ""), d.kind, d.doc_id),
        }
        for d in conflict.documents
    ]
    raw_docs = conflict.detail.get("documents")
    if not documents and isinstance(raw_docs, list):  # unknown SKU: document ids only
        documents = [
            {"channel": conflict.channel, "doc_id": str(d), "reference": str(d)} for d in raw_docs
        ]
    return {
        "conflict_id": conflict.id,
        "kind": conflict.kind.value,
        "sku": conflict.sku,
        "name": str(conflict.detail.get("name", "")),
        "channel": conflict.channel,
        "shortfall": conflict.shortfall,
        "documents": documents,
        "detail": detail,
        "created_at": conflict.created_at.isoformat(),
    }


def _admin_url(template: str, kind: str, doc_id: str) -> str:
    if not template or kind != DocumentKind.WEB_ORDER.value:
        return ""
    return template.replace("{id}", doc_id)


def rejection_item(rejection: StoredRejection) -> NewAlertItem:
    return NewAlertItem(
        key=f"rejection:{rejection.id}",
        kind=REJECTED_ROW,
        payload={
            "kind": REJECTED_ROW,
            "channel": rejection.channel,
            "source": rejection.source,
            "row": rejection.row,
            "column": rejection.column,
            "value": rejection.value,
            "reason": rejection.reason,
            "recorded_at": rejection.recorded_at.isoformat(),
        },
    )


def channel_back_item(
    channel: str, conflict_id: int, since: datetime, back: datetime
) -> NewAlertItem:
    # Not tied to the (now resolved) conflict, or it would be dropped as no longer open.
    return NewAlertItem(
        key=f"back:{conflict_id}",
        kind=CHANNEL_BACK,
        payload={
            "kind": CHANNEL_BACK,
            "channel": channel,
            "back_of": conflict_id,
            "since": since.isoformat(),
            "back_at": back.isoformat(),
        },
    )


# -- views for the templates ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentView:
    channel: str
    kind: str
    reference: str
    quantity: int
    time: str
    url: str
    losing: bool = False


@dataclass(frozen=True, slots=True)
class OversellView:
    conflict_id: int
    sku: str
    name: str
    shortfall: int
    on_hand: int
    documents: tuple[DocumentView, ...]
    losing: tuple[DocumentView, ...]  # the web orders to contact, cancel or back-order
    kits: tuple[str, ...] = ()  # kits the SKU was sold as part of (the SKU is what ran out)
    location: str = ""  # where it went below zero ('' in a ledger without locations)

    @property
    def time(self) -> str:
        return self.documents[-1].time if self.documents else ""


@dataclass(frozen=True, slots=True)
class Entry:
    """Any other item: its kind, and what to show as label → value pairs."""

    kind: str
    conflict_id: int | None
    channel: str
    sku: str
    time: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RejectedGroup:
    channel: str
    source: str
    count: int
    rows: tuple[Mapping[str, Any], ...]  # the first few


@dataclass(frozen=True, slots=True)
class ReorderEntry:
    """A SKU to reorder, as the daily digest lists it."""

    sku: str
    name: str
    on_hand: int
    point: int | None
    suggested: bool  # the point is suggested from the sales rate, none was set
    quantity: int
    rate_per_day: float
    days_of_cover: float | None
    new: bool  # not in the previous digest


@dataclass(slots=True)
class MailView:
    """Everything one mail shows, grouped by kind; ``hidden`` counts what did not fit."""

    kind: str  # alert | digest | test
    generated: str
    oversells: list[OversellView] = field(default_factory=list)
    unknown: list[Entry] = field(default_factory=list)
    unreadable: list[Entry] = field(default_factory=list)
    drift: list[Entry] = field(default_factory=list)
    down: list[Entry] = field(default_factory=list)
    back: list[Entry] = field(default_factory=list)
    rejected: list[RejectedGroup] = field(default_factory=list)
    hidden: int = 0
    reorder: list[ReorderEntry] = field(default_factory=list)  # digest: SKUs to reorder
    reorder_hidden: int = 0

    @property
    def total(self) -> int:
        return (
            len(self.oversells)
            + len(self.unknown)
            + len(self.unreadable)
            + len(self.drift)
            + len(self.down)
            + len(self.back)
            + sum(g.count for g in self.rejected)
            + self.hidden
        )

    @property
    def empty(self) -> bool:
        return self.total == 0


def local_time(iso: object, zone: ZoneInfo) -> str:
    """A stored ISO time as the merchant reads it: local, to the second."""
    if not isinstance(iso, str) or not iso:
        return ""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def build_view(
    kind: str,
    payloads: Sequence[Mapping[str, Any]],
    *,
    zone: ZoneInfo,
    now: datetime,
    reorder: Sequence[Mapping[str, Any]] = (),
) -> MailView:
    view = MailView(kind=kind, generated=now.astimezone(zone).strftime("%Y-%m-%d %H:%M"))
    # New ones first: what changed since yesterday is what the merchant looks for.
    for item in sorted(reorder, key=lambda r: not r.get("new", False))[:MAX_SHOWN]:
        view.reorder.append(reorder_entry(item))
    view.reorder_hidden = max(0, len(reorder) - MAX_SHOWN)
    rejected: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    lists: dict[str, list[Entry]] = {
        ConflictKind.UNKNOWN_SKU.value: view.unknown,
        ConflictKind.UNREADABLE.value: view.unreadable,
        ConflictKind.DRIFT_AGAIN.value: view.drift,
        ConflictKind.CHANNEL_DOWN.value: view.down,
        CHANNEL_BACK: view.back,
    }
    for payload in payloads:
        item_kind = str(payload.get("kind", ""))
        if item_kind == ConflictKind.OVERSELL.value:
            if len(view.oversells) < MAX_SHOWN:
                view.oversells.append(oversell_view(payload, zone))
            else:
                view.hidden += 1
        elif item_kind == REJECTED_ROW:
            key = (str(payload.get("channel", "")), str(payload.get("source", "")))
            rejected.setdefault(key, []).append(payload)
        elif item_kind in lists:
            target = lists[item_kind]
            if len(target) < MAX_SHOWN:
                target.append(entry_view(item_kind, payload, zone))
            else:
                view.hidden += 1
        else:
            view.hidden += 1
    for (channel, source), rows in sorted(rejected.items()):
        view.rejected.append(RejectedGroup(channel, source, len(rows), tuple(rows[:10])))
    return view


def reorder_entry(item: Mapping[str, Any]) -> ReorderEntry:
    point = item.get("point")
    cover = item.get("days_of_cover")
    return ReorderEntry(
        sku=str(item.get("sku", "")),
        name=str(item.get("name", "")),
        on_hand=int(item.get("on_hand", 0)),
        point=int(point) if isinstance(point, int) else None,
        suggested=bool(item.get("suggested", False)),
        quantity=int(item.get("quantity", 0)),
        rate_per_day=float(item.get("rate_per_day", 0.0)),
        days_of_cover=float(cover) if isinstance(cover, int | float) else None,
        new=bool(item.get("new", False)),
    )


def oversell_view(payload: Mapping[str, Any], zone: ZoneInfo) -> OversellView:
    raw = [d for d in payload.get("documents", []) if isinstance(d, Mapping)]
    # The units left the shop with the till's customer; a web order is what can still be
    # cancelled or back-ordered: the latest web orders, up to the shortfall, are the losers.
    shortfall = int(payload.get("shortfall", 0))
    losing_ids: set[tuple[str, str]] = set()
    covered = 0
    for d in reversed(raw):
        if covered >= max(1, shortfall):
            break
        if d.get("kind") == DocumentKind.WEB_ORDER.value:
            losing_ids.add((str(d.get("channel")), str(d.get("doc_id"))))
            covered += int(d.get("quantity", 0) or 0)
    documents = tuple(
        DocumentView(
            channel=str(d.get("channel", "")),
            kind=str(d.get("kind", "")),
            reference=str(d.get("reference") or d.get("doc_id", "")),
            quantity=int(d.get("quantity", 0) or 0),
            time=local_time(d.get("occurred_at"), zone),
            url=str(d.get("url", "")),
            losing=(str(d.get("channel")), str(d.get("doc_id"))) in losing_ids,
        )
        for d in raw
    )
    detail = payload.get("detail", {})
    on_hand = detail.get("on_hand", -shortfall) if isinstance(detail, Mapping) else -shortfall
    kits = detail.get("kits") if isinstance(detail, Mapping) else None
    location = str(detail.get("location", "") or "") if isinstance(detail, Mapping) else ""
    return OversellView(
        conflict_id=int(payload.get("conflict_id", 0)),
        sku=str(payload.get("sku", "")),
        name=str(payload.get("name", "")),
        shortfall=shortfall,
        on_hand=int(on_hand),
        documents=documents,
        losing=tuple(d for d in documents if d.losing),
        kits=tuple(str(k) for k in kits) if isinstance(kits, list) else (),
        location="" if location == DEFAULT_LOCATION else location,
    )


def entry_view(kind: str, payload: Mapping[str, Any], zone: ZoneInfo) -> Entry:
    detail = payload.get("detail", {})
    fields: dict[str, Any] = dict(detail) if isinstance(detail, Mapping) else {}
    for key in ("since", "back_at"):
        if key in payload:
            fields[key] = payload[key]
    fields = {k: local_time(v, zone) if k in TIME_FIELDS else v for k, v in fields.items()}
    documents = payload.get("documents")
    if isinstance(documents, list) and documents:
        refs = [
            str(d.get("reference") or d.get("doc_id")) for d in documents if isinstance(d, Mapping)
        ]
        fields["documents"] = ", ".join(refs[:10]) + (" …" if len(refs) > 10 else "")
    time = local_time(payload.get("created_at") or payload.get("back_at"), zone)
    conflict_id = payload.get("conflict_id")
    return Entry(
        kind=kind,
        conflict_id=int(conflict_id) if isinstance(conflict_id, int) else None,
        channel=str(payload.get("channel", "")),
        sku=str(payload.get("sku", "")),
        time=time,
        fields=fields,
    )
