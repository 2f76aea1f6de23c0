"""`syncd init` and `syncd reconcile` on a Shopify channel told each location apart
(``shopify_locations``), against the emulator, on both ledgers: init reads and counts each
location apart; reconcile compares each location's figure with its lane's, and a difference at
one location is found, named and repaired there and nowhere else (the correction queued and
pushed through the lane, the other location never written)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncd.cli.reconcile import init_command, open_channels, prepare_store, reconcile_command
from syncd.config import Settings
from syncd.connectors.shopify.connector import ShopifyConnector
from syncd.domain import Document, DocumentKind
from syncd.engine.reconciler import NoProgress, ReconcileOptions, Reconciler
from syncd.exceptions import FatalError
from syncd.ledger import open_store
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.daemon import settings_for
from syncd.testing.harness import until
from tests.conftest import DaemonStarter
from tests.shopify.conftest import Shop, channel_table, start

STORE, WAREHOUSE = 1, 2  # the Shopify locations
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MUG = "3760000000017"  # a variant without a SKU: its barcode is its SKU; at the store only


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    s, runner = await start()
    s.emulator.state.add_location(WAREHOUSE, "Warehouse")
    s.emulator.state.set_available("CAP", 3, WAREHOUSE)
    s.emulator.state.set_available("SHIRT-44", 2, WAREHOUSE)
    yield s
    await runner.cleanup()


def lanes_settings(tmp_path: Path, shop: Shop, ledger: tuple[str, str], **channel: Any) -> Settings:
    return settings_for(
        tmp_path,
        {
            "locations": {"store": {"kind": "store"}, "warehouse": {"kind": "warehouse"}},
            "channels": {
                "shop": channel_table(
                    shop,
                    locations=["store", "warehouse"],
                    shopify_locations={"store": str(STORE), "warehouse": str(WAREHOUSE)},
                    **channel,
                )
            },
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


async def book(settings: Settings, document: Document) -> None:
    """A document booked in the ledger while no daemon runs (its pushes wait in the outbox)."""
    store = await open_store(settings.ledger)
    try:
        await store.apply_document(document)
    finally:
        await store.close()


def writes_at(shop: Shop, location: int) -> list[tuple[str, int]]:
    """The figures written at a Shopify location: (inventory item, quantity), from every
    inventorySetQuantities call the emulator answered (kept by idempotency key)."""
    out = []
    for given, _answer in shop.emulator.state.idempotent.values():
        for entry in json.loads(given).get("quantities") or []:
            if entry["locationId"] == f"gid://shopify/Location/{location}":
                out.append((entry["inventoryItemId"], entry["quantity"]))
    return out


async def test_init_counts_each_location_and_reconcile_repairs_one_location_only(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = shop.emulator.state
    settings = lanes_settings(tmp_path, shop, ledger_backend, hand_edits="revert")

    # init --dry-run: each location's figures, in the table and the JSON; nothing written.
    assert await init_command(settings, source="shop", dry_run=True, as_json=True) == 0
    plan = output(capsys)
    assert plan["locations"]["store"]["CAP"] == 5
    assert plan["locations"]["warehouse"] == {"CAP": 3, "SHIRT-44": 2}
    assert {"sku": "CAP", "location": "warehouse", "before": None, "after": 3} in plan[
        "ledger_changes"
    ]
    assert plan["skus"] >= 2

    assert await init_command(settings, source="shop", yes=True, as_json=True) == 0
    done = output(capsys)
    assert done["applied"] is True
    at = await stock_at(settings)
    assert (at[("store", "CAP")], at[("warehouse", "CAP")]) == (5, 3)
    assert (at[("store", "SHIRT-44")], at[("warehouse", "SHIRT-44")]) == (1, 2)

    # Nothing differs: each lane compared with its own location.
    assert await reconcile_command(settings, as_json=True) == 0
    clean = output(capsys)
    lanes = {c["channel"]: c for c in clean["channels"]}
    assert set(lanes) == {"shop@store", "shop@warehouse"}
    assert lanes["shop@warehouse"]["location"] == "warehouse"
    assert all(c["compared"] >= 2 and not c["error"] for c in lanes.values())
    assert lanes["shop@store"]["differences"] == 0
    # The mug (no SKU, its barcode for one) is stocked at the store only: said, per location.
    [mug] = lanes["shop@warehouse"]["findings"]
    assert (mug["sku"], mug["kind"], mug["location"]) == (MUG, "only_in_ledger", "warehouse")
    assert "shop does not stock it at warehouse" in mug["explanation"]

    # Edited by hand at the warehouse only: found there, named, nowhere else.
    state.set_available("CAP", 9, WAREHOUSE)
    assert await reconcile_command(settings, as_json=True) == 0
    found = output(capsys)
    lanes = {c["channel"]: c for c in found["channels"]}
    assert lanes["shop@store"]["differences"] == 0
    [finding] = [f for f in lanes["shop@warehouse"]["findings"] if f["sku"] != MUG]
    assert (finding["sku"], finding["kind"], finding["figure"], finding["wanted"]) == (
        "CAP",
        "hand_edit",
        9,
        3,
    )
    assert finding["location"] == "warehouse"
    assert finding["explanation"].startswith("shop at warehouse shows 9")
    assert state.available("CAP", WAREHOUSE) == 9  # a dry run writes nothing

    # --fix: queued on the warehouse's lane and pushed there; the store is never written, not
    # even the delivery queued for it meanwhile (its own lane's to push: in flight, no drift).
    await book(settings, Document("stock", "d1", DocumentKind.GOODS_RECEIPT, {"SHIRT-44": 2}, T0))
    store_writes = writes_at(shop, STORE)
    assert await reconcile_command(settings, fix=True, as_json=True) == 0
    fixed = output(capsys)
    lanes = {c["channel"]: c for c in fixed["channels"]}
    assert (lanes["shop@warehouse"]["fixed"], lanes["shop@store"]["fixed"]) == (1, 0)
    assert (lanes["shop@warehouse"]["pushed"], lanes["shop@store"]["pushed"]) == (1, 0)
    assert lanes["shop@store"]["in_flight"] == 1
    assert state.available("CAP", WAREHOUSE) == 3
    assert (state.available("CAP", STORE), state.available("SHIRT-44", STORE)) == (5, 1)
    assert writes_at(shop, STORE) == store_writes
    at = await stock_at(settings)
    assert (at[("store", "CAP")], at[("warehouse", "CAP")]) == (5, 3)  # reverted, not adopted
    assert (at[("store", "SHIRT-44")], at[("warehouse", "SHIRT-44")]) == (3, 2)

    assert await reconcile_command(settings, as_json=True) == 0
    assert output(capsys)["differences"] == 1  # the mug, at the warehouse


async def test_a_hand_edit_at_one_location_is_adopted_at_that_location(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """hand_edits = "adopt" (the default): a figure raised by hand at the store's Shopify
    location is an adjustment at the store; the warehouse keeps its stock."""
    state = shop.emulator.state
    state.set_available("CAP", 0, WAREHOUSE)
    settings = lanes_settings(tmp_path, shop, ledger_backend)
    assert await init_command(settings, source="shop", yes=True, as_json=True) == 0
    output(capsys)
    state.set_available("SHIRT-44", 4, STORE)  # 1 → 4
    assert await reconcile_command(settings, fix=True, as_json=True) == 0
    report = output(capsys)
    lanes = {c["channel"]: c for c in report["channels"]}
    assert lanes["shop@store"]["by_kind"] == {"hand_edit": 1}
    assert lanes["shop@warehouse"]["by_kind"] == {"only_in_ledger": 1}
    at = await stock_at(settings)
    assert (at[("store", "SHIRT-44")], at[("warehouse", "SHIRT-44")]) == (4, 2)
    assert (state.available("SHIRT-44", STORE), state.available("SHIRT-44", WAREHOUSE)) == (4, 2)

    # Units typed in at a location that showed none (the 5 caps are at the store): the
    # warehouse now holds what it shows, whatever the store holds.
    state.set_available("CAP", 4, WAREHOUSE)
    assert await reconcile_command(settings, fix=True, as_json=True) == 0
    lanes = {c["channel"]: c for c in output(capsys)["channels"]}
    assert lanes["shop@warehouse"]["by_kind"] == {"hand_edit": 1, "only_in_ledger": 1}
    at = await stock_at(settings)
    assert (at[("store", "CAP")], at[("warehouse", "CAP")]) == (5, 4)
    assert (state.available("CAP", STORE), state.available("CAP", WAREHOUSE)) == (5, 4)
    assert await reconcile_command(settings, as_json=True) == 0
    assert output(capsys)["differences"] == 1  # the mug, not stocked at the warehouse


async def test_an_order_not_pulled_yet_is_pulled_once_and_is_no_drift(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An order taken at the warehouse since init (no daemon pulled it): the reconcile's
    catch-up pulls it once, for the channel, before either lane is compared; it is booked at
    the warehouse and neither location shows a difference."""
    state = shop.emulator.state
    settings = lanes_settings(tmp_path, shop, ledger_backend, hand_edits="revert")
    assert await init_command(settings, source="shop", yes=True, as_json=True) == 0
    output(capsys)
    state.place_order({"CAP": 2}, location_id=WAREHOUSE)
    assert await reconcile_command(settings, fix=True, as_json=True) == 0
    report = output(capsys)
    lanes = {c["channel"]: c for c in report["channels"]}
    assert lanes["shop@store"]["differences"] == 0
    assert lanes["shop@warehouse"]["by_kind"] == {"only_in_ledger": 1}  # the mug only
    # pulled before the lanes were read, not found moved after: never a candidate
    assert lanes["shop@warehouse"]["moved_during_run"] == 0
    at = await stock_at(settings)
    assert (at[("store", "CAP")], at[("warehouse", "CAP")]) == (5, 1)
    assert (state.available("CAP", STORE), state.available("CAP", WAREHOUSE)) == (5, 1)


