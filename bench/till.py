"""Till ingest: a 100,000-row export into the SQLite ledger, and dropped file → commit latency.

The latency run keeps the real ingest loop running (watchfiles on the drop folder) and drops one
small export at a time by atomic rename, timing rename → the ledger's commit event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncd.config import SyncSettings, parse_config
from syncd.connectors.csv_till.connector import CsvTillConnector
from syncd.domain import Document, DocumentKind
from syncd.engine.channel import ChannelRunner
from syncd.events import EventFeed
from syncd.ledger.sqlite import SqliteStore
from syncd.logs import configure_logging

HEADER = (
    "Date,Receipt number,Receipt type,Category,SKU,Item,Variant,Modifiers applied,Quantity,"
    "Gross sales,Discounts,Net sales,Cost of goods,Gross profit,Taxes,POS,Store,Cashier name,"
    "Customer name,Customer contacts,Comment,Status\n"
)


def export(rows: int, skus: int, prefix: str, seed: int = 1) -> bytes:
    """A Loyverse receipts-by-item export: 1–5 lines per receipt."""
    rng = random.Random(seed)
    out = [HEADER]
    receipt = 0
    written = 0
    while written < rows:
        receipt += 1
        for _ in range(min(rng.randint(1, 5), rows - written)):
            sku = f"SKU-{rng.randrange(skus):05d}"
            out.append(
                f"7/28/26 1:33 PM,{prefix}-{receipt},Sale,Shirts,{sku},Shirt,M,,1,9.00,0.00,9.00,"
                f"4.00,5.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
            )
            written += 1
    return "".join(out).encode()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _setup(tmp: Path) -> tuple[CsvTillConnector, Any]:
    # The till's share exists before syncd starts: syncd never creates a drop folder (it could
    # stand in for an unmounted share).
    (tmp / "inbox").mkdir()
    settings = parse_config(
        {
            "ledger": {"path": str(tmp / "ledger.sqlite3")},
            "channels": {
                "till": {
                    "type": "csv_till",
                    "drop_folder": str(tmp / "inbox"),
                    "settle_seconds": 1,
                    "poll_seconds": 30,
                }
            },
        },
        file=str(tmp / "syncd.toml"),
    )
    channel = settings.channel("till")
    return CsvTillConnector("till", channel.options), channel


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        connector, channel = _setup(tmp)
        await connector.open()
        store = await SqliteStore(tmp / "ledger.sqlite3", strict_skus=False).open()
        runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
        # Opening stock, as after `syncd init`: the run measures sales, not an oversell storm.
        opening = {f"SKU-{i:05d}": 1_000 for i in range(args.skus)}
        await store.apply_document(
            Document("init", "opening", DocumentKind.STOCK_COUNT, opening, datetime.now(UTC))
        )
        data = export(args.rows, args.skus, "BIG")
        staging = tmp / "staging.csv"
        staging.write_bytes(data)
        old = time.time() - 10
        os.utime(staging, (old, old))
        os.replace(staging, tmp / "inbox" / "big.csv")
        started = time.perf_counter()
        documents = await runner.pull_once()
        elapsed = time.perf_counter() - started
        count, _ = await store.movement_totals()
        count -= args.skus  # the opening count's movements
        out["bulk"] = {
            "rows": args.rows,
            "bytes": len(data),
            "receipts": documents,
            "movements": count,
            "seconds": round(elapsed, 3),
            "rows_per_second": round(args.rows / elapsed, 1),
        }
        print(f"bulk: {out['bulk']}", file=sys.stderr)

        # Latency: the real ingest loop with its watcher, one small file at a time.
        events = runner.events.subscribe()
        loop_task = asyncio.create_task(runner.ingest_loop())
        await asyncio.sleep(0.5)
        latencies = []
        for i in range(args.files):
            staging = tmp / f"drop-{i}.csv"
            staging.write_bytes(export(5, args.skus, f"DROP{i}", seed=i))
            os.utime(staging, (old, old))  # complete: written before, renamed in now
            dropped = time.perf_counter()
            os.replace(staging, tmp / "inbox" / f"drop-{i}.csv")
            while True:
                event = await asyncio.wait_for(events.get(), 10)
                if event["event"] == "document_applied" and str(event["doc_id"]).startswith(
                    f"DROP{i}-"
                ):
                    latencies.append(time.perf_counter() - dropped)
                    break
            await asyncio.sleep(0.02)
        runner.stopping.set()
        await loop_task
        out["drop_to_commit_ms"] = {
            "files": args.files,
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p99": round(_pct(latencies, 0.99) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
        }
        print(f"latency: {out['drop_to_commit_ms']}", file=sys.stderr)
        await connector.close()
        await store.close()
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench till", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--skus", type=int, default=5_000)
    parser.add_argument("--files", type=int, default=100)
    args = parser.parse_args(argv)
    configure_logging("warning")
    result = asyncio.run(run(args))
    print(json.dumps(result) if args.json else result)
    return 0
