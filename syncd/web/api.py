"""The JSON API under `/api/`: everything the pages show, for scripts and integrators.

Bad parameters get a 400 naming the parameter and what it accepts; POSTs need the CSRF token in
the ``X-CSRF-Token`` header (the page's token, or one from ``GET /api/session``).
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from aiohttp import web

import syncd.web.data as data
import syncd.web.overview_charts as overview_charts
from syncd.domain import ConflictStatus, utcnow
from syncd.web.app import json_response, session_of, state_of, translator
from syncd.web.auth import CSRF_HEADER
from syncd.web.pages import ACTIONS, activity_filters

log = structlog.get_logger("syncd.web")

MAX_LIMIT = 500


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/session", session_info)
    app.router.add_get("/api/overview", overview)
    app.router.add_get("/api/charts", charts)
    app.router.add_get("/api/conflicts", conflicts)
    app.router.add_post(r"/api/conflicts/{id:\d+}/{action}", conflict_action)
    app.router.add_get("/api/activity", activity)
    app.router.add_get("/api/skus", skus)
    app.router.add_get("/api/skus/{sku}", sku)
    app.router.add_get("/api/unknown", unknown)


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(f"{name} must be a whole number between {low} and {high}") from None
    if not low <= value <= high:
        raise _bad(f"{name} must be between {low} and {high}")
    return value


async def session_info(request: web.Request) -> web.Response:
    """The CSRF token of this session, for API clients that POST."""
    state = state_of(request)
    session = session_of(request)
    return json_response(
        {
            "csrf_token": state.guard.csrf_token(session),
            "csrf_header": CSRF_HEADER,
            "language": translator(request).lang,
        }
    )


async def overview(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await data.overview(state.daemon, state.history, translator(request), utcnow())
    return json_response(body)


async def charts(request: web.Request) -> web.Response:
    state = state_of(request)
    found = await overview_charts.charts(state.daemon, state.history, translator(request), utcnow())
    body: dict[str, Any] = {k: v for k, v in found.items() if not k.endswith("_svg")}
    return json_response(body)


async def conflicts(request: web.Request) -> web.Response:
    state = state_of(request)
    raw = request.query.get("status", "")
    status: ConflictStatus | None = None
    if raw:
        try:
            status = ConflictStatus(raw)
        except ValueError:
            choices = ", ".join(s.value for s in ConflictStatus)
            raise _bad(f"status must be one of {choices}") from None
    limit = _int_param(request, "limit", 100, 1, MAX_LIMIT)
    found = await data.conflicts(state.daemon, translator(request), status, limit)
    return json_response({"conflicts": found})


async def conflict_action(request: web.Request) -> web.Response:
    state = state_of(request)
    conflict_id = int(request.match_info["id"])
    action = request.match_info["action"]
    status = ACTIONS.get(action)
    if status is None:
        return json_response(
            {"error": f"unknown action {action!r}: use {', '.join(ACTIONS)}"}, status=404
        )
    assert state.daemon.store is not None
    if not await state.daemon.store.set_conflict_status(conflict_id, status):
        return json_response({"error": f"no conflict {conflict_id}"}, status=404)
    log.info("conflict_status_set", conflict=conflict_id, status=status.value, via="api")
    state.daemon.events.publish("conflict_updated", conflict=conflict_id, status=status.value)
    return json_response({"id": conflict_id, "status": status.value})


async def activity(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        channel, sku = activity_filters(request)
    except web.HTTPBadRequest as err:
        raise _bad(err.text or "bad filter") from None
    after_id = _int_param(request, "after_id", 0, 0, 2**62)
    limit = _int_param(request, "limit", 50, 1, MAX_LIMIT)
    movements = await data.activity(
        state.daemon, translator(request), channel=channel, sku=sku, after_id=after_id, limit=limit
    )
    return json_response({"movements": movements})


async def skus(request: web.Request) -> web.Response:
    state = state_of(request)
    query = request.query.get("q", "").strip()
    if not query:
        raise _bad("q is required: part of a SKU or of a product name")
    limit = _int_param(request, "limit", 30, 1, MAX_LIMIT)
    return json_response({"skus": await data.sku_search(state.daemon, query, limit)})


async def sku(request: web.Request) -> web.Response:
    state = state_of(request)
    code = request.match_info["sku"]
    detail = await data.sku_view(state.daemon, translator(request), code)
    if detail is None:
        return json_response({"error": f"no SKU {code!r} in the ledger"}, status=404)
    return json_response(detail)


async def unknown(request: web.Request) -> web.Response:
    state = state_of(request)
    return json_response(await data.unknown(state.daemon))
