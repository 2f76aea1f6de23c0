"""`python -m bench shopify`: the Shopify connector against its emulator (a subprocess, with its
leaky bucket): read 100,000 SKUs through one bulk operation, push 10,000 SKU changes, and set
the writes/s next to the most the throttle allows on that plan.

Two push phases: ``burst`` starts with a full bucket (what a quiet shop's app has), ``sustained``
starts with an empty one, so every point spent was restored at the plan's rate during the run.
The throttle's ceiling for writes is ``restoreRate / cost of one call × quantities per call``
(inventorySetQuantities takes up to 250): the sustained ratio is measured / ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any

from syncd.config import parse_config
from syncd.connectors.base import PushItem, PushStatus
from syncd.connectors.shopify.connector import ShopifyConnector
from syncd.logs import configure_logging
from syncd.testing.harness import Emulator


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _push_all(
    connector: ShopifyConnector, skus: list[str], current: dict[str, int], step: int
) -> dict[str, Any]:
    started = time.perf_counter()
    waited_before = connector.client.throttle.waited
    written = 0
    for start in range(0, len(skus), step):
        chunk = skus[start : start + step]
        items = [PushItem(s, current[s] + 1, current[s]) for s in chunk]
        results = await connector.push(items)
        for result in results:
            if result.status is PushStatus.WRITTEN:
                written += 1
                current[result.sku] += 1
    seconds = time.perf_counter() - started
    return {
        "skus": len(skus),
        "written": written,
        "seconds": round(seconds, 2),
        "writes_per_second": round(written / seconds, 1),
        "paced_seconds": round(connector.client.throttle.waited - waited_before, 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    products = max(args.push, args.read)
    emulator = Emulator("shopify", products, quiet=True)
    try:
        info = emulator.info
        await emulator.admin("POST", "throttle", {"plan": args.plan})
        table = {
            "type": "shopify",
            "url": info["url"],
            "access_token": info["access_token"],
            "location_id": info["location_id"],
            "api_version": info["api_version"],
            "bulk_poll_seconds": 0.2,
        }
        settings = parse_config({"channels": {"shop": table}}, file="bench.toml")
        options = settings.channel("shop").options
        async with ShopifyConnector("shop", options) as connector:
            await connector.check()
            out: dict[str, Any] = {"emulator": "subprocess", "products": products}
            started = time.perf_counter()
            levels = [lv async for page in connector.read_levels() for lv in page]
            seconds = time.perf_counter() - started
            out["read"] = {
                "skus": len(levels),
                "seconds": round(seconds, 2),
                "skus_per_second": round(len(levels) / seconds, 1),
                "how": "one bulk operation (JSONL)",
            }
            print(f"read: {out['read']}", file=sys.stderr)
            current = {lv.sku: lv.quantity for lv in levels}
            skus = [lv.sku for lv in levels[: args.push]]
            status = await emulator.admin("GET", "throttle")
            before = status["requests"]
            out["burst"] = await _push_all(connector, skus, current, args.step)
            print(f"burst: {out['burst']}", file=sys.stderr)
            calls = (await emulator.admin("GET", "throttle"))["requests"] - before
            # The bucket emptied: from here every point is restored during the run.
            await emulator.admin("POST", "throttle", {"available": 0})
            connector.client.throttle.update(
                {
                    "maximumAvailable": status["maximumAvailable"],
                    "currentlyAvailable": 0,
                    "restoreRate": status["restoreRate"],
                }
            )
            out["sustained"] = await _push_all(connector, skus, current, args.step)
            print(f"sustained: {out['sustained']}", file=sys.stderr)
            after = await emulator.admin("GET", "throttle")
            # One call's actual cost, as the emulator charges inventorySetQuantities (10 for
            # the mutation, 1 for its payload object): the ceiling's denominator.
            cost = 11.0
            per_call = options.batch_size
            ceiling = status["restoreRate"] / cost * per_call
            out["throttle"] = {
                "plan": args.plan,
                "restore_rate": status["restoreRate"],
                "bucket": status["maximumAvailable"],
                "calls_per_push_phase": calls,
                "quantities_per_call": per_call,
                "cost_per_call": cost,
                "ceiling_writes_per_second": round(ceiling, 1),
                "sustained_ratio": round(out["sustained"]["writes_per_second"] / ceiling, 3),
                "throttled_answers": after["throttled"],
            }
            print(f"throttle: {out['throttle']}", file=sys.stderr)
            out["connector_peak_rss_mb"] = round(_rss_mb(), 1)
            return out
    finally:
        emulator.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench shopify", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--push", type=int, default=10_000)
    parser.add_argument("--read", type=int, default=100_000)
    parser.add_argument("--plan", default="standard", choices=("standard", "advanced", "plus"))
    parser.add_argument("--step", type=int, default=1000, help="SKUs per push (engine batch)")
    args = parser.parse_args(argv)
    configure_logging("warning")
    result = asyncio.run(run(args))
    print(json.dumps(result) if args.json else result)
    return 0
