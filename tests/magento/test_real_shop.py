"""The Magento connector and the daemon against the real Magento 2.4.7-p3 with MSI
(../shared/real-shops, started once per run by tests/realshops.py).

Orders are placed, cancelled, invoiced, shipped and refunded through the shop's REST API as a
customer and the merchant would (its `mgshop.py`). The shop's state carries over between tests
and runs (SYNCD_REAL_SHOPS_REUSE=1), so every test makes its own orders and asserts what they
changed, never the seed figures.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.config import parse_config
from syncd.connectors.base import PushItem, PushStatus
from syncd.connectors.magento.connector import MagentoConnector
from syncd.exceptions import ChannelConfigError
from syncd.testing import collect_documents
from tests.e2e.test_daemon_process import SYNCD, Env, until
from tests.magento.real import ADMIN, mgshop, revoke_admin_tokens
from tests.realshops import RealShop

# The first test here may wait for the shop's install (2-4 minutes, begun at collection).
pytestmark = [pytest.mark.realshop("magento"), pytest.mark.timeout(900)]

SIMPLES = ["SYNCD-MUG", "SYNCD-CAP", "SYNCD-PEN", "SYNCD-BAG", "SYNCD-TEE-S", "SYNCD-TEE-M"]


@pytest.fixture(scope="module")
def helper(real_magento: RealShop) -> Any:
    shop = mgshop(real_magento).Shop(real_magento["MAGENTO_URL"])
    shop.login()
    # Plenty to sell, whatever earlier runs left: each test asserts changes, not figures.
    low = {s: 200 for s in SIMPLES if shop.source_qty(s) < 100}
    if low:
        shop.set_source(low)
    return shop


def table(shop: RealShop, **extra: Any) -> dict[str, Any]:
    return {
        "type": "magento",
        "url": shop["MAGENTO_URL"],
        "username": ADMIN["username"],
        "password": ADMIN["password"],
        "overlap_seconds": 0,
        **extra,
    }


def connector_for(shop: RealShop, **extra: Any) -> MagentoConnector:
    settings = parse_config({"channels": {"magento": table(shop, **extra)}}, file="real.toml")
    return MagentoConnector("magento", settings.channel("magento").options)


@pytest.fixture
async def connector(real_magento: RealShop) -> AsyncIterator[MagentoConnector]:
    c = connector_for(real_magento)
    await c.open()
    yield c
    await c.close()


async def salables(helper: Any, skus: list[str]) -> dict[str, int]:
    return {s: await asyncio.to_thread(helper.salable, s) for s in skus}


# -- start-up ---------------------------------------------------------------------------------


async def test_check_accepts_the_shop_and_names_a_wrong_stock_or_source(
    real_magento: RealShop, connector: MagentoConnector
) -> None:
    await connector.check()
    for extra, match in (
        ({"stock_id": 7}, r"stock_id = 7: Magento has no stock 7 \(has: 1 \(Default Stock\)\)"),
        ({"source_code": "warehouse"}, r"source_code = 'warehouse': Magento has no inventory"),
    ):
        wrong = connector_for(real_magento, **extra)
        await wrong.open()
        try:
            with pytest.raises(ChannelConfigError, match=match):
                await wrong.check()
        finally:
            await wrong.close()


async def test_an_expired_or_revoked_token_is_replaced(
    real_magento: RealShop, connector: MagentoConnector
) -> None:
    await connector.check()
    first = connector.client._token
    # the JWT says how long it lasts (60 minutes by default): renewed 10 minutes before
    left = connector.client._token_expiry - time.monotonic()
    assert 2900 < left <= 3000, left
    await asyncio.to_thread(revoke_admin_tokens, real_magento)
    await connector.check()  # a 401, a new token, the call again
    assert connector.client._token != first


# -- orders -----------------------------------------------------------------------------------


async def test_orders_placed_cancelled_shipped_and_refunded_count_what_magento_moved(
    helper: Any, connector: MagentoConnector
) -> None:
    """Each order's document holds, per SKU, exactly what Magento's salable lost for it."""
    skus = ["SYNCD-CAP", "SYNCD-PEN", "SYNCD-BAG", "SYNCD-TEE-S", "SYNCD-TEE-M"]
    before = await salables(helper, skus)
    call = asyncio.to_thread
    cancelled = await call(helper.place_order, [("SYNCD-CAP", 2), ("SYNCD-TEE-M", 1)])
    await call(helper.cancel, cancelled)
    shipped = await call(helper.place_order, [("SYNCD-PEN", 3), ("SYNCD-TEE-S", 2)])
    await call(helper.invoice, shipped)
    await call(helper.ship, shipped)
    # refunded without return (Magento's default): the units stay sold, even with the
    # configurable's parent named in return_to_stock_items (accepted, returns nothing)
    kept = await call(helper.place_order, [("SYNCD-BAG", 2), ("SYNCD-TEE-M", 2)])
    await call(helper.invoice, kept)
    await call(helper.refund, kept, "SYNCD-BAG", 1, False)
    items = (await call(helper.order, kept))["items"]
    parent = next(i for i in items if i["product_type"] == "configurable")
    await call(
        helper.call,
        "POST",
        f"order/{kept}/refund",
        {
            "items": [{"order_item_id": parent["item_id"], "qty": 1}],
            "arguments": {"extension_attributes": {"return_to_stock_items": [parent["item_id"]]}},
        },
    )
    after = await salables(helper, skus)
    docs = {d.doc_id: d for d in await collect_documents(connector, {})}
    moved: dict[str, int] = {}
    for order in (cancelled, shipped, kept):
        for sku, units in docs[str(order)].lines.items():
            moved[sku] = moved.get(sku, 0) + units
    assert docs[str(cancelled)].cancelled
    assert dict(docs[str(cancelled)].lines) == {"SYNCD-CAP": 0, "SYNCD-TEE-M": 0}
    assert dict(docs[str(shipped)].lines) == {"SYNCD-PEN": 3, "SYNCD-TEE-S": 2}
    assert dict(docs[str(kept)].lines) == {"SYNCD-BAG": 2, "SYNCD-TEE-M": 2}
    assert {s: before[s] - after[s] for s in skus} == {s: moved.get(s, 0) for s in skus}


async def test_a_refund_returned_to_stock_is_counted_where_the_shop_returns_refunds(
    real_magento: RealShop, helper: Any
) -> None:
    skus = ["SYNCD-MUG", "SYNCD-TEE-S"]
    before = await salables(helper, skus)
    order = await asyncio.to_thread(helper.place_order, [("SYNCD-MUG", 2), ("SYNCD-TEE-S", 2)])
    await asyncio.to_thread(helper.invoice, order)
    await asyncio.to_thread(helper.refund, order, "SYNCD-MUG", 1)  # its own line returned
    await asyncio.to_thread(helper.refund, order, "SYNCD-TEE-S", 1)  # the child line returned
    after = await salables(helper, skus)
    connector = connector_for(real_magento, refund_returns_stock=True)
    await connector.open()
    try:
        [doc] = [d for d in await collect_documents(connector, {}) if d.doc_id == str(order)]
    finally:
        await connector.close()
    assert dict(doc.lines) == {"SYNCD-MUG": 1, "SYNCD-TEE-S": 1}
    assert {s: before[s] - after[s] for s in skus} == dict(doc.lines)


async def test_the_catalogue_read_agrees_with_magentos_salable_with_shipped_configurables(
    helper: Any, connector: MagentoConnector
) -> None:
    order = await asyncio.to_thread(helper.place_order, [("SYNCD-TEE-S", 3), ("SYNCD-MUG", 1)])
    await asyncio.to_thread(helper.invoice, order)
    parent = next(
        i
        for i in (await asyncio.to_thread(helper.order, order))["items"]
        if i["product_type"] == "configurable"
    )
    await asyncio.to_thread(
        helper.call,
        "POST",
        f"order/{order}/ship",
        {
            "items": [{"order_item_id": parent["item_id"], "qty": 2}],
            "arguments": {"extension_attributes": {"source_code": "default"}},
        },
    )
    assert (await asyncio.to_thread(helper.order, order))["state"] == "processing"
    bulk = {lv.sku: lv for p in [p async for p in connector.read_levels()] for lv in p}
    one_by_one = {lv.sku: lv for p in [p async for p in connector.read_levels(SIMPLES)] for lv in p}
    for sku in SIMPLES:
        assert bulk[sku].detail["salable"] == one_by_one[sku].detail["salable"], sku
        assert bulk[sku].quantity == await asyncio.to_thread(helper.salable, sku), sku


# -- push -------------------------------------------------------------------------------------


async def test_msi_push_writes_source_as_figure_plus_reserved(
    helper: Any, connector: MagentoConnector
) -> None:
    order = await asyncio.to_thread(helper.place_order, [("SYNCD-CAP", 2)])  # reserves 2
    shows = await asyncio.to_thread(helper.salable, "SYNCD-CAP")
    reserved = await asyncio.to_thread(helper.source_qty, "SYNCD-CAP") - shows
    assert reserved >= 2
    [result] = await connector.push([PushItem("SYNCD-CAP", shows - 5, shows)])
    assert result.status is PushStatus.WRITTEN and result.shown == shows - 5
    assert await asyncio.to_thread(helper.salable, "SYNCD-CAP") == shows - 5
    assert await asyncio.to_thread(helper.source_qty, "SYNCD-CAP") == shows - 5 + reserved
    # shipping moves the source and the reservation together: salable stays ours
    await asyncio.to_thread(helper.ship, order)
    assert await asyncio.to_thread(helper.salable, "SYNCD-CAP") == shows - 5
    [again] = await connector.push([PushItem("SYNCD-CAP", shows - 5, shows - 5)])
    assert again.status is PushStatus.UNCHANGED


async def test_units_reserved_keep_the_item_in_stock_so_a_cancellation_is_read_right(
    helper: Any, connector: MagentoConnector
) -> None:
    """The salable of an item out of stock is 0 whatever its source holds and its orders
    reserve (GetProductSalableQty); so a push leaving none available but units reserved keeps
    it in stock, and a cancellation of those orders is then read as it is."""
    sku, call = "SYNCD-PEN", asyncio.to_thread
    try:
        order = await call(helper.place_order, [(sku, 2)])
        shows = await call(helper.salable, sku)
        reserved = await call(helper.source_qty, sku) - shows  # this order's 2 and any others
        assert reserved >= 2
        # Our write leaving none available: in stock, its source the units reserved.
        [sold_out] = await connector.push([PushItem(sku, 0, shows)])
        assert sold_out.status is PushStatus.WRITTEN
        assert await call(helper.source_qty, sku) == reserved
        assert await call(helper.salable, sku) == 0
        await call(helper.cancel, order)  # its 2 units back in the ledger
        # Magento still says 0: its index is computed when the item is saved, not when an
        # order is cancelled. The units reserved come from the open orders, and the write
        # (source = 2 + what is still reserved) saves the item.
        assert await call(helper.salable, sku) == 0
        [back] = await connector.push([PushItem(sku, 2, 0)])
        assert back.status is PushStatus.WRITTEN and back.shown == 2
        assert await call(helper.source_qty, sku) == reserved
        assert await call(helper.salable, sku) == 2
        # The merchant marks it out of stock with units on hand, 2 reserved: salable says 0,
        # not on hand − reserved; the push takes the units reserved from the open orders.
        order = await call(helper.place_order, [(sku, 2)])
        out = {"sku": sku, "source_code": "default", "quantity": reserved + 3, "status": 0}
        await call(helper.call, "POST", "inventory/source-items", {"sourceItems": [out]})
        assert await call(helper.salable, sku) == 0
        [nothing] = await connector.push([PushItem(sku, 0, 0)])
        assert nothing.status is PushStatus.UNCHANGED
        await call(helper.cancel, order)
        [again] = await connector.push([PushItem(sku, 2, 0)])
        assert again.status is PushStatus.WRITTEN
        assert await call(helper.source_qty, sku) == reserved
        assert await call(helper.salable, sku) == 2
    finally:
        await call(helper.set_source, {sku: 200})


async def test_an_unknown_sku_in_a_push_batch_is_skipped_alone(
    helper: Any, connector: MagentoConnector
) -> None:
    # a source item for a SKU that is no product (Magento stores it), a configurable parent,
    # a SKU Magento has never heard of, and one it sells
    await asyncio.to_thread(helper.set_source, {"SYNCD-GHOST": 3})
    try:
        shows = await asyncio.to_thread(helper.salable, "SYNCD-PEN")
        results = await connector.push(
            [
                PushItem("SYNCD-GHOST", 1, None),
                PushItem("SYNCD-TEE", 1, None),
                PushItem("SYNCD-NOWHERE", 1, None),
                PushItem("SYNCD-PEN", shows - 1, shows),
            ]
        )
    finally:
        await asyncio.to_thread(
            helper.call,
            "POST",
            "inventory/source-items-delete",
            {"sourceItems": [{"sku": "SYNCD-GHOST", "source_code": "default"}]},
        )
    by_sku = {r.sku: r for r in results}
    assert by_sku["SYNCD-PEN"].status is PushStatus.WRITTEN
    assert await asyncio.to_thread(helper.salable, "SYNCD-PEN") == shows - 1
    for sku in ("SYNCD-GHOST", "SYNCD-TEE", "SYNCD-NOWHERE"):
        assert by_sku[sku].status is PushStatus.SKIPPED and by_sku[sku].reason, sku
    assert "no product 'SYNCD-GHOST'" in by_sku["SYNCD-GHOST"].reason


# -- the commands and the daemon --------------------------------------------------------------


def write_config(tmp: Path, shop: RealShop, prestashop: dict[str, Any] | None) -> Path:
    other = (
        f"""[channels.webshop]
