"""The status page's delivery and count forms (issue 16), driven by a USB barcode scanner.

A scanner types a code and Enter: each scan adds one unit of that code; the merchant may set
quantities, check a preview (a delivery) or the differences (a count), then book. Every form is a
plain POST behind the page's password and CSRF check (``access_middleware`` in
:mod:`syncd.web.app`, as for the conflict buttons), so all of it works without JavaScript;
``static/stockin.js`` only keeps the scan field focused and sends scans without reloading. The
lines live in a ledger draft, so a reload or a restart loses nothing, and are booked under an id
derived from the draft's: a form sent twice books once. Booking itself is
:mod:`syncd.stockin.booking`'s, as for the commands and the drop folders; adjusting and voiding
are in :mod:`syncd.web.corrections`.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from aiohttp import web

import syncd.web.corrections as corrections
import syncd.web.scans as scans
import syncd.web.transfers as transfers
from syncd.domain import STOCK_CHANNEL, utcnow
from syncd.i18n import Translator
from syncd.ledger.stockreads import MAX_PREFIX_SKUS
from syncd.ledger.store import Draft, Store
from syncd.stockin import booking
from syncd.stockin.booking import BookingError, Line
from syncd.web.app import render, translator
from syncd.web.corrections import (
    LOCKS,
    ORIGIN,
    booked_event,
    chosen_location,
    locations_of,
    store_of,
    url,
)
from syncd.web.data import void_url

log = structlog.get_logger("syncd.web")

_DRAFT_ID = "{id:[0-9a-f]{16}}"
OUTCOMES = ("added", "unknown", "outside", "full", "unreadable")


@dataclass(frozen=True, slots=True)
class Flow:
    """A delivery or a count: the same scanning, a different booking."""

    path: str  # receive | count
    kind: str  # the draft's kind
    prefix: str  # of the document id: receipt:page:<draft> | count:page:<draft>
    template: str
    check_template: str  # the preview (delivery) or the review (count)


RECEIVE = Flow("receive", "goods_receipt", "receipt", "stock_receive.html", "stock_preview.html")
COUNT = Flow("count", "stock_count", "count", "stock_count.html", "stock_review.html")
FLOWS = {f.path: f for f in (RECEIVE, COUNT)}


def add_routes(app: web.Application) -> None:
    corrections.add_routes(app)
    transfers.add_routes(app)
    flow = "/stock/{flow:receive|count}"
    draft = f"{flow}/{_DRAFT_ID}"
    app.router.add_get(flow, index_page)
    app.router.add_post("/stock/receive/scan", first_scan)
    app.router.add_post("/stock/count/start", start_count)
    app.router.add_get(draft, draft_page)
    app.router.add_post(f"{draft}/scan", scan)
    app.router.add_post(f"{draft}/save", save)
    app.router.add_get(f"{draft}/check", check_page)
    app.router.add_post(f"{draft}/book", book)
    app.router.add_post(f"{draft}/discard", discard)


# -- helpers --------------------------------------------------------------------------------------


def _flow(request: web.Request) -> Flow:
    return FLOWS[request.match_info["flow"]]


def _draft_url(flow: Flow, draft_id: str, suffix: str = "", **query: str) -> str:
    return url(f"/stock/{flow.path}/{draft_id}{suffix}", **query)


async def _load(request: web.Request, flow: Flow) -> Draft:
    """The draft of the URL, or a 404 page naming it."""
    draft_id = request.match_info["id"]
    draft = await store_of(request).draft(draft_id)
    if draft is None or draft.kind != flow.kind:
        t = translator(request)
        raise web.HTTPNotFound(
            text=t.gettext("There is no draft %(id)s: it may have been discarded.", id=draft_id)
        )
    return draft


def _not_open(flow: Flow, draft: Draft) -> web.HTTPException:
    """A scan, an edit or a booking on a draft already booked or discarded: back to its page,
    which says so (a second click on "Book" lands here and books nothing)."""
    return web.HTTPSeeOther(_draft_url(flow, draft.id))


def _page(flow: Flow, **context: Any) -> dict[str, Any]:
    """Everything a delivery or count page names, with what this page sets."""
    defaults: dict[str, Any] = {
        "flow": flow.path,
        "draft": None,
        "drafts": [],
        "lines": [],
        "total": 0,
        "problems": [],
        "last": "",
        "outcome": "",
        "last_line": None,
        "scan_action": "",
        "scan_id": secrets.token_hex(8),
        "scope": scans.Scope(),
        "stored": None,
        "void_url": "",
        "discarded": "",
        "scope_error": "",
        "form": {},
        "locations": [],
    }
    return {**defaults, **context}


# -- the lines of a draft, as the page shows them -------------------------------------------------


async def _line_views(store: Store, draft: Draft) -> list[dict[str, Any]]:
    """Each line with its SKU and product name, or why it cannot be booked."""
    known = await store.resolve_identifiers([code for code, _q, _at in draft.lines])
    names = await store.names_of(list(known.values()))
    scope = scans.Scope.from_meta(draft.meta) if draft.kind == COUNT.kind else scans.Scope()
    views = []
    for code, qty, at in draft.lines:
        sku = known.get(code)
        if sku is None:
            status = "unknown"
        else:
            status = "ok" if scope.covers(sku) else "outside"
        views.append(
            {
                "code": code,
                "sku": sku or "",
                "name": names.get(sku, "") if sku else "",
                "quantity": qty,
                "at": at,
                "status": status,
            }
        )
    return views


def _problems(
    t: Translator, lines: Sequence[Mapping[str, Any]], *, to_book: bool = True
) -> list[str]:
    """Why a draft cannot be booked as it is (unknown codes stay until the merchant removes them:
    nothing is dropped behind their back)."""
    out = []
    unknown = [ln["code"] for ln in lines if ln["status"] == "unknown"]
    if unknown:
        out.append(
            t.ngettext(
                "%(num)d code is not a known product (%(codes)s): remove it, or add it to "
                "[aliases] in the configuration, before booking.",
                "%(num)d codes are not known products (%(codes)s): remove them, or add them to "
                "[aliases] in the configuration, before booking.",
                len(unknown),
                codes=", ".join(unknown[:5]),
            )
        )
    outside = [ln["code"] for ln in lines if ln["status"] == "outside"]
    if outside:
        out.append(
            t.gettext(
                "Not part of this count: %(codes)s. Remove these lines.",
                codes=", ".join(outside[:5]),
            )
        )
    if not lines and to_book:  # while scanning, the empty list says so itself
        out.append(t.gettext("Nothing scanned yet."))
    return out


async def _draft_context(request: web.Request, flow: Flow, draft: Draft) -> dict[str, Any]:
    store = store_of(request)
    lines = await _line_views(store, draft)
    last = scans.clean_code(request.query.get("last", ""))
    outcome = request.query.get("outcome", "")
    last_line = next((ln for ln in lines if ln["code"] == last), None)
    context = _page(
        flow,
        draft=draft,
        lines=lines,
        total=sum(ln["quantity"] for ln in lines),
        problems=(
            _problems(translator(request), lines, to_book=False) if draft.state == "open" else []
        ),
        last=last,
        outcome=outcome if outcome in OUTCOMES else "",
        last_line=last_line,
        scan_action=_draft_url(flow, draft.id, "/scan"),
        scope=scans.Scope.from_meta(draft.meta),
        locations=locations_of(request),
    )
    if draft.doc_id:
        context["stored"] = await store.stored_document(STOCK_CHANNEL, draft.doc_id)
        context["void_url"] = void_url(STOCK_CHANNEL, draft.doc_id)
    return context


# -- index, first scan, start of a count ----------------------------------------------------------


async def index_page(request: web.Request) -> web.Response:
    flow = _flow(request)
    store = store_of(request)
    drafts = await store.drafts(state="open", kind=flow.kind)
    outcome = request.query.get("outcome", "")
    context = _page(
        flow,
        drafts=drafts,
        scan_action="/stock/receive/scan",
        discarded=request.query.get("discarded", ""),
        outcome=outcome if outcome in OUTCOMES else "",
    )
    return render(request, flow.template, **context)


def _new_draft(flow: Flow, meta: Mapping[str, str] | None = None) -> Draft:
    return Draft(id=secrets.token_hex(8), kind=flow.kind, meta=dict(meta or {}))


async def first_scan(request: web.Request) -> web.StreamResponse:
    """The first scan of a new delivery: the page is ready to scan at once, no "start" click."""
    form = await request.post()
    code = scans.clean_code(form.get("code"))
    if not code:
        raise web.HTTPSeeOther(url("/stock/receive", outcome="unreadable"))
    scan_id = scans.clean_code(form.get("scan_id"))
    draft = _new_draft(RECEIVE, {"last_scan": scan_id} if scan_id else {})
    draft = dataclasses.replace(draft, lines=scans.add_scan((), code, utcnow()))
    await store_of(request).save_draft(draft)
    log.info("stock_draft_started", kind=draft.kind, draft=draft.id)
    known = await store_of(request).resolve_identifiers([code])
    outcome = "added" if code in known else "unknown"
    raise web.HTTPSeeOther(_draft_url(RECEIVE, draft.id, last=code, outcome=outcome))


async def start_count(request: web.Request) -> web.StreamResponse:
    """A count session, for everything scanned, a SKU prefix, or a list of SKUs."""
    t = translator(request)
    store = store_of(request)
    form = await request.post()
    kind = form.get("scope")
    prefix = scans.clean_code(form.get("prefix"))
    raw_list = form.get("skus")
    listed = raw_list if isinstance(raw_list, str) else ""
    error = ""
    scope = scans.Scope()
    if kind == "prefix":
        if not prefix:
            error = t.gettext("Type the start of the product codes to count, e.g. SHIRT-.")
        else:
            scope = scans.Scope("prefix", prefix=prefix)
    elif kind == "skus":
        codes = scans.split_codes(listed)
        known = await store.resolve_identifiers(codes)
        unknown = [c for c in codes if c not in known]
        if not codes:
            error = t.gettext("Type the product codes to count, one a line.")
        elif unknown:
            error = t.gettext(
                "Not a known product: %(codes)s. Check these codes.",
                codes=", ".join(unknown[:10]),
            )
        elif len(codes) > scans.MAX_SCOPE_SKUS:
            error = t.gettext(
                "At most %(num)d products in one count: split the list.",
                num=scans.MAX_SCOPE_SKUS,
            )
        else:
            skus = list(dict.fromkeys(known[c] for c in codes))
            scope = scans.Scope("skus", skus=tuple(skus))
    if error:
        drafts = await store.drafts(state="open", kind=COUNT.kind)
        form_back = {"scope": str(kind), "prefix": prefix, "skus": listed}
        context = _page(COUNT, drafts=drafts, scope_error=error, form=form_back)
        return render(request, COUNT.template, status=400, **context)
    draft = _new_draft(COUNT, scope.as_meta())
    await store.save_draft(draft)
    log.info("stock_draft_started", kind=draft.kind, draft=draft.id, scope=scope.kind)
    raise web.HTTPSeeOther(_draft_url(COUNT, draft.id))


# -- a draft: scan, edit, discard -----------------------------------------------------------------


async def draft_page(request: web.Request) -> web.Response:
    flow = _flow(request)
    draft = await _load(request, flow)
    return render(request, flow.template, **await _draft_context(request, flow, draft))


async def scan(request: web.Request) -> web.StreamResponse:
    """One scan: one more unit of the code (its line remembers when it was first scanned).

    ``scan_id`` (new on every page and, with the script, every scan) makes a scan sent again
    (a retry after a dropped connection, a resubmitted form) count once."""
    flow = _flow(request)
    store = store_of(request)
    form = await request.post()
    code = scans.clean_code(form.get("code"))
    draft_id = request.match_info["id"]
    if not code:
        raise web.HTTPSeeOther(_draft_url(flow, draft_id, outcome="unreadable"))
    known = await store.resolve_identifiers([code])
    sku = known.get(code)
    async with request.app[LOCKS](draft_id):
        draft = await _load(request, flow)
        if draft.state != "open":
            raise _not_open(flow, draft)
        scope = scans.Scope.from_meta(draft.meta) if flow is COUNT else scans.Scope()
        scan_id = scans.clean_code(form.get("scan_id"))
        if sku is not None and not scope.covers(sku):
            outcome = "outside"  # not part of this count: not added
        elif scan_id and draft.meta.get("last_scan") == scan_id:
            outcome = "added" if sku is not None else "unknown"  # sent again: counted once
        else:
            try:
                lines = scans.add_scan(draft.lines, code, utcnow())
            except scans.LineError:
                outcome = "full"
            else:
                meta = {**draft.meta, "last_scan": scan_id} if scan_id else draft.meta
                await store.save_draft(dataclasses.replace(draft, lines=lines, meta=meta))
                outcome = "added" if sku is not None else "unknown"
    raise web.HTTPSeeOther(_draft_url(flow, draft_id, last=code, outcome=outcome))


async def save(request: web.Request) -> web.StreamResponse:
    """The quantities (and for a delivery its supplier and note number) as the merchant set
    them; all or nothing: one bad quantity saves nothing and says which."""
    flow = _flow(request)
    t = translator(request)
    store = store_of(request)
    form = await request.post()
    codes = [c for c in form.getall("code", []) if isinstance(c, str)]
    raw = [q for q in form.getall("qty", []) if isinstance(q, str)]
    if len(codes) != len(raw):
        raise web.HTTPBadRequest(text="every quantity needs its code")
    quantities: dict[str, int] = {}
    errors = []
    for n, (code, text) in enumerate(zip(codes, raw, strict=True), start=1):
        qty = scans.parse_quantity(text)
        if qty is None:
            errors.append(
                t.gettext(
                    "Line %(row)d (%(code)s): “%(value)s” is not a quantity (a whole number "
                    "from 0 to %(max)d).",
                    row=n,
                    code=code,
                    value=text[:20],
                    max=booking.MAX_QUANTITY,
                )
            )
        else:
            quantities[code] = qty
    location, problem = chosen_location(request, form.get("location"), t)
    if problem:
        errors.append(problem)
    remove = form.get("remove")
    then = form.get("then")
    async with request.app[LOCKS](request.match_info["id"]):
        draft = await _load(request, flow)
        if draft.state != "open":
            raise _not_open(flow, draft)
        if errors:
            context = await _draft_context(request, flow, draft)
            context["problems"] = errors + context["problems"]
            return render(request, flow.template, status=400, **context)
        meta = dict(draft.meta)
        if "location" in form:
            meta["location"] = location
        if flow is RECEIVE:
            for field in ("supplier", "delivery_note"):
                if field in form:
                    meta[field] = scans.clean_text(form.get(field))
        lines = scans.set_quantities(
            draft.lines,
            quantities,
            remove=remove if isinstance(remove, str) else "",
            drop_zero=flow is RECEIVE,
        )
        await store.save_draft(dataclasses.replace(draft, lines=lines, meta=meta))
    if then == "check" and not remove:
        raise web.HTTPSeeOther(_draft_url(flow, draft.id, "/check"))
    raise web.HTTPSeeOther(_draft_url(flow, draft.id, outcome="saved"))


async def discard(request: web.Request) -> web.StreamResponse:
    flow = _flow(request)
    async with request.app[LOCKS](request.match_info["id"]):
        draft = await _load(request, flow)
        if draft.state != "open":
            raise _not_open(flow, draft)
        await store_of(request).save_draft(dataclasses.replace(draft, state="discarded"))
    log.info("stock_draft_discarded", kind=draft.kind, draft=draft.id, lines=len(draft.lines))
    raise web.HTTPSeeOther(url(f"/stock/{flow.path}", discarded=draft.id))


# -- preview (delivery) and review (count), then booking ------------------------------------------


def _lines_for_booking(draft: Draft) -> list[Line]:
    return [
        Line(code, qty, f"line {n}", at) for n, (code, qty, at) in enumerate(draft.lines, start=1)
    ]


async def _zero_skus(store: Store, draft: Draft) -> list[str]:
    """The SKUs of a count's scope: those not scanned are counted as 0."""
    scope = scans.Scope.from_meta(draft.meta)
    if scope.kind == "prefix":
        found = await store.skus_with_prefix(scope.prefix, MAX_PREFIX_SKUS + 1)
        if len(found) > MAX_PREFIX_SKUS:
            raise BookingError(f"the prefix {scope.prefix!r} names more than {MAX_PREFIX_SKUS}")
        return found
    if scope.kind == "skus":
        return list(scope.skus)
    return []


