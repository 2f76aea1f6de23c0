"""PrestaShop packs on a real PrestaShop 8.2.0 (../shared/real-shops): the demo shop's pack
("Pack Mug + Framed poster", demo_21: 5 × a combination of product 5, 5 × product 7) follows the
shop's default (PS_PACK_STOCK_TYPE 0, "decrement pack only") as shipped, so it is not a kit; set to
"decrement both" it is read as a kit, a real order of it has one order row (the pack's), and the
shop itself lowers the pack's row and its products' rows.

The pack's type is set through the database for the test and put back after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from syncd.testing.realshops import RealShop
from tests.prestashop.realps import CANCELLED, RealPrestaShop
from tests.prestashop.test_real_shop import PATTERN, connector, pulled, since

pytestmark = pytest.mark.realshop("prestashop")
PACK = 15


@pytest.fixture
def ps(real_prestashop: RealShop) -> Iterator[RealPrestaShop]:
    shop = RealPrestaShop.from_env(real_prestashop.env)
    yield shop
    shop.sql(f"UPDATE ps_product SET pack_stock_type = 3 WHERE id_product = {PACK}")
    shop.sql(f"UPDATE ps_product_shop SET pack_stock_type = 3 WHERE id_product = {PACK}")


def _pack_stock_type(ps: RealPrestaShop, value: int) -> None:
    ps.sql(f"UPDATE ps_product SET pack_stock_type = {value} WHERE id_product = {PACK}")
    ps.sql(f"UPDATE ps_product_shop SET pack_stock_type = {value} WHERE id_product = {PACK}")


async def test_the_demo_pack_is_a_kit_only_when_it_decrements_its_products(
    ps: RealPrestaShop,
) -> None:
    # The combination in the pack shares its product's reference: the SKU rule names it.
    c = connector(ps, combination_sku=PATTERN)
    before = (ps.quantity(PACK), ps.quantity(5, 19), ps.quantity(7))
    await c.open()
    try:
        await c.check()
        assert [k.sku for k in await c.read_kits()] == []  # as shipped: the pack only
        _pack_stock_type(ps, 2)
        [kit] = await c.read_kits()
        ids = {
            (lvl.detail["id_product"], lvl.detail["id_product_attribute"]): lvl.sku
            async for page in c.read_levels()
            for lvl in page
        }
        assert kit.sku == "demo_21" and not kit.derived
        assert dict(kit.components) == {ids[(5, 19)]: 5, ids[(7, 0)]: 5}
        assert ids[(5, 19)] == "demo_7-19"

        start = since()
        order = await asyncio.to_thread(ps.place_order, [(PACK, 0, 1)])
        # "Decrement both": the shop lowered the pack's own row and each product by 5.
        assert (ps.quantity(PACK), ps.quantity(5, 19), ps.quantity(7)) == (
            before[0] - 1,
            before[1] - 5,
            before[2] - 5,
        )
        doc = await pulled(c, order, start)
        assert dict(doc.lines) == {"demo_21": 1}  # one row, the pack's: counted once
        await asyncio.sleep(1.1)
        ps.set_state(order, CANCELLED)
        again = await pulled(c, order, start)
        assert again.cancelled and dict(again.lines) == {"demo_21": 0}
        # Observed on 8.2.0: the cancellation (order_histories, state 6) gave back neither the
        # pack's row nor its products' (a simple product's is given back, see test_real_shop).
        # The ledger gives the components back (the order is void) and pushes its figures, so
        # the shop is corrected by syncd, not left short. Not asserted: a later release may fix it.
    finally:
        await c.close()
        _restore(ps, before)


def _restore(ps: RealPrestaShop, before: tuple[int, int, int]) -> None:
    """The rows as they were before the order (the shop may not have restocked them)."""
    pack, combination, product = before
    ps.sql(
        f"UPDATE ps_stock_available SET quantity = {pack}, physical_quantity = {pack} "
        f"WHERE id_product = {PACK} AND id_product_attribute = 0"
    )
    ps.sql(
        f"UPDATE ps_stock_available SET quantity = quantity + {combination} - "
        f"(SELECT q FROM (SELECT quantity AS q FROM ps_stock_available WHERE id_product = 5 "
        f"AND id_product_attribute = 19) AS t) WHERE id_product = 5 AND id_product_attribute = 0"
    )
    ps.sql(
        f"UPDATE ps_stock_available SET quantity = {combination} "
        f"WHERE id_product = 5 AND id_product_attribute = 19"
    )
    ps.sql(
        f"UPDATE ps_stock_available SET quantity = {product} "
        f"WHERE id_product = 7 AND id_product_attribute = 0"
    )
