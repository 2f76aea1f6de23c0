"""The HTML pages (server-rendered, usable without JavaScript) and the fragments the script
fetches to refresh a part of a page live."""

from __future__ import annotations

import functools
from typing import Any

import structlog
from aiohttp import web

import syncd.web.data as data
import syncd.web.overview_charts as overview_charts
from syncd.domain import STOCK_CHANNEL, ConflictStatus, utcnow
from syncd.i18n import LANGUAGES
from syncd.web.app import (
    client_of,
    hung_up,
    render,
    safe_next,
    session_of,
    start_session,
    state_of,
    translator,
)
from syncd.web.auth import LANG_COOKIE
from syncd.web.throttle import Busy

log = structlog.get_logger("syncd.web")

ACTIONS = {
    "acknowledge": ConflictStatus.ACKNOWLEDGED,
    "resolve": ConflictStatus.RESOLVED,
    "reopen": ConflictStatus.OPEN,
}
OVERVIEW_CONFLICTS = 6
OVERVIEW_MOVEMENTS = 12


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", overview_page)
    app.router.add_get("/conflicts", conflicts_page)
    app.router.add_post(r"/conflicts/{id:\d+}/{action}", conflict_action)
    app.router.add_get("/activity", activity_page)
    app.router.add_get("/skus", skus_page)
    app.router.add_get("/skus/{sku}", sku_page)
    app.router.add_get("/unknown", unknown_page)
    app.router.add_get("/partials/{name}", partial)
    app.router.add_get("/lang/{code}", set_language)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)


# -- filters shared by the activity page, its fragment and the API --------------------------------


def activity_filters(request: web.Request) -> tuple[str | None, str | None]:
    """The channel and SKU filters of a request; an unknown channel is a 400 naming the known."""
    channel = request.query.get("channel", "").strip() or None
    sku = request.query.get("sku", "").strip() or None
    known = filter_channels(request)
    if channel is not None and channel not in known:
        raise web.HTTPBadRequest(
            text=f"unknown channel {channel!r}; known channels: {', '.join(known)}"
        )
    return channel, sku


def filter_channels(request: web.Request) -> list[str]:
    """The channels the activity list filters on: the daemon's, and syncd's own stock documents
    (deliveries, counts, adjustments)."""
    return [*state_of(request).daemon.runners, STOCK_CHANNEL]


# -- pages ----------------------------------------------------------------------------------------


async def _overview_context(request: web.Request) -> dict[str, Any]:
    state = state_of(request)
    t = translator(request)
    now = utcnow()
    return {
        "overview": await data.overview(state.daemon, state.history, t, now),
        "charts": await overview_charts.charts(state.daemon, state.history, t, now),
        "conflicts": await data.conflicts(
            state.daemon, t, ConflictStatus.OPEN, limit=OVERVIEW_CONFLICTS
        ),
        "movements": await data.activity(state.daemon, t, limit=OVERVIEW_MOVEMENTS),
        "channels": list(state.daemon.runners),
        "filters": {"channel": None, "sku": None},
        "locations": await data.locations(state.daemon),
    }


async def overview_page(request: web.Request) -> web.Response:
    return render(request, "overview.html", **await _overview_context(request))


async def conflicts_page(request: web.Request) -> web.Response:
    state = state_of(request)
    t = translator(request)
    found = await data.conflicts(state.daemon, t, limit=200)
    return render(request, "conflicts.html", conflicts=found, message=request.query.get("done", ""))