async def _book(store: Store, flow: Flow, draft: Draft, *, dry_run: bool) -> booking.Booking:
    """Book the draft (or, ``dry_run``, say what booking it would do) under its own id."""
    lines = _lines_for_booking(draft)
    if flow is RECEIVE:
        return await booking.book_receipt(
            store,
            lines,
            origin=ORIGIN,
            doc_id=_doc_id(flow, draft),
            supplier=draft.meta.get("supplier", ""),
            delivery_note=draft.meta.get("delivery_note", ""),
            dry_run=dry_run,
            location=draft.meta.get("location", ""),
        )
    return await booking.book_count(
        store,
        lines,
        origin=ORIGIN,
        doc_id=_doc_id(flow, draft),
        zero=await _zero_skus(store, draft),
        dry_run=dry_run,
        location=draft.meta.get("location", ""),
    )


def _doc_id(flow: Flow, draft: Draft) -> str:
    return f"{flow.prefix}:page:{draft.id}"


async def _check_context(request: web.Request, flow: Flow, draft: Draft) -> dict[str, Any]:
    """What booking would do, line by line: on hand now → after (and, for a count, what was on
    hand when each product was counted)."""
    t = translator(request)
    store = store_of(request)
    lines = await _line_views(store, draft)
    problems = _problems(t, lines)
    rows: list[dict[str, Any]] = []
    if not problems:
        try:
            planned = await _book(store, flow, draft, dry_run=True)
        except BookingError as err:
            problems.append(str(err))
        else:
            rows = await _rows(store, flow, draft, lines, planned)
    return {
        "flow": flow.path,
        "draft": draft,
        "rows": rows,
        "problems": problems,
        "digest": scans.digest(draft.lines, draft.meta),
        "changed": bool(request.query.get("changed")),
        "scope": scans.Scope.from_meta(draft.meta),
    }


