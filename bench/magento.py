"""`python -m bench magento`: push 10,000 SKU changes and read 100,000 source items (bench/shops.py)."""

from __future__ import annotations

from bench.shops import main as shop_main


def main(argv: list[str]) -> int:
    return shop_main(argv, "magento")
