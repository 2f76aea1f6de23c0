"""Propagation latency under load: 50 till sales/s + 10 web orders/s (PrestaShop and Magento by
turns) for 60 s, against in-process emulators on loopback, on SQLite and on PostgreSQL.

Latency is measured from the till file's rename (or the web order's creation in the emulator)
to the daemon's acknowledgement of the write on each other channel (the emulator has answered).
Two configurations: the shops polled every 0.3 s (as the demo), and the own-overhead run where
emulators answer at once and the till → shop path is measured (no polling on that path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from syncd.engine.demo import Demo
from syncd.logs import configure_logging


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def _fresh_pg() -> str:
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute('DROP DATABASE IF EXISTS "syncd_latency" WITH (FORCE)')
        await conn.execute('CREATE DATABASE "syncd_latency"')
    finally:
        await conn.close()
    return "postgresql://postgres@127.0.0.1:5432/syncd_latency"


async def one(store: str, args: argparse.Namespace) -> dict[str, Any]:
    dsn = await _fresh_pg() if store == "postgres" else ""
    folder = Path(tempfile.mkdtemp(prefix=f"syncd-latency-{store}-"))
    demo = Demo(folder, args.products, seed=3, ledger_dsn=dsn)
    try:
        await demo.start()
        await asyncio.sleep(2)  # the first full pushes (every SKU to every channel)
        demo.observe()
        demo.traffic.latencies.clear()
        demo.traffic.by_path.clear()
        await demo.run_load(args.seconds, args.till_rate, args.web_rate)
        settled = await demo.settle(30)
        summary = await demo.verify()
    finally:
        await demo.stop()
    out: dict[str, Any] = {
        "settled": settled,
        "lost": summary["lost"],
        "duplicated": summary["duplicated"],
        "all_channels_match": summary["shop_matches_ledger"]
        and summary["magento_matches_ledger"]
        and summary["till_matches_ledger"],
        "till_sales": summary["till_sales"],
        "web_orders": summary["web_orders"] + summary["magento_orders"],
    }
    for path, values in sorted(demo.traffic.by_path.items()):
        out[path] = _summary(values)
    print(f"{store}: {out}", file=sys.stderr, flush=True)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "seconds": args.seconds,
        "till_per_second": args.till_rate,
        "web_per_second": args.web_rate,
        "poll_seconds": 0.3,
    }
    for store in args.stores.split(","):
        result[store] = await one(store, args)
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench latency", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--till-rate", type=float, default=50)
    parser.add_argument("--web-rate", type=float, default=10)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args(argv)
    configure_logging("error")
    result = asyncio.run(run(args))
    print(json.dumps(result) if args.json else result)
    return 0
