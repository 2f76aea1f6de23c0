"""A Shopify emulator on a real socket, in-loop (async tests) or in a thread (ShopifyAPI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from syncd.config import parse_config
from syncd.connectors.emulation import Faults, start_server
from syncd.connectors.shopify.connector import ShopifyConnector
from syncd.connectors.shopify.emulator import ShopifyEmulator, create_app
from tests.servers import threaded_app

TOKEN = "shpat_0123456789abcdef0123456789abcdef"
SECRET = "app-client-secret-for-tests"
LOCATION = "gid://shopify/Location/1"
GRAPHQL = "/admin/api/2026-10/graphql.json"


@dataclass
class Shop:
    emulator: ShopifyEmulator
    app: web.Application
    faults: Faults
    url: str


def seed(emulator: ShopifyEmulator) -> None:
    state = emulator.state
    state.add_variant("SHIRT-44", 1, barcode="2000000000015", title="Blue shirt 44")
    state.add_variant("CAP", 5, barcode="2000000000022", title="Cap")
    state.add_variant("", 4, barcode="3760000000017", title="Mug without SKU")
    state.add_variant("GIFT-CARD", 0, title="Gift card", tracked=False)


async def start(**options: Any) -> tuple[Shop, web.AppRunner]:
    emulator = ShopifyEmulator(access_token=TOKEN, client_secret=SECRET, seed=1, **options)
    seed(emulator)
    faults = Faults()
    app = create_app(emulator, faults=faults, seed=1)
    runner, port = await start_server(app)
    return Shop(emulator, app, faults, f"http://127.0.0.1:{port}"), runner


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    s, runner = await start()
    yield s
    await runner.cleanup()


def channel_table(shop: Shop, **extra: Any) -> dict[str, Any]:
    return {
        "type": "shopify",
        "url": shop.url,
        "access_token": TOKEN,
        "location_id": LOCATION,
        "overlap_seconds": 0,
        "timeout_seconds": 5,
        "bulk_poll_seconds": 0.05,
        **extra,
    }


def connector_for(shop: Shop, **extra: Any) -> ShopifyConnector:
    settings = parse_config({"channels": {"shopify": channel_table(shop, **extra)}}, file="t.toml")
    options = settings.channel("shopify").options
    return ShopifyConnector("shopify", options)


@pytest.fixture
def threaded_shop() -> Iterator[Shop]:
    emulator = ShopifyEmulator(access_token=TOKEN, client_secret=SECRET)
    seed(emulator)
    app = create_app(emulator)
    with threaded_app(app) as url:
        yield Shop(emulator, app, Faults(), url)
