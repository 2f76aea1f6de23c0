"""The emulator speaks Magento: the real pymagento client drives it."""

from __future__ import annotations

import pytest
import requests
from magento import Magento
from magento.exceptions import MagentoException

from tests.magento.conftest import TOKEN, Shop


def test_pymagento_token_orders_products_and_stock(threaded_shop: Shop) -> None:
    # an admin token, as Magento returns it: a JSON string
    answer = requests.post(
        f"{threaded_shop.url}/rest/V1/integration/admin/token",
        json={"username": "admin", "password": "s3cret-pass"},
        timeout=5,
    )
    assert answer.status_code == 200 and isinstance(answer.json(), str)
    bad = requests.post(
        f"{threaded_shop.url}/rest/V1/integration/admin/token",
        json={"username": "admin", "password": "x"},
        timeout=5,
    )
    assert bad.status_code == 401
    client = Magento(
        token=answer.json(), base_url=threaded_shop.url, scope="default", batch_page_size=1
    )
    for _ in range(3):
        threaded_shop.emulator.place_order({"CAP": 1})
    orders = list(client.get_orders())  # pages of one: stops on total_count
    assert [o["increment_id"] for o in orders] == ["000000001", "000000002", "000000003"]
    assert client.get_product("CAP")["name"] == "Cap"
    assert client.get_product("NOPE") is None
    assert client.get_product_stock_item("CAP")["qty"] == 5
    items = list(client.get_source_items(sku="CAP"))
    assert items[0]["quantity"] == 5 and threaded_shop.emulator.salable("CAP") == 2
    integration = Magento(token=TOKEN, base_url=threaded_shop.url, scope="all")
    assert len(list(integration.get_products())) == 4
    with pytest.raises(MagentoException) as err:
        list(Magento(token="nope", base_url=threaded_shop.url).get_orders())
    assert "isn't authorized" in str(err.value)


def test_reservations_follow_msi(threaded_shop: Shop) -> None:
    emu = threaded_shop.emulator
    order = emu.place_order({"SHIRT-BLUE-42": 2}, configurable=True)
    assert (emu.source_quantity("SHIRT-BLUE-42"), emu.salable("SHIRT-BLUE-42")) == (3, 1)
    emu.ship(order)
    assert (emu.source_quantity("SHIRT-BLUE-42"), emu.salable("SHIRT-BLUE-42")) == (1, 1)
    emu.credit_memo(order, {"SHIRT-BLUE-42": 1})
    assert (emu.source_quantity("SHIRT-BLUE-42"), emu.salable("SHIRT-BLUE-42")) == (2, 2)
    other = emu.place_order({"CAP": 2})
    emu.cancel(other)
    assert emu.salable("CAP") == 5
