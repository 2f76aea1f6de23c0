"""Magento bundles read as kits (`syncd init`), for the other channels only.

A bundle product holds no stock: Magento computes what can be sold of it from its selections
(Magento\\Bundle: a bundle's salable quantity comes from its children's), and an order of one is
stored with a line per selection, which :mod:`syncd.connectors.magento.orders` turns into the
children's lines. So syncd never pushes a figure to a bundle on Magento (the kit is defined as
derived by this channel), but the other channels (a PrestaShop pack, the till) learn the
composition from it: min over components of ⌊available / quantity⌋.

Only a fixed composition is a kit: every option required, with one selection
(Magento\\Bundle\\Api\\Data\\OptionInterface::getProductLinks, LinkInterface::getQty) whose
quantity the customer cannot change (``can_change_quantity`` 0). A bundle where the customer
picks among several selections is not a kit and is left out (logged).
"""

from __future__ import annotations

from typing import Any, Protocol

import structlog

from syncd.connectors.base import ChannelKit
from syncd.connectors.magento.client import MagentoClient, qty, sku_path

log = structlog.get_logger("syncd.magento")


class Shop(Protocol):
    name: str
    client: MagentoClient


async def read_bundles(connector: Shop, page_size: int = 100) -> list[ChannelKit]:
    skus: list[str] = []
    async for page in connector.client.paged(
        "products", [[("type_id", "bundle", "eq")]], page_size=page_size
    ):
        skus.extend(str(p.get("sku") or "") for p in page if p.get("sku"))
    kits = []
    for sku in skus:
        product = await connector.client.call("GET", f"products/{sku_path(sku)}")
        options = (
            (product.get("extension_attributes") or {}).get("bundle_product_options") or []
            if isinstance(product, dict)
            else []
        )
        parts = _fixed_parts(options)
        if not parts:
            log.info("magento_bundle_not_a_kit", channel=connector.name, sku=sku)
            continue
        kits.append(ChannelKit(sku, parts, derived=True))
    return kits


def _fixed_parts(options: list[Any]) -> dict[str, int]:
    """component → units, when every option is required with one fixed selection; else {}."""
    parts: dict[str, int] = {}
    for option in options:
        if not isinstance(option, dict) or not option.get("required"):
            return {}
        links = [link for link in option.get("product_links") or [] if isinstance(link, dict)]
        if len(links) != 1 or links[0].get("can_change_quantity"):
            return {}
        component = str(links[0].get("sku") or "").strip()
        units = qty(links[0].get("qty", 1))
        if not component or units < 1:
            return {}
        parts[component] = parts.get(component, 0) + units
    return parts
