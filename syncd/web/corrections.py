"""Adjusting and voiding from the status page (issue 16), and what every stock-in form shares:
its lock, the log event and the live-page event of a booking.

An adjustment form carries a one-time token that becomes the document's id, so sending it twice
books once; voiding asks for a confirmation on a page that shows what it undoes. Both are plain
POSTs behind the page's password and CSRF check, like the conflict buttons.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import weakref
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web

import syncd.web.scans as scans
from syncd.domain import ADJUSTMENT_REASONS, STOCK_CHANNEL, DocumentKind, stock_delta
from syncd.i18n import Translator
from syncd.ledger.planner import ApplyResult, ApplyStatus
from syncd.ledger.store import Store, StoredDocument
from syncd.stockin import booking
from syncd.stockin.booking import BookingError
from syncd.web.app import render, state_of, translator
from syncd.web.data import DOCUMENT_KIND_LABELS, ORIGIN_LABELS, REASON_LABELS, VOIDABLE, label

log = structlog.get_logger("syncd.web")

ORIGIN = "page"
_TOKEN = re.compile(r"[0-9a-f]{20}")


class Locks:
    """One lock per draft or form token: two scans sent at once both count, a double click on
    "Book" books once. Held only while someone waits on it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock


LOCKS = web.AppKey("syncd_stockin_locks", Locks)


def add_routes(app: web.Application) -> None:
    app[LOCKS] = Locks()
    app.router.add_get("/stock/adjust", adjust_page)
    app.router.add_post("/stock/adjust", adjust)
    app.router.add_get("/stock/void", void_page)
    app.router.add_post("/stock/void", void)


# -- shared by every stock-in form ----------------------------------------------------------------


def locations_of(request: web.Request) -> list[str]:
    """The configured locations, in order ([] without any: the page offers no choice)."""
    return [loc.name for loc in state_of(request).daemon.settings.locations]


def chosen_location(request: web.Request, value: object, t: Translator) -> tuple[str, str]:
    """(the location a form chose, '' for the first; an error message, '' when none)."""
    if not isinstance(value, str) or not value:
        return "", ""
    if value not in locations_of(request):
        return "", t.gettext("“%(value)s” is not a configured location.", value=value[:40])
    return value, ""


def store_of(request: web.Request) -> Store:
    store = state_of(request).daemon.store
    assert store is not None
    return store


def url(path: str, **query: str) -> str:
    params = {k: v for k, v in query.items() if v}
    return f"{path}?{urlencode(params)}" if params else path


def message(request: web.Request, text: str, status: int) -> web.Response:
    return render(request, "message.html", status=status, message=text)


def publish(request: web.Request, results: Sequence[ApplyResult]) -> None:
    """Tell the live page and `syncd tail` what a booking applied, as the channel loops do."""
    events = state_of(request).daemon.events
    for result in results:
        if result.movements or result.pending:
            events.publish(
                "document_applied",
                channel=result.channel,
                doc_id=result.doc_id,
                movements=result.movements,
                pending=list(result.pending),
            )


def booked_event(request: web.Request, done: booking.Booking) -> None:
    """The log line of a booking from the page, and its live event when it moved stock."""
    log.info(
        "stock_booked",
        kind=done.kind.value,
        doc_id=done.doc_id,
        origin=ORIGIN,
        lines=len(done.lines),
        movements=done.movements,
        status=done.status,
    )
    if done.status == "applied":
        result = ApplyResult(STOCK_CHANNEL, done.doc_id, ApplyStatus.APPLIED, done.movements)
        publish(request, [result])


# -- adjustment -----------------------------------------------------------------------------------


def _reasons(t: Translator) -> list[tuple[str, str]]:
    return [(r, label(t, REASON_LABELS, r)) for r in ADJUSTMENT_REASONS]


def _adjust_doc_id(token: str) -> str:
    return f"adjust:page:{token}"


async def adjust_page(request: web.Request) -> web.Response:
    """The adjustment form, with a one-time token (the document's id: sent twice, booked once);
    after booking, what was booked."""
    store = store_of(request)
    done = request.query.get("done", "")
    booked = None
    if _TOKEN.fullmatch(done):
        booked = await _adjustment_view(request, store, _adjust_doc_id(done))
    form = {"sku": scans.clean_code(request.query.get("sku", ""))}
    return _adjust_form(request, form=form, booked=booked, again=bool(request.query.get("again")))


def _adjust_form(
    request: web.Request,
    *,
    form: Mapping[str, str],
    status: int = 200,
    errors: Sequence[str] = (),
    booked: Mapping[str, Any] | None = None,
    again: bool = False,
) -> web.Response:
    t = translator(request)
    return render(
        request,
        "stock_adjust.html",
        status=status,
        token=form.get("token") or secrets.token_hex(10),
        form=form,
        reasons=_reasons(t),
        locations=locations_of(request),
        errors=errors,
        booked=booked,
        again=again,
    )


async def _adjustment_view(
    request: web.Request, store: Store, doc_id: str
) -> dict[str, Any] | None:
    stored = await store.stored_document(STOCK_CHANNEL, doc_id)
    if stored is None:
        return None
    t = translator(request)
    skus = [ln.sku for ln in stored.lines if ln.sku]
    levels = await store.levels(skus)
    reason = stored.meta.get("reason", "")
    return {
        "doc_id": doc_id,
        "cancelled": stored.cancelled,
        "reason_label": label(t, REASON_LABELS, reason),
        "note": stored.meta.get("note", ""),
        "lines": [
            {"sku": ln.sku, "delta": ln.wanted, "on_hand": levels.get(ln.sku or "", 0)}
            for ln in stored.lines
        ],
    }


