"""What the status page shows, gathered from the daemon and the ledger as plain values.

The same dictionaries feed the HTML templates and the JSON API, so both always agree. Texts are
already in the merchant's language; every error string is scrubbed of secrets and URL credentials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from syncd.domain import (
    DEFAULT_LOCATION,
    TRANSIT_PREFIX,
    Conflict,
    ConflictKind,
    ConflictStatus,
    DocumentKind,
    Movement,
    is_transit,
)
from syncd.i18n import N_, Translator
from syncd.ledger.leases import cluster_view
from syncd.ledger.locations import LocationInfo, stock_per_location
from syncd.logs import clean
from syncd.web.history import History

if TYPE_CHECKING:
    from syncd.ledger.store import DocumentSummary
    from syncd.web.view import DaemonView

FAILING = ("degraded", "down", "refused")
CATCHING_UP_SECONDS = 5.0
_ERROR_KINDS = (
    (
        N_("the channel refused our key or password (check it in the configuration)"),
        re.compile(
            r"\b(401|403)\b|unauthori[sz]ed|forbidden|wrong key|invalid key|"
            r"authenticat|api key|access token|credential",
            re.I,
        ),
    ),
    (
        N_("the channel asked us to slow down"),
        re.compile(r"\b429\b|too many requests|rate limit", re.I),
    ),
    (N_("the channel took too long to answer"), re.compile(r"time(d)? ?out", re.I)),
    (
        N_("the channel could not be reached (is it online?)"),
        re.compile(
            r"connect|unreachable|refused|name resolution|no route|"
            r"cannot reach|not reachable|dns",
            re.I,
        ),
    ),
    (
        N_("the channel had an internal error"),
        re.compile(r"\b5\d\d\b|server error|bad gateway|unavailable", re.I),
    ),
    (
        N_("the channel does not know an address or product we asked for"),
        re.compile(r"\b404\b|not found", re.I),
    ),
    (N_("a setting of this channel is wrong"), re.compile(r"config|setting|invalid|missing", re.I)),
)

# Labels by code, translated when shown; conflict kinds use the same words as the alert mails.
STATE_LABELS = {
    "in_sync": N_("In sync"),
    "catching_up": N_("Catching up"),
    "degraded": N_("Degraded"),
    "down": N_("Down"),
    "refused": N_("Refused"),
    "starting": N_("Starting"),
    "stopped": N_("Stopped"),
    "unknown": N_("Unknown"),
}
ALERT_STATES = {
    "ok": N_("working"),
    "failing": N_("failing"),
    "disabled": N_("off"),
}
KIND_LABELS = {
    "oversell": N_("Oversold"),
    "unknown_sku": N_("Unknown product"),
    "unreadable": N_("Unreadable document"),
    "drift_again": N_("Stock wrong again on a channel"),
    "channel_down": N_("Channel down"),
}
STATUS_LABELS = {
    "open": N_("Open"),
    "acknowledged": N_("Acknowledged"),
    "resolved": N_("Resolved"),
}
REASON_LABELS = {
    "till_sale": N_("Till sale"),
    "till_refund": N_("Till refund"),
    "web_order": N_("Web order"),
    "web_cancel": N_("Web order cancelled"),
    "web_refund": N_("Web refund"),
    "receipt": N_("Goods receipt"),
    "count_adjustment": N_("Stock count"),
    "manual": N_("Manual correction"),
    "breakage": N_("Breakage"),
    "theft": N_("Theft"),
    "gift": N_("Gift"),
    "supplier_return": N_("Returned to the supplier"),
    "correction": N_("Correction"),
    "hand_edit": N_("Edited in a back office"),
    "void": N_("Voided"),
    "transfer_out": N_("Sent to another location"),
    "transfer_in": N_("Received from another location"),
}
DOCUMENT_KIND_LABELS = {
    "till_receipt": N_("Till receipt"),
    "web_order": N_("Web order"),
    "goods_receipt": N_("Delivery"),
    "stock_count": N_("Stock count"),
    "manual": N_("Manual correction"),
    "adjustment": N_("Adjustment"),
    "transfer_out": N_("Transfer sent"),
    "transfer_in": N_("Transfer received"),
}
ORIGIN_LABELS = {
    "page": N_("from this page"),
    "file": N_("from a file"),
    "command": N_("from a command"),
    "folder": N_("from the drop folder"),
    "channel_edit": N_("edited in a back office"),
    "init": N_("onboarding"),
}
# Documents a merchant may void from the activity list (a web order is cancelled in its shop).
VOIDABLE = frozenset(
    {
        DocumentKind.GOODS_RECEIPT,
        DocumentKind.STOCK_COUNT,
        DocumentKind.ADJUSTMENT,
        DocumentKind.TILL_RECEIPT,
        DocumentKind.TRANSFER_OUT,
        DocumentKind.TRANSFER_IN,
    }
)
SOURCE_LABELS = {
    "pushed": N_("sent by syncd"),
    "read": N_("read from the channel"),
    "document": N_("after its own sale"),
}


def label(t: Translator, labels: dict[str, str], code: str) -> str:
    """A code's label in the page's language; a code with no label shows as it is."""
    return t.gettext(labels[code]) if code in labels else code


def explain_error(raw: str, t: Translator) -> str:
    """An error in plain words; the technical text stays available beside it."""
    if not raw:
        return ""
    for message, pattern in _ERROR_KINDS:
        if pattern.search(raw):
            return t.gettext(message)
    detail = raw.split(": ", 1)[1] if raw.startswith(("push: ", "pull: ")) else raw
    return clean(detail)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The ledger figures one page needs, read once."""

    lags: dict[str, float]
    depths: dict[str, int]
    exposure: dict[str, int]
    open_conflicts: list[Conflict]
    unknown: int


