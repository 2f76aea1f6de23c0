"""`python -m bench magento --real`: syncd against the real Magento 2.4.7-p3 of ../shared/real-shops.

1. Stock writes per second: the connector pushing every bench SKU a new figure per round (one
   `push` per round, as the daemon's pusher sends a coalesced outbox), next to a plain loop of the
   same `POST /V1/inventory/source-items` requests (same bodies, batches of `batch_size`, same
   concurrency) with nothing else: the shop's own limit. Alternating blocks of each, one ratio
   (`ratio`); `ratio_reading` is the same with every figure read before its write, as happens
   for a SKU an open order holds or that an order touched since our last write.
2. Propagation: `syncd run` (a subprocess) with a CSV till and the real shop; one till sale a
   second; the time from the till file's rename to the moment the shop has the new figure (the
   connector's `stock_pushed` event, logged when Magento answered the write: with indexers "on
   save", salable shows it then; the final figures are read back from Magento to check).

The shop must be installed (`magento.sh`, or a real-shop test run); its bench products
SYNCD-BENCH-NNN are created once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.latency import HEADER
from syncd.config import parse_config
from syncd.connectors.base import PushItem, PushStatus
from syncd.connectors.magento.client import search_params
from syncd.connectors.magento.connector import MagentoConnector
from syncd.logs import configure_logging
from syncd.testing.realshops import read_env, script

ADMIN = {"username": "admin", "password": "Adm1nPassw0rd1"}


def shop_env() -> dict[str, str]:
    path = script("magento")
    out = subprocess.run(["bash", str(path), "env"], capture_output=True, text=True, check=True)
    env_file = Path(out.stdout.strip())
    if not env_file.is_file():
        sys.exit(f"the real Magento is not installed: run {path} (or a real-shop test run) first")
    return read_env(env_file)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values) * 1000),
        "p99_ms": round(_pct(values, 0.99) * 1000),
    }


class Shop:
    """Raw REST calls with one admin token (the plain loop, and the bench's own set-up)."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url, self.http, self.token = url.rstrip("/"), http, ""

    async def login(self) -> None:
        async with self.http.post(
            f"{self.url}/rest/V1/integration/admin/token", json=ADMIN
        ) as resp:
            self.token = await resp.json()

    async def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        async with self.http.request(
            method,
            f"{self.url}/rest/default/V1/{path}",
            json=body,
            params=params or None,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as resp:
            data = await resp.read()
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {data[:300]!r}")
            return json.loads(data) if data else None


async def bench_products(shop: Shop, count: int) -> list[str]:
    """SYNCD-BENCH-001… as simple products with a source item (created when missing)."""
    skus = [f"SYNCD-BENCH-{n:03}" for n in range(1, count + 1)]
    found = await shop.call(
        "GET",
        "products",
        **search_params([[("sku", "SYNCD-BENCH-%", "like")]], page_size=1000, page=1),
    )
    have = {p["sku"] for p in found.get("items") or []}
    for sku in skus:
        if sku not in have:
            await shop.call(
                "POST",
                "products",
                {
                    "product": {
                        "sku": sku,
                        "name": f"Bench {sku[-3:]}",
                        "attribute_set_id": 4,
                        "price": 1,
                        "status": 1,
                        "visibility": 1,
                        "type_id": "simple",
                        "extension_attributes": {"website_ids": [1]},
                    }
                },
            )
    await shop.call(
        "POST",
        "inventory/source-items",
        {
            "sourceItems": [
                {"sku": s, "source_code": "default", "quantity": 500, "status": 1} for s in skus
            ]
        },
    )
    return skus


async def throughput(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    table = {
        "type": "magento",
        "url": env["MAGENTO_URL"],
        "username": ADMIN["username"],
        "password": ADMIN["password"],
    }
    options = parse_config({"channels": {"m": table}}, file="bench.toml").channel("m").options
    connector = MagentoConnector("m", options)
    batch, concurrency = options.batch_size, options.concurrency
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        shop = Shop(env["MAGENTO_URL"], http)
        await shop.login()
        skus = await bench_products(shop, args.skus)
        await connector.open()
        try:
            await connector.check()
            figure = 500
            limit = asyncio.Semaphore(concurrency)

            async def post(body: dict[str, Any]) -> None:
                async with limit:
                    await shop.call("POST", "inventory/source-items", body)

            async def plain_round(quantity: int) -> int:
                bodies = [
                    {
                        "sourceItems": [
                            {"sku": s, "source_code": "default", "quantity": quantity, "status": 1}
                            for s in skus[start : start + batch]
                        ]
                    }
                    for start in range(0, len(skus), batch)
                ]
                await asyncio.gather(*(post(b) for b in bodies))
                return len(skus)

            async def syncd_round(quantity: int, before: int, *, cold: bool = False) -> int:
                if cold:  # as after an order: every figure read before it is written
                    connector._known.clear()
                results = await connector.push([PushItem(s, quantity, before) for s in skus])
                return sum(1 for r in results if r.status is PushStatus.WRITTEN)

            kinds = ("plain", "syncd", "syncd_reading")
            timed: dict[str, list[tuple[int, float]]] = {k: [] for k in kinds}
            await syncd_round(figure, figure)  # warm-up: token, caches, opcache
            for _block in range(args.blocks):
                for kind in kinds:
                    for _ in range(args.rounds):
                        new = figure + (1 if figure % 2 == 0 else -1)
                        t0 = time.perf_counter()
                        n = await (
                            plain_round(new)
                            if kind == "plain"
                            else syncd_round(new, figure, cold=kind == "syncd_reading")
                        )
                        timed[kind].append((n, time.perf_counter() - t0))
                        if args.verbose:
                            print(kind, n, round(timed[kind][-1][1], 3), file=sys.stderr)
                        figure = new
        finally:
            await connector.close()
    out: dict[str, Any] = {"skus": len(skus), "batch_size": batch, "concurrency": concurrency}
    for kind, runs in timed.items():
        written = sum(n for n, _ in runs)
        seconds = sum(s for _, s in runs)
        out[kind] = {
            "writes": written,
            "seconds": round(seconds, 2),
            "writes_per_second": round(written / seconds, 1),
            "round_p50_ms": round(statistics.median(s for _, s in runs) * 1000),
        }
    plain = out["plain"]["writes_per_second"]
    out["ratio"] = round(out["syncd"]["writes_per_second"] / plain, 3)
    # every figure read first (a SKU an order holds, or touched since our last write)
    out["ratio_reading"] = round(out["syncd_reading"]["writes_per_second"] / plain, 3)
    return out


def _config(folder: Path, env: dict[str, str]) -> Path:
    config = folder / "syncd.toml"
    config.write_text(
        f"""[ledger]
backend = "sqlite"
path = "ledger.sqlite3"
[log]
level = "info"
format = "json"
[web]
enabled = false
[channels.till]
type = "csv_till"
drop_folder = "till/inbox"
stock_file = "till/stock.csv"
settle_seconds = 0.05
poll_seconds = 0.5
[channels.magento]
type = "magento"
url = "{env["MAGENTO_URL"]}"
username = "{ADMIN["username"]}"
password = "{ADMIN["password"]}"
poll_seconds = 1
""",
        encoding="utf-8",
    )
    (folder / "till" / "inbox").mkdir(parents=True)
    return config


def _pushed(log: Path) -> dict[tuple[str, int], float]:
    """(sku, quantity) → when the connector logged the write as done (wall clock)."""
    out: dict[tuple[str, int], float] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "stock_pushed" and event.get("channel") == "magento":
            when = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
            out.setdefault((str(event["sku"]), int(event["quantity"])), when.timestamp())
    return out


async def propagation(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="syncd-bench-real-magento-"))
    config = _config(folder, env)
    syncd = [sys.executable, "-m", "syncd.cli"]
    init = subprocess.run(
        [*syncd, "init", "--config", str(config), "--from", "magento", "--yes", "--json"],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=600,
    )
    if init.returncode != 0:
        raise RuntimeError(f"syncd init failed: {init.stderr[-2000:]}")
    figures = {c["sku"]: c["after"] for c in json.loads(init.stdout)["ledger_changes"]}
    skus = sorted(s for s in figures if s.startswith("SYNCD-BENCH-"))[: args.sold]
    log_path = folder / "daemon.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [*syncd, "run", "--config", str(config)], stderr=log, stdout=log, cwd=folder
        )
        sales: list[tuple[str, int, float]] = []
        try:
            await asyncio.sleep(args.settle)  # start-up: check, first pull, the till file
            for n in range(args.sales):
                sku = skus[n % len(skus)]
                figures[sku] -= 1
                receipt = f"RB-{n}-{int(time.time())}"
                staging = folder / "till" / f".{receipt}"
                staging.write_text(
                    HEADER
                    + f"01/07/2026 10:02,{receipt},Sale,Bench,{sku},Bench,,,1,1,0,1,0,1,0,POS,"
                    "Shop,Ann,,,,Closed\n",
                    encoding="utf-8",
                )
                os.replace(staging, folder / "till" / "inbox" / f"{receipt}.csv")
                sales.append((sku, figures[sku], time.time()))
                await asyncio.sleep(max(0.0, 1 / args.rate - 0.001))
            await asyncio.sleep(5)
        finally:
            daemon.terminate()
            daemon.wait(30)
    pushed = _pushed(log_path)
    latencies = [pushed[(s, q)] - t0 for s, q, t0 in sales if (s, q) in pushed]
    # a SKU's first sale since the daemon started is read before it is written; later ones
    # are written without reads while nothing else touched the SKU (connector._known_figure)
    seen: set[str] = set()
    first: list[float] = []
    repeat: list[float] = []
    for sku, quantity, t0 in sales:
        if (sku, quantity) in pushed:
            (repeat if sku in seen else first).append(pushed[(sku, quantity)] - t0)
        seen.add(sku)
    async with aiohttp.ClientSession() as http:
        shop = Shop(env["MAGENTO_URL"], http)
        await shop.login()
        shown = {
            s: await shop.call("GET", f"inventory/get-product-salable-quantity/{s}/1") for s in skus
        }
    return {
        "sales": len(sales),
        "rate_per_second": args.rate,
        "seen": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
        "p99_ms": round(_pct(latencies, 0.99) * 1000) if latencies else None,
        "max_ms": round(max(latencies) * 1000) if latencies else None,
        "first_sale_of_a_sku": _summary(first),
        "later_sales": _summary(repeat),
        "final_salable_matches": all(shown[s] == figures[s] for s in skus),
        "folder": str(folder),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = shop_env()
    out: dict[str, Any] = {"shop": env["MAGENTO_URL"]}
    if args.part in ("all", "throughput"):
        out["throughput"] = await throughput(args, env)
        print(f"throughput: {out['throughput']}", file=sys.stderr)
    if args.part in ("all", "latency"):
        out["propagation"] = await propagation(args, env)
        print(f"propagation: {out['propagation']}", file=sys.stderr)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench magento --real", description=__doc__)
    parser.add_argument("--real", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="every round's time")
    parser.add_argument("--part", choices=("all", "throughput", "latency"), default="all")
    parser.add_argument("--skus", type=int, default=40, help="bench products (SYNCD-BENCH-NNN)")
    parser.add_argument("--sold", type=int, default=20, help="of which the till sells")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per block")
    parser.add_argument("--blocks", type=int, default=3, help="alternating blocks of each")
    parser.add_argument("--sales", type=int, default=120, help="till sales, one per 1/rate s")
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--settle", type=float, default=8.0, help="daemon start-up wait (s)")
    args = parser.parse_args(argv)
    configure_logging("warning")
    result = asyncio.run(run(args))
    print(json.dumps(result) if args.json else result)
    return 0