async def test_the_daemons_reconciler_compares_each_lane(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    fake_connector: type[FakeConnector],
    start_daemon: DaemonStarter,
) -> None:
    """The daemon's scheduled reconcile compares each location of a channel told each location
    apart, and repairs a location edited by hand (hand_edits = "revert") through its lane."""
    fake_connector.channels["till"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    settings = settings_for(
        tmp_path,
        {
            "sync": {"retry_max_seconds": 1, "outbox_poll_seconds": 1, "grace_seconds": 2},
            "reconcile": {"fix": True},
            "locations": {"store": {"kind": "store"}, "warehouse": {"kind": "warehouse"}},
            "channels": {
                "till": {"type": "fake", "poll_seconds": 0.2, "locations": ["store"]},
                "shop": channel_table(
                    shop,
                    poll_seconds=30,
                    hand_edits="revert",
                    locations=["store", "warehouse"],
                    shopify_locations={"store": str(STORE), "warehouse": str(WAREHOUSE)},
                ),
            },
        },
        ledger=ledger_backend,
    )
    daemon = await start_daemon(settings)  # opening count: CAP 5 at the store
    assert daemon.store is not None and daemon.reconciler is not None
    state = shop.emulator.state
    await until(lambda: state.available("CAP", WAREHOUSE) == 0)  # the warehouse holds none
    state.set_available("CAP", 4, WAREHOUSE)
    report = await daemon.reconciler.run_once()
    assert report is not None
    lanes = {c.channel: c for c in report.channels}
    assert {"shop@store", "shop@warehouse"} <= set(lanes)
    assert [(f.sku, f.figure) for f in lanes["shop@warehouse"].findings if f.sku == "CAP"] == [
        ("CAP", 4)
    ]
    assert lanes["shop@warehouse"].location == "warehouse"
    assert not [f for f in lanes["shop@store"].findings if f.sku == "CAP"]
    await until(lambda: state.available("CAP", WAREHOUSE) == 0)  # pushed by the lane's pusher
    assert state.available("CAP", STORE) == 5


class SellWhenRead(NoProgress):
    """Places an order at a Shopify location when the reconcile starts reading a lane (after
    the run's catch-up pull, before that lane's figures are read)."""

    def __init__(self, shop: Shop, lane: str, location: int) -> None:
        self.shop, self.lane, self.location = shop, lane, location

    def start(self, channel: str, total: int | None) -> None:
        if channel == self.lane:
            self.shop.emulator.state.place_order({"CAP": 2}, location_id=self.location)


async def test_an_order_taken_while_the_lanes_are_read_is_pulled_not_written_over(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An order at the warehouse lands after the channel was pulled, while the store's lane is
    compared: the warehouse's lower figure is pulled before anything is fixed (the channel's
    orders, for the lane), so the sale is booked there and never written over."""
    state = shop.emulator.state
    settings = lanes_settings(tmp_path, shop, ledger_backend, hand_edits="revert")
    assert await init_command(settings, source="shop", yes=True, as_json=True) == 0
    output(capsys)
    store = await open_store(settings.ledger)
    try:
        await prepare_store(store, settings)
        async with open_channels(settings.channels) as opened:
            options = ReconcileOptions(fix=True, push=True, record_conflicts=True)
            progress = SellWhenRead(shop, "shop@warehouse", WAREHOUSE)
            reconciler = Reconciler(store, settings.sync, options, progress=progress)
            report = await reconciler.run(opened.targets)
    finally:
        await store.close()
    warehouse = next(c for c in report.channels if c.location == "warehouse")
    assert warehouse.moved == 1 and warehouse.fixed == 0  # checked again next time
    assert state.available("CAP", WAREHOUSE) == 1
    at = await stock_at(settings)
    assert (at[("store", "CAP")], at[("warehouse", "CAP")]) == (5, 1)


async def test_a_location_is_read_in_bulk_or_for_a_few_skus_alike(shop: Shop) -> None:
    """One bulk operation per location for the catalogue, a search for a few SKUs: the same
    figures, each location's own; a location the channel does not map is refused by name."""
    channel = lanes_settings(Path("/nonexistent"), shop, ("sqlite", "")).channel("shop")
    connector = ShopifyConnector("shop", channel.options)
    runs = len(shop.emulator.bulk)
    async with connector:
        for location, expected in (("store", (5, 1)), ("warehouse", (3, 2))):
            whole = {
                level.sku: level.quantity
                async for page in connector.read_location_levels(location)
                for level in page
            }
            few = {
                level.sku: level.quantity
                async for page in connector.read_location_levels(location, ["CAP", "SHIRT-44"])
                for level in page
            }
            assert (whole["CAP"], whole["SHIRT-44"]) == expected
            assert few == {"CAP": expected[0], "SHIRT-44": expected[1]}
        assert len(shop.emulator.bulk) == runs + 2  # one bulk read per location
        with pytest.raises(FatalError, match="'attic' has no Shopify location"):
            connector.read_location_levels("attic")