async def snapshot(daemon: DaemonView, now: datetime) -> Snapshot:
    store = daemon.store
    assert store is not None
    stats = await store.outbox_stats()
    exposure = await store.oversell_exposure()
    open_conflicts = await store.conflicts(status=ConflictStatus.OPEN, limit=200)
    unknown = len(await store.pending_lines())
    return Snapshot(
        lags={name: s.lag_seconds(now) for name, s in stats.items()},
        depths={name: s.depth for name, s in stats.items()},
        exposure=exposure,
        open_conflicts=open_conflicts,
        unknown=unknown,
    )


# -- overview -------------------------------------------------------------------------------------


def channel_cards(daemon: DaemonView, snap: Snapshot, t: Translator) -> list[dict[str, Any]]:
    cards = []
    for name, runner in daemon.runners.items():
        status = runner.status
        state = status.state.value
        lag = snap.lags.get(name, 0.0)
        threshold = runner.settings.max_lag_seconds
        stale = lag > threshold
        level = "bad" if state in FAILING or stale else "warn" if state != "in_sync" else "ok"
        raw_error = clean(status.last_error)
        cards.append(
            {
                "name": name,
                "type": runner.settings.type,
                "state": state,
                "state_label": label(t, STATE_LABELS, state),
                "level": level,
                "lag_seconds": round(lag, 1),
                "lag_text": t.duration(lag) if lag > 0 else t.gettext("nothing"),
                "max_lag_seconds": threshold,
                "threshold_text": t.gettext(
                    "alert after %(duration)s", duration=t.duration(threshold)
                ),
                "stale": stale,
                "outbox": snap.depths.get(name, 0),
                "exposure": snap.exposure.get(name, 0),
                "pull": runner.settings.pull,
                "push": runner.settings.push,
                "last_pull": status.last_pull,
                "last_push": status.last_push,
                "last_error": raw_error,
                "error_plain": explain_error(raw_error, t),
                "documents": status.documents,
                "pushed": status.pushed,
            }
        )
    return cards


