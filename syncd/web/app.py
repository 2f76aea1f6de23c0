"""The status page's aiohttp application, built by ``syncd.web.create_app(daemon)``.

Pages are rendered on the server (usable without JavaScript); a small script keeps them live over
``/ws``, which also serves `syncd tail`. Sessions, CSRF and the password live in :mod:`auth`; what
is shown is gathered by :mod:`data`; the pages and the JSON API are in :mod:`pages` and :mod:`api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import structlog
from aiohttp import WSMsgType, web, web_response
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST

from syncd.config import Settings, WebSettings
from syncd.domain import ConflictStatus, iso_utc, utcnow
from syncd.exceptions import ConfigError, LedgerError
from syncd.i18n import LANGUAGES, Translator, choose_language, environment
from syncd.ledger.leases import cluster_view
from syncd.logs import clean, register_secret
from syncd.tally import Tally
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
from syncd.web.hosts import HostPolicy, client_key
from syncd.web.metrics import Metrics
from syncd.web.throttle import Busy, LoginThrottle
from syncd.web.view import DaemonView

log = structlog.get_logger("syncd.web")

HERE = Path(__file__).parent
PUBLIC_PREFIXES = ("/static/", "/hooks/", "/lang/")
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
MACHINE_PREFIXES = ("/api/", "/ws", "/metrics")
LAG_SAMPLE_SECONDS = 15.0
SERVER_NAME = "syncd"  # the Server header: no software name and version for scanners

# Responses aiohttp writes by itself (a request it cannot parse) take this default too.
setattr(web_response, "SERVER_SOFTWARE", SERVER_NAME)  # noqa: B010 - not a public name

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class WebState:
    """Everything the handlers share; one per application."""

    daemon: DaemonView
    settings: WebSettings
    guard: Guard
    zone: ZoneInfo
    envs: dict[str, jinja2.Environment]  # one per language: templates say _() and ngettext()
    hosts: HostPolicy
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    refused: Tally = field(default_factory=lambda: Tally(log, "requests_refused"))
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


def base_app(
    daemon: DaemonView,
    *,
    settings: WebSettings | None = None,
    client_max_size: int = 64 * 1024,
    sample_seconds: float = LAG_SAMPLE_SECONDS,
) -> web.Application:
    """The application with `/ws`, `/healthz`, `/metrics` and the static files of a daemon; the
    pages and the JSON API are added by :func:`syncd.web.create_app`."""
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
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:  # OSError: "Europe" (tzdata)
        raise ConfigError(
            f"{daemon.settings.file}: [web] timezone = {web_settings.timezone!r} is not a known "
            'time zone: write one like "Europe/Paris"'
        ) from err
    loader = jinja2.FileSystemLoader(HERE / "templates")
    envs = {
        lang: environment(
            lang,
            loader,
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        for lang in LANGUAGES
    }
    state = WebState(
        daemon=daemon,
        settings=web_settings,
        guard=Guard(web_settings.password),
        zone=zone,
        envs=envs,
        hosts=HostPolicy(web_settings),
        metrics=Metrics(daemon.runners or [c.name for c in daemon.settings.channels if c.enabled]),
        sample_seconds=sample_seconds,
    )
    app = web.Application(
        client_max_size=client_max_size,
        middlewares=[security_headers, host_middleware, session_middleware, access_middleware],
    )
    app[STATE] = state
    app.on_response_prepare.append(_name_server)
    if settings is None:  # the daemon's own page: a new password file applies on SIGHUP
        daemon.reload_hooks.append(functools.partial(_reload, state))
    app.cleanup_ctx.append(_background)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/ws", live)
    app.router.add_static("/static", HERE / "static", name="static")
    return app


# -- middlewares ----------------------------------------------------------------------------------

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _reload(state: WebState, fresh: Settings) -> None:
    password = fresh.web.password
    if password is not None:
        register_secret(password.reveal())
    if state.guard.set_password(password):
        log.info("web_password_changed", sessions="revoked")


async def _name_server(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_NAME


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _harden(exc)
        raise
    except Exception:  # noqa: BLE001 - a crash answers a bare 500, hardened like the rest
        log.exception("web_request_failed", path=request.path, method=request.method)
        response = web.Response(text="500: internal error", status=500)
    if not response.prepared:
        _harden(response)
    return response


def _harden(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Only our own host names (DNS rebinding), and no cross-site WebSocket."""
    state = state_of(request)
    if not state.hosts.host_ok(request):
        state.refused.add("wrong_host", source=request.remote)
        return web.Response(text="421: this server does not answer to that host name", status=421)
    origin = request.headers.get("Origin")
    if request.path == "/ws" and origin is not None and not state.hosts.origin_ok(request, origin):
        state.refused.add("wrong_origin", source=request.remote)
        return web.Response(text="403: the live feed is not for another site", status=403)
    return await handler(request)


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
        secure=state.hosts.is_https(request),  # TLS here, or at a trusted proxy
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
    if state.guard.password_required and not public and not await authenticated(request):
        if path.startswith(MACHINE_PREFIXES):
            return web.json_response(
                {"error": "log in first (or send the password with HTTP Basic auth)"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="syncd", charset="UTF-8"'},
            )
        target = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPFound(f"/login?next={_quote(target)}")
    if request.method not in ("GET", "HEAD", "OPTIONS") and not await _csrf_ok(request):
        # The Origin helps: behind a proxy, a public name missing from allowed_hosts shows here.
        origin = request.headers.get("Origin", "")[:200]
        log.warning("csrf_refused", path=path, remote=request.remote, origin=origin)
        t = translator(request)
        refused = t.gettext(
            "This form expired or came from another site: reload the page and try again."
        )
        if path.startswith("/api/"):
            return web.json_response({"error": refused}, status=403)
        return web.Response(text=refused, status=403, content_type="text/plain")
    return await handler(request)


async def authenticated(request: web.Request) -> bool:
    """Logged in, or the right password in HTTP Basic (throttled like the login form; a
    client with too many attempts waiting gets 429)."""
    if session_of(request).logged_in:
        return True
    header = request.headers.get("Authorization", "")
    if not header:
        return False
    state = state_of(request)
    if state.guard.basic_known(header):
        return True  # this exact header passed before: a browser or scraper, not a guess
    try:
        return await state.throttle.check(
            client_of(request),
            functools.partial(state.guard.check_basic, header),
            via="basic",
            gone=functools.partial(hung_up, request),
        )
    except Busy as busy:
        raise web.HTTPTooManyRequests(
            text=str(busy), headers={"Retry-After": str(int(busy.retry_after))}
        ) from None


def hung_up(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def client_of(request: web.Request) -> str:
    """Who the login throttle counts this request against."""
    return client_key(state_of(request).hosts.client_address(request))


async def _csrf_ok(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is not None and not state_of(request).hosts.origin_ok(request, origin):
        return False  # another site ("null": a sandboxed or opaque one), even with a token
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
    return quote(path, safe="/")


def safe_next(value: str | None, default: str = "/") -> str:
    """A path on this site to go back to, rebuilt from its parts; anything that could lead a
    browser elsewhere gives ``default``. Browsers drop tabs and newlines, read ``\\`` as ``/``
    and take ``//host`` as another site, so none of these may appear, nor encoded (up to three
    times) as ``%09``, ``%5C``, ``%2F%2F``…, nor a scheme."""
    if not value or len(value) > 2048:
        return default
    seen = value
    for _ in range(4):
        if not _plain_path(seen):
            return default
        decoded = unquote(seen)
        if decoded == seen:
            break
        seen = decoded
    else:
        return default  # still encoded after four rounds: no page of ours is named like that
    try:
        parts = urlsplit(value)
    except ValueError:
        return default
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return default
    path = quote(parts.path, safe="/%-._~!$&'()*+,;=:@")
    query = quote(parts.query, safe="/%-._~!$&'()*+,;=:@?")
    return urlunsplit(("", "", path, query, ""))


def _plain_path(text: str) -> bool:
    return (
        text.startswith("/")
        and not text.startswith("//")
        and "\\" not in text
        and all(c.isprintable() for c in text)  # no control, no tab, newline, U+2028…
    )


# -- rendering ------------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
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
    html = (
        state.envs[t.lang]
        .get_template(template)
        .render(
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
    state.throttle.tally.flush()
    state.refused.flush()
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
    app[STATE].throttle.close()
    for ws in list(app[STATE].sockets):
        with contextlib.suppress(Exception):
            await ws.close(code=1001, message=b"syncd is stopping")


def public_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the page and `syncd tail` see it: error texts scrubbed."""
    out = dict(event)
    for key in ("error", "last_error", "reason"):
        if isinstance(out.get(key), str):
            out[key] = clean(out[key])
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


async def health_report(daemon: DaemonView) -> tuple[bool, dict[str, Any]]:
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
    # Which daemon runs each job, when several share the ledger (issue 20), and the standbys:
    # any of them tells.
    view = cluster_view(await daemon.store.leases(), now)
    jobs = [
        {**j, "since": iso_utc(j["since"]), "expires_at": iso_utc(j["expires_at"])}
        for j in view["jobs"]
    ]
    daemons = [
        {**d, "up_since": iso_utc(d["up_since"]), "since": d["since"] and iso_utc(d["since"])}
        for d in view["daemons"]
    ]
    body = {
        "healthy": healthy,
        "reasons": [clean(r) for r in reasons],
        "channels": channels,
        "jobs": jobs,
        "daemons": daemons,
    }
    return healthy, body


async def healthz(request: web.Request) -> web.Response:
    """The status code for probes; the reasons (error texts) only on loopback or with the
    password: a stranger on the network learns "healthy or not", nothing of the shops."""
    state = state_of(request)
    healthy, body = await health_report(state.daemon)
    status = 200 if healthy else 503
    if not await _may_see_details(request):
        return web.json_response({"healthy": healthy}, status=status)
    return web.json_response(body, status=status)


async def _may_see_details(request: web.Request) -> bool:
    state = state_of(request)
    if state.hosts.is_local(request):
        return True
    if not state.guard.password_required:
        return False  # reached from elsewhere through a proxy, with no password to ask
    try:
        return await authenticated(request)
    except web.HTTPTooManyRequests:
        return False


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
        cluster=cluster_view(await daemon.store.leases(), now),
    )
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
