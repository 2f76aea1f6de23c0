"""`syncd init` and `syncd reconcile` on a Magento channel told each source apart
(``magento_sources``), against the emulator, on both ledgers: init counts each source's figure at
its location (the first source's less the units unshipped orders reserve, as the push writes
it); reconcile compares each lane with its source, and a difference at one source is found and
repaired there only, the first source keeping the reservations."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from syncd.cli.reconcile import init_command, reconcile_command
from syncd.config import Settings
from syncd.connectors.magento import sources
from syncd.connectors.magento.connector import MagentoConnector
from syncd.engine.catchup import catch_up
from syncd.engine.reconciler import ReconcileOptions
from syncd.ledger import open_store
from syncd.testing.daemon import settings_for
from tests.magento.conftest import Shop, start

SOURCES = {"store": "default", "warehouse": "wh"}


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    s, runner = await start(True)
    s.emulator.add_source("wh")
    s.emulator.set_source_quantity("CAP", 3, "wh")
    for sku in ("SHIRT-BLUE-42", "SHIRT-BLUE-44"):
        s.emulator.set_source_quantity(sku, 0, "wh")
    yield s
    await runner.cleanup()


def sources_settings(
    tmp_path: Path, shop: Shop, ledger: tuple[str, str], **channel: Any
) -> Settings:
    table = {
        "type": "magento",
        "url": shop.url,
        "username": "admin",
        "password": "s3cret-pass",
        "overlap_seconds": 0,
        "timeout_seconds": 2,
        "locations": ["store", "warehouse"],
        "magento_sources": SOURCES,
        **channel,
    }
    return settings_for(
        tmp_path,
        {
            "locations": {"store": {"kind": "store"}, "warehouse": {"kind": "warehouse"}},
            "channels": {"magento": table},
        },
        ledger=ledger,
    )


def output(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The command's JSON object: its last line on stdout (the test's logs print there too)."""
    data: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return data


async def stock_at(settings: Settings) -> dict[tuple[str, str], int]:
    store = await open_store(settings.ledger)
    try:
        return {(r.location, r.sku): r.on_hand for r in await store.location_stock()}
    finally:
        await store.close()


def orders_read(shop: Shop) -> int:
    """Order searches the emulator answered so far."""
    return sum(1 for method, path in shop.emulator.requests if path == "/V1/orders")


async def one_catch_up(settings: Settings) -> None:
    """What one reconcile catch-up reads of the channel's orders (ReconcileOptions' defaults)."""
    channel = settings.channel("magento")
    store = await open_store(settings.ledger)
    try:
        async with MagentoConnector("magento", channel.options) as connector:
            await catch_up(
                store, connector, "magento", repull_seconds=ReconcileOptions().repull_seconds
            )
    finally:
        await store.close()


def lanes_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["location"]: c for c in report["channels"]}


