"""A PrestaShop emulator on a real socket, in-loop (async tests) or in a thread (prestapyt)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from syncd.config import parse_config
from syncd.connectors.emulation import Faults
from syncd.connectors.prestashop.connector import PrestaShopConnector
from syncd.connectors.prestashop.emulator import PrestaShopEmulator, create_app
from tests.servers import threaded_app

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ123456"


@dataclass
class Shop:
    emulator: PrestaShopEmulator
    faults: Faults
    url: str


def seed(emulator: PrestaShopEmulator) -> None:
    emulator.add_product(
        "SHIRT-BLUE",
        name="Blue shirt",
        combinations=[("SHIRT-BLUE-42", 3, "2000000000015"), ("SHIRT-BLUE-44", 1, "2000000000022")],
    )
    emulator.add_product("CAP", 5, name="Cap", ean13="2000000000039")
    emulator.add_product("MUG", 4, name="Mug", depends_on_stock=True)


async def start(version: str = "8.1.0") -> tuple[Shop, web.AppRunner]:
    emulator = PrestaShopEmulator(version=version)
    seed(emulator)
    faults = Faults()
    runner = web.AppRunner(
        create_app(emulator, api_key=KEY, faults=faults, seed=1), access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sockets: Any = getattr(site._server, "sockets", None)
    port = sockets[0].getsockname()[1]
    return Shop(emulator, faults, f"http://127.0.0.1:{port}"), runner


@pytest.fixture(params=["8.1.0", "8.2.0", "1.7.8.11"])
async def shop(request: pytest.FixtureRequest) -> AsyncIterator[Shop]:
    s, runner = await start(request.param)
    yield s
    await runner.cleanup()


@pytest.fixture
async def shop8() -> AsyncIterator[Shop]:
    s, runner = await start("8.1.0")
    yield s
    await runner.cleanup()


def connector_for(shop: Shop, **extra: Any) -> PrestaShopConnector:
    table = {
        "type": "prestashop",
        "url": shop.url,
        "api_key": KEY,
        "overlap_seconds": 0,
        "timeout_seconds": 2,
        **extra,
    }
    settings = parse_config({"channels": {"webshop": table}}, file="test.toml")
    return PrestaShopConnector("webshop", settings.channel("webshop").options)


@pytest.fixture
def threaded_shop() -> Iterator[Shop]:
    """The emulator served from its own thread and loop, for synchronous clients."""
    emulator = PrestaShopEmulator(version="1.7.8.11")
    seed(emulator)
    with threaded_app(create_app(emulator, api_key=KEY)) as url:
        yield Shop(emulator, Faults(), url)
