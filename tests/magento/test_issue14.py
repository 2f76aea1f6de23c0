"""Magento facts from the real 2.4.7-p3 (issue 14, items 7-10) against the emulator that now
answers as the real shop does: parent-only figures, salable errors, credit memo returns, JWTs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from syncd.connectors.base import PushItem, PushStatus
from syncd.connectors.magento.emulator import CONFIG_KEY
from syncd.connectors.magento.orders import stock_lines  # noqa
from syncd.exceptions import ChannelConfigError, RetriableError
from syncd.testing import collect_documents
from tests.magento.conftest import Shop, connector_for, start

# -- 7: configurable and bundle figures on the line that ships ---------------------------------


async def test_a_cancelled_configurable_gives_its_units_back(msi_shop: Shop) -> None:
    emu = msi_shop.emulator
    order = emu.place_order({"SHIRT-BLUE-42": 2}, configurable=True)
    emu.cancel(order)
    parent, child = emu.orders[order].items
    assert (parent.qty_canceled, child.qty_canceled) == (2, 0)  # as the real shop
    connector = connector_for(msi_shop)
    await connector.open()
    try:
        [doc] = await collect_documents(connector, {})
    finally:
        await connector.close()
    assert doc.cancelled and dict(doc.lines) == {"SHIRT-BLUE-42": 0}


async def test_shipped_configurable_units_are_not_held_twice_by_the_catalogue_read(
    msi_shop: Shop,
) -> None:
    emu = msi_shop.emulator
    partial = emu.place_order({"SHIRT-BLUE-42": 3, "CAP": 2}, configurable=True)
    emu.ship(partial, {"SHIRT-BLUE-42": 2})  # processing: 2 shipped, 1 still held
    assert emu.orders[partial].state == "processing"
    assert [i.qty_shipped for i in emu.orders[partial].items] == [2, 0, 0]  # parent only
    emu.place_order({"SHIRT-BLUE-44": 1}, configurable=True)  # open: holds 1
    connector = connector_for(msi_shop)
    await connector.open()
    try:
        bulk = {lv.sku: lv for p in [p async for p in connector.read_levels()] for lv in p}
    finally:
        await connector.close()
    for sku in ("SHIRT-BLUE-42", "SHIRT-BLUE-44", "CAP"):
        assert bulk[sku].detail["salable"] == emu.salable(sku), sku


def _bundle(shipped: int, *, separately: bool) -> list[dict[str, Any]]:
    """A bundle of 2 × (2 PEN + 1 INK); shipped together the parent carries qty_shipped,
    shipped separately each child does (Order\\Item::isDummy(true))."""
    parent = {"item_id": 1, "sku": "KIT", "product_type": "bundle", "qty_ordered": 2}
    pen = {"item_id": 2, "parent_item_id": 1, "sku": "PEN", "product_type": "simple"}
    ink = {"item_id": 3, "parent_item_id": 1, "sku": "INK", "product_type": "simple"}
    pen["qty_ordered"], ink["qty_ordered"] = 4, 2
    if separately:
        pen["qty_shipped"], ink["qty_shipped"] = 2 * shipped, shipped
    else:
        parent["qty_shipped"] = shipped
    return [parent, pen, ink]


@pytest.mark.parametrize("separately", [False, True])
def test_bundle_children_take_the_shipping_lines_figures(separately: bool) -> None:
    lines = {line.sku: line for line in stock_lines(_bundle(1, separately=separately))}
    assert set(lines) == {"PEN", "INK"}
    assert (lines["PEN"].shipped, lines["PEN"].open) == (2, 2)
    assert (lines["INK"].shipped, lines["INK"].open) == (1, 1)


@pytest.mark.parametrize("separately", [False, True])
def test_a_cancelled_bundle_gives_its_childrens_units_back(
    msi_shop: Shop, separately: bool
) -> None:
    items = _bundle(0, separately=separately)
    parent, pen, ink = items
    parent["qty_canceled"] = 2 if not separately else 0  # on the line that ships
    if separately:
        pen["qty_canceled"], ink["qty_canceled"] = 4, 2
    order = {
        "entity_id": 7,
        "state": "canceled",
        "created_at": "2026-01-02 10:00:00",
        "updated_at": "2026-01-02 10:05:00",
        "items": items,
    }
    doc = connector_for(msi_shop)._document(order)
    assert dict(doc.lines) == {"PEN": 0, "INK": 0}


def test_grouped_lines_hold_stock() -> None:
    # Magento saves a grouped product's simple lines as product_type "grouped"
    items = [{"item_id": 1, "sku": "CUP", "product_type": "grouped", "qty_ordered": 3}]
    assert [(line.sku, line.open) for line in stock_lines(items)] == [("CUP", 3)]


# -- 8: an unknown SKU never blocks its batch ----------------------------------------------------


async def test_an_unknown_sku_is_skipped_alone_and_an_outage_is_retried(msi_shop: Shop) -> None:
    emu = msi_shop.emulator
    # a source item for a SKU that is no product (Magento stores it: 200 []), and a parent
    emu.source_items[("GHOST", "default")] = {
        "sku": "GHOST",
        "source_code": "default",
        "quantity": 4,
        "status": 1,
    }
    emu.source_items[("SHIRT-BLUE", "default")] = {
        "sku": "SHIRT-BLUE",
        "source_code": "default",
        "quantity": 4,
        "status": 1,
    }
    connector = connector_for(msi_shop)
    await connector.open()
    try:
        results = await connector.push(
            [
                PushItem("GHOST", 2, None),
                PushItem("CAP", 3, None),
                PushItem("SHIRT-BLUE", 1, None),
                PushItem("NOWHERE", 1, None),
            ]
        )
        by_sku = {r.sku: r for r in results}
        assert by_sku["CAP"].status is PushStatus.WRITTEN and emu.salable("CAP") == 3
        for sku in ("GHOST", "SHIRT-BLUE", "NOWHERE"):
            assert by_sku[sku].status is PushStatus.SKIPPED and by_sku[sku].reason, sku
        assert "no product 'GHOST'" in by_sku["GHOST"].reason
        assert "configurable" in by_sku["SHIRT-BLUE"].reason
    finally:
        await connector.close()
    # a 500 for a SKU that is a product is an outage: the batch is retried, not skipped
    emu.failing_salable.add("CAP")
    connector = connector_for(msi_shop)
    await connector.open()
    try:
        with pytest.raises(RetriableError):
            await connector.push([PushItem("CAP", 2, None), PushItem("SHIRT-BLUE-42", 1, None)])
        assert emu.salable("SHIRT-BLUE-42") == 3  # nothing of that batch written
    finally:
        await connector.close()


# -- 9: a credit memo returns only what return_to_stock_items names -------------------------------


@pytest.mark.parametrize("how", ["none", "parent", "child"])
async def test_a_refund_counts_only_what_magento_returned(msi_shop: Shop, how: str) -> None:
    emu = msi_shop.emulator
    order = emu.place_order({"SHIRT-BLUE-42": 2}, configurable=True)
    emu.invoice(order)
    before = emu.salable("SHIRT-BLUE-42")
    emu.credit_memo(
        order, {"SHIRT-BLUE-42": 1}, return_to_stock=how != "none", name_parent=how == "parent"
    )
    returned = emu.salable("SHIRT-BLUE-42") - before
    assert returned == (1 if how == "child" else 0)
    # the default (Magento's): refunded units stay sold; a shop that returns every refunded
    # unit says so, and then the child-named refund is counted right
    extra = {"refund_returns_stock": True} if how == "child" else {}
    connector = connector_for(msi_shop, **extra)
    await connector.open()
    try:
        [doc] = await collect_documents(connector, {})
    finally:
        await connector.close()
    assert dict(doc.lines) == {"SHIRT-BLUE-42": 2 - returned}


# -- 10: tokens of 60 minutes, and stock_id checked -----------------------------------------------


async def test_a_token_is_renewed_before_it_expires_and_on_a_401() -> None:
    shop, runner = await start(True, token_ttl_seconds=3)
    connector = connector_for(shop)
    await connector.open()
    try:
        await connector.check()
        first = connector.client._token
        await asyncio.sleep(2.5)  # past four fifths of its lifetime: renewed before use
        await connector.check()
        assert connector.client._token != first and shop.app[CONFIG_KEY]["refused"] == 0
        shop.app[CONFIG_KEY]["tokens"].clear()  # revoked: one 401, a new token, the call again
        await connector.check()
        assert shop.app[CONFIG_KEY]["refused"] == 1
    finally:
        await connector.close()
        await runner.cleanup()


async def test_check_names_a_wrong_stock_id(msi_shop: Shop) -> None:
    connector = connector_for(msi_shop, stock_id=2)
    await connector.open()
    try:
        with pytest.raises(ChannelConfigError, match=r"stock_id = 2: Magento has no stock 2"):
            await connector.check()
    finally:
        await connector.close()
    msi_shop.emulator.stocks[2] = "Shops"  # a stock without our source
    connector = connector_for(msi_shop, stock_id=2)
    await connector.open()
    try:
        with pytest.raises(ChannelConfigError, match=r"source_code = 'default' is not a source"):
            await connector.check()
    finally:
        await connector.close()


# -- the figure we left a SKU at: writes without reads, forgotten when an order comes -----------


async def test_a_known_figure_is_written_without_reads_until_an_order_holds_it(
    msi_shop: Shop,
) -> None:
    emu = msi_shop.emulator
    connector = connector_for(msi_shop)
    await connector.open()
    try:
        [first] = await connector.push([PushItem("CAP", 4, 5)])  # read, then written
        assert first.status is PushStatus.WRITTEN
        emu.requests.clear()
        [second] = await connector.push([PushItem("CAP", 3, 4)])
        assert second.status is PushStatus.WRITTEN and emu.salable("CAP") == 3
        assert [m for m, _ in emu.requests] == ["POST"]  # the write alone
        # an order placed and not pulled yet: its reservation keeps the sale shown
        emu.place_order({"CAP": 1})
        [third] = await connector.push([PushItem("CAP", 2, 3)])
        assert third.status is PushStatus.WRITTEN and emu.salable("CAP") == 1
        # pulled: the ledger takes the unit too (available 1); the figure is read again and
        # the order's reservation counted once, not twice
        await collect_documents(connector, {})
        emu.requests.clear()
        [fourth] = await connector.push([PushItem("CAP", 1, 1)])
        assert any(m == "GET" for m, _ in emu.requests)
        assert fourth.status is PushStatus.UNCHANGED and emu.salable("CAP") == 1
        # the engine believing another figure (a read-back found one) also means a read
        emu.requests.clear()
        [fifth] = await connector.push([PushItem("CAP", 1, 0)])
        assert any(m == "GET" for m, _ in emu.requests) and fifth.status is PushStatus.UNCHANGED
    finally:
        await connector.close()
