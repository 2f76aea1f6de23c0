"""The status page's aiohttp application, built by ``create_app(daemon)``.

Pages are rendered on the server (usable without JavaScript); a small script keeps them live over
``/ws``, which also serves `syncd tail`. Sessions, CSRF and the password live in :mod:`auth`; what
is shown is gathered by :mod:`data`; the pages and the JSON API are in :mod:`pages` and :mod:`api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import structlog
from aiohttp import WSMsgType, web
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST

from syncd.config import WebSettings
from syncd.domain import ConflictStatus, utcnow
from syncd.engine.daemon import Daemon
from syncd.exceptions import ConfigError, LedgerError
from syncd.logs import register_secret
from syncd.web import data
from syncd.web.auth import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    LANG_COOKIE,
    SESSION_SECONDS,
    Guard,
    Session,
    is_loopback,
)
from syncd.web.history import History
from syncd.web.i18n import LANGUAGES, Translator, choose_language
from syncd.web.metrics import Metrics

log = structlog.get_logger("syncd.web")

HERE = Path(__file__).parent
PUBLIC_PREFIXES = ("/static/", "/hooks/", "/lang/")
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
MACHINE_PREFIXES = ("/api/", "/ws", "/metrics")
LAG_SAMPLE_SECONDS = 15.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class WebState:
    """Everything the handlers share; one per application."""

    daemon: Daemon
    settings: WebSettings
    guard: Guard
    zone: ZoneInfo
    env: jinja2.Environment
    history: History = field(default_factory=History)
    metrics: Metrics = field(default_factory=lambda: Metrics(()))
    sample_seconds: float = LAG_SAMPLE_SECONDS
    sockets: weakref.WeakSet[web.WebSocketResponse] = field(default_factory=weakref.WeakSet)


STATE = web.AppKey("syncd_web", WebState)
SESSION = web.RequestKey("syncd_session", Session)
SESSION_CHANGED = web.RequestKey("syncd_session_changed", bool)
TRANSLATOR = web.RequestKey("syncd_translator", Translator)


def state_of(request: web.Request) -> WebState:
    return request.app[STATE]


def start_session(request: web.Request, session: Session) -> None:
    """Replace the visitor's session (login, logout); the cookie is sent with the response."""
    request[SESSION] = session
    request[SESSION_CHANGED] = True


def translator(request: web.Request) -> Translator:
    return request[TRANSLATOR]


def session_of(request: web.Request) -> Session:
    return request[SESSION]


# -- factory ------------------------------------------------------------------------------------


