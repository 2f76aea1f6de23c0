"""Dispatch `python -m bench <name> [args]` to bench/<name>.py's main(argv)."""

from __future__ import annotations

import importlib
import sys

NAMES = (
    "ledger",
    "till",
    "prestashop",
    "magento",
    "shopify",
    "woocommerce",
    "latency",
    "reconcile",
    "footprint",
    "soak",
    "fuzz",
    "tillmemory",
)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in NAMES:
        print(f"usage: python -m bench {{{'|'.join(NAMES)}}} [--json] [options]", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"bench.{argv[0]}")
    except ModuleNotFoundError as err:
        print(f"bench {argv[0]} is not written yet ({err})", file=sys.stderr)
        return 2
    code: int = module.main(argv[1:])
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