async def adjust(request: web.Request) -> web.StreamResponse:
    t = translator(request)
    store = store_of(request)
    posted = await request.post()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    token = form.get("token", "")
    if not _TOKEN.fullmatch(token):
        return message(request, t.gettext("This form expired: open it again."), 400)
    doc_id = _adjust_doc_id(token)
    async with request.app[LOCKS](doc_id):
        if await store.stored_document(STOCK_CHANNEL, doc_id) is not None:
            raise web.HTTPSeeOther(url("/stock/adjust", done=token, again="1"))
        code = scans.clean_code(form.get("sku"))
        delta = scans.parse_quantity(form.get("delta"), signed=True)
        reason = form.get("reason", "")
        errors = []
        location, problem = chosen_location(request, form.get("location"), t)
        if problem:
            errors.append(problem)
        if not code:
            errors.append(t.gettext("Type or scan the product code."))
        elif code not in await store.resolve_identifiers([code]):
            errors.append(t.gettext("“%(code)s” is not a known product.", code=code))
        if delta is None or delta == 0:
            errors.append(
                t.gettext(
                    "The change is a whole number of units, like 3 or -2 (not 0, at most %(max)d).",
                    max=booking.MAX_QUANTITY,
                )
            )
        if reason not in ADJUSTMENT_REASONS:
            errors.append(t.gettext("Choose a reason."))
        if errors or delta is None:
            return _adjust_form(request, form=form, status=400, errors=errors)
        try:
            done = await booking.book_adjustment(
                store,
                code,
                delta,
                reason=reason,
                origin=ORIGIN,
                note=scans.clean_text(form.get("note")),
                doc_id=doc_id,
                location=location,
            )
        except BookingError as err:
            return _adjust_form(request, form=form, status=400, errors=[str(err)])
    booked_event(request, done)
    raise web.HTTPSeeOther(url("/stock/adjust", done=token))


# -- void -----------------------------------------------------------------------------------------


def _undo(stored: StoredDocument) -> dict[str, int]:
    """Per SKU, the change voiding the document makes."""
    out: dict[str, int] = {}
    for ln in stored.lines:
        if ln.sku is None or not ln.applied:
            continue
        if stored.kind is DocumentKind.STOCK_COUNT:
            change = -ln.applied  # a count line's applied is the change it made
        else:
            change = stock_delta(stored.kind, ln.applied, 0)
        out[ln.sku] = out.get(ln.sku, 0) + change
    return out


async def void_page(request: web.Request) -> web.Response:
    """What voiding a document would undo, and the button that does it (the confirmation)."""
    t = translator(request)
    store = store_of(request)
    channel = request.query.get("channel", "")
    doc_id = request.query.get("doc", "")
    stored = await store.stored_document(channel, doc_id) if channel and doc_id else None
    if stored is None:
        return message(
            request,
            t.gettext("There is no document %(doc)s on %(channel)s.", doc=doc_id, channel=channel),
            404,
        )
    undo = _undo(stored)
    levels = await store.levels(list(undo))
    names = await store.names_of(list(undo))
    meta = stored.meta
    return render(
        request,
        "stock_void.html",
        doc=stored,
        kind_label=label(t, DOCUMENT_KIND_LABELS, stored.kind.value),
        origin_label=label(t, ORIGIN_LABELS, meta["origin"]) if meta.get("origin") else "",
        reason_label=label(t, REASON_LABELS, meta["reason"]) if meta.get("reason") else "",
        voidable=stored.kind in VOIDABLE,
        rows=[
            {
                "sku": sku,
                "name": names.get(sku, ""),
                "change": change,
                "before": levels.get(sku, 0),
                "after": levels.get(sku, 0) + change,
            }
            for sku, change in sorted(undo.items())
        ],
        done=bool(request.query.get("done")),
    )


async def void(request: web.Request) -> web.StreamResponse:
    t = translator(request)
    store = store_of(request)
    form = await request.post()
    channel = form.get("channel")
    doc_id = form.get("doc")
    if not isinstance(channel, str) or not isinstance(doc_id, str) or not channel or not doc_id:
        raise web.HTTPBadRequest(text="channel and doc are required")
    async with request.app[LOCKS](f"void:{channel}:{doc_id}"):
        stored = await store.stored_document(channel, doc_id)
        if stored is None:
            return message(
                request,
                t.gettext(
                    "There is no document %(doc)s on %(channel)s.", doc=doc_id, channel=channel
                ),
                404,
            )
        if stored.kind not in VOIDABLE:
            return message(
                request,
                t.gettext(
                    "A web order cannot be voided here: cancel it in the shop, syncd follows."
                ),
                409,
            )
        try:
            results = await booking.void(
                store, channel, doc_id, origin=ORIGIN, note=scans.clean_text(form.get("note"))
            )
        except BookingError as err:
            return message(request, str(err), 409)
    log.info(
        "stock_voided",
        channel=channel,
        doc_id=doc_id,
        origin=ORIGIN,
        documents=len(results),
        movements=sum(r.movements for r in results),
    )
    publish(request, results)
    raise web.HTTPSeeOther(url("/stock/void", channel=channel, doc=doc_id, done="1"))
