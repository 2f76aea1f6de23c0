"""The emulator (8.2.0 mode) and a real PrestaShop 8.2.0 answer the same requests with the same
shapes: keys, value types, envelopes, status codes and empty bodies. Values differ (catalogues
differ); where the emulator shows fewer fields than the real object (orders), every field it
shows is named and typed as the real one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from syncd.testing.realshops import RealShop
from tests.prestashop.conftest import KEY, Shop, start
from tests.prestashop.realps import Answer, RealPrestaShop

pytestmark = pytest.mark.realshop("prestashop")


def shape(value: Any) -> Any:
    """Keys and value types, not values: {"id": "int", "name": [{"id": "str", ...}], ...}."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def subset(emulated: Any, real: Any, where: str = "") -> list[str]:
    """Where the emulator's shape is not the real one's (missing keys in the emulator allowed)."""
    if isinstance(emulated, dict) and isinstance(real, dict):
        out = []
        for key, value in emulated.items():
            if key not in real:
                out.append(f"{where}.{key}: not in the real answer")
            else:
                out += subset(value, real[key], f"{where}.{key}")
        return out
    if isinstance(emulated, list) and isinstance(real, list):
        return subset(emulated[0], real[0], where + "[0]") if emulated and real else []
    return [] if emulated == real else [f"{where}: {emulated} != {real}"]


@pytest.fixture
async def emulated() -> AsyncIterator[tuple[Shop, RealPrestaShop]]:
    shop, runner = await start("8.2.0")
    shop.emulator.create_order({"SHIRT-BLUE-42": 1, "CAP": 1})
    yield shop, RealPrestaShop(shop.url, KEY, "", "", "")
    await runner.cleanup()


@pytest.fixture
def real(real_prestashop: RealShop) -> RealPrestaShop:
    return RealPrestaShop.from_env(real_prestashop.env)


async def both(
    real: RealPrestaShop,
    emu: RealPrestaShop,
    method: str,
    path: Callable[[bool], str],
    params: dict[str, str] | None = None,
    body: Callable[[bool], str] | None = None,
) -> tuple[Answer, Answer]:
    """The same request to the real shop and to the emulator (ids may differ per side)."""

    def call(side: RealPrestaShop, is_real: bool) -> Answer:
        return side.call(method, path(is_real), params, body(is_real) if body else None)

    return await asyncio.gather(
        asyncio.to_thread(call, real, True), asyncio.to_thread(call, emu, False)
    )


def same(real: Answer, emu: Answer, *, exact: bool = True) -> None:
    assert real.status == emu.status, (real.status, emu.status, real.body[:200], emu.body[:200])
    if not real.body:
        assert emu.body == b""
        return
    r, e = shape(json.loads(real.body)), shape(json.loads(emu.body))
    if exact:
        assert e == r
    else:
        assert not subset(e, r), subset(e, r)


async def test_stock_availables_list_single_display_and_unknown(
    real: RealPrestaShop, emulated: tuple[Shop, RealPrestaShop]
) -> None:
    shop, emu = emulated
    simple = shop.emulator.stock_row(2).id  # CAP: a product without combinations
    real_simple = real.stock_row(7)[0]

    def one(is_real: bool) -> str:
        return f"stock_availables/{real_simple if is_real else simple}"

    same(*await both(real, emu, "GET", lambda _: "stock_availables", {"limit": "2"}))
    same(
        *await both(
            real, emu, "GET", lambda _: "stock_availables", {"display": "full", "limit": "2"}
        )
    )
    r, e = await both(real, emu, "GET", one)
    same(r, e)
    assert "id_product_attribute" not in json.loads(r.body)["stock_available"]  # "0": left out
    same(*await both(real, emu, "GET", one, {"display": "[id,quantity]"}))
    same(*await both(real, emu, "GET", one, {"display": "full"}))
    r, e = await both(real, emu, "GET", lambda _: "stock_availables/987654")
    same(r, e)
    assert (r.status, r.body) == (404, b"")
    same(
        *await both(
            real,
            emu,
            "GET",
            lambda _: "stock_availables",
            {"filter[id]": "[987654]", "display": "full"},
        )
    )


async def test_orders_details_combinations_products_configurations(
    real: RealPrestaShop, emulated: tuple[Shop, RealPrestaShop]
) -> None:
    _, emu = emulated
    r, e = await both(real, emu, "GET", lambda _: "orders", {"display": "full", "limit": "1"})
    same(r, e, exact=False)  # the emulator shows the fields syncd reads, named and typed alike
    order = json.loads(e.body)["orders"][0]
    assert {"current_state", "date_upd", "associations"} <= set(order)
    same(
        *await both(
            real,
            emu,
            "GET",
            lambda _: "order_details",
            {
                "display": "[id,id_order,product_id,product_attribute_id,product_quantity_reinjected]",
                "limit": "1",
            },
        )
    )
    same(
        *await both(
            real,
            emu,
            "GET",
            lambda _: "combinations",
            {"display": "[id,id_product,reference,ean13]", "limit": "1"},
        )
    )
    r, e = await both(
        real,
        emu,
        "GET",
        lambda _: "products",
        {"display": "[id,reference,ean13,name]", "limit": "1"},
    )
    same(r, e)
    assert isinstance(json.loads(r.body)["products"][0]["name"], list)  # two languages
    same(
        *await both(
            real,
            emu,
            "GET",
            lambda _: "products",
            {"display": "[id,name]", "limit": "1", "language": "1"},
        )
    )
    same(
        *await both(
            real,
            emu,
            "GET",
            lambda _: "configurations",
            {
                "display": "[name,value]",
                "filter[name]": "[PS_OS_CANCELED|PS_OS_ERROR|PS_LANG_DEFAULT]",
            },
        )
    )


async def test_error_bodies_bad_filter_and_put_missing_a_required_field(
    real: RealPrestaShop, emulated: tuple[Shop, RealPrestaShop]
) -> None:
    shop, emu = emulated
    r, e = await both(real, emu, "GET", lambda _: "stock_availables", {"filter[nope]": "[1]"})
    same(r, e)
    assert r.status == 500 and json.loads(r.body)["errors"][0]["code"] == 32
    simple = shop.emulator.stock_row(2)
    real_id, real_qty = real.stock_row(7)

    def put(is_real: bool) -> str:
        row, product, qty = (real_id, 7, real_qty) if is_real else (simple.id, 2, simple.quantity)
        return (
            f"<prestashop><stock_available><id>{row}</id><id_product>{product}</id_product>"
            f"<id_shop>1</id_shop><quantity>{qty}</quantity><depends_on_stock>0</depends_on_stock>"
            "<out_of_stock>2</out_of_stock></stock_available></prestashop>"
        )

    def url(is_real: bool) -> str:
        return f"stock_availables/{real_id if is_real else simple.id}"

    r, e = await both(real, emu, "PUT", url, body=put)
    same(r, e)
    assert r.status == 400 and json.loads(r.body)["errors"][0]["code"] == 41

    def patch(is_real: bool) -> str:
        row, qty = (real_id, real_qty) if is_real else (simple.id, simple.quantity)
        return f"<prestashop><stock_available><id>{row}</id><quantity>{qty}</quantity></stock_available></prestashop>"

    same(*await both(real, emu, "PATCH", url, body=patch))  # unchanged figure: harmless
