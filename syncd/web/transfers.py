"""The status page's transfer form (issue 17): send units from one location to another, and book
their arrival. A plain POST behind the page's password and CSRF check, like the adjustment form;
booking is :mod:`syncd.stockin.booking`'s, as for `syncd transfer`. The form's token is the
transfer's id, so a form sent twice books once."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from aiohttp import web

import syncd.web.scans as scans
from syncd.ledger.locations import Transfer
from syncd.stockin import booking
from syncd.stockin.booking import BookingError, Line
from syncd.web.app import render, translator
from syncd.web.corrections import (
    _TOKEN,
    LOCKS,
    ORIGIN,
    booked_event,
    chosen_location,
    locations_of,
    message,
    store_of,
    url,
)

log = structlog.get_logger("syncd.web")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/stock/transfer", transfer_page)
    app.router.add_post("/stock/transfer", send)
    app.router.add_post("/stock/transfer/receive", receive)


def _doc_id(token: str) -> str:
    return f"transfer:page:{token}"


async def _form(
    request: web.Request,
    *,
    form: Mapping[str, str],
    status: int = 200,
    errors: Sequence[str] = (),
    done: str = "",
) -> web.Response:
    store = store_of(request)
    transfers = await store.transfers(open_only=True, limit=50)
    names = await store.names_of(sorted({s for t in transfers for s in t.sent}))
    return render(
        request,
        "stock_transfer.html",
        status=status,
        token=form.get("token") or secrets.token_hex(10),
        form=form,
        locations=locations_of(request),
        errors=errors,
        done=done,
        transfers=[_transfer_view(t, names) for t in transfers],
    )


def _transfer_view(transfer: Transfer, names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "doc_id": transfer.doc_id,
        "source": transfer.source,
        "destination": transfer.destination,
        "sent_at": transfer.sent_at,
        "lines": [
            {
                "sku": sku,
                "name": names.get(sku, ""),
                "sent": transfer.sent.get(sku, 0),
                "received": transfer.received.get(sku, 0),
                "in_transit": qty,
            }
            for sku, qty in transfer.in_transit.items()
        ],
    }


async def transfer_page(request: web.Request) -> web.Response:
    if len(locations_of(request)) < 2:
        t = translator(request)
        return message(
            request, t.gettext("Transfers need two locations in the configuration."), 404
        )
    return await _form(request, form={}, done=request.query.get("done", ""))


async def send(request: web.Request) -> web.StreamResponse:
    t = translator(request)
    posted = await request.post()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    token = form.get("token", "")
    if not _TOKEN.fullmatch(token):
        return message(request, t.gettext("This form expired: open it again."), 400)
    errors = []
    source, problem = chosen_location(request, form.get("source"), t)
    destination, other = chosen_location(request, form.get("destination"), t)
    errors += [p for p in (problem, other) if p]
    if not problem and not other and (not source or not destination or source == destination):
        errors.append(t.gettext("Choose two different locations."))
    code = scans.clean_code(form.get("sku"))
    quantity = scans.parse_quantity(form.get("quantity"))
    if not code:
        errors.append(t.gettext("Type or scan the product code."))
    if not quantity:
        errors.append(
            t.gettext(
                "The quantity is a whole number of units, from 1 to %(max)d.",
                max=booking.MAX_QUANTITY,
            )
        )
    if errors or not quantity:
        return await _form(request, form=form, status=400, errors=errors)
    doc_id = _doc_id(token)
    async with request.app[LOCKS](doc_id):
        try:
            done = await booking.book_transfer(
                store_of(request),
                [Line(code, quantity, "form")],
                source=source,
                destination=destination,
                origin=ORIGIN,
                doc_id=doc_id,
                note=scans.clean_text(form.get("note")),
            )
        except BookingError as err:
            return await _form(request, form=form, status=400, errors=[str(err)])
    booked_event(request, done)
    raise web.HTTPSeeOther(url("/stock/transfer", done=doc_id))


async def receive(request: web.Request) -> web.StreamResponse:
    """Every unit of a transfer still in transit arrived (booked once, however often sent)."""
    posted = await request.post()
    doc_id = posted.get("transfer")
    if not isinstance(doc_id, str) or not doc_id:
        raise web.HTTPBadRequest(text="which transfer?")
    async with request.app[LOCKS](doc_id):
        try:
            done = await booking.receive_transfer(store_of(request), doc_id, origin=ORIGIN)
        except BookingError as err:
            return await _form(request, form={}, status=400, errors=[str(err)])
    booked_event(request, done)
    raise web.HTTPSeeOther(url("/stock/transfer", done=done.doc_id))
