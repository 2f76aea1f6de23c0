"""`syncd run`: the daemon's loops (syncd.engine) put together with its web front (syncd.web):
the status page, the JSON API, /ws, /healthz, /metrics and the shops' webhooks, on one port."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from syncd.config import Settings
from syncd.connectors import connector_class
from syncd.connectors.base import Connector
from syncd.engine.channel import ChannelRunner
from syncd.engine.daemon import Daemon, HookGate
from syncd.settings import Secret
from syncd.web import create_app

WEBHOOK_HEADER = "X-Syncd-Secret"
WEBHOOK_MAX_BYTES = 64 * 1024
_NO_SECRET = secrets.token_bytes(32)  # what an unknown channel's webhook is compared with


class WebFront:
    """The web endpoints of one daemon, served on ``[web] host:port`` while it runs."""

    def __init__(
        self, daemon: Daemon, extra_routes: Sequence[Callable[[web.Application], None]] = ()
    ) -> None:
        self.daemon = daemon
        self.extra_routes = extra_routes
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        """The status page (syncd/web: pages, API, /ws, /healthz, /metrics) plus the webhooks."""
        app = create_app(self.daemon, client_max_size=WEBHOOK_MAX_BYTES)
        app.router.add_post("/hooks/{type}/{channel}", self._hook)
        for add in self.extra_routes:
            add(app)
        return app

    async def start(self) -> None:
        web_settings = self.daemon.settings.web
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, web_settings.host, web_settings.port)
        await site.start()
        sockets: Any = getattr(site._server, "sockets", None)
        self.daemon.web_port = int(sockets[0].getsockname()[1]) if sockets else web_settings.port

    async def _hook(self, request: web.Request) -> web.Response:
        return await webhook(self.daemon, request)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def webhook(daemon: Daemon, request: web.Request) -> web.Response:
    """A shop module says "something changed": pull soon. The body is not trusted.

    An unknown channel, a channel without a secret and a wrong secret get the same answer
    (no way to probe channel names), and are logged as one count per minute."""
    name = request.match_info["channel"]
    runner = daemon.runners.get(name)
    known = runner is not None and runner.settings.type == request.match_info["type"]
    secret = runner.settings.webhook_secret if runner is not None and known else None
    signing = _signing_type(request.match_info["type"])
    if signing is not None:  # every name of that type answered alike, known or not
        return await _signed_webhook(daemon, request, signing, runner if known else None, secret)
    # Header bytes that are not UTF-8 arrive as surrogate escapes: compare the raw bytes.
    given = request.headers.get(WEBHOOK_HEADER, "").encode("utf-8", "surrogateescape")
    # Compared even when there is nothing to compare with: the same work either way.
    expected = secret.reveal().encode() if secret is not None else _NO_SECRET
    if not hmac.compare_digest(given, expected) or secret is None or runner is None:
        daemon.refused_hooks.add("refused", source=request.remote)
        return web.json_response({"error": "unknown webhook or wrong secret"}, status=401)
    try:
        await request.read()  # bounded by client_max_size: larger bodies get 413
    except web.HTTPRequestEntityTooLarge:
        return web.json_response({"error": "body too large"}, status=413)
    return _pull_soon(daemon, name, runner)


def _signing_type(type_name: str) -> type[Connector[Any]] | None:
    """The connector class of a type whose shop signs its webhooks itself, else None."""
    try:
        cls = connector_class(type_name)
    except KeyError:
        return None
    return cls if cls.signs_webhooks else None


async def _signed_webhook(
    daemon: Daemon,
    request: web.Request,
    cls: type[Connector[Any]],
    runner: ChannelRunner | None,
    secret: Secret | None,
) -> web.Response:
    """A shop that signs its deliveries (WooCommerce): the connector checks the raw body's
    signature with the channel's webhook_secret; its creation ping is answered 200, no pull."""
    try:
        body = await request.read()  # bounded by client_max_size: larger bodies get 413
    except web.HTTPRequestEntityTooLarge:
        return web.json_response({"error": "body too large"}, status=413)
    headers = request.headers  # case-insensitive
    if cls.is_webhook_ping(headers, body):
        return web.json_response({"status": "pong"}, status=200)
    key = secret.reveal().encode() if secret is not None else _NO_SECRET
    # Checked even when there is nothing to check with: the same work either way.
    genuine = cls.verify_webhook(headers, body, key)
    if not genuine or secret is None or runner is None:
        daemon.refused_hooks.add("refused", source=request.remote)
        return web.json_response({"error": "unknown webhook or wrong secret"}, status=401)
    return _pull_soon(daemon, request.match_info["channel"], runner)


def _pull_soon(daemon: Daemon, name: str, runner: ChannelRunner) -> web.Response:
    gate = daemon.hook_gates.get(name)
    if gate is None or gate.min_seconds != runner.settings.webhook_min_seconds:
        gate = daemon.hook_gates[name] = HookGate(runner.settings.webhook_min_seconds)
    gate.nudge(runner.connector)
    daemon.events.publish("webhook_received", channel=name)
    return web.json_response({"status": "pull requested"}, status=202)


@dataclass
class ServedDaemon(Daemon):
    """A daemon with its web front when ``[web] enabled``: what `syncd run` and the demo start."""

    extra_routes: list[Callable[[web.Application], None]] = field(default_factory=list)
    web_front: WebFront | None = None

    def __post_init__(self) -> None:
        if self.settings.web.enabled:
            self.web_front = WebFront(self, self.extra_routes)
            self.frontends.append(self.web_front)

    def web_app(self) -> web.Application:
        return (self.web_front or WebFront(self, self.extra_routes)).app()


async def run_daemon(
    settings: Settings, *, ready: Callable[[Daemon], Awaitable[None]] | None = None
) -> int:
    """`syncd run`: start, wait for SIGTERM/SIGINT (SIGHUP reloads), stop; exit code."""
    daemon = ServedDaemon(settings)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(daemon.reload()))
    try:
        await daemon.start()
        if ready is not None:
            await ready(daemon)
        await stop_requested.wait()
    finally:
        await daemon.stop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    return 0
