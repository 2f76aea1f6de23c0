"""PrestaShop packs: the emulator follows PrestaShop's pack stock rules; the connector reads the
packs that decrement their products as kits (against the emulator, every version); an order of a
pack has one row, the pack's, so nothing is counted twice. End to end: `syncd init` from the shop,
then a pack sold on PrestaShop lowers its components in the ledger and in the till's stock file;
an old pack order cancelled after init gives its components back once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from syncd.cli import main
from syncd.cli.run import ServedDaemon
from syncd.config import load_config
from syncd.connectors.prestashop.emulator import PrestaShopEmulator
from syncd.connectors.prestashop.emulator import create_app as prestashop_app
from syncd.testing.harness import until, write_config
from tests.prestashop.conftest import KEY, Shop, connector_for
from tests.servers import threaded_app


def packs(emulator: PrestaShopEmulator) -> None:
    emulator.add_product("TEA", 10, name="Green tea")
    emulator.add_product("CUP", 6, name="Cup")
    emulator.add_pack("GIFTBOX", {"TEA": 2, "CUP": 1}, 3, pack_stock_type=2)  # both
    emulator.add_pack("DUO", {"TEA": 1, "CUP": 1}, 5, pack_stock_type=0)  # the pack only
    emulator.add_pack("TRIO", {"CUP": 3}, 0, pack_stock_type=3)  # the shop's default


def test_the_emulator_decrements_what_the_pack_stock_type_says() -> None:
    shop = PrestaShopEmulator()
    packs(shop)
    shop.create_order({"GIFTBOX": 1})
    assert (shop.quantity("GIFTBOX"), shop.quantity("TEA"), shop.quantity("CUP")) == (2, 8, 5)
    shop.create_order({"DUO": 1})
    assert (shop.quantity("DUO"), shop.quantity("TEA"), shop.quantity("CUP")) == (4, 8, 5)
    shop.pack_stock_type_default = 1
    order = shop.create_order({"TRIO": 1})
    assert (shop.quantity("TRIO"), shop.quantity("CUP")) == (0, 2)
    shop.set_order_state(order, "PS_OS_CANCELED")
    assert shop.quantity("CUP") == 5
    assert len(shop.orders[order].rows) == 1  # one row, the pack's


async def test_the_connector_reads_packs_that_decrement_their_products(shop: Shop) -> None:
    packs(shop.emulator)
    shop.emulator.pack_stock_type_default = 1
    connector = connector_for(shop)
    async with connector:
        kits = {k.sku: (dict(k.components), k.derived) for k in await connector.read_kits()}
    assert kits == {
        "GIFTBOX": ({"TEA": 2, "CUP": 1}, False),
        "TRIO": ({"CUP": 3}, False),  # type 3 follows PS_PACK_STOCK_TYPE = 1
    }  # DUO (type 0) keeps stock of its own: not a kit


async def test_a_pack_order_is_one_line_for_the_pack(shop8: Shop) -> None:
    packs(shop8.emulator)
    shop8.emulator.create_order({"GIFTBOX": 2})
    connector = connector_for(shop8)
    async with connector:
        await connector.check()
        docs = [d async for batch in connector.pull({}) for d in batch.documents]
    assert [dict(d.lines) for d in docs] == [{"GIFTBOX": 2}]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _stock_file(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    return {sku: int(q) for sku, q in (r.split(";") for r in rows)}


def test_a_pack_sold_on_prestashop_lowers_its_components_at_the_till(
    tmp_path: Path, ledger_backend: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    backend, dsn = ledger_backend
    emulator = PrestaShopEmulator(version="8.1.0")
    packs(emulator)
    old = emulator.create_order({"GIFTBOX": 1})  # before init: TEA 8, CUP 5, GIFTBOX 2
    ledger = (
        {"backend": "postgres", "dsn": dsn}
        if backend == "postgres"
        else {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")}
    )
    (tmp_path / "till" / "inbox").mkdir(parents=True)
    stock_file = tmp_path / "till" / "stock.csv"
    with threaded_app(prestashop_app(emulator, api_key=KEY)) as url:
        config = write_config(
            tmp_path / "syncd.toml",
            {
                "ledger": ledger,
                "log": {"format": "json"},
                "sync": {"outbox_poll_seconds": 0.2},
                "web": {"enabled": False},
                "channels": {
                    "webshop": {
                        "type": "prestashop",
                        "url": url,
                        "api_key": KEY,
                        "overlap_seconds": 0,
                        "timeout_seconds": 5,
                        "poll_seconds": 0.2,
                    },
                    "till": {
                        "type": "csv_till",
                        "drop_folder": "till/inbox",
                        "stock_file": "till/stock.csv",
                        "stock_min_interval_seconds": 0,
                    },
                },
            },
        )
        code = main(["init", "--config", str(config), "--from", "webshop", "--yes", "--json"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert json.loads(captured.out)["history_documents"] == 1
        settings = load_config(config)

        async def run() -> None:
            daemon = ServedDaemon(settings)
            await daemon.start()
            try:
                store = daemon.store
                assert store is not None
                kits = {k.sku: dict(k.components) for k in await store.kit_definitions()}
                assert kits == {"GIFTBOX": {"TEA": 2, "CUP": 1}}
                assert (await store.levels(["TEA", "CUP"])) == {"TEA": 8, "CUP": 5}
                await until(lambda: _stock_file(stock_file).get("GIFTBOX") == 4, timeout=20)
                await until(lambda: emulator.quantity("GIFTBOX") == 4, timeout=20)

                emulator.create_order({"GIFTBOX": 1})  # the shop: TEA 6, CUP 4
                await until(lambda: _stock_file(stock_file).get("TEA") == 6, timeout=20)
                assert (await store.levels(["TEA", "CUP"])) == {"TEA": 6, "CUP": 4}
                await until(lambda: _stock_file(stock_file).get("GIFTBOX") == 3, timeout=20)
                assert _stock_file(stock_file)["CUP"] == 4
                moves = await store.movements(sku="TEA", channel="webshop")
                assert [(m.delta, m.kit) for m in moves] == [(-2, "GIFTBOX")]

                emulator.set_order_state(old, "PS_OS_CANCELED")  # the old order: back, once
                await until(lambda: _stock_file(stock_file).get("TEA") == 8, timeout=20)
                await asyncio.sleep(1.0)
                assert (await store.levels(["TEA", "CUP"])) == {"TEA": 8, "CUP": 5}
                assert _stock_file(stock_file)["GIFTBOX"] == 4
                await until(lambda: emulator.quantity("GIFTBOX") == 4, timeout=20)
                assert (emulator.quantity("TEA"), emulator.quantity("CUP")) == (8, 5)
            finally:
                await daemon.stop()

        asyncio.run(run())
