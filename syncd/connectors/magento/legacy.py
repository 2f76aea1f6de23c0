"""Magento without MSI ("legacy" mode: one stock item per product): the catalogue's figures,
read as ``syncd/connectors/magento/connector.py`` pushes them (``stockItems/<sku>``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from syncd.connectors.base import ChannelLevel
from syncd.connectors.magento.client import MagentoClient, qty, sku_path
from syncd.exceptions import ParseError


async def legacy_levels(
    client: MagentoClient, skus: Sequence[str] | None, page_size: int
) -> AsyncIterator[list[ChannelLevel]]:
    """Pages of the simple products' stock item quantities (of ``skus``, or all of them)."""
    names = {}
    async for page in client.paged(
        "products", [[("type_id", "simple", "eq")]], page_size=page_size
    ):
        names.update({str(p.get("sku") or ""): str(p.get("name", "")) for p in page})
    wanted = [s for s in names if skus is None or s in skus]
    for start in range(0, len(wanted), 50):
        chunk = wanted[start : start + 50]
        stocks = await asyncio.gather(
            *(client.call("GET", f"stockItems/{sku_path(s)}") for s in chunk)
        )
        if not all(isinstance(st, dict) for st in stocks):
            raise ParseError("Magento stockItems: an answer is not an object")
        yield [
            ChannelLevel(s, qty(st.get("qty")), name=names[s])
            for s, st in zip(chunk, stocks, strict=True)
        ]
