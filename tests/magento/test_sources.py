"""A Magento channel selling from two ledger locations, each written to its own MSI source
(``magento_sources``), against the emulator: the first source carries the reservations of
unshipped orders, the other its location's figure as is; salable = Σ sources − reservations;
an order counts at the first location until it ships, then at its source's; a lane write reads
first and defers a source found lower; start-up and the config explain a wrong mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncd.cli.run import ServedDaemon
from syncd.config import parse_config
from syncd.connectors.base import PushItem, PushStatus
from syncd.connectors.magento.connector import MagentoConnector
from syncd.domain import Document, DocumentKind
from syncd.exceptions import ChannelConfigError, ConfigError, FatalError
from syncd.ledger import Product
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.daemon import settings_for
from syncd.testing.harness import until
from tests.conftest import DaemonStarter
from tests.magento.conftest import Shop, start
from tests.magento.conftest import connector_for as plain_connector

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SOURCES = {"store": "default", "warehouse": "wh"}


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    s, runner = await start(True)
    s.emulator.add_source("wh")
    for sku in ("CAP", "SHIRT-BLUE-42"):
        s.emulator.set_source_quantity(sku, 0, "wh")
    yield s
    await runner.cleanup()


def connector_for(shop: Shop, magento_sources: dict[str, str]) -> MagentoConnector:
    """A connector with magento_sources, parsed as the config does (locations declared)."""
    table = {
        "type": "magento",
        "url": shop.url,
        "username": "admin",
        "password": "s3cret-pass",
        "overlap_seconds": 0,
        "timeout_seconds": 2,
        "locations": list(magento_sources),
        "magento_sources": magento_sources,
    }
    data = {"locations": {n: {} for n in magento_sources}, "channels": {"magento": table}}
    settings = parse_config(data, file="test.toml")
    return MagentoConnector("magento", settings.channel("magento").options)


def test_salable_is_the_sum_of_the_stocks_sources_less_its_reservations(shop: Shop) -> None:
    emu = shop.emulator
    emu.set_source_quantity("CAP", 3, "wh")
    assert emu.salable("CAP") == 5 + 3
    order = emu.place_order({"CAP": 2})
    assert emu.salable("CAP") == 6  # a reservation, no source moved
    assert (emu.source_quantity("CAP"), emu.source_quantity("CAP", "wh")) == (5, 3)
    emu.ship(order, source="wh")
    assert (emu.source_quantity("CAP"), emu.source_quantity("CAP", "wh")) == (5, 1)
    assert emu.salable("CAP") == 6
    emu.source_items[("CAP", "wh")]["status"] = 0  # out of stock: counts 0 (SelectBuilder)
    assert emu.salable("CAP") == 5


async def test_the_rest_routes_of_sources_answer_as_magento(shop: Shop) -> None:
    async with plain_connector(shop) as connector:
        link = {"stock_id": 1, "source_code": "wh", "priority": 2}
        with pytest.raises(FatalError, match="Validation Failed"):  # observed on 2.4.7-p3
            await connector.client.call(
                "POST", "inventory/stock-source-links", body={"links": [link]}
            )
        await connector.client.call(
            "POST", "inventory/sources", body={"source": {"source_code": "depot"}}
        )
        assert "depot" in shop.emulator.sources
        shop.emulator.set_source_quantity("CAP", 2, "wh")
        order = shop.emulator.place_order({"CAP": 1})
        await connector.client.call(
            "POST",
            f"order/{order}/ship",
            body={"arguments": {"extension_attributes": {"source_code": "wh"}}},
        )
        [shipment] = (await connector.client.call("GET", "shipments"))["items"]
        assert shipment["order_id"] == order
        assert shipment["extension_attributes"] == {"source_code": "wh"}
        assert shop.emulator.source_quantity("CAP") == 5  # taken from "wh"
        assert shop.emulator.source_quantity("CAP", "wh") == 1


async def test_each_lane_is_written_to_its_source_the_first_carrying_the_reservations(
    shop: Shop,
) -> None:
    emu = shop.emulator
    emu.set_source_quantity("CAP", 3, "wh")
    emu.place_order({"CAP": 2})  # unshipped: salable 5 + 3 − 2
    connector = connector_for(shop, magento_sources=SOURCES)
    async with connector:
        await connector.check()
        store, warehouse = await connector.push(
            [
                PushItem("CAP", 2, 3, location="store"),  # 3 = salable 6 − the warehouse's 3
                PushItem("CAP", 4, 3, location="warehouse"),
            ]
        )
        assert (store.status, warehouse.status) == (PushStatus.WRITTEN, PushStatus.WRITTEN)
        assert (store.observed, warehouse.observed) == (3, 3)
        # the store's source holds its 2 + the 2 reserved; the warehouse's its 4 as is
        assert emu.source_quantity("CAP") == 4
        assert emu.source_quantity("CAP", "wh") == 4
        assert emu.salable("CAP") == 2 + 4
        assert await connector.read_location_figures("store", ["CAP"]) == {"CAP": 2}
        assert await connector.read_location_figures("warehouse", ["CAP"]) == {"CAP": 4}

        # Shipped from the warehouse, not pulled yet: its source is lower than we believe.
        emu.ship(max(emu.orders), source="wh")
        [deferred] = await connector.push([PushItem("CAP", 5, 4, location="warehouse")])
        assert deferred.status is PushStatus.DEFERRED and deferred.observed == 2
        assert emu.source_quantity("CAP", "wh") == 2  # nothing written
        [forced] = await connector.push([PushItem("CAP", 5, 4, location="warehouse", force=True)])
        assert forced.status is PushStatus.WRITTEN and emu.source_quantity("CAP", "wh") == 5
        # Nothing left at the store, 1 unit reserved: the store's source keeps that unit in
        # stock (status 1), or Magento would sell 1 less than the warehouse holds.
        emu.place_order({"CAP": 1})
        [empty] = await connector.push([PushItem("CAP", 0, 3, location="store")])
        assert empty.status is PushStatus.WRITTEN
        assert (emu.source_quantity("CAP"), emu.salable("CAP")) == (1, 5)
        # no item at a source: skipped with the reason, never created
        [skipped] = await connector.push([PushItem("SHIRT-BLUE-44", 1, None, location="warehouse")])
        assert skipped.status is PushStatus.SKIPPED and "at source 'wh'" in skipped.reason


async def test_the_reserving_lane_reads_the_units_reserved_where_salable_says_nothing(
    shop: Shop,
) -> None:
    # As with one source (test_connector.py, "units reserved"): written down to the units an
    # order reserves, the stock is not salable and Magento's salable stays 0 after that order
    # is cancelled; the store's lane then takes the units reserved from the open orders.
    emu = shop.emulator
    order = emu.place_order({"CAP": 2})  # the store's 5, 2 reserved: salable 3
    connector = connector_for(shop, magento_sources=SOURCES)
    async with connector:
        [sold_out] = await connector.push([PushItem("CAP", 0, 3, location="store")])
        assert sold_out.status is PushStatus.WRITTEN
        assert (emu.source_quantity("CAP"), emu.salable("CAP")) == (2, 0)
        emu.cancel(order)
        assert emu.salable("CAP") == 0
        [back] = await connector.push([PushItem("CAP", 2, 0, location="store")])
        assert back.status is PushStatus.WRITTEN
        assert (emu.source_quantity("CAP"), emu.salable("CAP")) == (2, 2)


async def test_an_order_counts_at_the_first_location_until_it_ships_from_another(
    shop: Shop,
) -> None:
    emu = shop.emulator
    emu.set_source_quantity("CAP", 3, "wh")
    first = emu.place_order({"CAP": 1})
    second = emu.place_order({"CAP": 2})
    emu.ship(second, source="wh")
    emu.set_source_quantity("CAP", 6)
    third = emu.place_order({"CAP": 3})
    emu.ship(third, {"CAP": 1}, source="wh")  # in parts: 2 of its 3 units still reserved
    connector = connector_for(shop, magento_sources=SOURCES)
    async with connector:
        documents = [d async for b in connector.pull({}) for d in b.documents]
        where = {d.doc_id: d.location for d in documents}
        assert where == {str(first): "store", str(second): "warehouse", str(third): "store"}
        emu.ship(third, source="wh")  # the rest: all 3 shipped from the warehouse
        documents = [d async for b in connector.pull({}) for d in b.documents]
        assert {d.doc_id: d.location for d in documents}[str(third)] == "warehouse"
    # without magento_sources, no location (the channel's own, as before)
    async with plain_connector(shop) as plain:
        assert {d.location async for b in plain.pull({}) for d in b.documents} == {""}


async def test_start_up_names_a_source_magento_lacks_or_does_not_sell_from(shop: Shop) -> None:
    async def refused(sources: dict[str, str]) -> str:
        async with connector_for(shop, magento_sources=sources) as connector:
            with pytest.raises(ChannelConfigError) as caught:
                await connector.check()
        return str(caught.value)

    text = await refused({"store": "default", "warehouse": "nowhere"})
    assert "magento_sources.warehouse = 'nowhere': Magento has no inventory source" in text
    shop.emulator.sources.add("loose")  # a source of no stock
    text = await refused({"store": "default", "warehouse": "loose"})
    assert "magento_sources.warehouse = 'loose': the source is not linked to stock_id = 1" in text
    # a source of the stock that no location maps: Magento would sell it on top of ours
    text = await refused({"store": "default"})
    assert "also sells from 'wh', which no location maps" in text


def config_errors(channel: dict[str, Any], locations: list[str]) -> str:
    table = {"type": "magento", "url": "https://m.example", "access_token": "t", **channel}
    table["locations"] = locations
    data = {"locations": {"store": {}, "warehouse": {}}, "channels": {"web": table}}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, file="syncd.toml")
    return "\n".join(str(i) for i in caught.value.issues)


def test_the_config_explains_a_mapping_that_is_not_the_channels_locations() -> None:
    settings = parse_config(
        {
            "locations": {"store": {}, "warehouse": {}},
            "channels": {
                "web": {
                    "type": "magento",
                    "url": "https://m.example",
                    "access_token": "t",
                    "locations": ["store", "warehouse"],
                    "magento_sources": SOURCES,
                }
            },
        },
        file="syncd.toml",
    )
    assert settings.channel("web").shop_locations == SOURCES
    text = config_errors({"magento_sources": {"store": "default"}}, ["store", "warehouse"])
    assert "channels.web.magento_sources.warehouse" in text
    assert "sells from location 'warehouse', which has no shop location" in text
    text = config_errors({"magento_sources": SOURCES}, ["store"])
    assert "'warehouse' is not a location this channel sells from (store)" in text
    text = config_errors({"magento_sources": SOURCES, "source_code": "x"}, list(SOURCES))
    assert "channels.web.source_code" in text and "not used with magento_sources" in text
    text = config_errors({"magento_sources": SOURCES, "mode": "legacy"}, list(SOURCES))
    assert "channels.web.magento_sources" in text and "legacy mode" in text
    text = config_errors({"magento_sources": {"store": "a b", "warehouse": "c"}}, list(SOURCES))
    assert "'a b' is not a Magento source code" in text


async def at(daemon: ServedDaemon, location: str, sku: str) -> int:
    assert daemon.store is not None
    rows = await daemon.store.location_stock([sku])
    return sum(r.on_hand for r in rows if r.location == location)


async def test_the_daemon_writes_each_location_to_its_source(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    fake_connector: type[FakeConnector],
    start_daemon: DaemonStarter,
) -> None:
    emu = shop.emulator
    fake_connector.channels["till"] = FakeChannel(figures={"CAP": 5})
    channel = {
        "type": "magento",
        "url": shop.url,
        "username": "admin",
        "password": "s3cret-pass",
        "overlap_seconds": 0,
        "timeout_seconds": 2,
        "poll_seconds": 30,  # pulled by hand below
        "locations": ["store", "warehouse"],
        "magento_sources": SOURCES,
    }
    settings = settings_for(
        tmp_path,
        {
            "sync": {"retry_max_seconds": 1, "outbox_poll_seconds": 1, "grace_seconds": 2},
            "locations": {"store": {"kind": "store"}, "warehouse": {"kind": "warehouse"}},
            "channels": {
                "till": {"type": "fake", "poll_seconds": 0.2, "locations": ["store"]},
                "magento": channel,
            },
        },
        ledger=ledger_backend,
    )
    daemon = await start_daemon(settings, products=(Product("CAP", "Cap"),), opening={"CAP": 5})
    assert daemon.store is not None
    await daemon.store.apply_document(
        Document("init", "wh", DocumentKind.STOCK_COUNT, {"CAP": 3}, T0, location="warehouse")
    )
    await until(lambda: emu.source_quantity("CAP", "wh") == 3)
    assert (emu.source_quantity("CAP"), emu.salable("CAP")) == (5, 8)

    # A web order: reserved in Magento, booked at the store (the first location).
    order = emu.place_order({"CAP": 2})
    await daemon.runners["magento"].pull_once()
    assert (await at(daemon, "store", "CAP"), await at(daemon, "warehouse", "CAP")) == (3, 3)
    # A till sale at the store: the store's source gets 2 + the 2 reserved, the warehouse's
    # is left alone, and Magento sells the ledger's 2 + 3.
    till = daemon.runners["till"].connector
    assert isinstance(till, FakeConnector)
    till.sell(Document("till", "t1", DocumentKind.TILL_RECEIPT, {"CAP": 1}, T0, version=1))
    await until(lambda: emu.source_quantity("CAP") == 4)
    assert (emu.source_quantity("CAP", "wh"), emu.salable("CAP")) == (3, 5)

    # Shipped from the warehouse: Magento takes the units off its source; the order moves to
    # the warehouse in the ledger, and nothing needs writing.
    emu.ship(order, source="wh")
    await daemon.runners["magento"].pull_once()
    assert (await at(daemon, "store", "CAP"), await at(daemon, "warehouse", "CAP")) == (4, 1)
    # A delivery at the warehouse reaches its source only.
    await daemon.store.apply_document(
        Document("stock", "d1", DocumentKind.GOODS_RECEIPT, {"CAP": 4}, T0, location="warehouse")
    )
    await until(lambda: emu.source_quantity("CAP", "wh") == 5)
    assert (emu.source_quantity("CAP"), emu.salable("CAP")) == (4, 9)

    # Magento shows more at the warehouse than the ledger believes (what a write does when a
    # shipment lands between its read and its write: no compare-and-set). The next pull that
    # brings an order of that SKU reads every lane back, and the ledger's figure is written again.
    emu.set_source_quantity("CAP", 7, "wh")
    emu.place_order({"CAP": 1})
    await daemon.runners["magento"].pull_once()
    await until(lambda: emu.source_quantity("CAP", "wh") == 5)
    assert (emu.source_quantity("CAP"), emu.salable("CAP")) == (4, 8)
