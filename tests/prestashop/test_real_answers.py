"""The connector against what real shops answer (issue 14, items 1 to 6), through the emulator
that now answers the same way; tests/prestashop/test_real_shop.py does it on a real 8.2.0."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from syncd.connectors.base import PushItem, PushStatus
from syncd.testing import collect_documents
from tests.prestashop.conftest import KEY, Shop, connector_for, start


@pytest.fixture(params=["8.2.0", "8.1.0"])
async def real8(request: pytest.FixtureRequest) -> AsyncIterator[Shop]:
    """8.2.0 answers strings, 8.1 on PHP >= 8.1 numbers: both as the real ones do."""
    s, runner = await start(request.param)
    yield s
    await runner.cleanup()


@pytest.fixture
async def tees() -> AsyncIterator[Shop]:
    """A shop whose T-shirt's combinations share its reference, as PrestaShop's demo data."""
    s, runner = await start("8.2.0")
    s.emulator.add_product(
        "TEE",
        name="T-shirt",
        combinations=[
            ("TEE", 3, ""),
            ("TEE", 5, ""),
            ("TEE-L", 2, ""),
            ("TEE", 4, "3601234567897"),
        ],
    )
    yield s
    await runner.cleanup()


def tee_ids(shop: Shop) -> tuple[int, list[int]]:
    product = next(p for p in shop.emulator.products.values() if p.reference == "TEE")
    return product.id, list(product.combinations)


async def raw(shop: Shop, path: str) -> tuple[int, bytes]:
    auth = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{shop.url}/api/{path}", headers=auth) as r,
    ):
        return r.status, await r.read()


# -- item 1: `display` gives the plural list, even for one id -------------------------------------


async def test_read_back_reads_the_plural_envelope_of_one_id(real8: Shop) -> None:
    status, body = await raw(real8, "stock_availables/4?display=[id,quantity]&output_format=JSON")
    assert status == 200 and list(json.loads(body)) == ["stock_availables"]
    connector = connector_for(real8)
    await connector.open()
    try:
        assert await connector.read_figures(["CAP", "SHIRT-BLUE-44"]) == {
            "CAP": 5,
            "SHIRT-BLUE-44": 1,
        }
    finally:
        await connector.close()


# -- item 2: a single object leaves out 0 and ""; GET + PUT must still send every field -----------


async def test_get_put_mode_sends_every_required_field_and_keeps_the_row_in_its_shop(
    real8: Shop,
) -> None:
    status, body = await raw(real8, "stock_availables/4?output_format=JSON")
    single = json.loads(body)["stock_available"]
    assert status == 200 and "id_product_attribute" not in single and "location" not in single
    connector = connector_for(real8, version="1.7")  # GET + PUT
    await connector.open()
    try:
        [result] = await connector.push([PushItem("CAP", 9, 5)])
        assert result.status is PushStatus.WRITTEN, result.reason
        assert [m for m, _ in real8.emulator.requests if m in ("PUT", "PATCH")] == ["PUT"]
        row = real8.emulator.stock_row(2)
        assert (row.quantity, row.id_shop, row.out_of_stock) == (9, 1, 2)
        assert await connector.read_figures(["CAP"]) == {"CAP": 9}  # still in its shop
    finally:
        await connector.close()


# -- item 3: an unknown id is 404 with an empty body; a vanished row is looked up again -----------


async def test_a_vanished_stock_row_is_resolved_again(real8: Shop) -> None:
    connector = connector_for(real8)
    await connector.open()
    try:
        [first] = await connector.push([PushItem("CAP", 6, 5)])
        assert first.status is PushStatus.WRITTEN
        old = real8.emulator.stock_row(2).id
        new = real8.emulator.recreate_stock_row(2)
        assert await raw(real8, f"stock_availables/{old}?output_format=JSON") == (404, b"")
        [result] = await connector.push([PushItem("CAP", 7, 6)])
        assert result.status is PushStatus.WRITTEN, result.reason
        assert real8.emulator.stock[new].quantity == 7
        assert await connector.read_figures(["CAP"]) == {"CAP": 7}
    finally:
        await connector.close()


# -- item 4: multilingual fields are lists; the default language is kept, as text -----------------


async def test_multilingual_names_reach_the_ledger_as_text(real8: Shop) -> None:
    status, body = await raw(real8, "products/2?output_format=JSON&display=[id,name]")
    assert isinstance(json.loads(body)["products"][0]["name"], list)
    connector = connector_for(real8)
    await connector.open()
    try:
        levels = {
            lvl.sku: lvl for page in [p async for p in connector.read_levels()] for lvl in page
        }
        assert levels["CAP"].name == "Cap" and levels["SHIRT-BLUE-42"].name == "Blue shirt"
    finally:
        await connector.close()


# -- item 5: (product, combination) ids, never the product's SKU for a variant --------------------


async def test_combinations_sharing_their_products_reference_are_never_merged(tees: Shop) -> None:
    pid, (shared_a, shared_b, own, with_ean) = tee_ids(tees)
    connector = connector_for(tees)
    await connector.open()
    try:
        order = tees.emulator.create_order({(pid, shared_a): 1, (pid, shared_b): 2, (pid, own): 1})
        [doc] = await collect_documents(connector, {})
        assert doc.doc_id == str(order)
        assert dict(doc.lines) == {
            f"prestashop:{pid}:{shared_a}": 1,
            f"prestashop:{pid}:{shared_b}": 2,
            "TEE-L": 1,
        }
        levels = [lvl for page in [p async for p in connector.read_levels()] for lvl in page]
        tee = [lvl for lvl in levels if lvl.detail["id_product"] == pid]
        assert sorted((lvl.sku, lvl.quantity) for lvl in tee) == [
            ("", 2),  # kept apart, reported, never under "TEE"
            ("", 3),
            ("3601234567897", 4),  # no reference of its own: its EAN13
            ("TEE-L", 1),
        ]
        [result] = await connector.push([PushItem("TEE", 1, None)])
        assert result.status is PushStatus.SKIPPED  # the product's total row is never written
        [result] = await connector.push([PushItem("3601234567897", 6, 4)])
        assert result.status is PushStatus.WRITTEN
        assert tees.emulator.stock_row(pid, with_ean).quantity == 6
    finally:
        await connector.close()


async def test_a_pattern_and_a_mapping_give_combinations_their_own_skus(tees: Shop) -> None:
    pid, (shared_a, shared_b, own, _) = tee_ids(tees)
    connector = connector_for(
        tees,
        combination_sku="{reference}-{id_product_attribute}",
        skus={f"{pid}:{shared_b}": "TEE-M-BLUE"},
    )
    await connector.open()
    try:
        tees.emulator.create_order({(pid, shared_a): 1, (pid, shared_b): 1})
        [doc] = await collect_documents(connector, {})
        assert dict(doc.lines) == {f"TEE-{shared_a}": 1, "TEE-M-BLUE": 1}
        results = await connector.push(
            [PushItem(f"TEE-{shared_a}", 8, 2), PushItem("TEE-M-BLUE", 9, 4)]
        )
        assert [r.status for r in results] == [PushStatus.WRITTEN, PushStatus.WRITTEN]
        assert tees.emulator.stock_row(pid, shared_a).quantity == 8
        assert tees.emulator.stock_row(pid, shared_b).quantity == 9
        assert await connector.read_figures([f"TEE-{shared_a}", "TEE-L"]) == {
            f"TEE-{shared_a}": 8,
            "TEE-L": 2,
        }
        levels = [lvl for page in [p async for p in connector.read_levels()] for lvl in page]
        assert "" not in {lvl.sku for lvl in levels if lvl.detail["id_product"] == pid}
    finally:
        await connector.close()


def test_bad_sku_settings_are_config_errors() -> None:
    from syncd.config import ConfigError, parse_config

    table = {"type": "prestashop", "url": "http://x", "api_key": KEY}
    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "channels": {
                    "w": {**table, "combination_sku": "{reference}-{colour}", "skus": {"x": "S"}}
                }
            },
            file="c.toml",
        )
    text = "\n".join(str(i) for i in err.value.issues)
    assert "combination_sku" in text and "colour" in text and "skus" in text


# -- item 6: numbers on 8.0/8.1, strings on 8.2; a write to a product's total row is stored -------


async def test_numbers_or_strings_by_version(real8: Shop) -> None:
    real8.emulator.create_order({"CAP": 1})
    _, body = await raw(real8, "orders?display=full&output_format=JSON")
    order = json.loads(body)["orders"][0]
    row = order["associations"]["order_rows"][0]
    numbers = real8.emulator.version.startswith("8.1")
    assert order["id"] == 1 and isinstance(order["current_state"], int) is numbers
    assert isinstance(row["product_quantity"], int) is numbers
    connector = connector_for(real8)
    await connector.open()
    try:
        [doc] = await collect_documents(connector, {})
        assert dict(doc.lines) == {"CAP": 1}
    finally:
        await connector.close()


async def test_a_write_to_a_total_row_is_stored_until_a_combination_changes(real8: Shop) -> None:
    total = real8.emulator.stock_row(1, 0)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
    body = f"<prestashop><stock_available><id>{total.id}</id><quantity>50</quantity></stock_available></prestashop>"
    async with (
        aiohttp.ClientSession() as http,
        http.patch(f"{real8.url}/api/stock_availables/{total.id}", data=body, headers=auth) as r,
    ):
        assert r.status == 200
    assert total.quantity == 50  # stored as sent
    real8.emulator.set_quantity("SHIRT-BLUE-42", 2)
    assert total.quantity == 3  # recomputed: 2 + 1


async def test_order_history_post_answers_the_history(real8: Shop) -> None:
    order = real8.emulator.create_order({"CAP": 1})
    auth = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
    body = f"<prestashop><order_history><id_order>{order}</id_order><id_order_state>16</id_order_state></order_history></prestashop>"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{real8.url}/api/order_histories?output_format=JSON", data=body, headers=auth
        ) as r,
    ):
        assert r.status == 201
        history = (await r.json())["order_history"]
    assert history["id_order"] == str(order) and history["id_order_state"] == 16
    assert real8.emulator.quantity("CAP") == 5
