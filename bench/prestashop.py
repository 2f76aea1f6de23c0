"""`python -m bench prestashop`: push 10,000 SKU changes and read 100,000 stock rows (bench/shops.py);
with `--real`, writes and till-to-shop latency against the real PrestaShop (bench/prestashop_real.py)."""

from __future__ import annotations

from bench.shops import main as shop_main


def main(argv: list[str]) -> int:
    if "--real" in argv:
        from bench.prestashop_real import main as real_main

        return real_main(argv)
    return shop_main(argv, "prestashop")