def headline(
    daemon: DaemonView, cards: list[dict[str, Any]], snap: Snapshot, t: Translator
) -> dict[str, Any]:
    """The one sentence at the top: what a merchant needs to know, worst first."""
    problems: list[tuple[str, str]] = []
    for loop in daemon.loops:
        if not loop.alive and loop.task is not None and not loop.task.done():
            problems.append(
                (
                    "loop",
                    t.gettext(
                        "A part of syncd crashed and is being restarted (%(loop)s).", loop=loop.name
                    ),
                )
            )
    for card in sorted(cards, key=lambda c: -c["lag_seconds"]):
        reason = card["error_plain"]
        if card["state"] == "refused":
            problems.append(
                (
                    "refused",
                    t.gettext(
                        "The %(channel)s connection is refused: %(reason)s",
                        channel=card["name"],
                        reason=reason,
                    ),
                )
            )
        elif card["stale"] or (card["state"] in FAILING and card["lag_seconds"] > 0):
            duration = t.duration(card["lag_seconds"])
            text = (
                t.gettext(
                    "The %(channel)s has not been updated for %(duration)s: %(reason)s",
                    channel=card["name"],
                    duration=duration,
                    reason=reason,
                )
                if reason
                else t.gettext(
                    "The %(channel)s has not been updated for %(duration)s.",
                    channel=card["name"],
                    duration=duration,
                )
            )
            problems.append(("stale", text))
        elif card["state"] in FAILING:
            problems.append(
                (
                    "down",
                    t.gettext(
                        "The %(channel)s cannot be reached: %(reason)s",
                        channel=card["name"],
                        reason=reason,
                    ),
                )
            )
    oversells = sum(1 for c in snap.open_conflicts if c.kind is ConflictKind.OVERSELL)
    note = (
        t.ngettext(
            "%(num)d product oversold (sold more times than there was stock): see Conflicts.",
            "%(num)d products oversold (sold more times than there was stock): see Conflicts.",
            oversells,
        )
        if oversells
        else ""
    )
    if problems:
        code, text = problems[0]
        if len(problems) > 1:
            more = len(problems) - 1
            text = f"{text} {t.ngettext('And %(num)d other problem below.', 'And %(num)d other problems below.', more)}"
        return {"level": "bad", "code": code, "text": text, "note": note}
    # Figures in flight for a few seconds are normal traffic, not worth a different sentence.
    waiting = [c for c in cards if c["outbox"] > 0 and c["lag_seconds"] >= CATCHING_UP_SECONDS]
    if waiting:
        count = sum(c["outbox"] for c in waiting)
        names = ", ".join(c["name"] for c in waiting)
        text = t.ngettext(
            "Everything is on its way: %(num)d update is being sent to %(channels)s.",
            "Everything is on its way: %(num)d updates are being sent to %(channels)s.",
            count,
            channels=names,
        )
        return {"level": "warn", "code": "catching_up", "text": text, "note": note}
    if cards and all(c["state"] == "starting" for c in cards):
        return {
            "level": "warn",
            "code": "starting",
            "text": t.gettext("syncd is starting: the channels are being checked."),
            "note": note,
        }
    return {
        "level": "warn" if note else "ok",
        "code": "ok",
        "text": t.gettext("Everything is in sync."),
        "note": note,
    }


def alerts_status(daemon: DaemonView, t: Translator) -> dict[str, Any] | None:
    """The alert mailer's state, when the daemon has one (bad SMTP credentials show here)."""
    alerts = getattr(daemon, "alerts", None)
    status = getattr(alerts, "status", None)
    if status is None:
        return None
    state = getattr(status, "state", "")
    last_error = clean(str(getattr(status, "last_error", "") or ""))
    code = str(getattr(state, "value", state))
    return {
        "state": code,
        "state_label": label(t, ALERT_STATES, code),
        "last_error": last_error,
        "error_plain": explain_error(last_error, t),
        "last_sent_at": getattr(status, "last_sent_at", None),
        "pending": getattr(status, "pending", 0),
    }


async def overview(
    daemon: DaemonView, history: History, t: Translator, now: datetime
) -> dict[str, Any]:
    snap = await snapshot(daemon, now)
    cards = channel_cards(daemon, snap, t)
    latency = history.latency_summary(now)
    return {
        "generated_at": now,
        "headline": headline(daemon, cards, snap, t),
        "channels": cards,
        "latency": {
            "window_seconds": 3600,
            "samples": latency.samples,
            "p50_seconds": latency.p50,
            "p99_seconds": latency.p99,
        },
        "oversell_exposure": {
            "units": sum(snap.exposure.values()),
            "by_channel": snap.exposure,
        },
        "open_conflicts": len(snap.open_conflicts),
        "unknown_skus": snap.unknown,
        "alerts": alerts_status(daemon, t),
        "cluster": await cluster(daemon, now),
    }


async def cluster(daemon: DaemonView, now: datetime) -> dict[str, Any]:
    """The daemons sharing the ledger (issue 20): each with the jobs it runs and since when,
    the standbys, and the jobs no daemon runs. Shown once there is more than one daemon, or a
    job waits for one."""
    assert daemon.store is not None
    view = cluster_view(await daemon.store.leases(), now)
    waiting = [j for j in view["jobs"] if not j["running"]]
    return {
        "shown": len(view["daemons"]) > 1 or bool(waiting),
        "daemons": view["daemons"],
        "waiting": waiting,
    }


