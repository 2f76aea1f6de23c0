"""The emulator speaks PrestaShop: the real prestapyt client drives it; wire details hold."""

from __future__ import annotations

import aiohttp
import pytest
from prestapyt import (
    PrestaShopAuthenticationError,
    PrestaShopWebServiceDict,
    PrestaShopWebServiceError,
)

from tests.prestashop.conftest import KEY, Shop


def test_prestapyt_search_get_edit_and_errors(threaded_shop: Shop) -> None:
    ps = PrestaShopWebServiceDict(f"{threaded_shop.url}/api", KEY)
    combos = ps.search("combinations", options={"filter[reference]": "[SHIRT-BLUE-44]"})
    assert combos == [2]
    rows = ps.search(
        "stock_availables",
        options={"filter[id_product]": "[1]", "filter[id_product_attribute]": "[2]"},
    )
    [row_id] = rows
    row = ps.get("stock_availables", row_id)["stock_available"]
    assert row["quantity"] == "1" and row["id_product_attribute"] == "2"
    row["quantity"] = "7"
    ps.edit("stock_availables", {"stock_available": row})
    assert threaded_shop.emulator.quantity("SHIRT-BLUE-44") == 7
    zero = ps.search(
        "stock_availables",
        options={"filter[id_product]": "[1]", "filter[id_product_attribute]": "[0]"},
    )
    assert ps.get("stock_availables", zero[0])["stock_available"]["quantity"] == "10"  # the SUM row
    assert ps.search("orders") == []
    with pytest.raises(PrestaShopWebServiceError) as err:
        ps.search("stock_availables", options={"filter[nope]": "[1]"})
    assert err.value.ps_error_code == "32"
    del row["quantity"]
    with pytest.raises(PrestaShopWebServiceError) as err:
        ps.edit("stock_availables", {"stock_available": row})
    assert err.value.ps_error_code == "41" and "quantity" in err.value.ps_error_msg
    with pytest.raises(PrestaShopAuthenticationError):
        PrestaShopWebServiceDict(f"{threaded_shop.url}/api", "X" * 32).search("products")


async def test_json_shapes_auth_and_list_errors(shop8: Shop) -> None:
    import base64

    auth_header = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{shop8.url}/api/orders?output_format=JSON", headers=auth_header
        ) as resp:
            assert resp.status == 200 and await resp.text() == "[]"
            assert resp.headers["PSWS-Version"] == "8.1.0"
        async with http.get(f"{shop8.url}/api/products") as resp:
            assert resp.status == 401 and "WWW-Authenticate" in resp.headers
            assert "PSWS-Version" not in resp.headers
        async with http.get(
            f"{shop8.url}/api/products",
            headers={"Authorization": "Basic " + base64.b64encode(b"short:").decode()},
        ) as resp:
            assert resp.status == 401 and "<code><![CDATA[18]]></code>" in await resp.text()
        async with http.get(
            f"{shop8.url}/api/orders?filter[date_upd]=[2020-01-01,2030-01-01]&output_format=JSON",
            headers=auth_header,
        ) as resp:
            # needs date=1; PHP 8 turns a refused list parameter into a 500 (real 8.2.0)
            assert resp.status == 500 and (await resp.json())["errors"][0]["code"] == 32
        async with http.get(
            f"{shop8.url}/api/products?limit=a&output_format=JSON", headers=auth_header
        ) as resp:
            assert (await resp.json())["errors"][0]["code"] == 39
        async with http.get(
            f"{shop8.url}/api/products?display=[id,reference]&sort=[reference_DESC]&output_format=JSON",
            headers=auth_header,
        ) as resp:
            assert [p["reference"] for p in (await resp.json())["products"]] == [
                "SHIRT-BLUE",
                "MUG",
                "CAP",
            ]
        async with http.get(f"{shop8.url}/api/products", headers=auth_header) as resp:
            text = await resp.text()
            assert 'xmlns:xlink="http://www.w3.org/1999/xlink"' in text and "xlink:href=" in text
        async with http.put(
            f"{shop8.url}/api/stock_availables/5",
            headers=auth_header,
            data="<prestashop><stock_available><id>5</id><id_product>3</id_product><id_product_attribute>0</id_product_attribute><quantity>1</quantity><depends_on_stock>1</depends_on_stock><out_of_stock>2</out_of_stock></stock_available></prestashop>",
        ) as resp:
            assert resp.status == 500 and "<![CDATA[133]]>" in await resp.text()


async def test_emulator_moves_stock_like_prestashop(shop8: Shop) -> None:
    emu = shop8.emulator
    order = emu.create_order({"SHIRT-BLUE-42": 2})
    assert emu.quantity("SHIRT-BLUE-42") == 1
    emu.set_order_state(order, "PS_OS_CANCELED")
    assert emu.quantity("SHIRT-BLUE-42") == 3
    emu.set_order_state(order, "PS_OS_PAYMENT")
    assert emu.quantity("SHIRT-BLUE-42") == 1
    emu.refund(order, "SHIRT-BLUE-42", 1)
    assert emu.quantity("SHIRT-BLUE-42") == 2
    emu.create_order({"CAP": 1}, state="PS_OS_ERROR")
    assert emu.quantity("CAP") == 5
