"""The "To reorder" and "Today" pages, their CSV export and JSON (`/api/reorder`, `/api/today`):
the same lists as `syncd reorder` and `syncd day`, with times in the shop's time zone."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web

from syncd.domain import utcnow
from syncd.i18n import N_, Translator
from syncd.ledger.reports import DayDocument
from syncd.stockin.endofday import DayReport, day_report, parse_day, shop_day
from syncd.stockin.reorder import Suggestion
from syncd.stockin.reorderlist import ReorderList, decimal, reorder_csv, reorder_list, source_label
from syncd.web.app import json_response, render, state_of, translator
from syncd.web.data import KIND_LABELS, STATUS_LABELS, label

# Why stock moved, for the adjustments of the day (the reasons of `syncd adjust`).
ADJUSTMENT_REASONS = {
    "breakage": N_("Breakage"),
    "theft": N_("Theft"),
    "gift": N_("Gift"),
    "supplier_return": N_("Returned to the supplier"),
    "correction": N_("Correction"),
    "hand_edit": N_("Edited in a back office"),
    "manual": N_("Manual correction"),
}
# The same words as the alert mails for the documents a void undoes.
DOCUMENT_KINDS = {
    "till_receipt": N_("till receipt"),
    "web_order": N_("web order"),
    "goods_receipt": N_("goods receipt"),
    "stock_count": N_("stock count"),
    "manual": N_("manual correction"),
    "adjustment": N_("adjustment"),
}
ORIGINS = {
    "page": N_("status page"),
    "file": N_("file"),
    "folder": N_("drop folder"),
    "command": N_("command line"),
    "channel_edit": N_("back-office edit"),
    "init": N_("onboarding"),
}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/reorder", reorder_page)
    app.router.add_get("/reorder.csv", reorder_export)
    app.router.add_get("/today", today_page)
    app.router.add_get("/api/reorder", reorder_api)
    app.router.add_get("/api/today", today_api)


# -- to reorder -----------------------------------------------------------------------------------


async def _reorder(request: web.Request) -> ReorderList:
    daemon = state_of(request).daemon
    assert daemon.store is not None
    return await reorder_list(daemon.store, daemon.settings.stock)


def _everything(request: web.Request) -> bool:
    return request.query.get("all", "") in ("1", "true", "yes")


def _line(s: Suggestion, t: Translator) -> dict[str, Any]:
    return {
        "sku": s.sku,
        "name": s.name,
        "on_hand": s.on_hand,
        "point": s.point,
        "point_source": source_label(t, s.point_source),
        "suggested_point": s.point_source == "suggested",
        "rate": decimal(s.rate_per_day, t),
        "cover": decimal(s.cover, t) if s.cover is not None else "",
        "quantity": s.quantity,
        "quantity_source": source_label(t, s.quantity_source),
        "quantity_suggested": s.quantity_source == "suggested",
        "to_reorder": s.to_reorder,
        "low": s.on_hand <= 0,
    }


async def reorder_page(request: web.Request) -> web.Response:
    t = translator(request)
    found = await _reorder(request)
    everything = _everything(request)
    return render(
        request,
        "reports/reorder.html",
        found=found,
        everything=everything,
        lines=[_line(s, t) for s in found.shown(everything)],
        count=len(found.to_reorder),
    )


async def reorder_export(request: web.Request) -> web.Response:
    """The list as a CSV file a French Excel opens as is (``;``, UTF-8 with a BOM)."""
    t = translator(request)
    found = await _reorder(request)
    everything = _everything(request)
    stamp = found.generated_at.astimezone(state_of(request).zone).strftime("%Y-%m-%d")
    slug = t.gettext("to-reorder")  # a file name: no space, no accent
    name = f"{slug}-{stamp}.csv"
    return web.Response(
        body=reorder_csv(found.shown(everything), t).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def reorder_api(request: web.Request) -> web.Response:
    found = await _reorder(request)
    return json_response(found.as_json(everything=_everything(request)))


# -- today ----------------------------------------------------------------------------------------


async def _day(request: web.Request) -> DayReport:
    state = state_of(request)
    assert state.daemon.store is not None
    raw = request.query.get("date", "").strip()
    if raw:
        try:
            day = parse_day(raw)
        except ValueError as err:
            raise web.HTTPBadRequest(text=f"date: {err}") from None
    else:
        day = shop_day(utcnow(), state.zone)
    return await day_report(state.daemon.store, day, state.zone)


def _document(d: DayDocument, report: DayReport, t: Translator) -> dict[str, Any]:
    reason = "manual" if d.kind.value == "manual" else d.meta.get("reason", "correction")
    return {
        "doc_id": d.doc_id,
        "channel": d.channel,
        "time": t.time(d.occurred_at),
        "reference": d.reference,
        "supplier": d.meta.get("supplier", ""),
        "delivery_note": d.meta.get("delivery_note", ""),
        "note": d.meta.get("note", ""),
        "origin": label(t, ORIGINS, d.meta.get("origin", "")),
        "reason": label(t, ADJUSTMENT_REASONS, reason),
        "edited_in": d.meta.get("edited_in", ""),
        "voided": d.cancelled,
        "lines": [
            {
                "sku": ln.sku or ln.line_key,
                "name": report.name(ln.sku),
                "quantity": ln.wanted,
                "difference": ln.applied,
            }
            for ln in d.lines
        ],
        "differences": sum(1 for ln in d.lines if ln.applied),
    }


def _day_context(report: DayReport, t: Translator, today: date) -> dict[str, Any]:
    return {
        "report": report,
        "date": report.day.isoformat(),
        "is_today": report.day == today,
        "previous": (report.day - timedelta(days=1)).isoformat(),
        "next": (report.day + timedelta(days=1)).isoformat() if report.day < today else "",
        "hours": round(report.hours),
        "total": report.sales_total,
        "deliveries": [_document(d, report, t) for d in report.deliveries],
        "counts": [_document(d, report, t) for d in report.counts],
        "adjustments": [_document(d, report, t) for d in report.adjustments],
        "voids": [
            {
                "channel": v.channel,
                "doc_id": v.doc_id,
                "reference": v.reference or v.doc_id,
                "kind": label(t, DOCUMENT_KINDS, v.kind.value),
                "time": t.time(v.voided_at),
                "by": label(t, ORIGINS, v.meta.get("voided_by", "")),
                "note": v.meta.get("void_note", ""),
                "given_back": sorted(v.deltas.items()),
            }
            for v in report.voids
        ],
        "conflicts": [
            {
                "id": c.id,
                "kind": label(t, KIND_LABELS, c.kind.value),
                "status": label(t, STATUS_LABELS, c.status.value),
                "sku": c.sku,
                "name": report.name(c.sku),
                "channel": c.channel,
                "shortfall": c.shortfall,
                "time": t.time(c.created_at),
            }
            for c in report.conflicts
        ],
        "zeros": report.out_of_stock,
    }


async def today_page(request: web.Request) -> web.Response:
    t = translator(request)
    report = await _day(request)
    today = shop_day(utcnow(), state_of(request).zone)
    return render(request, "reports/today.html", **_day_context(report, t, today))


async def today_api(request: web.Request) -> web.Response:
    return json_response((await _day(request)).as_json())
