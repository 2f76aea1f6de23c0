"""Fault knobs shared by the shop emulators: added latency, error rates, stalls, 429/503.

Tests, the demo and the benchmarks set them through ``POST /__emulator/faults`` (JSON) or at
construction; the middleware applies them to every request except the admin API.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware


@dataclass(slots=True)
class Faults:
    latency_ms: float = 0.0  # added before every answer
    error_rate: float = 0.0  # share of requests answered with error_status
    error_status: int = 500  # 500 or 503
    stall_rate: float = 0.0  # share of requests that hang for stall_seconds first
    stall_seconds: float = 30.0
    rate_limit_rate: float = 0.0  # share of requests answered 429 with Retry-After
    retry_after: int = 1
    down: bool = False  # every request answered 503 (maintenance)

    def update(self, values: dict[str, object]) -> None:
        names = {f.name: f.type for f in fields(self)}
        for key, value in values.items():
            if key not in names:
                raise ValueError(f"unknown fault knob {key!r}; known: {', '.join(names)}")
            current = getattr(self, key)
            setattr(self, key, type(current)(value))


FAULTS_KEY = web.AppKey("faults", Faults)
ADMIN_PREFIX = "/__emulator/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_middleware(seed: int | None = None) -> Middleware:
    rng = random.Random(seed)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        faults = request.app[FAULTS_KEY]
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.down:
            return web.Response(status=503, text="Service Unavailable")
        if faults.stall_rate and rng.random() < faults.stall_rate:
            await asyncio.sleep(faults.stall_seconds)
        if faults.rate_limit_rate and rng.random() < faults.rate_limit_rate:
            return web.Response(
                status=429,
                text="Too Many Requests",
                headers={"Retry-After": str(faults.retry_after)},
            )
        if faults.error_rate and rng.random() < faults.error_rate:
            return web.Response(status=faults.error_status, text="Internal Server Error")
        return await handler(request)

    return middleware


async def _faults_handler(request: web.Request) -> web.Response:
    faults = request.app[FAULTS_KEY]
    if request.method == "POST":
        try:
            faults.update(await request.json())
        except (ValueError, TypeError) as err:
            return web.json_response({"error": str(err)}, status=400)
    return web.json_response(asdict(faults))


def install_faults(
    app: web.Application, faults: Faults | None = None, seed: int | None = None
) -> None:
    """Add the fault middleware and the ``/__emulator/faults`` admin route to an emulator app."""
    app[FAULTS_KEY] = faults or Faults()
    app.middlewares.append(fault_middleware(seed))
    app.router.add_route("*", ADMIN_PREFIX + "faults", _faults_handler)


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One product of the shared demo catalogue (same SKUs in every emulator and the till)."""

    sku: str
    name: str
    ean13: str
    quantity: int
    parent: str  # products sharing a parent are combinations (sizes) of one product


def _ean13(number: int) -> str:
    digits = f"200{number:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


_COLOURS = ("blue", "red", "black", "white", "green")
_SIZES = ("38", "40", "42", "44")


def demo_catalog(count: int, seed: int = 7) -> list[CatalogItem]:
    """A deterministic catalogue: shirts in colours and sizes (one SKU per size), 0–12 units each."""
    rng = random.Random(seed)
    items: list[CatalogItem] = []
    for i in range(count):
        model, size = divmod(i, len(_SIZES))
        colour = _COLOURS[model % len(_COLOURS)]
        parent = f"SHIRT-{model:04d}"
        items.append(
            CatalogItem(
                sku=f"{parent}-{_SIZES[size]}",
                name=f"Shirt {model} {colour}, size {_SIZES[size]}",
                ean13=_ean13(i + 1),
                quantity=rng.randint(0, 12),
                parent=parent,
            )
        )
    return items


async def start_server(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Serve an app; return its runner and the port it is bound to (port 0: any free one)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets: Any = getattr(site._server, "sockets", None)
    return runner, int(sockets[0].getsockname()[1]) if sockets else port


def serve_forever(app: web.Application, host: str, port: int, info: dict[str, Any]) -> None:
    """`syncd emulator …`: serve until Ctrl-C; first print one JSON line with the URL and `info`
    (credentials of the emulated shop) for scripts and tests to read."""

    async def serve() -> None:
        runner, bound = await start_server(app, host, port)
        print(json.dumps({"url": f"http://{host}:{bound}", **info}), flush=True)  # noqa: T201
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


class RecordsWrites(Protocol):
    """An emulator that can report the stock writes it received (for benchmarks)."""

    write_log: list[tuple[float, str, int]]
    on_write: Callable[[str, int], None] | None


def add_write_log(app: web.Application, key: web.AppKey[Any]) -> None:
    """``/__emulator/writes``: POST starts recording (and forgets what was recorded), any
    method answers the stock writes clients made, with the wall-clock time they arrived."""

    async def writes(request: web.Request) -> web.Response:
        emulator: RecordsWrites = request.app[key]
        if request.method == "POST":
            emulator.write_log.clear()
            log = emulator.write_log
            emulator.on_write = lambda sku, qty: log.append((time.time(), sku, qty))
        return web.json_response(emulator.write_log)

    app.router.add_route("*", "/__emulator/writes", writes)
