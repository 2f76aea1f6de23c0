"""WooCommerce's stock rules, on the emulator and on the real WooCommerce alike: what each order
status, refund, trash and variation does to the shop's figure, and the document the connector
makes of the order (a new version per change, lines = units the order holds out of stock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.connectors.woocommerce.connector import CURSOR, WooCommerceConnector
from syncd.domain import Document
from syncd.testing import collect_documents
from tests.woocommerce.shop import WooShop, connector_for


def since(seconds: float = 5) -> dict[str, str]:
    start = datetime.now(UTC) - timedelta(seconds=seconds)
    return {CURSOR: start.strftime("%Y-%m-%dT%H:%M:%S")}


async def document(c: WooCommerceConnector, order_id: int, cursors: dict[str, str]) -> Document:
    docs = await collect_documents(c, dict(cursors))
    found = [d for d in docs if d.doc_id == str(order_id)]
    assert found, f"order {order_id} not pulled"
    return found[-1]


async def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_each_status_takes_or_gives_back_stock_once(woo: WooShop) -> None:
    cursors = since()
    mug = await run(woo.product, "MUG", 10)
    sku = woo.sku("MUG")
    c = connector_for(woo)
    await c.open()
    try:
        await c.check()
        order = await run(woo.order, [(mug, 0, 2)], "processing")
        assert await run(woo.stock, mug) == 8
        first = await document(c, order["id"], cursors)
        assert dict(first.lines) == {sku: 2} and not first.cancelled
        versions = [first.version]
        # on-hold and completed take nothing more: stock is reduced once per order
        for status, stock, units, cancelled in (
            ("on-hold", 8, 2, False),
            ("completed", 8, 2, False),
            ("cancelled", 10, 0, True),  # gives back what was taken
            ("pending", 10, 0, False),  # nothing left to give back
            ("processing", 8, 2, False),  # taken again
            ("failed", 10, 0, True),  # failed gives back since 11.0
        ):
            await asyncio.sleep(1.05)  # a new modification second: a new version
            await run(woo.set_status, order["id"], status)
            assert await run(woo.stock, mug) == stock, status
            doc = await document(c, order["id"], cursors)
            assert dict(doc.lines) == {sku: units}, status
            assert doc.cancelled is cancelled, status
            assert doc.version > versions[-1], status
            versions.append(doc.version)
    finally:
        await c.close()


async def test_set_paid_takes_stock_and_pending_orders_hold_none(woo: WooShop) -> None:
    cursors = since()
    cap = await run(woo.product, "CAP", 5)
    sku = woo.sku("CAP")
    pending = await run(woo.order, [(cap, 0, 1)], "pending")
    paid = await run(woo.order, [(cap, 0, 2)], "pending", set_paid=True)
    assert paid["status"] == "processing"
    assert await run(woo.stock, cap) == 3  # the pending order took nothing
    c = connector_for(woo)
    await c.open()
    try:
        assert dict((await document(c, pending["id"], cursors)).lines) == {sku: 0}
        assert dict((await document(c, paid["id"], cursors)).lines) == {sku: 2}
    finally:
        await c.close()


async def test_refunds_with_and_without_restock_and_the_refunded_status(woo: WooShop) -> None:
    cursors = since()
    pen = await run(woo.product, "PEN", 20)
    sku = woo.sku("PEN")
    order = await run(woo.order, [(pen, 0, 5)], "completed")
    assert await run(woo.stock, pen) == 15
    c = connector_for(woo)
    await c.open()
    try:
        await asyncio.sleep(1.05)
        await run(woo.refund, order, 2, restock=True)
        assert await run(woo.stock, pen) == 17
        assert dict((await document(c, order["id"], cursors)).lines) == {sku: 3}
        await asyncio.sleep(1.05)
        await run(woo.refund, order, 1, restock=False)
        assert await run(woo.stock, pen) == 17
        assert dict((await document(c, order["id"], cursors)).lines) == {sku: 3}
        await asyncio.sleep(1.05)
        await run(woo.set_status, order["id"], "refunded")  # restocks nothing by itself
        assert await run(woo.stock, pen) == 17
        doc = await document(c, order["id"], cursors)
        assert dict(doc.lines) == {sku: 3} and not doc.cancelled
    finally:
        await c.close()


async def test_a_variation_is_its_own_sku_and_trash_moves_nothing(woo: WooShop) -> None:
    cursors = since()
    tee, sizes = await run(woo.variable, "TEE", {"S": 4, "M": 6})
    order = await run(woo.order, [(tee, sizes["M"], 2)], "processing")
    assert await run(woo.variation_stock, tee, sizes["M"]) == 4
    assert await run(woo.variation_stock, tee, sizes["S"]) == 4
    c = connector_for(woo)
    await c.open()
    try:
        doc = await document(c, order["id"], cursors)
        assert dict(doc.lines) == {woo.sku("TEE-M"): 2}
        await run(woo.call, "delete", f"orders/{order['id']}")  # to the trash
        assert await run(woo.variation_stock, tee, sizes["M"]) == 4
        # a trashed order is not listed: the ledger keeps the order as it was
        docs = await collect_documents(c, dict(cursors))
        assert all(d.lines == doc.lines for d in docs if d.doc_id == str(order["id"]))
        # the push writes a variation through its product's variations batch
        from syncd.connectors.base import PushItem, PushStatus

        [result] = await c.push([PushItem(woo.sku("TEE-S"), 9, 4)])
        assert result.status is PushStatus.WRITTEN and result.shown == 9
        assert await run(woo.variation_stock, tee, sizes["S"]) == 9
    finally:
        await c.close()
