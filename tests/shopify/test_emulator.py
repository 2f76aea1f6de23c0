"""The Shopify emulator, driven by Shopify's own Python library (PyPI ShopifyAPI, its GraphQL
client) and by raw HTTP: schema validation, changeFromQuantity and @idempotent (API 2026-10),
cost and throttle, bulk
operations, signed webhooks that come late, twice or out of order."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import urllib.error
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import shopify
from aiohttp import web

from syncd.config import parse_config
from syncd.connectors.emulation import start_server
from syncd.connectors.shopify.emulator.state import STALE_MESSAGE, ShopState
from syncd.exceptions import ConfigError
from tests.shopify.conftest import GRAPHQL, LOCATION, SECRET, TOKEN, Shop

SET = """
mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    userErrors { code field message }
    inventoryAdjustmentGroup { changes { name delta quantityAfterChange } }
  }
}
"""
ITEM = """
query Item($q: String!) {
  productVariants(first: 1, query: $q) { nodes { sku inventoryItem { id } } }
}
"""


@pytest.fixture
def client(threaded_shop: Shop) -> Iterator[Any]:
    """ShopifyAPI's GraphQL client with a session on the emulator (its own code builds
    https://<shop>.myshopify.com; the site is pointed at the emulator instead)."""
    session = shopify.Session("syncd-emulator.myshopify.com", "2026-10", TOKEN)
    shopify.ShopifyResource.activate_session(session)
    shopify.ShopifyResource.set_site(f"{threaded_shop.url}/admin/api/2026-10")
    yield shopify.GraphQL()
    shopify.ShopifyResource.clear_session()


def run(client: Any, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(client.execute(query, variables))
    return answer


def test_the_official_client_reads_and_writes_with_compare_and_set(
    client: Any, threaded_shop: Shop
) -> None:
    found = run(client, ITEM, {"q": "sku:CAP"})
    item = found["data"]["productVariants"]["nodes"][0]["inventoryItem"]["id"]
    assert found["extensions"]["cost"]["throttleStatus"]["restoreRate"] == 100.0
    quantity = {"inventoryItemId": item, "locationId": LOCATION, "quantity": 3}

    def set_(quantities: list[dict[str, Any]], key: str) -> dict[str, Any]:
        return run(
            client,
            SET,
            {
                "input": {"name": "available", "reason": "correction", "quantities": quantities},
                "key": key,
            },
        )["data"]["inventorySetQuantities"]

    stale = set_([{**quantity, "changeFromQuantity": 4}], "k1")
    assert stale["userErrors"] == [
        {
            "code": "CHANGE_FROM_QUANTITY_STALE",
            "field": ["input", "quantities", "0", "changeFromQuantity"],
            "message": STALE_MESSAGE,
        }
    ]
    assert stale["inventoryAdjustmentGroup"] is None
    assert threaded_shop.emulator.state.available("CAP") == 5
    written = set_([{**quantity, "changeFromQuantity": 5}], "k2")
    assert written["userErrors"] == []
    assert written["inventoryAdjustmentGroup"]["changes"] == [
        {"name": "available", "delta": -2, "quantityAfterChange": 3}
    ]
    assert threaded_shop.emulator.state.available("CAP") == 3
    # The same call again (its answer lost): answered as the first time, applied once.
    assert set_([{**quantity, "changeFromQuantity": 5}], "k2") == written
    assert threaded_shop.emulator.state.replayed == 1
    # The same key with another input is refused, and changes nothing.
    mismatch = set_([{**quantity, "quantity": 1, "changeFromQuantity": 3}], "k2")
    assert [e["code"] for e in mismatch["userErrors"]] == ["IDEMPOTENCY_KEY_PARAMETER_MISMATCH"]
    assert threaded_shop.emulator.state.available("CAP") == 3
    # changeFromQuantity must be given (null: no comparison) from 2026-04.
    missing = set_([quantity], "k3")["userErrors"]
    assert missing[0]["field"] == ["input", "quantities", "0", "changeFromQuantity"]
    unchecked = set_([{**quantity, "quantity": 7, "changeFromQuantity": None}], "k4")
    assert unchecked["userErrors"] == []
    assert threaded_shop.emulator.state.available("CAP") == 7


def test_the_2026_api_refuses_the_2025_compare_fields_and_wants_idempotent(
    client: Any,
) -> None:
    found = run(client, ITEM, {"q": "sku:CAP"})
    item = found["data"]["productVariants"]["nodes"][0]["inventoryItem"]["id"]
    quantity = {"inventoryItemId": item, "locationId": LOCATION, "quantity": 3}
    # compareQuantity and ignoreCompareQuantity were removed in 2026-04.
    old = run(
        client,
        SET,
        {
            "input": {
                "name": "available",
                "reason": "correction",
                "quantities": [{**quantity, "compareQuantity": 5}],
            },
            "key": "k",
        },
    )
    assert old.get("data") is None
    assert "unknown field 'compareQuantity'" in old["errors"][0]["message"]
    # Without @idempotent the mutation is refused at run time (2026-04 and later).
    bare = run(
        client,
        """mutation Set($input: InventorySetQuantitiesInput!) {
          inventorySetQuantities(input: $input) { userErrors { code } } }""",
        {
            "input": {
                "name": "available",
                "reason": "correction",
                "quantities": [{**quantity, "changeFromQuantity": None}],
            }
        },
    )
    assert "@idempotent" in bare["errors"][0]["message"]
    assert bare["data"]["inventorySetQuantities"] is None


def test_every_document_is_validated_against_shopifys_schema(client: Any) -> None:
    wrong_field = run(client, "{ shop { name stockLevel } }")
    assert "data" not in wrong_field
    assert "Cannot query field 'stockLevel' on type 'Shop'" in wrong_field["errors"][0]["message"]
    # A sort key OrderSortKeys does not have.
    wrong_argument = run(client, "{ orders(first: 1, sortKey: NEWEST) { nodes { id } } }")
    assert "errors" in wrong_argument and "data" not in wrong_argument
    bad_input = run(
        client,
        SET,
        {"input": {"name": "available", "quantities": [{"inventoryItemId": "x"}]}, "key": "k"},
    )
    assert "errors" in bad_input


def test_a_wrong_token_is_refused(client: Any) -> None:
    shopify.ShopifyResource.get_headers()["X-Shopify-Access-Token"] = "shpat_wrong"
    with pytest.raises(urllib.error.HTTPError) as err:
        shopify.GraphQL().execute("{ shop { name } }")
    assert err.value.code == 401


async def post(shop: Shop, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            shop.url + GRAPHQL,
            json={"query": query, "variables": variables or {}},
            headers={"X-Shopify-Access-Token": TOKEN},
        ) as resp,
    ):
        assert resp.status == 200
        answer: dict[str, Any] = await resp.json()
        return answer