type = "prestashop"
url = "{prestashop["url"]}"
api_key = "{prestashop["api_key"]}"
poll_seconds = 0.3
overlap_seconds = 2
"""
        if prestashop
        else ""
    )
    config = tmp / "syncd.toml"
    config.write_text(
        f"""[ledger]
backend = "sqlite"
path = "ledger.sqlite3"
[log]
level = "info"
format = "json"
[sync]
grace_seconds = 5
outbox_poll_seconds = 1
[web]
enabled = false
[channels.till]
type = "csv_till"
drop_folder = "till/inbox"
stock_file = "till/stock.csv"
settle_seconds = 0.2
poll_seconds = 0.5
stock_min_interval_seconds = 0.1
[channels.magento]
type = "magento"
url = "{shop["MAGENTO_URL"]}"
username = "{ADMIN["username"]}"
password = "{ADMIN["password"]}"
poll_seconds = 0.3
overlap_seconds = 2
{other}""",
        encoding="utf-8",
    )
    (tmp / "till" / "inbox").mkdir(parents=True)
    return config


def syncd(config: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [*SYNCD, *args, "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=config.parent,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(json.loads(out.stdout))


async def test_init_and_reconcile_against_the_real_shop(
    real_magento: RealShop, helper: Any, tmp_path: Path
) -> None:
    config = write_config(tmp_path, real_magento, None)
    # the hand edit below is put back by --fix (hand_edits = "revert"); adopt is tested on the
    # real PrestaShop (tests/prestashop/test_real_shop.py)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace('type = "magento"\n', 'type = "magento"\nhand_edits = "revert"\n')
    )
    init = await asyncio.to_thread(syncd, config, "init", "--from", "magento", "--yes")
    assert init["applied"] and set(SIMPLES) <= {c["sku"] for c in init["ledger_changes"]}
    figures = await salables(helper, SIMPLES)
    counted = {c["sku"]: c["after"] for c in init["ledger_changes"]}
    assert {s: counted[s] for s in SIMPLES} == figures
    report = await asyncio.to_thread(syncd, config, "reconcile")
    [magento] = [c for c in report["channels"] if c["channel"] == "magento"]
    assert magento["compared"] >= len(SIMPLES) and magento["differences"] == 0, magento
    # a hand edit in Magento's admin is found, and --fix puts the ledger's figure back
    await asyncio.to_thread(helper.set_source, {"SYNCD-BAG": helper.source_qty("SYNCD-BAG") + 4})
    report = await asyncio.to_thread(syncd, config, "reconcile", "--fix")
    [magento] = [c for c in report["channels"] if c["channel"] == "magento"]
    assert magento["differences"] == 1 and magento["findings"][0]["sku"] == "SYNCD-BAG"
    assert await asyncio.to_thread(helper.salable, "SYNCD-BAG") == figures["SYNCD-BAG"]


@pytest.fixture
def prestashop() -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [*SYNCD, "emulator", "prestashop", "--port", "0", "--products", "4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    yield info
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()


async def test_the_daemon_end_to_end_with_the_real_shop(
    real_magento: RealShop, helper: Any, prestashop: dict[str, Any], tmp_path: Path
) -> None:
    config = write_config(tmp_path, real_magento, prestashop)
    await asyncio.to_thread(syncd, config, "init", "--from", "magento", "--yes")
    env = Env(tmp_path, prestashop, {}, config)
    env.start()
    try:
        start = await salables(helper, ["SYNCD-PEN", "SYNCD-CAP"])
        await until(lambda: env.till_stock().get("SYNCD-CAP") == start["SYNCD-CAP"], 30)
        # a till sale lowers the real shop's salable
        env.sell_at_till({"SYNCD-PEN": 2})

        async def shows(sku: str, qty: int) -> bool:
            return bool(await asyncio.to_thread(helper.salable, sku) == qty)

        await until(lambda: shows("SYNCD-PEN", start["SYNCD-PEN"] - 2), 30)
        # a real order lowers the till's stock file, and a cancellation gives it back
        order = await asyncio.to_thread(helper.place_order, [("SYNCD-CAP", 3)])
        await until(lambda: env.till_stock().get("SYNCD-CAP") == start["SYNCD-CAP"] - 3, 30)
        await asyncio.to_thread(helper.cancel, order)
        await until(lambda: env.till_stock().get("SYNCD-CAP") == start["SYNCD-CAP"], 30)
        assert await shows("SYNCD-CAP", start["SYNCD-CAP"])
        assert await shows("SYNCD-PEN", start["SYNCD-PEN"] - 2)
        assert env.proc is not None and env.proc.poll() is None
    finally:
        if env.proc is not None and env.proc.poll() is None:
            assert env.stop() == 0
    log = (tmp_path / "daemon.log").read_text(encoding="utf-8")
    assert ADMIN["password"] not in log and "push_failed" not in log
