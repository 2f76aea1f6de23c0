"""The emulator speaks WooCommerce: the PyPI `woocommerce` client drives it (it signs OAuth 1.0a
by itself), through paging, batch answers, the manage_stock no-op and webhook deliveries."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

from aiohttp import web
from woocommerce import API

from syncd.connectors.emulation import start_server
from syncd.connectors.woocommerce.emulator import WooCommerceEmulator, create_app, deliver_due
from tests.servers import threaded_app
from tests.woocommerce.shop import KEY, SECRET, WooShop


def test_the_pypi_client_pages_orders_with_woocommerce_s_headers(emulated: WooShop) -> None:
    mug = emulated.product("MUG", 30)
    for _ in range(5):
        emulated.order([(mug, 0, 1)], "processing")
    api: API = emulated.api
    first = api.get("orders", params={"per_page": 2, "orderby": "id", "order": "asc"})
    assert first.status_code == 200
    assert (first.headers["X-WP-Total"], first.headers["X-WP-TotalPages"]) == ("5", "3")
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    # the Link repeats the request's OAuth parameters: followed verbatim its signature (made for
    # page 1) fails, checked before the nonce (check_oauth_signature, then the nonce)
    next_url = first.headers["Link"].split(">")[0].lstrip("<")
    assert "oauth_nonce=" in next_url
    import requests

    replay = requests.get(next_url, timeout=10)
    assert replay.status_code == 401
    assert replay.json()["message"] == "Invalid signature - provided signature does not match."
    last = api.get("orders", params={"per_page": 2, "page": 3, "orderby": "id", "order": "asc"})
    assert len(last.json()) == 1 and 'rel="next"' not in last.headers.get("Link", "")
    past = api.get("orders", params={"per_page": 2, "page": 9})
    assert past.json() == [] and past.headers["X-WP-Total"] == "0"  # as the real one (HPOS)
    too_many = api.get("orders", params={"per_page": 101})
    assert too_many.status_code == 400 and too_many.json()["code"] == "rest_invalid_param"
    stock = api.get(f"products/{mug}").json()
    assert stock["stock_quantity"] == 25 and stock["manage_stock"] is True


def test_batches_answer_each_item_and_ignore_unmanaged_stock(emulated: WooShop) -> None:
    mug = emulated.product("MUG", 3)
    free = emulated.product("FREE", None, manage=False)
    tee, sizes = emulated.variable("TEE", {"S": 1})
    answer = emulated.api.post(
        "products/batch",
        {
            "update": [
                {"id": mug, "stock_quantity": 9},
                {"id": free, "stock_quantity": 4},
                {"id": 999999, "stock_quantity": 1},
                {"id": sizes["S"], "stock_quantity": 1},
            ]
        },
    ).json()["update"]
    assert answer[0]["stock_quantity"] == 9
    assert answer[1]["manage_stock"] is False and answer[1]["stock_quantity"] is None
    assert answer[2] == {
        "id": 999999,
        "error": {
            "code": "woocommerce_rest_product_invalid_id",
            "message": "Invalid ID.",
            "data": {"status": 400},
        },
    }
    assert answer[3]["error"]["code"] == "woocommerce_rest_invalid_product_id"
    assert answer[3]["error"]["data"]["status"] == 404
    variations = emulated.api.post(
        f"products/{tee}/variations/batch",
        {"update": [{"id": sizes["S"], "stock_quantity": 7}, {"id": mug, "stock_quantity": 1}]},
    ).json()["update"]
    assert variations[0]["stock_quantity"] == 7
    assert variations[1]["error"]["code"] == "woocommerce_rest_product_variation_invalid_id"
    too_many = emulated.api.post(
        "products/batch", {"update": [{"id": mug, "stock_quantity": 1}] * 101}
    )
    assert too_many.status_code == 413
    assert too_many.json()["code"] == "woocommerce_rest_request_entity_too_large"
    found = emulated.api.get(
        "products", params={"sku": f"{emulated.sku('MUG')},{emulated.sku('TEE-S')}"}
    )
    assert sorted(p["type"] for p in found.json()) == ["simple", "variation"]


async def test_webhooks_are_signed_late_and_merged() -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    receiver_runner, receiver_port = await start_server(receiver)
    emulator = WooCommerceEmulator()
    app = create_app(emulator, consumer_key=KEY, consumer_secret=SECRET, webhook_delay=0.5)
    runner, port = await start_server(app)
    try:
        url = f"http://127.0.0.1:{port}"
        shop = WooShop(url, KEY, SECRET)
        await asyncio.to_thread(
            shop.call,
            "post",
            "webhooks",
            {
                "name": "syncd",
                "topic": "order.updated",
                "delivery_url": f"http://127.0.0.1:{receiver_port}/hook",
                "secret": "s3cret",
            },
        )
        assert [body for _, body in received] == [b"webhook_id=1"]  # the ping: unsigned
        mug = await asyncio.to_thread(shop.product, "MUG", 5)
        order = await asyncio.to_thread(shop.order, [(mug, 0, 1)], "pending")
        await asyncio.to_thread(shop.set_status, order["id"], "processing")
        await asyncio.to_thread(shop.set_status, order["id"], "completed")
        assert len(received) == 1  # late: nothing yet
        for _ in range(40):
            await asyncio.sleep(0.1)
            if len(received) > 1:
                break
        await asyncio.sleep(0.3)
        assert len(received) == 2  # three updates, one delivery
        headers, body = received[1]
        expected = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest()).decode()
        assert headers["X-WC-Webhook-Signature"] == expected
        assert headers["X-WC-Webhook-Topic"] == "order.updated"
        assert json.loads(body)["status"] == "completed"  # the state at delivery time
        assert await deliver_due(app, everything=True) == 0
    finally:
        await runner.cleanup()
        await receiver_runner.cleanup()


def test_the_standalone_emulator_serves_the_demo_catalogue() -> None:
    from syncd.connectors.woocommerce.emulator import load_catalog

    emulator = WooCommerceEmulator()
    load_catalog(emulator, 8)
    with threaded_app(create_app(emulator, consumer_key=KEY, consumer_secret=SECRET)) as url:
        shop = WooShop(url, KEY, SECRET)
        products: list[dict[str, Any]] = shop.call("get", "products", per_page=100)
        assert {p["type"] for p in products} == {"variable"} and len(products) == 2
        variations = shop.call("get", f"products/{products[0]['id']}/variations")
        assert len(variations) == 4 and all(v["manage_stock"] is True for v in variations)
