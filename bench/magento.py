"""`python -m bench magento`: push 10,000 SKU changes and read 100,000 source items (bench/shops.py);
`python -m bench magento --real`: the same connector against the real Magento (bench/real_magento.py)."""

from __future__ import annotations

from bench.shops import main as shop_main


def main(argv: list[str]) -> int:
    if "--real" in argv:
        from bench.real_magento import main as real_main

        return real_main(argv)
    return shop_main(argv, "magento")
