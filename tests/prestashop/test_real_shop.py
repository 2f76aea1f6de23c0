"""The PrestaShop connector against a real PrestaShop 8.2.0 (../shared/real-shops, installed once
per run): start-up, real orders and cancellations, both write modes, read-back, a vanished row,
init and reconcile on the demo data as shipped, and the daemon end to end.

The shop keeps its state between runs (SYNCD_REAL_SHOPS_REUSE=1): every test asserts
relationships (the shop moved by one, the ledger equals the shop) or creates what it needs.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from syncd.config import load_config as parse_config_file
from syncd.config import parse_config
from syncd.connectors.base import PushItem, PushStatus
from syncd.connectors.prestashop.connector import PrestaShopConnector
from syncd.ledger import open_store
from syncd.testing import collect_documents
from syncd.testing.harness import SYNCD, Emulator, until
from syncd.testing.realshops import RealShop
from tests.e2e.test_daemon_process import Env, write_config
from tests.prestashop.realps import CANCELLED, RealPrestaShop

pytestmark = pytest.mark.realshop("prestashop")
PATTERN = "{reference}-{id_product_attribute}"
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def ps(real_prestashop: RealShop) -> RealPrestaShop:
    return RealPrestaShop.from_env(real_prestashop.env)


def since(seconds: float = 5) -> str:
    """A shop-local time a little before now (orders placed by a test are newer)."""
    return (datetime.now(PARIS) - timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def connector(ps: RealPrestaShop, **extra: Any) -> PrestaShopConnector:
    table = {"type": "prestashop", "url": ps.url, "api_key": ps.key, "overlap_seconds": 0, **extra}
    settings = parse_config({"channels": {"webshop": table}}, file="real.toml")
    return PrestaShopConnector("webshop", settings.channel("webshop").options)


async def pulled(c: PrestaShopConnector, order_id: int, start_from: str) -> Any:
    docs = await collect_documents(c, {"orders.date_upd": start_from})
    [doc] = [d for d in docs if d.doc_id == str(order_id)]
    return doc


async def test_start_up_check_reads_states_language_and_version(ps: RealPrestaShop) -> None:
    c = connector(ps)
    await c.open()
    try:
        await c.check()
        assert c.dead_states == {CANCELLED, 8} and c.language == 1
        assert c.client.version == "8.2.0" and c.uses_patch
    finally:
        await c.close()


async def test_real_orders_are_pulled_and_combinations_never_merge(ps: RealPrestaShop) -> None:
    start = since()
    order = await asyncio.to_thread(ps.place_order, [(6, 0, 2), (1, 1, 1), (1, 2, 1)])
    plain, patterned = connector(ps), connector(ps, combination_sku=PATTERN)
    await plain.open()
    await patterned.open()
    try:
        doc = await pulled(plain, order, start)
        # demo_1's combinations carry the product's reference: kept apart under their ids
        assert dict(doc.lines) == {"demo_11": 2, "prestashop:1:1": 1, "prestashop:1:2": 1}
        assert not doc.cancelled and all(not n.startswith("[") for n in doc.names.values())
        doc = await pulled(patterned, order, start)
        assert dict(doc.lines) == {"demo_11": 2, "demo_1-1": 1, "demo_1-2": 1}
    finally:
        await plain.close()
        await patterned.close()


async def test_a_cancellation_gives_the_stock_back(ps: RealPrestaShop) -> None:
    before = ps.quantity(8)
    start = since()
    order = await asyncio.to_thread(ps.place_order, [(8, 0, 1)])
    assert ps.quantity(8) == before - 1
    c = connector(ps)
    await c.open()
    try:
        doc = await pulled(c, order, start)
        assert dict(doc.lines) == {"demo_13": 1} and not doc.cancelled
        await asyncio.sleep(1.1)  # date_upd has one-second resolution
        ps.set_state(order, CANCELLED)
        assert ps.quantity(8) == before  # PrestaShop restocked
        again = await pulled(c, order, start)
        assert again.cancelled and dict(again.lines) == {"demo_13": 0}
        assert again.version > doc.version
    finally:
        await c.close()


@pytest.mark.parametrize("version", ["8", "1.7"])  # PATCH; GET + PUT
async def test_push_in_both_write_modes(ps: RealPrestaShop, version: str) -> None:
    c = connector(ps, version=version)
    await c.open()
    try:
        shows = ps.quantity(19)
        [result] = await c.push([PushItem("demo_14", shows + 3, shows)])
        assert result.status is PushStatus.WRITTEN, result.reason
        assert c.uses_patch is (version == "8")
        assert ps.quantity(19) == shows + 3
        # the row stays whole and in its shop (a PUT missing id_shop would hide it: 404 [131])
        [row] = ps.ok("GET", "stock_availables", {"filter[id_product]": "[19]", "display": "full"})[
            "stock_availables"
        ]
        assert (row["id_shop"], row["id_product_attribute"], row["out_of_stock"]) == ("1", "0", "2")
        assert await c.read_figures(["demo_14"]) == {"demo_14": shows + 3}
        [result] = await c.push([PushItem("demo_14", shows, shows + 3)])
        assert result.status is PushStatus.WRITTEN and ps.quantity(19) == shows
        # a product with combinations: its total row is never written
        [result] = await c.push([PushItem("demo_1", 1, None)])
        assert result.status is PushStatus.SKIPPED and "combinations" in result.reason
    finally:
        await c.close()


async def test_read_back_and_read_levels_equal_the_shop(ps: RealPrestaShop) -> None:
    c = connector(ps, combination_sku=PATTERN)
    await c.open()
    try:
        levels = [lvl for page in [p async for p in c.read_levels()] for lvl in page]
        rows = ps.ok(
            "GET", "stock_availables", {"display": "[id,id_product,id_product_attribute,quantity]"}
        )["stock_availables"]
        with_combos = {r["id_product"] for r in rows if r["id_product_attribute"] != "0"}
        wanted = {
            int(r["id"]): int(r["quantity"])
            for r in rows
            if r["id_product_attribute"] != "0" or r["id_product"] not in with_combos
        }
        assert {lvl.detail["stock_available"]: lvl.quantity for lvl in levels} == wanted
        skus = [lvl.sku for lvl in levels]
        assert "" not in skus and len(set(skus)) == len(skus)  # every variant its own SKU
        assert all(isinstance(lvl.name, str) and lvl.name and lvl.name[0] != "[" for lvl in levels)
        assert (
            next(lvl for lvl in levels if lvl.sku == "demo_11").name
            == "Mug The best is yet to come"
        )
        figures = await c.read_figures(["demo_18", "demo_1-3", "NO-SUCH-SKU"])
        assert figures == {
            "demo_18": max(0, ps.quantity(12)),
            "demo_1-3": max(0, ps.quantity(1, 3)),
        }
    finally:
        await c.close()


async def test_a_vanished_stock_row_is_found_again(ps: RealPrestaShop) -> None:
    c = connector(ps)
    await c.open()
    try:
        shows = ps.quantity(13)
        [result] = await c.push([PushItem("demo_19", shows + 1, shows)])
        assert result.status is PushStatus.WRITTEN
        old, _ = ps.stock_row(13)
        new = int(ps.sql("SELECT MAX(id_stock_available) + 1 FROM ps_stock_available").strip())
        ps.sql(
            f"UPDATE ps_stock_available SET id_stock_available = {new} WHERE id_stock_available = {old}"
        )
        gone = ps.call("GET", f"stock_availables/{old}")
        assert (gone.status, gone.body) == (404, b"")  # not error 87: an empty body
        [result] = await c.push([PushItem("demo_19", shows, shows + 1)])
        assert result.status is PushStatus.WRITTEN, result.reason
        assert ps.stock_row(13) == (new, shows)
        assert await c.read_figures(["demo_19"]) == {"demo_19": shows}
    finally:
        await c.close()


def syncd(*args: str, cwd: Path) -> dict[str, Any]:
    out = subprocess.run(
        [*SYNCD, *args, "--json"], capture_output=True, text=True, timeout=300, cwd=cwd
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return dict(json.loads(out.stdout))


def shop_config(tmp: Path, ps: RealPrestaShop, extra: str = "") -> Path:
    config = tmp / "syncd.toml"
    config.write_text(
        f"""[ledger]
