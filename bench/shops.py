"""A shop connector against its emulator on loopback: push N SKU changes, read M stock figures.

Shared by `python -m bench prestashop` and `python -m bench magento`. The emulator runs in a
subprocess (`syncd emulator <shop>`), so its CPU is not ours; the connector runs here with its
defaults. Reports requests/s,
per-SKU push p99 and the connector process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from typing import Any

from syncd.config import parse_config
from syncd.connectors import connector_class
from syncd.connectors.base import PushItem, PushStatus
from syncd.logs import configure_logging
from syncd.testing.harness import Emulator


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Per shop: credentials taken from the emulator's first line, page size, and requests per SKU
# pushed the first time (PrestaShop: 2 GETs to find the row, GET current, PATCH; Magento, per
# 100 SKUs: 1 source-items search, 100 salable reads, 5 POSTs of 20).
SHOPS: dict[str, tuple[str, int, float]] = {
    "prestashop": ("api_key", 1000, 4.0),
    "magento": ("access_token", 300, 1.06),
}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    credential, page_size, requests_per_sku = SHOPS[args.shop]
    products = max(args.push, args.read)
    emulator = Emulator(args.shop, products)
    try:
        info = emulator.info
        settings = parse_config(
            {
                "channels": {
                    "shop": {
                        "type": args.shop,
                        "url": info["url"],
                        credential: info[credential],
                        "page_size": page_size,
                    }
                }
            },
            file="bench.toml",
        )
        connector = connector_class(args.shop)("shop", settings.channel("shop").options)
        await connector.open()
        try:
            await connector.check()
            out: dict[str, Any] = {"emulator": "subprocess", "products": products}
            # read every stock row (and the references mapping them to SKUs)
            started = time.perf_counter()
            levels = [lvl async for page in connector.read_levels() for lvl in page]
            read_s = time.perf_counter() - started
            out["read"] = {
                "skus": len(levels),
                "seconds": round(read_s, 2),
                "skus_per_second": round(len(levels) / read_s, 1),
            }
            print(f"read: {out['read']}", file=sys.stderr)
            # push N changes (each: resolve once, read current, write) in batches of 100
            skus = [lvl.sku for lvl in levels[: args.push]]
            current = {lvl.sku: lvl.quantity for lvl in levels}
            latencies: list[float] = []
            started = time.perf_counter()
            written = 0
            for start in range(0, len(skus), 100):
                batch = [PushItem(s, current[s] + 1, current[s]) for s in skus[start : start + 100]]
                t0 = time.perf_counter()
                results = await connector.push(batch)
                latencies.append((time.perf_counter() - t0) / max(1, len(batch)))
                written += sum(1 for r in results if r.status is PushStatus.WRITTEN)
            push_s = time.perf_counter() - started
            out["push"] = {
                "skus": len(skus),
                "written": written,
                "seconds": round(push_s, 2),
                "skus_per_second": round(len(skus) / push_s, 1),
                "approx_requests_per_second": round(requests_per_sku * len(skus) / push_s, 1),
                "batch_mean_ms_per_sku": round(statistics.mean(latencies) * 1000, 2),
                "batch_p99_ms_per_sku": round(_pct(latencies, 0.99) * 1000, 2),
            }
            print(f"push: {out['push']}", file=sys.stderr)
            out["connector_peak_rss_mb"] = round(_rss_mb(), 1)
            return out
        finally:
            await connector.close()
    finally:
        emulator.stop()


def main(argv: list[str], shop: str = "prestashop") -> int:
    parser = argparse.ArgumentParser(prog=f"python -m bench {shop}", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--push", type=int, default=10_000)
    parser.add_argument("--read", type=int, default=100_000)
    args = parser.parse_args(argv)
    args.shop = shop
    configure_logging("warning")
    result = asyncio.run(run(args))
    print(json.dumps(result) if args.json else result)
    return 0