async def conflict_action(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    t = translator(request)
    conflict_id = int(request.match_info["id"])
    action = request.match_info["action"]
    status = ACTIONS.get(action)
    if status is None:
        raise web.HTTPNotFound(text=f"unknown action {action!r}: use {', '.join(ACTIONS)}")
    assert state.daemon.store is not None
    changed = await state.daemon.store.set_conflict_status(conflict_id, status)
    if not changed:
        return render(
            request,
            "message.html",
            status=404,
            message=t.gettext("Conflict %(id)s does not exist.", id=conflict_id),
        )
    log.info("conflict_status_set", conflict=conflict_id, status=status.value, via="page")
    state.daemon.events.publish("conflict_updated", conflict=conflict_id, status=status.value)
    form = await request.post()
    target = form.get("next")
    raise web.HTTPSeeOther(safe_next(target if isinstance(target, str) else None, "/conflicts"))


async def activity_page(request: web.Request) -> web.Response:
    state = state_of(request)
    t = translator(request)
    channel, sku = activity_filters(request)
    movements = await data.activity(state.daemon, t, channel=channel, sku=sku, limit=100)
    return render(
        request,
        "activity.html",
        movements=movements,
        channels=filter_channels(request),
        filters={"channel": channel, "sku": sku},
    )


async def skus_page(request: web.Request) -> web.Response:
    state = state_of(request)
    query = request.query.get("q", "").strip()
    results = await data.sku_search(state.daemon, query)
    if len(results) == 1 and results[0]["sku"].lower() == query.lower():
        raise web.HTTPFound(f"/skus/{_path_quote(results[0]['sku'])}")
    return render(request, "skus.html", query=query, results=results, detail=None)


async def sku_page(request: web.Request) -> web.Response:
    state = state_of(request)
    t = translator(request)
    sku = request.match_info["sku"]
    detail = await data.sku_view(state.daemon, t, sku)
    if detail is None:
        return render(
            request, "skus.html", status=404, query=sku, results=[], detail=None, missing=sku
        )
    return render(request, "skus.html", query=sku, results=[], detail=detail)


async def unknown_page(request: web.Request) -> web.Response:
    state = state_of(request)
    return render(request, "unknown.html", **await data.unknown(state.daemon))


# -- live fragments -------------------------------------------------------------------------------


async def partial(request: web.Request) -> web.Response:
    """A part of a page, re-rendered for the live script (same templates as the full page)."""
    name = request.match_info["name"]
    state = state_of(request)
    t = translator(request)
    now = utcnow()
    context: dict[str, Any]
    if name == "overview":
        context = {"overview": await data.overview(state.daemon, state.history, t, now)}
    elif name == "conflicts":
        found = await data.conflicts(state.daemon, t, ConflictStatus.OPEN, OVERVIEW_CONFLICTS)
        context = {"conflicts": found}
    elif name == "charts":
        context = {"charts": await overview_charts.charts(state.daemon, state.history, t, now)}
    elif name == "activity":
        channel, sku = activity_filters(request)
        compact = bool(request.query.get("compact"))
        limit = OVERVIEW_MOVEMENTS if compact else 100
        found = await data.activity(state.daemon, t, channel=channel, sku=sku, limit=limit)
        context = {"movements": found, "compact": compact}
    else:
        raise web.HTTPNotFound(
            text=f"no fragment {name!r}: overview, conflicts, charts or activity"
        )
    return render(request, f"_{name}.html", **context)


# -- language, login ------------------------------------------------------------------------------


async def set_language(request: web.Request) -> web.StreamResponse:
    code = request.match_info["code"]
    if code not in LANGUAGES:
        raise web.HTTPNotFound(text=f"no language {code!r}: {', '.join(LANGUAGES)}")
    response = web.HTTPSeeOther(safe_next(request.query.get("next")))
    response.set_cookie(
        LANG_COOKIE, code, max_age=365 * 86400, samesite="Lax", path="/", httponly=True
    )
    raise response


async def login_page(request: web.Request) -> web.Response:
    state = state_of(request)
    if not state.guard.password_required or session_of(request).logged_in:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return render(
        request, "login.html", next=safe_next(request.query.get("next")), wrong=False, busy=False
    )


async def login(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    form = await request.post()
    password = form.get("password", "")
    target = form.get("next")
    next_path = safe_next(target if isinstance(target, str) else None)
    if not state.guard.password_required:
        raise web.HTTPSeeOther(next_path)
    given = password if isinstance(password, str) else ""
    client = client_of(request)
    try:
        # Waits this client's turn first (see syncd/web/throttle.py); failures are logged
        # there, counted per minute, never with what was tried.
        ok = await state.throttle.check(
            client,
            functools.partial(state.guard.check_password, given),
            via="form",
            gone=functools.partial(hung_up, request),
        )
    except Busy as busy:
        page = render(request, "login.html", status=429, next=next_path, wrong=False, busy=True)
        page.headers["Retry-After"] = str(int(busy.retry_after))
        return page
    if not ok:
        return render(request, "login.html", status=401, next=next_path, wrong=True, busy=False)
    # A new session id on login: a session planted before it (fixation) is worth nothing.
    start_session(request, state.guard.new_session(logged_in=True))
    log.info("login_succeeded", remote=client)
    raise web.HTTPSeeOther(next_path)


async def logout(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    state.guard.revoke(session_of(request))  # the old cookie, wherever a copy is, is void
    start_session(request, state.guard.new_session())
    raise web.HTTPSeeOther("/login" if state.guard.password_required else "/")


def _path_quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