async def test_cost_is_charged_and_an_empty_bucket_throttles(shop: Shop) -> None:
    big = "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } } } }"
    refused = await post(shop, big)
    assert refused["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    query = "{ productVariants(first: 10) { nodes { sku inventoryItem { id } } } }"
    answer = await post(shop, query)
    cost = answer["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 10 * 2
    assert cost["actualQueryCost"] == 2 + 4 * 2  # four variants returned
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0
    shop.emulator.bucket.available = 5.0
    throttled = await post(shop, query)
    assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert "data" not in throttled
    assert throttled["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 22
    await asyncio.sleep(0.25)  # 100 points/s restore
    assert "data" in await post(shop, query)


async def test_a_bulk_operation_serves_jsonl_with_parent_ids(shop: Shop) -> None:
    state = shop.emulator.state
    order = state.place_order({"CAP": 2, "SHIRT-44": 1})
    inner = "{ orders { edges { node { id lineItems { edges { node { id sku } } } } } } }"
    started = await post(
        shop,
        "mutation($q: String!) { bulkOperationRunQuery(query: $q) "
        "{ bulkOperation { id status } userErrors { field message } } }",
        {"q": inner},
    )
    assert started["data"]["bulkOperationRunQuery"]["userErrors"] == []
    poll = "{ currentBulkOperation { id status url objectCount } }"
    for _ in range(50):
        current = (await post(shop, poll))["data"]["currentBulkOperation"]
        if current["status"] == "COMPLETED":
            break
        await asyncio.sleep(0.02)
    assert current["objectCount"] == "3"
    async with aiohttp.ClientSession() as http, http.get(current["url"]) as resp:
        rows = [json.loads(line) for line in (await resp.text()).splitlines()]
    assert rows[0] == {"id": f"gid://shopify/Order/{order.id}"}
    assert {r["sku"] for r in rows[1:]} == {"CAP", "SHIRT-44"}
    assert all(r["__parentId"] == rows[0]["id"] for r in rows[1:])
    invalid = await post(
        shop,
        'mutation { bulkOperationRunQuery(query: "{ nope }") { userErrors { message } } }',
    )
    assert (
        "Invalid bulk query" in invalid["data"]["bulkOperationRunQuery"]["userErrors"][0]["message"]
    )


async def test_webhooks_are_signed_and_come_late_twice_or_out_of_order(shop: Shop) -> None:
    received: list[tuple[str, str, bytes, str]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        received.append(
            (
                request.headers["X-Shopify-Topic"],
                request.headers["X-Shopify-Webhook-Id"],
                body,
                request.headers["X-Shopify-Hmac-Sha256"],
            )
        )
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner, port = await start_server(app)
    try:
        emulator = shop.emulator
        emulator.subscribe(f"http://127.0.0.1:{port}/hook", ("orders/create", "orders/cancelled"))
        emulator.mode.duplicate = True
        order = emulator.state.place_order({"CAP": 1})
        for _ in range(100):
            if len(received) == 2:
                break
            await asyncio.sleep(0.02)
        (topic, first_id, body, signature), (_, second_id, _, _) = received
        assert topic == "orders/create" and first_id == second_id  # twice, one id
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
        assert signature == base64.b64encode(digest).decode()
        assert json.loads(body)["id"] == order.id
        received.clear()
        emulator.mode.duplicate = False
        emulator.mode.hold = True
        emulator.mode.shuffle = True
        orders = [emulator.state.place_order({"CAP": 1}).id for _ in range(6)]
        await asyncio.sleep(0.1)
        assert received == []  # held: late
        assert emulator.release() == 6
        for _ in range(100):
            if len(received) == 6:
                break
            await asyncio.sleep(0.02)
        arrived = [json.loads(r[2])["id"] for r in received]
        assert sorted(arrived) == orders and arrived != orders  # out of order (seeded)
    finally:
        await runner.cleanup()


async def test_syncd_emulator_shopify_serves_the_demo_catalogue_to_the_connector(
    tmp_path: Any,
) -> None:
    import sys

    from syncd.config import parse_config
    from syncd.connectors.base import PushItem, PushStatus
    from syncd.connectors.shopify.connector import ShopifyConnector

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncd.cli",
        "emulator",
        "shopify",
        "--products",
        "8",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        table = {
            "type": "shopify",
            "url": info["url"],
            "access_token": info["access_token"],
            "location_id": info["location_id"],
            "api_version": info["api_version"],
        }
        settings = parse_config({"channels": {"shop": table}}, file=str(tmp_path / "s.toml"))
        async with ShopifyConnector("shop", settings.channel("shop").options) as c:
            await c.check()
            levels = [lv async for page in c.read_levels() for lv in page]
            assert len(levels) == 8
            first = levels[0]
            result = await c.push([PushItem(first.sku, first.quantity + 1, first.quantity)])
            assert result[0].status is PushStatus.WRITTEN
            assert await c.read_figures([first.sku]) == {first.sku: first.quantity + 1}
    finally:
        proc.terminate()
        await proc.wait()


def test_an_api_version_without_the_2026_stock_writes_is_refused_by_the_config() -> None:
    channel = {
        "type": "shopify",
        "url": "https://example.myshopify.com",
        "access_token": "shpat_x",
        "location_id": "1",
    }
    parse_config({"channels": {"web": channel}}, file="syncd.toml")  # the default: 2026-10
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"channels": {"web": {**channel, "api_version": "2025-10"}}}, file="syncd.toml"
        )
    text = "\n".join(str(i) for i in caught.value.issues)
    assert "channels.web.api_version" in text
    assert "2025-10 is too old" in text and "changeFromQuantity" in text
    assert 'api_version = "2026-10"' in text


def test_a_quantity_set_where_the_item_is_not_stocked_stocks_it_there() -> None:
    # 2026-10: "inventory quantities can now be adjusted at any location" and
    # ITEM_NOT_STOCKED_AT_LOCATION is gone (shopify.dev/changelog/removal-of-
    # itemnotstockedatlocation-error).
    state = ShopState()
    variant = state.add_variant("CAP", 5)
    state.add_location(2)
    quantity = {
        "inventoryItemId": f"gid://shopify/InventoryItem/{variant.item_id}",
        "locationId": "gid://shopify/Location/2",
        "quantity": 4,
    }
    stale = state.set_quantities(
        {"name": "available", "quantities": [{**quantity, "changeFromQuantity": 1}]}, "a"
    )
    assert [e["code"] for e in stale["userErrors"]] == ["CHANGE_FROM_QUANTITY_STALE"]
    written = state.set_quantities(
        {"name": "available", "quantities": [{**quantity, "changeFromQuantity": 0}]}, "b"
    )
    assert written["userErrors"] == []
    assert state.levels[(variant.item_id, 2)] == 4
    assert state.levels[(variant.item_id, 1)] == 5