# -- conflicts, activity, SKUs, unknown ----------------------------------------------------------

_TODO = {
    ConflictKind.OVERSELL: N_(
        "Check the shelf for %(sku)s. If the item is really missing, contact the web customer of the last order listed (offer a delay, a replacement or a refund), then count the stock."
    ),
    ConflictKind.UNKNOWN_SKU: N_(
        "Map this identifier to a product in the configuration ([aliases]); the sales kept aside are then applied."
    ),
    ConflictKind.UNREADABLE: N_(
        "Open the file or order named below and fix it; it is read again afterwards."
    ),
    ConflictKind.DRIFT_AGAIN: N_(
        "Someone or something keeps changing this figure in the channel: check its imports and manual edits."
    ),
    ConflictKind.CHANNEL_DOWN: N_(
        "Check that the channel is online and that its address and key in the configuration are right."
    ),
}


def _kits_of(conflict: Conflict) -> list[str]:
    """The kits a component in conflict was sold as part of (the conflict's SKU ran out)."""
    kits = conflict.detail.get("kits")
    return [str(k) for k in kits] if isinstance(kits, list) else []


def conflict_view(conflict: Conflict, t: Translator) -> dict[str, Any]:
    others = conflict.detail.get("documents")
    named = [str(d) for d in others if not isinstance(d, dict)] if isinstance(others, list) else []
    return {
        "id": conflict.id,
        "kind": conflict.kind.value,
        "kind_label": t.gettext(KIND_LABELS[conflict.kind.value]),
        "status": conflict.status.value,
        "status_label": t.gettext(STATUS_LABELS[conflict.status.value]),
        "sku": conflict.sku,
        "name": str(conflict.detail.get("name", "") or ""),
        "channel": conflict.channel,
        "shortfall": conflict.shortfall,
        "on_hand": conflict.detail.get("on_hand"),
        "kits": _kits_of(conflict),
        # Where the stock went below zero (a ledger without locations: its one location, unsaid).
        "location": (
            ""
            if conflict.detail.get("location") in (None, "", DEFAULT_LOCATION)
            else str(conflict.detail["location"])
        ),
        "documents": [
            {
                "channel": d.channel,
                "doc_id": d.doc_id,
                "reference": d.reference or d.doc_id,
                "kind": d.kind,
                "quantity": d.quantity,
                "occurred_at": d.occurred_at,
                "url": clean(d.url),
            }
            for d in conflict.documents
        ],
        "document_ids": named,
        "todo": t.gettext(
            _TODO.get(conflict.kind, _TODO[ConflictKind.UNREADABLE]), sku=conflict.sku
        ),
        "created_at": conflict.created_at,
        "updated_at": conflict.updated_at,
    }