def create_app(
    daemon: Daemon,
    *,
    settings: WebSettings | None = None,
    client_max_size: int = 64 * 1024,
    sample_seconds: float = LAG_SAMPLE_SECONDS,
) -> web.Application:
    """The status page, JSON API, `/ws`, `/healthz` and `/metrics` of a daemon."""
    from syncd.web import api, pages

    web_settings = settings or daemon.settings.web
    if not is_loopback(web_settings.host) and web_settings.password is None:
        raise ConfigError(
            f"{daemon.settings.file}: [web] host = {web_settings.host!r} exposes the status page "
            'beyond this machine without a password: set password_file, or host = "127.0.0.1"'
        )
    if web_settings.password is not None:
        register_secret(web_settings.password.reveal())  # scrubbed from errors shown and logged
    try:
        zone = ZoneInfo(web_settings.timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(
            f"{daemon.settings.file}: [web] timezone = {web_settings.timezone!r} is not a known "
            'time zone: write one like "Europe/Paris"'
        ) from err
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    state = WebState(
        daemon=daemon,
        settings=web_settings,
        guard=Guard(web_settings.password),
        zone=zone,
        env=env,
        metrics=Metrics(daemon.runners or [c.name for c in daemon.settings.channels if c.enabled]),
        sample_seconds=sample_seconds,
    )
    app = web.Application(
        client_max_size=client_max_size,
        middlewares=[security_headers, session_middleware, access_middleware],
    )
    app[STATE] = state
    app.cleanup_ctx.append(_background)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/ws", live)
    app.router.add_static("/static", HERE / "static", name="static")
    pages.add_routes(app)
    api.add_routes(app)
    return app


# -- middlewares ----------------------------------------------------------------------------------

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _harden(exc)
        raise
    if not response.prepared:
        _harden(response)
    return response


def _harden(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load (or start) the visitor's session and pick the page language."""
    state = state_of(request)
    if request.path.startswith("/hooks/"):
        return await handler(request)
    session = state.guard.load(request.cookies.get(COOKIE))
    issued = session is None
    if session is None:
        session = state.guard.new_session()
    request[SESSION] = session
    lang = choose_language(
        state.settings.language,
        request.headers.get("Accept-Language"),
        request.cookies.get(LANG_COOKIE),
    )
    request[TRANSLATOR] = Translator(lang, state.zone)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if issued or request.get(SESSION_CHANGED):
            _set_session_cookie(request, exc)
        raise
    if (issued or request.get(SESSION_CHANGED)) and not response.prepared:
        _set_session_cookie(request, response)
    return response


def _set_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    state = state_of(request)
    response.set_cookie(
        COOKIE,
        state.guard.dump(session_of(request)),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        path="/",
    )


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The password (when one is configured) and CSRF on every state-changing request."""
    path = request.path
    if path.startswith("/hooks/"):
        return await handler(request)  # webhooks carry their own secret
    state = state_of(request)
    public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
    if state.guard.password_required and not public and not _authenticated(request):
        if path.startswith(MACHINE_PREFIXES):
            return web.json_response(
                {"error": "log in first (or send the password with HTTP Basic auth)"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="syncd", charset="UTF-8"'},
            )
        target = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPFound(f"/login?next={_quote(target)}")
    if request.method not in ("GET", "HEAD", "OPTIONS") and not await _csrf_ok(request):
        log.warning("csrf_refused", path=path, remote=request.remote)
        t = translator(request)
        if path.startswith("/api/"):
            return web.json_response({"error": t("csrf_refused")}, status=403)
        return web.Response(text=t("csrf_refused"), status=403, content_type="text/plain")
    return await handler(request)


def _authenticated(request: web.Request) -> bool:
    if session_of(request).logged_in:
        return True
    header = request.headers.get("Authorization", "")
    return bool(header) and state_of(request).guard.check_basic(header)


async def _csrf_ok(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.split("://", 1)[-1] != request.host:
        return False
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get(CSRF_FIELD, "")
        given = value if isinstance(value, str) else ""
    return state_of(request).guard.check_csrf(session_of(request), given)


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def safe_next(value: str | None, default: str = "/") -> str:
    """Only local paths: never redirect a merchant to another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


# -- rendering ------------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, ConflictStatus):
        return value.value
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.json_response(
        body, status=status, dumps=lambda obj: json.dumps(obj, default=to_json)
    )


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    state = state_of(request)
    t = translator(request)
    session = session_of(request)
    html = state.env.get_template(template).render(
        t=t,
        lang=t.lang,
        languages=LANGUAGES,
        now=utcnow(),
        path=request.path,
        path_qs=request.path_qs,
        csrf=state.guard.csrf_token(session),
        csrf_field=CSRF_FIELD,
        logged_in=session.logged_in,
        password_required=state.guard.password_required,
        **context,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


# -- live feed, history sampler -------------------------------------------------------------------


async def _background(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    queue = state.daemon.events.subscribe()
    tasks = [
        asyncio.create_task(_keep(_consume(state, queue), "web_events"), name="web:events"),
        asyncio.create_task(_keep(_sample(state), "web_sampler"), name="web:sampler"),
    ]
    yield
    state.daemon.events.unsubscribe(queue)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _keep(factory: Awaitable[None], name: str) -> None:
    """Run a background loop; a crash is logged loudly (the page would silently go stale)."""
    try:
        await factory
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - reported, the page keeps serving without it
        log.exception("web_loop_crashed", loop=name)


async def _consume(state: WebState, queue: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        event = await queue.get()
        state.metrics.observe(event)
        if event.get("event") == "stock_pushed":
            seconds = event.get("queued_seconds")
            if isinstance(seconds, int | float):
                state.history.record_latency(str(event.get("channel")), float(seconds), utcnow())


async def _sample(state: WebState) -> None:
    while True:
        store = state.daemon.store
        if store is not None:
            try:
                stats = await store.outbox_stats()
            except LedgerError as err:
                log.warning("lag_not_sampled", error=str(err))
            else:
                now = utcnow()
                for name in state.daemon.runners:
                    s = stats.get(name)
                    state.history.record_lag(name, s.lag_seconds(now) if s else 0.0, now)
        await asyncio.sleep(state.sample_seconds)


async def _close_sockets(app: web.Application) -> None:
    for ws in list(app[STATE].sockets):
        with contextlib.suppress(Exception):
            await ws.close(code=1001, message=b"syncd is stopping")


def public_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the page and `syncd tail` see it: error texts scrubbed."""
    out = dict(event)
    for key in ("error", "last_error", "reason"):
        if isinstance(out.get(key), str):
            out[key] = data.clean(out[key])
    return out


async def live(request: web.Request) -> web.WebSocketResponse:
    """`/ws`: the daemon's events as JSON, one message each, as they happen."""
    state = state_of(request)
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    state.sockets.add(ws)
    queue = state.daemon.events.subscribe()
    reader = asyncio.create_task(_drain(ws), name="web:ws-reader")
    try:
        await ws.send_json(
            {"event": "hello", "at": utcnow().isoformat(), "channels": list(state.daemon.runners)}
        )
        while not ws.closed:
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            await ws.send_json(public_event(getter.result()))
    except (ConnectionResetError, RuntimeError):
        pass  # the client went away while we were writing
    finally:
        state.daemon.events.unsubscribe(queue)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        state.sockets.discard(ws)
    return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, so pings and the close are handled."""
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break


# -- /healthz and /metrics ------------------------------------------------------------------------


async def health_report(daemon: Daemon) -> tuple[bool, dict[str, Any]]:
    """Healthy when every loop is alive and every channel's lag is under its threshold."""
    healthy, reasons = daemon.health()
    assert daemon.store is not None
    stats = await daemon.store.outbox_stats()
    now = utcnow()
    channels = {}
    for name, runner in daemon.runners.items():
        lag = stats[name].lag_seconds(now) if name in stats else 0.0
        threshold = runner.settings.max_lag_seconds
        channels[name] = {
            "state": runner.status.state.value,
            "lag_seconds": round(lag, 1),
            "max_lag_seconds": threshold,
        }
        if lag > threshold:
            healthy = False
            reasons.append(f"channel {name} lags {lag:.0f} s (threshold {threshold:.0f} s)")
    body = {"healthy": healthy, "reasons": [data.clean(r) for r in reasons], "channels": channels}
    return healthy, body


async def healthz(request: web.Request) -> web.Response:
    healthy, body = await health_report(state_of(request).daemon)
    return web.json_response(body, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    state = state_of(request)
    daemon = state.daemon
    assert daemon.store is not None
    now = utcnow()
    stats = await daemon.store.outbox_stats()
    exposure = await daemon.store.oversell_exposure()
    open_conflicts = len(await daemon.store.conflicts(status=ConflictStatus.OPEN, limit=10_000))
    body = state.metrics.render(
        stats=stats,
        lags={name: s.lag_seconds(now) for name, s in stats.items()},
        exposure=exposure,
        states={name: r.status.state.value for name, r in daemon.runners.items()},
        open_conflicts=open_conflicts,
    )
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