async def test_init_counts_each_source_and_reconcile_repairs_the_one_that_differs(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = shop.emulator
    emu.place_order({"CAP": 2})  # unshipped: reserved against the stock, not a source
    assert emu.salable("CAP") == 5 + 3 - 2
    settings = sources_settings(tmp_path, shop, ledger_backend, hand_edits="revert")

    assert await init_command(settings, source="magento", dry_run=True, as_json=True) == 0
    plan = output(capsys)
    # The store's lane shows its source less the 2 units reserved; the warehouse its source.
    assert plan["locations"]["store"]["CAP"] == 3
    assert plan["locations"]["warehouse"]["CAP"] == 3
    assert await init_command(settings, source="magento", yes=True, as_json=True) == 0
    assert output(capsys)["history_documents"] == 1  # the order, already in the figures
    at = await stock_at(settings)
    assert (at[("store", "CAP")], at[("warehouse", "CAP")]) == (3, 3)
    assert (emu.source_quantity("CAP"), emu.source_quantity("CAP", "wh")) == (5, 3)

    before = orders_read(shop)
    assert await reconcile_command(settings, as_json=True) == 0
    clean = output(capsys)
    assert clean["differences"] == 0
    assert set(lanes_of(clean)) == {"store", "warehouse"}
    assert all(c["compared"] == 3 for c in clean["channels"])
    # The channel's orders were read again once for its two lanes: as one catch-up reads them.
    reconciled = orders_read(shop) - before
    await one_catch_up(settings)
    assert reconciled == orders_read(shop) - before - reconciled >= 1

    # Edited by hand at the warehouse's source: found there only.
    emu.set_source_quantity("CAP", 7, "wh")
    assert await reconcile_command(settings, as_json=True) == 0
    found = output(capsys)
    lanes = lanes_of(found)
    assert lanes["store"]["differences"] == 0
    [finding] = lanes["warehouse"]["findings"]
    assert (finding["sku"], finding["kind"], finding["figure"], finding["wanted"]) == (
        "CAP",
        "hand_edit",
        7,
        3,
    )
    assert finding["channel"] == "magento@warehouse"
    assert finding["explanation"].startswith("magento at warehouse shows 7")

    assert await reconcile_command(settings, fix=True, as_json=True) == 0
    lanes = lanes_of(output(capsys))
    assert (lanes["warehouse"]["fixed"], lanes["store"]["fixed"]) == (1, 0)
    assert emu.source_quantity("CAP", "wh") == 3
    assert emu.source_quantity("CAP") == 5  # the store's 3 and the 2 reserved, untouched
    assert emu.salable("CAP") == 6

    # Edited at the first source: repaired with the reservation kept (3 + 2 written).
    emu.set_source_quantity("CAP", 1)
    assert await reconcile_command(settings, fix=True, as_json=True) == 0
    lanes = lanes_of(output(capsys))
    assert lanes["store"]["findings"][0]["figure"] == 0  # 1 − 2 reserved: nothing to sell
    assert (lanes["store"]["fixed"], lanes["warehouse"]["fixed"]) == (1, 0)
    assert (emu.source_quantity("CAP"), emu.source_quantity("CAP", "wh")) == (5, 3)
    assert await reconcile_command(settings, as_json=True) == 0
    assert output(capsys)["differences"] == 0


async def test_an_edit_at_the_first_source_is_adopted_at_its_location(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """hand_edits = "adopt": units added by hand to the first source (which carries the
    reservations) become an adjustment at its location; the warehouse keeps its stock."""
    emu = shop.emulator
    emu.place_order({"CAP": 2})
    settings = sources_settings(tmp_path, shop, ledger_backend)
    assert await init_command(settings, source="magento", yes=True, as_json=True) == 0
    output(capsys)
    emu.set_source_quantity("CAP", 8)  # the store's lane: 3 → 6
    assert await reconcile_command(settings, fix=True, as_json=True) == 0
    lanes = lanes_of(output(capsys))
    assert lanes["store"]["by_kind"] == {"hand_edit": 1}
    assert lanes["warehouse"]["differences"] == 0
    at = await stock_at(settings)
    assert (at[("store", "CAP")], at[("warehouse", "CAP")]) == (6, 3)
    assert (emu.source_quantity("CAP"), emu.source_quantity("CAP", "wh")) == (8, 3)
    assert emu.salable("CAP") == 9
    assert await reconcile_command(settings, as_json=True) == 0
    assert output(capsys)["differences"] == 0


async def test_a_lane_read_of_a_few_skus_and_of_the_catalogue_agree(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole catalogue (reservations from the open orders) and a few SKUs (salable read as
    the push reads it) give each source's lane the same figures: the first source less what
    unshipped orders hold, the other as is; a shipment takes its units off the source it names
    and out of the reservations; an item out of stock counts for nothing (MSI's stock index)."""
    from tests.magento.test_sources import connector_for

    emu = shop.emulator
    emu.place_order({"CAP": 2})
    emu.ship(emu.place_order({"CAP": 1}), source="wh")
    # An open order placed on another stock's website: its reservation is that stock's
    # (GetReservationsQuantity is keyed by SKU and stock): it holds nothing here. Seen on the
    # real Magento, where earlier orders of the Default Stock are still open.
    emu.place_order({"SHIRT-BLUE-44": 1})
    emu._reserve("SHIRT-BLUE-44", 1, "another stock's reservation")
    emu.set_source_quantity("SHIRT-BLUE-42", 4, "wh")
    emu.source_items[("SHIRT-BLUE-42", "wh")]["status"] = 0  # set out of stock in the admin
    connector = connector_for(shop, SOURCES)
    async with connector:
        await connector.check()
        for location, expected in (
            ("store", {"CAP": 3, "SHIRT-BLUE-42": 3, "SHIRT-BLUE-44": 1}),
            ("warehouse", {"CAP": 2, "SHIRT-BLUE-42": 0, "SHIRT-BLUE-44": 0}),
        ):
            whole = [
                level async for page in connector.read_location_levels(location) for level in page
            ]
            assert {level.sku: level.quantity for level in whole} == expected
            few = [
                level
                async for page in connector.read_location_levels(location, list(expected))
                for level in page
            ]
            assert {level.sku: level.quantity for level in few} == expected
        # Many SKUs are read as the catalogue is, and only those are answered.
        monkeypatch.setattr(sources, "LANE_BULK_FROM", 1)
        many = [
            level
            async for page in connector.read_location_levels("store", ["CAP", "SHIRT-BLUE-44"])
            for level in page
        ]
        assert {level.sku: level.quantity for level in many} == {"CAP": 3, "SHIRT-BLUE-44": 1}
