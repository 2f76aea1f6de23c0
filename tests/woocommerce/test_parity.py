"""The emulator against the real WooCommerce 11.0.1: the same requests to both, the answers'
shapes compared (every field the emulator sends is in the real answer, with the same JSON type;
errors equal in code, message and status; the paging headers alike)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.woocommerce.shop import WooShop

pytestmark = pytest.mark.realshop("woocommerce")


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def within(emulated: Any, real: Any, path: str = "") -> list[str]:
    """Where the emulator's shape is not found in the real one."""
    if isinstance(emulated, dict):
        if not isinstance(real, dict):
            return [f"{path}: object vs {real}"]
        out = []
        for key, value in emulated.items():
            if key == "_links":
                continue  # WordPress adds hints per route; never read
            if key not in real:
                out.append(f"{path}.{key}: not in the real answer")
            else:
                out.extend(within(value, real[key], f"{path}.{key}"))
        return out
    if isinstance(emulated, list):
        if not isinstance(real, list):
            return [f"{path}: list vs {real}"]
        if emulated and real:
            return within(emulated[0], real[0], f"{path}[0]")
        return []
    # a null where the real one has a value (or the reverse) is a difference of data, not shape
    if "null" in (emulated, real) or emulated == real:
        return []
    return [f"{path}: {emulated} vs {real}"]


def scenario(shop: WooShop) -> dict[str, Any]:
    """The same requests, in the same order, to one shop; the answers by name."""
    out: dict[str, Any] = {}
    mug = shop.product("MUG", 10)
    free = shop.product("FREE", None, manage=False)
    tee, sizes = shop.variable("TEE", {"S": 4})
    found = shop.api.get(
        "products", params={"sku": f"{shop.sku('MUG')},{shop.sku('TEE-S')},{shop.sku('FREE')}"}
    )
    out["lookup"] = sorted(found.json(), key=lambda p: p["type"] + str(p["manage_stock"]))
    out["lookup_headers"] = sorted(k for k in found.headers if k.startswith("X-WP-"))
    batch = shop.api.post(
        "products/batch",
        {
            "update": [
                {"id": mug, "stock_quantity": 9},
                {"id": free, "stock_quantity": 4},
                {"id": 987654, "stock_quantity": 1},
                {"id": sizes["S"], "stock_quantity": 1},
            ]
        },
    )
    out["batch_status"] = batch.status_code
    out["batch"] = batch.json()["update"]
    variations = shop.api.post(
        f"products/{tee}/variations/batch", {"update": [{"id": sizes["S"], "stock_quantity": 6}]}
    )
    out["variations"] = variations.json()["update"]
    order = shop.order([(mug, 0, 2), (tee, sizes["S"], 1)], "processing")
    out["order"] = order
    shop.refund(order, 1, restock=True)
    out["refunded"] = shop.call("get", f"orders/{order['id']}")
    for _ in range(2):
        shop.order([(mug, 0, 1)], "pending")
    listed = shop.api.get("orders", params={"per_page": 1, "orderby": "modified", "order": "asc"})
    out["list_headers"] = sorted(k for k in listed.headers if k.startswith("X-WP-"))
    out["list_link_rels"] = sorted(
        part.split("rel=")[1].strip('"') for part in listed.headers["Link"].split(",")
    )
    out["stock"] = (shop.stock(mug), shop.stock(free), shop.variation_stock(tee, sizes["S"]))
    errors = {}
    errors["per_page"] = shop.api.get("orders", params={"per_page": 101}).json()
    errors["no_order"] = shop.api.get("orders/98765432").json()
    errors["no_auth"] = requests.get(f"{shop.url}/wp-json/wc/v3/orders", timeout=30).json()
    errors["bad_key"] = WooShop(shop.url, "ck_" + "9" * 40, shop.secret).api.get("orders").json()
    errors["bad_secret"] = WooShop(shop.url, shop.key, "cs_" + "9" * 40).api.get("orders").json()
    errors["batch_limit"] = shop.api.post(
        "products/batch", {"update": [{"id": mug, "stock_quantity": 1}] * 101}
    ).json()
    out["errors"] = errors
    return out


def test_the_emulator_answers_as_the_real_woocommerce(real: WooShop, emulated: WooShop) -> None:
    got_real = scenario(real)
    got_emulated = scenario(emulated)
    assert got_emulated["stock"] == got_real["stock"] == (8, None, 5)
    for name in ("lookup_headers", "list_headers", "list_link_rels", "batch_status"):
        assert got_emulated[name] == got_real[name], name
    problems = []
    for name in ("lookup", "batch", "variations", "order", "refunded"):
        problems += within(shape(got_emulated[name]), shape(got_real[name]), name)
    assert not problems, problems
    # what the connector reads: present and alike in both
    for answers in (got_real, got_emulated):
        items = answers["refunded"]["line_items"]
        meta = {m["key"]: m["value"] for m in items[0]["meta_data"]}
        assert meta == {"_reduced_stock": "1", "_restock_refunded_items": "1"}
        assert [p["type"] for p in answers["lookup"]] == ["simple", "simple", "variation"]
    for name, error in got_real["errors"].items():
        mine = got_emulated["errors"][name]
        assert (mine["code"], mine["message"], mine["data"]["status"]) == (
            error["code"],
            error["message"],
            error["data"]["status"],
        ), name
