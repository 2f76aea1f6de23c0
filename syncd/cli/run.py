"""`syncd run`: the daemon's loops (syncd.engine) put together with its web front (syncd.web):
the status page, the JSON API, /ws, /healthz, /metrics and the shops' webhooks, on one port."""

from __future__ import annotations

import asyncio
import errno
import hmac
import os
import secrets
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from syncd.config import Settings
from syncd.connectors import connector_class
from syncd.connectors.base import Connector, WebhookVerdict
from syncd.engine.channel import ChannelRunner
from syncd.engine.daemon import Daemon, HookGate
from syncd.exceptions import ConfigError
from syncd.web import create_app

WEBHOOK_HEADER = "X-Syncd-Secret"
WEBHOOK_MAX_BYTES = 64 * 1024
# A shop that signs its webhooks sends its own payload (a Shopify order with many lines is well
# over 64 KB): read up to this much to check its signature.
SIGNED_WEBHOOK_MAX_BYTES = 4 * 1024 * 1024
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
        try:
            await site.start()
        except OSError as err:
            await self._runner.cleanup()
            self._runner = None
            raise ConfigError(
                port_problem(err, web_settings.host, web_settings.port, self.daemon.settings.file)
            ) from err
        sockets: Any = getattr(site._server, "sockets", None)
        self.daemon.web_port = int(sockets[0].getsockname()[1]) if sockets else web_settings.port

    async def _hook(self, request: web.Request) -> web.Response:
        return await webhook(self.daemon, request)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def port_problem(err: OSError, host: str, port: int, config_file: str) -> str:
    """One line: why the status page cannot listen, the key to change, and a port free now."""
    if err.errno == errno.EADDRINUSE:
        why = "the port is already in use (another program, or another syncd)"
    elif err.errno == errno.EACCES:
        why = "only root may listen on a port below 1024"
    elif err.errno == errno.EADDRNOTAVAIL:
        return (
            f"the status page cannot listen on {host}:{port}: this machine has no address "
            f'{host}; set [web] host = "127.0.0.1" in {config_file}'
        )
    else:
        why = os.strerror(err.errno).lower() if err.errno else str(err)
    free = free_port_near(host, port)
    instead = f"port = {free} (free now)" if free else "another port"
    return (
        f"the status page cannot listen on {host}:{port}: {why}; set [web] {instead} in "
        f"{config_file}, or [web] enabled = false"
    )


def free_port_near(host: str, port: int) -> int | None:
    """The first port after ``port`` nobody listens on (of 50), or None."""
    for candidate in range(max(port, 1023) + 1, min(max(port, 1023) + 51, 65536)):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            try:
                probe.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return None


async def webhook(daemon: Daemon, request: web.Request) -> web.Response:
    """A shop module says "something changed": pull soon. The body is not trusted.

    An unknown channel, a channel without a secret and a wrong secret get the same answer
    (no way to probe channel names), and are logged as one count per minute."""
    name = request.match_info["channel"]
    runner = daemon.runners.get(name)
    known = runner is not None and runner.settings.type == request.match_info["type"]
    signing = _signing_type(request.match_info["type"])
    if signing is not None:  # every name of that type answered alike, known or not
        return await _signed_webhook(daemon, request, signing, runner if known else None)
    secret = runner.settings.webhook_secret if runner is not None and known else None
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
    return _pull_requested(daemon, name, runner)


def _pull_requested(daemon: Daemon, name: str, runner: ChannelRunner) -> web.Response:
    gate = daemon.hook_gates.get(name)
    if gate is None or gate.min_seconds != runner.settings.webhook_min_seconds:
        gate = daemon.hook_gates[name] = HookGate(runner.settings.webhook_min_seconds)
    gate.nudge(runner.connector)
    daemon.events.publish("webhook_received", channel=name)
    return web.json_response({"status": "pull requested"}, status=202)


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
) -> web.Response:
    """A shop that signs the raw body (Shopify, WooCommerce): read it (up to a size of its
    own), answer the shop's creation ping, then let the channel's connector judge it. An
    unknown name, a wrong signature and a channel without a secret get the same answer; a
    delivery already received (its id seen) is acknowledged without another pull."""
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > SIGNED_WEBHOOK_MAX_BYTES:
            return web.json_response({"error": "body too large"}, status=413)
    if cls.is_webhook_ping(request.headers, bytes(body)):
        return web.json_response({"status": "pong"}, status=200)
    secret = runner.settings.webhook_secret if runner is not None else None
    key = secret.reveal().encode() if secret is not None else _NO_SECRET
    verdict = WebhookVerdict.REFUSED
    if runner is not None:
        verdict = runner.connector.webhook_verdict(request.headers, bytes(body), key)
    if verdict is WebhookVerdict.REFUSED or secret is None or runner is None:
        daemon.refused_hooks.add("refused", source=request.remote)
        return web.json_response({"error": "unknown webhook or wrong secret"}, status=401)
    if verdict is WebhookVerdict.DUPLICATE:
        return web.json_response({"status": "already received"}, status=200)
    return _pull_requested(daemon, runner.name, runner)


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
