"""What the stock-in files and commands read of the ledger besides booking: product names.

`syncd receive` and `syncd count` show each line with the name a merchant recognises; the
drop folders' reports too. (The query is the core's ``product_names``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from syncd.ledger.sqlbase import SqlBase
from syncd.ledger.stockin import StockInStore


class StockFileStore(StockInStore, Protocol):
    """Booking stock-in files: :class:`StockInStore` and the names of SKUs."""

    async def sku_names(self, skus: Sequence[str]) -> dict[str, str]: ...


class StockFilesSql(SqlBase):
    async def sku_names(self, skus: Sequence[str]) -> dict[str, str]:
        """SKU → product name, for those the catalogue names."""
        if not skus:
            return {}
        async with self._read() as tx:
            rows = await tx.fetch("product_names", sorted(set(skus)))
        return {str(sku): str(name) for sku, name in rows if name}
