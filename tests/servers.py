"""Emulators on real sockets for tests: in the test's loop, or in a thread of their own (for
synchronous clients such as prestapyt and pymagento)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from syncd.connectors.emulation import start_server


@contextmanager
def threaded_app(app: web.Application) -> Iterator[str]:
    """Serve ``app`` from its own thread and loop; yield its base URL."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop

        async def main() -> None:
            runner, holder["port"] = await start_server(app)
            holder["stop"] = asyncio.Event()
            ready.set()
            await holder["stop"].wait()
            await runner.cleanup()

        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "the emulator did not start"
    try:
        yield f"http://127.0.0.1:{holder['port']}"
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