async def _rows(
    store: Store,
    flow: Flow,
    draft: Draft,
    lines: Sequence[Mapping[str, Any]],
    planned: booking.Booking,
) -> list[dict[str, Any]]:
    names = await store.names_of(list(planned.lines))
    first_at: dict[str, datetime | None] = {}
    for ln in lines:
        first_at.setdefault(ln["sku"], ln["at"])
    basis: dict[str, int] = {}
    if flow is COUNT:
        moments = {at for sku, at in first_at.items() if at is not None and sku in planned.lines}
        for moment in sorted(moments):
            skus = [s for s, at in first_at.items() if at == moment]
            basis.update(await store.on_hand_at(skus, moment, draft.meta.get("location", "")))
    rows = []
    for sku in sorted(planned.lines, key=lambda s: (s not in first_at, s)):
        now = planned.before.get(sku, 0)
        rows.append(
            {
                "sku": sku,
                "name": names.get(sku, ""),
                "quantity": planned.lines[sku],
                "before": now,
                "after": planned.after.get(sku, now),
                "counted_at": first_at.get(sku),
                "basis": basis.get(sku),
                "scanned": sku in first_at,
            }
        )
    return rows


async def check_page(request: web.Request) -> web.Response:
    flow = _flow(request)
    draft = await _load(request, flow)
    if draft.state != "open":
        raise _not_open(flow, draft)
    return render(request, flow.check_template, **await _check_context(request, flow, draft))


async def book(request: web.Request) -> web.StreamResponse:
    """Book the draft as the preview showed it, once: a second click, the back button or a
    resubmitted form find it booked and book nothing."""
    flow = _flow(request)
    store = store_of(request)
    form = await request.post()
    shown = form.get("digest")
    async with request.app[LOCKS](request.match_info["id"]):
        draft = await _load(request, flow)
        if draft.state != "open":
            raise _not_open(flow, draft)
        if shown != scans.digest(draft.lines, draft.meta):
            raise web.HTTPSeeOther(_draft_url(flow, draft.id, "/check", changed="1"))
        problems = _problems(translator(request), await _line_views(store, draft))
        try:
            if problems:
                raise BookingError("; ".join(problems))
            done = await _book(store, flow, draft, dry_run=False)
        except BookingError as err:
            context = await _check_context(request, flow, draft)
            context["problems"] = context["problems"] or [str(err)]
            return render(request, flow.check_template, status=409, **context)
        await store.save_draft(dataclasses.replace(draft, state="booked", doc_id=done.doc_id))
    booked_event(request, done)
    raise web.HTTPSeeOther(_draft_url(flow, draft.id, outcome="booked"))
