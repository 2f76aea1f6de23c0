"""PrestaShop packs read as kits (`syncd init`).

What a pack sale does in the shop (PrestaShop 8.x, classes/Pack.php, the STOCK_TYPE_* constants,
and Pack::getQuantity): ``pack_stock_type`` 0 decrements the pack's own quantity only, 1 its
products only, 2 both, 3 follows the shop's PS_PACK_STOCK_TYPE. The quantity the shop sells of a
pack is its own row for 0, min over items of ⌊item quantity / units⌋ for 1, and the smaller of
the two for 2 (Pack::getQuantity; also PrestaShop/test-scenarios "Default pack stock behavior":
with "decrement products in pack only" the pack's own figure stays while its products go down).

So for syncd:
- a pack of type 1 or 2 is a kit: its sale moves its components. Its own row gets the kit's
  figure like any SKU: for type 2 that row caps what the shop sells, so it must hold the kit
  figure (writing anything else would undersell or oversell); for type 1 PrestaShop ignores it
  but shows it in the back office, and a figure that matches avoids a false drift report.
- a pack of type 0 has stock of its own and its products are not touched by its sale: it is not
  a kit, just a SKU.
- an order of a pack has ONE order row, the pack's (order_detail is one row per cart product,
  classes/order/OrderDetail.php createList); the components never appear as rows, so the pack
  line moving its components in the ledger counts each unit once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import structlog

from syncd.connectors.base import ChannelKit
from syncd.connectors.prestashop.client import PrestaShopClient
from syncd.connectors.prestashop.wire import listed, whole

log = structlog.get_logger("syncd.prestashop")
PACK_ONLY, PRODUCTS_ONLY, BOTH, DEFAULT = 0, 1, 2, 3


class Shop(Protocol):
    """What reading packs needs of the connector."""

    name: str
    client: PrestaShopClient

    async def all_rows(self, resource: str, display: str) -> list[dict[str, Any]]: ...
    async def catalogue_of(
        self, product_ids: Iterable[int], combination_ids: Iterable[int]
    ) -> Any: ...
    def sku_of(self, id_product: int, id_product_attribute: int, catalogue: Any) -> str: ...


async def read_packs(connector: Shop) -> list[ChannelKit]:
    """The shop's packs that decrement their products, as kits; type 0 packs are left out."""
    client = connector.client
    data = await client.get_json(
        "configurations", {"display": "[name,value]", "filter[name]": "[PS_PACK_STOCK_TYPE]"}
    )
    rows = listed(data, "configurations")
    default = str(rows[0].get("value", "0")).strip() if rows else "0"
    shop_default = int(default) if default.isdecimal() else PACK_ONLY
    products = await connector.all_rows("products", "[id,reference,type,pack_stock_type]")
    packs: list[tuple[int, int]] = []
    for p in products:
        if str(p.get("type", "")) != "pack":
            continue
        kind = whole(p.get("pack_stock_type", DEFAULT), "pack_stock_type")
        if kind == DEFAULT:
            kind = shop_default
        pid = whole(p.get("id"), "id")
        if kind == PACK_ONLY:
            log.info("prestashop_pack_keeps_own_stock", channel=connector.name, id_product=pid)
            continue
        packs.append((pid, kind))
    items: dict[int, list[dict[str, Any]]] = {}
    for pid, _kind in packs:
        full = await client.get_json(f"products/{pid}", {})
        product = full.get("product", {}) if isinstance(full, dict) else {}
        bundle = product.get("associations", {}).get("product_bundle", [])
        items[pid] = [b for b in bundle if isinstance(b, dict)]
    catalogue = await connector.catalogue_of(
        {pid for pid, _ in packs}
        | {whole(b.get("id"), "id") for rows in items.values() for b in rows},
        {
            whole(b.get("id_product_attribute", 0) or 0, "id_product_attribute")
            for rows in items.values()
            for b in rows
        },
    )
    kits = []
    for pid, kind in packs:
        sku = connector.sku_of(pid, 0, catalogue)
        parts: dict[str, int] = {}
        missing: list[str] = []
        for b in items[pid]:
            item = whole(b.get("id"), "id")
            attr = whole(b.get("id_product_attribute", 0) or 0, "id_product_attribute")
            part = connector.sku_of(item, attr, catalogue)
            units = whole(b.get("quantity", 1), "quantity")
            if not part or units < 1:
                # A combination that shares its product's reference has no SKU of its own
                # unless combination_sku says how to make one (as on the real demo shop).
                missing.append(f"{item}:{attr}")
                continue
            parts[part] = parts.get(part, 0) + units
        if not sku or not parts or missing:
            log.warning(
                "prestashop_pack_left_out",
                channel=connector.name,
                id_product=pid,
                sku=sku,
                items_without_sku=missing,
            )
            continue
        log.info("prestashop_pack_read", channel=connector.name, sku=sku, pack_stock_type=kind)
        kits.append(ChannelKit(sku, parts))
    return kits
