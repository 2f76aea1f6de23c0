"""A Shopify channel selling from two ledger locations, each written to its own Shopify location
(``shopify_locations``), on both ledgers: each location's figure reaches its Shopify location
with changeFromQuantity; a transfer between them (the sum unchanged) moves both figures; an order
is booked at its fulfilment order's assigned location; a lost update at one location is refused
by the compare-and-set and repaired. And the config's errors for a bad mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncd.cli.run import ServedDaemon
from syncd.config import parse_config
from syncd.domain import Document, DocumentKind, lane_name
from syncd.exceptions import ConfigError
from syncd.ledger import ChannelInfo, Product
from syncd.ledger.locations import LocationInfo
from syncd.ledger.sqlstore import SqlStore
from syncd.ledger.store import Ack
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.daemon import settings_for
from syncd.testing.harness import until
from tests.conftest import DaemonStarter
from tests.shopify.conftest import Shop, channel_table, start

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
STORE, WAREHOUSE = 1, 2  # the Shopify locations


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    s, runner = await start()
    s.emulator.state.add_location(WAREHOUSE, "Warehouse")
    for sku in ("SHIRT-44", "CAP"):
        s.emulator.state.set_available(sku, 0, WAREHOUSE)
    yield s
    await runner.cleanup()


@pytest.fixture
def till(fake_connector: type[FakeConnector]) -> FakeChannel:
    fake_connector.channels["till"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    return fake_connector.channels["till"]


def lanes_config(shop: Shop, **channel: Any) -> dict[str, Any]:
    return {
        "sync": {"retry_max_seconds": 1, "outbox_poll_seconds": 1, "grace_seconds": 2},
        "locations": {"store": {"kind": "store"}, "warehouse": {"kind": "warehouse"}},
        "channels": {
            "till": {"type": "fake", "poll_seconds": 0.2, "locations": ["store"]},
            "shop": channel_table(
                shop,
                **{
                    "poll_seconds": 30,
                    "locations": ["store", "warehouse"],
                    "shopify_locations": {
                        "store": f"gid://shopify/Location/{STORE}",
                        "warehouse": str(WAREHOUSE),
                    },
                    **channel,
                },
            ),
        },
    }


async def at(daemon: ServedDaemon, location: str, sku: str) -> int:
    assert daemon.store is not None
    rows = await daemon.store.location_stock([sku])
    return sum(r.on_hand for r in rows if r.location == location)


async def at_is(daemon: ServedDaemon, location: str, sku: str, figure: int) -> bool:
    return await at(daemon, location, sku) == figure


def shows(shop: Shop, sku: str, location: int) -> int:
    return shop.emulator.state.available(sku, location)


async def test_each_location_is_written_to_its_shopify_location(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    till: FakeChannel,
    start_daemon: DaemonStarter,
) -> None:
    state = shop.emulator.state
    settings = settings_for(tmp_path, lanes_config(shop), ledger=ledger_backend)
    assert settings.channel("shop").shop_locations == {
        "store": "gid://shopify/Location/1",
        "warehouse": "gid://shopify/Location/2",
    }
    daemon = await start_daemon(settings)  # opening count: CAP 5, SHIRT-44 1, at "store"
    assert daemon.store is not None
    await daemon.store.apply_document(
        Document(
            "init",
            "opening-warehouse",
            DocumentKind.STOCK_COUNT,
            {"CAP": 3, "SHIRT-44": 2},
            T0,
            location="warehouse",
        )
    )
    # Each Shopify location shows its own ledger location's stock, not their sum (8).
    await until(lambda: shows(shop, "CAP", WAREHOUSE) == 3)
    await until(lambda: shows(shop, "SHIRT-44", WAREHOUSE) == 2)
    assert shows(shop, "CAP", STORE) == 5
    assert shows(shop, "SHIRT-44", STORE) == 1

    # A transfer store → warehouse: the channel's sum does not move, both locations do.
    await daemon.store.apply_document(
        Document(
            "stock",
            "tr-1",
            DocumentKind.TRANSFER_OUT,
            {"CAP": 2},
            T0,
            location="store",
            destination="warehouse",
        )
    )
    await until(lambda: shows(shop, "CAP", STORE) == 3)
    assert shows(shop, "CAP", WAREHOUSE) == 3  # in transit: not at the warehouse yet
    await daemon.store.apply_document(
        Document("stock", "tr-1/in", DocumentKind.TRANSFER_IN, {"CAP": 2}, T0, location="warehouse")
    )
    await until(lambda: shows(shop, "CAP", WAREHOUSE) == 5)

    # An order Shopify placed at the warehouse is booked there (its fulfilment order's
    # assigned location); the store's figure is left alone.
    order = state.place_order({"CAP": 2}, location_id=WAREHOUSE)
    assert shows(shop, "CAP", WAREHOUSE) == 3
    await daemon.runners["shop"].pull_once()
    assert await at(daemon, "warehouse", "CAP") == 3
    assert await at(daemon, "store", "CAP") == 3
    state.cancel(order.id, restock=True)
    await daemon.runners["shop"].pull_once()
    assert await at(daemon, "warehouse", "CAP") == 5
    assert shows(shop, "CAP", WAREHOUSE) == 5

    # A lost update at the warehouse, provoked: Shopify sells one there (not pulled: the
    # poll is 30 s away), and a delivery arrives at the warehouse. syncd believes Shopify
    # shows 5 and wants 5 + 4 = 9 there; a plain write of 9 would erase Shopify's sale.
    refused = state.stale_refusals
    state.place_order({"CAP": 1}, location_id=WAREHOUSE)
    await daemon.store.apply_document(
        Document(
            "stock", "delivery-1", DocumentKind.GOODS_RECEIPT, {"CAP": 4}, T0, location="warehouse"
        )
    )
    await until(lambda: shows(shop, "CAP", WAREHOUSE) == 8)
    await until(lambda: at_is(daemon, "warehouse", "CAP", 8))
    assert state.stale_refusals > refused  # the write of 9 was refused by Shopify itself
    await asyncio.sleep(0.5)
    assert shows(shop, "CAP", WAREHOUSE) == 8
    assert shows(shop, "CAP", STORE) == 3

    # A till sale at the store moves only the store's Shopify location.
    connector = daemon.runners["till"].connector
    assert isinstance(connector, FakeConnector)
    connector.sell(Document("till", "t1", DocumentKind.TILL_RECEIPT, {"CAP": 1}, T0, version=1))
    await until(lambda: shows(shop, "CAP", STORE) == 2)
    assert shows(shop, "CAP", WAREHOUSE) == 8


def config_errors(shop_locations: Any, locations: list[str] | None) -> str:
    channel: dict[str, Any] = {
        "type": "shopify",
        "url": "https://example.myshopify.com",
        "access_token": "shpat_x",
        "shopify_locations": shop_locations,
    }
    data: dict[str, Any] = {"channels": {"web": channel}}
    if locations is not None:
        channel["locations"] = locations
        data["locations"] = {"store": {}, "warehouse": {}}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, file="syncd.toml")
    return "\n".join(str(i) for i in caught.value.issues)


def test_a_mapping_that_is_not_the_channels_locations_is_refused_clearly() -> None:
    text = config_errors({"store": "gid://shopify/Location/1"}, ["store", "warehouse"])
    assert "channels.web.shopify_locations.warehouse" in text
    assert "sells from location 'warehouse', which has no shop location" in text

    text = config_errors({"store": "1", "depot": "2"}, ["store"])
    assert "channels.web.shopify_locations.depot" in text
    assert "'depot' is not a location this channel sells from (store)" in text

    text = config_errors({"store": "gid://shopify/Product/1"}, ["store"])
    assert "channels.web.shopify_locations.store" in text
    assert "is not a Shopify location id" in text

    text = config_errors({"store": "1", "warehouse": "1"}, ["store", "warehouse"])
    assert "gid://shopify/Location/1 is mapped from more than one ledger location" in text

    text = config_errors({"store": "1"}, None)
    assert "the ledger has none for this channel" in text


async def test_lanes_queue_each_location_and_count_as_their_channel(store: SqlStore) -> None:
    """The ledger side alone, on both ledgers: a lane sells from its one location, a channel's
    own order lowers the figure shown of the lane it sold from, and the outbox depth of the
    lanes is their channel's."""
    await store.register_locations([LocationInfo("store"), LocationInfo("warehouse")])
    await store.register_channels(
        [
            ChannelInfo("web", "shopify", False, True, ("store", "warehouse")),
            ChannelInfo(lane_name("web", "store"), "shopify", True, True, ("store",)),
            ChannelInfo(lane_name("web", "warehouse"), "shopify", True, True, ("warehouse",)),
        ]
    )
    await store.upsert_products([Product("CAP")])
    for where, counted in (("store", 5), ("warehouse", 3)):
        await store.apply_document(
            Document(
                "init", f"n-{where}", DocumentKind.STOCK_COUNT, {"CAP": counted}, T0, location=where
            )
        )
    queued = {(i.sku, i.wanted) for i in await store.take_outbox("web@warehouse", 10)}
    assert queued == {("CAP", 3)}
    assert {(i.sku, i.wanted) for i in await store.take_outbox("web@store", 10)} == {("CAP", 5)}
    assert await store.take_outbox("web", 10) == []  # the channel itself is told nothing
    stats = await store.outbox_stats()
    assert stats["web"].depth == 2 and not any("@" in name for name in stats)
    await store.ack_outbox("web@warehouse", [Ack("CAP", 3, 3)])
    await store.ack_outbox("web@store", [Ack("CAP", 5, 5)])
    await store.apply_document(
        Document("web", "o1", DocumentKind.WEB_ORDER, {"CAP": 2}, T0, location="warehouse")
    )
    # Shopify lowered the warehouse itself: nothing to write, at either location.
    assert await store.take_outbox("web@warehouse", 10) == []
    assert await store.take_outbox("web@store", 10) == []


async def test_the_channels_buffer_holds_at_each_location(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    till: FakeChannel,
    start_daemon: DaemonStarter,
) -> None:
    settings = settings_for(
        tmp_path,
        lanes_config(shop, buffer=1),
        ledger=ledger_backend,
        web={"enabled": True, "port": 0},
    )
    daemon = await start_daemon(settings)  # CAP 5 at "store"
    assert daemon.store is not None
    await daemon.store.apply_document(
        Document("init", "n-wh", DocumentKind.STOCK_COUNT, {"CAP": 3}, T0, location="warehouse")
    )
    await until(lambda: shows(shop, "CAP", WAREHOUSE) == 2)
    await until(lambda: shows(shop, "CAP", STORE) == 4)
    # The status page, its JSON and the metrics know the channel, never its lanes.
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/api/overview", "/metrics"):
            async with http.get(f"http://127.0.0.1:{daemon.web_port}{path}") as resp:
                assert resp.status == 200, path
                assert "shop@" not in await resp.text(), path
