"""A Magento emulator on a real socket, in-loop (async tests) or in a thread (pymagento)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from syncd.config import parse_config
from syncd.connectors.emulation import Faults
from syncd.connectors.magento.connector import MagentoConnector
from syncd.connectors.magento.emulator import MagentoEmulator, create_app

TOKEN = "integration-token-0123456789abcdef"


@dataclass
class Shop:
    emulator: MagentoEmulator
    app: web.Application
    faults: Faults
    url: str


def seed(emulator: MagentoEmulator) -> None:
    emulator.add_product("SHIRT-BLUE-42", 3, name="Blue shirt 42", parent="SHIRT-BLUE")
    emulator.add_product("SHIRT-BLUE-44", 1, name="Blue shirt 44", parent="SHIRT-BLUE")
    emulator.add_product("CAP", 5, name="Cap")


async def start(msi: bool, **app_options: Any) -> tuple[Shop, web.AppRunner]:
    emulator = MagentoEmulator(msi=msi)
    seed(emulator)
    faults = Faults()
    app = create_app(emulator, password="s3cret-pass", faults=faults, seed=1, **app_options)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sockets: Any = getattr(site._server, "sockets", None)
    return Shop(emulator, app, faults, f"http://127.0.0.1:{sockets[0].getsockname()[1]}"), runner


@pytest.fixture(params=["msi", "legacy"])
async def shop(request: pytest.FixtureRequest) -> AsyncIterator[Shop]:
    s, runner = await start(request.param == "msi")
    yield s
    await runner.cleanup()


@pytest.fixture
async def msi_shop() -> AsyncIterator[Shop]:
    s, runner = await start(True, input_limit=True)
    yield s
    await runner.cleanup()


def connector_for(shop: Shop, **extra: Any) -> MagentoConnector:
    table = {
        "type": "magento",
        "url": shop.url,
        "username": "admin",
        "password": "s3cret-pass",
        "mode": "msi" if shop.emulator.msi else "legacy",
        "overlap_seconds": 0,
        "timeout_seconds": 2,
        **extra,
    }
    settings = parse_config({"channels": {"magento": table}}, file="test.toml")
    return MagentoConnector("magento", settings.channel("magento").options)


@pytest.fixture
def threaded_shop() -> Iterator[Shop]:
    emulator = MagentoEmulator()
    seed(emulator)
    app = create_app(emulator, password="s3cret-pass", integration_token=TOKEN)
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop

        async def main() -> None:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            sockets: Any = getattr(site._server, "sockets", None)
            holder["port"] = sockets[0].getsockname()[1]
            holder["stop"] = asyncio.Event()
            ready.set()
            await holder["stop"].wait()
            await runner.cleanup()

        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield Shop(emulator, app, Faults(), f"http://127.0.0.1:{holder['port']}")
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)
