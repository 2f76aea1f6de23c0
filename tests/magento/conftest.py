"""A Magento emulator on a real socket, in-loop (async tests) or in a thread (pymagento)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from syncd.config import parse_config
from syncd.connectors.emulation import Faults, start_server
from syncd.connectors.magento.connector import MagentoConnector
from syncd.connectors.magento.emulator import MagentoEmulator, create_app
from tests.servers import threaded_app

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
    runner, port = await start_server(app)
    return Shop(emulator, app, faults, f"http://127.0.0.1:{port}"), runner


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
    with threaded_app(app) as url:
        yield Shop(emulator, app, Faults(), url)
