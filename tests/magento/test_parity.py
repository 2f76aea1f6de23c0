"""The emulator answers as the real Magento 2.4.7-p3 does: the same requests to both, and the
answers' status codes, envelopes, keys and JSON types compared (tests/magento/real.py).

Each side gets the same story: a configurable order placed, invoiced and partly refunded with
its child returned to stock. Keys the emulator leaves out are allowed (the real order has some
150), except those syncd reads, which both must send.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from syncd.connectors.magento.client import search_params
from tests.magento.conftest import start
from tests.magento.real import ADMIN, ask, mgshop, missing, shape_problems
from tests.realshops import RealShop

# The first test here may wait for the shop's install (2-4 minutes, begun at collection).
pytestmark = [pytest.mark.realshop("magento"), pytest.mark.timeout(900)]

ORDER_KEYS = ["entity_id", "increment_id", "state", "status", "created_at", "updated_at"]
ITEM_KEYS = [
    f"items[].{k}"
    for k in (
        "item_id",
        "sku",
        "name",
        "product_type",
        "qty_ordered",
        "qty_canceled",
        "qty_shipped",
        "qty_refunded",
        "qty_invoiced",
    )
]
ENVELOPE = ["items", "search_criteria", "search_criteria.filter_groups", "total_count"]


@dataclass
class Side:
    """One shop as the test sees it: where, how to log in, its SKUs, its order."""

    name: str
    base: str
    login: dict[str, str]
    known: str  # a simple product
    parent: str  # a configurable parent
    child: str  # one of its children
    order: int = 0
    token: str = ""


@pytest.fixture
async def sides(real_magento: RealShop) -> AsyncIterator[tuple[Side, Side]]:
    shop, runner = await start(True)
    real = Side("real", real_magento["MAGENTO_URL"], ADMIN, "SYNCD-MUG", "SYNCD-TEE", "SYNCD-TEE-S")
    emulated = Side(
        "emulator",
        shop.url,
        {"username": "admin", "password": "s3cret-pass"},
        "CAP",
        "SHIRT-BLUE",
        "SHIRT-BLUE-42",
    )
    helper = mgshop(real_magento).Shop(real.base)
    await asyncio.to_thread(helper.login)
    real.order = await asyncio.to_thread(helper.place_order, [(real.known, 1), (real.child, 2)])
    emulated.order = shop.emulator.place_order({emulated.known: 1})
    # the configurable line on the emulator comes through its own order API, as a cart would
    extra = shop.emulator.place_order({emulated.child: 2}, configurable=True)
    order = shop.emulator.orders[emulated.order]
    order.items += shop.emulator.orders.pop(extra).items
    yield real, emulated
    await runner.cleanup()


async def test_the_emulator_answers_in_the_real_shops_shapes(sides: tuple[Side, Side]) -> None:
    problems: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:

        async def both(
            what: str,
            method: str,
            path: str,
            *,
            params: dict[str, str] | None = None,
            body: Any = None,
            keys: list[str] = (),  # type: ignore[assignment]
            store: str = "default",
            token: bool = True,
            same_message: bool = False,
        ) -> tuple[Any, Any]:
            answers = []
            for side in sides:
                p = path.format(
                    order=side.order, known=side.known, parent=side.parent, child=side.child
                )
                b = body(side) if callable(body) else body
                q = {
                    k: v.format(known=side.known, order=side.order, parent=side.parent)
                    for k, v in (params or {}).items()
                }
                answers.append(
                    await ask(
                        http,
                        side.base,
                        method,
                        p,
                        token=side.token if token else None,
                        params=q,
                        body=b,
                        store=store,
                    )
                )
            (rs, real), (es, emulated) = answers
            if rs != es:
                problems.append(f"{what}: HTTP {rs} on the real shop, {es} on the emulator")
            problems.extend(f"{what}: {p}" for p in shape_problems(real, emulated))
            for name, answer in (("real", real), ("emulator", emulated)):
                problems.extend(missing(answer, list(keys), f"{what} ({name})"))
            if same_message and real != emulated:
                problems.append(f"{what}: real {real!r}, emulator {emulated!r}")
            return real, emulated

        # -- token --------------------------------------------------------------------------
        for side in sides:
            status, side.token = await ask(
                http, side.base, "POST", "integration/admin/token", body=side.login, store=""
            )
            assert status == 200 and isinstance(side.token, str), (side.name, status)
            assert side.token.count(".") == 2, f"{side.name}: not a JWT"
        await both(
            "bad password",
            "POST",
            "integration/admin/token",
            body={"username": "admin", "password": "wrong"},
            store="",
            token=False,
            keys=["message"],
            same_message=True,
        )
        await both("no token", "GET", "orders", token=False, keys=["message", "parameters"])

        # -- orders ---------------------------------------------------------------------------
        one = search_params([[("entity_id", "{order}", "eq")]], page_size=10, page=1)
        real, emulated = await both(
            "orders search",
            "GET",
            "orders",
            params=one,
            keys=ENVELOPE + [f"items[].{k}" for k in ORDER_KEYS] + ["items[].items"],
        )
        for name, answer in (("real", real), ("emulator", emulated)):
            [order] = answer["items"]
            problems += missing(order, ITEM_KEYS, f"order ({name})")
            assert re.fullmatch(r"\d{9}", order["increment_id"]), (name, order["increment_id"])
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", order["updated_at"]), name
            child = next(i for i in order["items"] if i.get("parent_item_id"))
            parent = next(i for i in order["items"] if i["item_id"] == child["parent_item_id"])
            assert parent["product_type"] == "configurable" and parent["sku"] == child["sku"]
            assert "parent_item" in child and "parent_item_id" not in parent, name
        await both("one order", "GET", "orders/{order}", keys=ORDER_KEYS + ITEM_KEYS)
        await both("no such order", "GET", "orders/99999999", keys=["message"], same_message=True)
        past = search_params([[("entity_id", "{order}", "eq")]], page_size=10, page=99)
        real, emulated = await both("orders past the end", "GET", "orders", params=past)
        assert real["items"] == [] == emulated["items"], "a page past the end has no items"
        assert real["total_count"] == 1 == emulated["total_count"]
        sorted_search = search_params(
            [[("state", "complete,closed,canceled", "nin")]],
            sort=[("entity_id", "ASC")],
            page_size=1,
            page=1,
        )
        await both("open orders", "GET", "orders", params=sorted_search, keys=ENVELOPE)

        # -- inventory --------------------------------------------------------------------------
        await both(
            "sources",
            "GET",
            "inventory/sources",
            params=search_params(page_size=300),
            keys=[*ENVELOPE, "items[].source_code", "items[].name", "items[].enabled"],
        )
        await both("stocks", "GET", "inventory/stocks", keys=[*ENVELOPE, "items[].stock_id"])
        await both("stock 1", "GET", "inventory/stocks/1", keys=["stock_id", "name"])
        await both("no stock 99", "GET", "inventory/stocks/99", same_message=True)
        await both(
            "stock-source links",
            "GET",
            "inventory/stock-source-links",
            params=search_params([[("stock_id", "1", "eq")]], page_size=300),
            keys=[*ENVELOPE, "items[].stock_id", "items[].source_code"],
        )
        items = search_params(
            [[("sku", "{known},PARITY-NOPE", "in")], [("source_code", "default", "eq")]],
            page_size=100,
            page=1,
        )
        real, emulated = await both(
            "source items",
            "GET",
            "inventory/source-items",
            params=items,
            keys=[*ENVELOPE, "items[].sku", "items[].quantity", "items[].status"],
        )
        assert real["total_count"] == 1 == emulated["total_count"]
        quantity = {
            s.name: a["items"][0]["quantity"] for s, a in zip(sides, (real, emulated), strict=True)
        }
        await both(
            "source items write",
            "POST",
            "inventory/source-items",
            body=lambda s: {
                "sourceItems": [
                    {
                        "sku": s.known,
                        "source_code": "default",
                        "quantity": quantity[s.name],
                        "status": 1,
                    }
                ]
            },
            same_message=True,
        )
        ghost = {
            "sourceItems": [
                {"sku": "PARITY-GHOST", "source_code": "default", "quantity": 1, "status": 1}
            ]
        }
        await both("source items write, no product", "POST", "inventory/source-items", body=ghost)
        await both(
            "salable, a source item without a product",
            "GET",
            "inventory/get-product-salable-quantity/PARITY-GHOST/1",
            same_message=True,
        )
        await both(
            "source items write, no source",
            "POST",
            "inventory/source-items",
            body={
                "sourceItems": [{"sku": "X", "source_code": "nowhere", "quantity": 1, "status": 1}]
            },
            same_message=True,
        )
        await both(
            "source items write, no status",
            "POST",
            "inventory/source-items",
            body={"sourceItems": [{"sku": "X", "source_code": "nowhere", "quantity": 1}]},
            same_message=True,
        )
        await both("salable", "GET", "inventory/get-product-salable-quantity/{known}/1")
        for what, sku, stock in (
            ("salable, unknown SKU", "PARITY-NOPE", 1),
            ("salable, configurable parent", "{parent}", 1),
            ("salable, wrong stock", "{known}", 99),
            ("salable, unknown SKU and stock", "PARITY-NOPE", 99),
        ):
            await both(
                what,
                "GET",
                f"inventory/get-product-salable-quantity/{sku}/{stock}",
                same_message=True,
            )
        export = search_params(
            [[("sku", "{known},{parent},PARITY-NOPE", "in")]], page_size=3, page=1
        )
        real, emulated = await both(
            "salable export",
            "GET",
            "inventory/export-stock-salable-qty/website/base",
            params=export,
            keys=[*ENVELOPE, "items[].sku", "items[].qty", "items[].is_salable"],
        )
        for side, answer in zip(sides, (real, emulated), strict=True):
            rows = {r["sku"]: r for r in answer["items"]}
            assert set(rows) == {side.known, side.parent}, side.name
            assert rows[side.parent]["qty"] == 0 and rows[side.parent]["is_salable"] is True
        await both("product fields", "GET", "products/{parent}", params={"fields": "sku,type_id"})
        await both("no product", "GET", "products/PARITY-NOPE", same_message=True)

        # -- invoice, refund, credit memos ---------------------------------------------------------
        await both("invoice", "POST", "order/{order}/invoice", body={"capture": True})
        lines: dict[str, dict[str, int]] = {}
        for side in sides:
            _, order = await ask(http, side.base, "GET", f"orders/{side.order}", token=side.token)
            child = next(i for i in order["items"] if i.get("parent_item_id"))
            lines[side.name] = {"parent": child["parent_item_id"], "child": child["item_id"]}

        def refund(line: str, back: str | None, key: str = "extension") -> Any:
            def body(side: Side) -> dict[str, Any]:
                ids = lines[side.name]
                out: dict[str, Any] = {"items": [{"order_item_id": ids[line], "qty": 1}]}
                if back and key == "extension":
                    out["arguments"] = {
                        "extension_attributes": {"return_to_stock_items": [ids[back]]}
                    }
                elif back:
                    out["arguments"] = {"return_to_stock_items": [ids[back]]}
                return out

            return body

        await both(
            "refund the child line",
            "POST",
            "order/{order}/refund",
            body=refund("child", None),
            same_message=True,
        )
        await both(
            "refund, arguments.return_to_stock_items",
            "POST",
            "order/{order}/refund",
            body=refund("parent", "child", key="arguments"),
        )
        await both("refund", "POST", "order/{order}/refund", body=refund("parent", "child"))
        memos = search_params([[("order_id", "{order}", "eq")]])
        real, emulated = await both(
            "credit memos",
            "GET",
            "creditmemos",
            params=memos,
            keys=[
                *ENVELOPE,
                "items[].entity_id",
                "items[].order_id",
                "items[].items[].order_item_id",
                "items[].items[].qty",
                "items[].items[].sku",
            ],
        )
        assert real["total_count"] == 1 == emulated["total_count"]
        await both("cancel", "POST", "orders/{order}/cancel")
        await both(
            "credit memos past the end",
            "GET",
            "creditmemos",
            params=search_params([[("order_id", "{order}", "eq")]], page_size=5, page=9),
        )
    # the real shop keeps no source item for a SKU that is no product after this test
    real_side = sides[0]
    async with aiohttp.ClientSession() as http:
        await ask(
            http,
            real_side.base,
            "POST",
            "inventory/source-items-delete",
            token=real_side.token,
            body={"sourceItems": [{"sku": "PARITY-GHOST", "source_code": "default"}]},
        )
    assert not problems, "\n".join(problems)
