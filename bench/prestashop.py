"""`python -m bench prestashop`: push 10,000 SKU changes and read 100,000 stock rows (bench/shops.py)."""

from __future__ import annotations

from bench.shops import main as shop_main


def main(argv: list[str]) -> int:
    return shop_main(argv, "prestashop")