async def conflicts(
    daemon: DaemonView, t: Translator, status: ConflictStatus | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    assert daemon.store is not None
    found = await daemon.store.conflicts(status=status, limit=limit)
    return [conflict_view(c, t) for c in found]


def void_url(channel: str, doc_id: str) -> str:
    """The page that confirms voiding a document."""
    return f"/stock/void?{urlencode({'channel': channel, 'doc': doc_id})}"


def document_view(doc: DocumentSummary, t: Translator) -> dict[str, Any]:
    """What the activity list says of a movement's document: its kind and what a person wrote."""
    meta = doc.meta
    origin = meta.get("origin", "")
    reason = meta.get("reason", "")
    voidable = doc.kind in VOIDABLE and not doc.cancelled
    return {
        "kind": doc.kind.value,
        "kind_label": label(t, DOCUMENT_KIND_LABELS, doc.kind.value),
        "reference": doc.reference,
        "cancelled": doc.cancelled,
        "origin": origin,
        "origin_label": label(t, ORIGIN_LABELS, origin) if origin else "",
        "reason": reason,
        "reason_label": label(t, REASON_LABELS, reason) if reason else "",
        "supplier": meta.get("supplier", ""),
        "delivery_note": meta.get("delivery_note", ""),
        "note": meta.get("note", ""),
        "edited_in": meta.get("edited_in", ""),
        "file": meta.get("file", ""),
        "voidable": voidable,
        "void_url": void_url(doc.channel, doc.doc_id) if voidable else "",
    }


def movement_view(m: Movement, t: Translator, doc: DocumentSummary | None = None) -> dict[str, Any]:
    return {
        "id": m.id,
        "sku": m.sku,
        "delta": m.delta,
        "reason": m.reason.value,
        "reason_label": label(t, REASON_LABELS, m.reason.value),
        "kit": m.kit,
        "kit_label": t.gettext("sold as part of %(kit)s", kit=m.kit) if m.kit else "",
        "channel": m.channel,
        "doc_id": m.doc_id,
        # Where it happened; unsaid in a ledger without locations (its one location).
        "location": "" if m.location == DEFAULT_LOCATION else m.location,
        "occurred_at": m.occurred_at,
        "recorded_at": m.recorded_at,
        "document": document_view(doc, t) if doc is not None else None,
    }


async def activity(
    daemon: DaemonView,
    t: Translator,
    *,
    channel: str | None = None,
    sku: str | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> list[dict[str, Any]]:
    assert daemon.store is not None
    found = await daemon.store.movements(sku=sku, channel=channel, after_id=after_id, limit=limit)
    docs = await daemon.store.document_summaries([(m.channel, m.doc_id) for m in found])
    views = [movement_view(m, t, docs.get((m.channel, m.doc_id))) for m in found]
    seen: set[tuple[str, str]] = set()
    for view in views:  # one Void button per document: on its newest row
        key = (view["channel"], view["doc_id"])
        view["first_of_document"] = key not in seen
        seen.add(key)
    return views


async def sku_search(daemon: DaemonView, query: str, limit: int = 30) -> list[dict[str, Any]]:
    assert daemon.store is not None
    found = await daemon.store.find_skus(query, limit) if query else []
    return [{"sku": m.sku, "name": m.name, "on_hand": m.on_hand} for m in found]


async def sku_view(daemon: DaemonView, t: Translator, sku: str) -> dict[str, Any] | None:
    assert daemon.store is not None
    detail = await daemon.store.sku_detail(sku)
    if detail is None:
        return None
    recent = await activity(daemon, t, sku=sku, limit=20)
    configured = [loc.name for loc in daemon.settings.locations]
    held = dict(detail.locations)
    return {
        "sku": detail.sku,
        "name": detail.name,
        "on_hand": detail.on_hand,
        # Per configured location (and any other holding stock), then units in transit.
        "locations": [
            {"name": name, "on_hand": held.get(name, 0), "transit_to": ""}
            for name in [*configured, *sorted(set(held) - set(configured))]
            if not is_transit(name) and (configured or held.get(name))
        ]
        + [
            {"name": name, "on_hand": qty, "transit_to": name[len(TRANSIT_PREFIX) :]}
            for name, qty in sorted(held.items())
            if is_transit(name)
        ]
        if configured
        else [],
        "channels": [
            {
                "channel": c.channel,
                "buffer": c.buffer,
                "wanted": c.wanted,
                "shown": c.shown,
                "source": c.source,
                "source_label": label(t, SOURCE_LABELS, c.source) if c.source else "",
                "updated_at": c.updated_at,
                "queued": c.queued,
            }
            for c in detail.channels
        ],
        "movements": recent,
    }


async def locations(daemon: DaemonView) -> list[dict[str, Any]]:
    """Per configured location: units on hand, SKUs in stock, SKUs below zero, units in transit
    to it (empty when no location is configured)."""
    if not daemon.settings.locations or daemon.store is None:
        return []
    rows = await daemon.store.location_stock()
    places = [LocationInfo(loc.name, loc.kind) for loc in daemon.settings.locations]
    summary: list[dict[str, Any]] = stock_per_location(places, rows).get("locations", [])
    return summary


async def unknown(daemon: DaemonView, limit: int = 200) -> dict[str, Any]:
    assert daemon.store is not None
    pending = await daemon.store.pending_lines()
    rejected = await daemon.store.rejections(limit)
    return {
        "unknown_skus": [
            {
                "identifier": p.identifier,
                "channel": p.channel,
                "documents": p.documents,
                "quantity": p.quantity,
            }
            for p in pending
        ],
        "rejected_rows": [
            {
                "id": r.id,
                "channel": r.channel,
                "source": r.source,
                "row": r.row,
                "column": r.column,
                "value": r.value,
                "reason": r.reason,
                "recorded_at": r.recorded_at,
            }
            for r in rejected
        ],
    }