backend = "sqlite"
path = "ledger.sqlite3"
[web]
enabled = false
[channels.webshop]
type = "prestashop"
url = "{ps.url}"
api_key = "{ps.key}"
{extra}
""",
        encoding="utf-8",
    )
    return config


async def test_init_and_reconcile_on_the_demo_data_as_shipped(
    tmp_path: Path, ps: RealPrestaShop
) -> None:
    rows = ps.ok("GET", "stock_availables", {"display": "[id,id_product,id_product_attribute]"})[
        "stock_availables"
    ]
    combination_rows = sum(1 for r in rows if r["id_product_attribute"] != "0")
    config = shop_config(tmp_path, ps)
    plan = syncd("init", "--config", str(config), "--from", "webshop", "--dry-run", cwd=tmp_path)
    counted = {c["sku"] for c in plan["ledger_changes"]}
    # combinations sharing demo_1 ... are reported, never counted under their product's SKU
    assert not counted & {"demo_1", "demo_3", "demo_6", "demo_5", "demo_7"}
    no_reference = [f for f in plan["audit"] if f["kind"] == "no_reference"]
    assert len(no_reference) == combination_rows
    assert not [f for f in plan["audit"] if f["kind"] == "duplicate_reference"]

    config = shop_config(tmp_path, ps, f'combination_sku = "{PATTERN}"')
    done = syncd("init", "--config", str(config), "--from", "webshop", "--yes", cwd=tmp_path)
    assert done["applied"] and done["skus"] == len(rows) - len(
        {r["id_product"] for r in rows if r["id_product_attribute"] != "0"}
    )
    assert not [f for f in done["audit"] if f["kind"] in ("no_reference", "duplicate_reference")]
    report = syncd("reconcile", "--config", str(config), "--dry-run", cwd=tmp_path)
    [channel] = report["channels"]
    assert channel["error"] in (None, "") and channel["differences"] == 0, channel["findings"]
    assert channel["compared"] == done["skus"]


# -- the daemon end to end: till file, real PrestaShop, emulated Magento --------------------------


@pytest.fixture
def magento() -> Iterator[dict[str, Any]]:
    with Emulator("magento", 4) as emulator:
        yield emulator.info


async def test_the_daemon_end_to_end_with_the_real_shop(
    tmp_path: Path, ps: RealPrestaShop, magento: dict[str, Any]
) -> None:
    shop = {"url": ps.url, "api_key": ps.key}
    config = write_config(tmp_path, shop, magento, "sqlite", "")
    text = config.read_text(encoding="utf-8").replace(
        f'api_key = "{ps.key}"\n', f'api_key = "{ps.key}"\ncombination_sku = "{PATTERN}"\n'
    )
    config.write_text(text, encoding="utf-8")
    env = Env(tmp_path, shop, magento, config)
    mug, tee = "demo_12", "demo_3-10"  # a product; a combination of demo_3 (pattern)
    ps.set_quantity(7, 0, 40)
    ps.set_quantity(2, 10, 30)
    for sku in (mug, tee):  # Magento sells the same products
        await env.admin("POST", "products", {"sku": sku, "quantity": 0}, shop="magento")
    done = syncd("init", "--config", str(config), "--from", "webshop", "--yes", cwd=tmp_path)
    assert done["applied"]

    async def magento_shows(sku: str, qty: int) -> bool:
        return bool((await env.admin("GET", "quantities", shop="magento"))[sku]["salable"] == qty)

    env.start()
    try:
        await until(lambda: env.till_stock().get(mug) == 40 and env.till_stock().get(tee) == 30, 60)
        await until(lambda: magento_shows(mug, 40), 30)
        # a till sale lowers the real shop
        env.sell_at_till({mug: 2, tee: 1})
        await until(lambda: ps.quantity(7) == 38 and ps.quantity(2, 10) == 29, 30)
        await until(lambda: magento_shows(tee, 29), 30)
        # a real order lowers the till file and Magento
        order = await asyncio.to_thread(ps.place_order, [(7, 0, 3), (2, 10, 1)])
        await until(lambda: env.till_stock().get(mug) == 35 and env.till_stock().get(tee) == 28, 30)
        await until(lambda: magento_shows(mug, 35), 30)
        # a cancellation gives it back everywhere
        await asyncio.sleep(1.1)
        ps.set_state(order, CANCELLED)
        await until(lambda: env.till_stock().get(mug) == 38 and env.till_stock().get(tee) == 29, 30)
        await until(lambda: magento_shows(mug, 38), 30)
        await until(lambda: magento_shows(tee, 29), 30)
        assert ps.quantity(7) == 38 and ps.quantity(2, 10) == 29
        # The merchant books 10 mugs delivered in PrestaShop's own stock screen, and a customer
        # orders one at that moment: hand_edits = "adopt" books the +10 once, the order once.
        ps.set_quantity(7, 0, 48)
        await asyncio.to_thread(ps.place_order, [(7, 0, 1)])
        await until(lambda: env.till_stock().get(mug) == 47, 30)
        await until(lambda: magento_shows(mug, 47), 30)
        env.sell_at_till({mug: 1})
        await until(lambda: ps.quantity(7) == 46 and env.till_stock().get(mug) == 46, 30)
        await until(lambda: magento_shows(mug, 46), 30)
        await asyncio.sleep(3)  # several more pulls and read-backs: nothing more is adopted
        assert ps.quantity(7) == 46 and env.till_stock().get(mug) == 46
    finally:
        if env.proc is not None and env.proc.poll() is None:
            assert env.stop() == 0
    log = (tmp_path / "daemon.log").read_text(encoding="utf-8")
    assert ps.key not in log and magento["password"] not in log
    store = await open_store(parse_config_file(config).ledger, migrate=False)
    try:
        edits = [m.delta for m in await store.movements(sku=mug) if m.reason.value == "hand_edit"]
        assert edits == [10]
        assert await store.levels([mug]) == {mug: 46}
    finally:
        await store.close()
