"""`python -m bench prestashop --real`: syncd against the real PrestaShop 8.2.0 of ../shared.

1. Stock writes per second: the connector's push (resolve once, read the batch's rows in one
   list, PATCH each) next to a plain loop of the same PATCH requests, at the same concurrency
   (the shop's own limit: php-fpm's 4 workers), in alternating rounds of one run; the ratio.
2. Till file → the real shop showing the sale: the daemon (`syncd run`, a CSV till and the real
   shop) as a subprocess, one till sale per second on rotating SKUs; p50 / p99 of the time from
   the file landing in the drop folder to the shop's row showing the new figure (polled).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from syncd.config import parse_config
from syncd.connectors.base import PushItem, PushStatus
from syncd.connectors.prestashop.connector import PrestaShopConnector
from syncd.logs import configure_logging
from syncd.testing.harness import SYNCD

PATTERN = "{reference}-{id_product_attribute}"
CONCURRENCY = 4  # php-fpm pm.max_children of the real shop (prestashop.sh)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def real_shop_env() -> dict[str, str]:
    """Start the installed real shop (install it when it is not), as the tests do."""
    os.environ.setdefault("SYNCD_REAL_SHOPS_REUSE", "1")
    from syncd.testing import realshops

    if not realshops.available("prestashop"):
        raise SystemExit(realshops.why_skipped("prestashop"))
    return realshops.STARTER.get("prestashop").env


def connector(env: dict[str, str]) -> PrestaShopConnector:
    table = {
        "type": "prestashop",
        "url": env["REALPS_URL"],
        "api_key": env["REALPS_KEY"],
        "concurrency": CONCURRENCY,
        "combination_sku": PATTERN,
    }
    settings = parse_config({"channels": {"webshop": table}}, file="bench.toml")
    return PrestaShopConnector("webshop", settings.channel("webshop").options)


async def plain_round(
    http: aiohttp.ClientSession, env: dict[str, str], writes: list[tuple[int, int]]
) -> float:
    """The same PATCH requests, nothing else: seconds for all of them."""
    limit = asyncio.Semaphore(CONCURRENCY)
    header = {
        "Authorization": "Basic " + base64.b64encode(f"{env['REALPS_KEY']}:".encode()).decode(),
        "Content-Type": "text/xml",
        "Output-Format": "JSON",
    }

    async def one(row: int, qty: int) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><prestashop xmlns:xlink="http://www.w3.org/1999/xlink">'
            f"<stock_available><id>{row}</id><quantity>{qty}</quantity></stock_available></prestashop>"
        )
        async with (
            limit,
            http.patch(
                f"{env['REALPS_URL']}/api/stock_availables/{row}",
                params={"output_format": "JSON"},
                data=body.encode(),
                headers=header,
            ) as resp,
        ):
            await resp.read()
            assert resp.status == 200, resp.status

    started = time.perf_counter()
    await asyncio.gather(*(one(row, qty) for row, qty in writes))
    return time.perf_counter() - started


async def throughput(env: dict[str, str], rounds: int, per_round: int) -> dict[str, Any]:
    c = connector(env)
    await c.open()
    try:
        await c.check()
        levels = [lvl async for page in c.read_levels() for lvl in page]
        levels = [lvl for lvl in levels if lvl.sku and not lvl.detail.get("depends_on_stock")]
        rows = {lvl.sku: int(lvl.detail["stock_available"]) for lvl in levels}
        figure = {lvl.sku: max(0, lvl.quantity) for lvl in levels}
        skus = sorted(rows)
        await c.read_figures(skus)  # resolve every SKU once (cached, as in a running daemon)
        plain_s = syncd_s = 0.0
        plain_n = syncd_n = 0
        async with aiohttp.ClientSession() as http:
            for r in range(rounds):
                # syncd: batches of up to 100 SKUs, each a real change (figure ± 1)
                items = []
                for i in range(per_round):
                    sku = skus[i % len(skus)]
                    target = figure[sku] + (1 if (r + i // len(skus)) % 2 == 0 else -1)
                    target = max(0, target)
                    if target == figure[sku]:
                        target += 1
                    items.append(PushItem(sku, target, figure[sku]))
                    figure[sku] = target
                started = time.perf_counter()
                for start in range(0, len(items), len(skus)):
                    batch = items[start : start + len(skus)]
                    results = await c.push(batch)
                    syncd_n += sum(1 for x in results if x.status is PushStatus.WRITTEN)
                syncd_s += time.perf_counter() - started
                # the plain loop: the same number of PATCHes on the same rows
                writes = []
                for i in range(per_round):
                    sku = skus[i % len(skus)]
                    figure[sku] += 1 if i // len(skus) % 2 == 0 else -1
                    figure[sku] = max(0, figure[sku])
                    writes.append((rows[sku], figure[sku]))
                plain_s += await plain_round(http, env, writes)
                plain_n += len(writes)
                # keep the connector's view of the shop honest for the next syncd round
                figure.update(await c.read_figures(skus))
        plain = plain_n / plain_s
        ours = syncd_n / syncd_s
        return {
            "rows": len(skus),
            "concurrency": CONCURRENCY,
            "plain_patch_writes": plain_n,
            "plain_patch_writes_per_second": round(plain, 1),
            "syncd_writes": syncd_n,
            "syncd_writes_per_second": round(ours, 1),
            "ratio": round(ours / plain, 3),
        }
    finally:
        await c.close()


HEADER = (  # a Loyverse "receipts by item" export, as tests/e2e writes them
    "Date,Receipt number,Receipt type,Category,SKU,Item,Variant,Modifiers applied,Quantity,"
    "Gross sales,Discounts,Net sales,Cost of goods,Gross profit,Taxes,POS,Store,Cashier name,"
    "Customer name,Customer contacts,Comment,Status\n"
)


async def latency(env: dict[str, str], seconds: int) -> dict[str, Any]:
    """Till file → real shop, one sale per second for ``seconds``, through `syncd run`."""
    work = Path(tempfile.mkdtemp(prefix="syncd-bench-ps-"))
    (work / "till" / "inbox").mkdir(parents=True)
    config = work / "syncd.toml"
    config.write_text(
        f"""[ledger]
backend = "sqlite"
path = "ledger.sqlite3"
[log]
level = "warning"
format = "json"
[sync]
outbox_poll_seconds = 1
[web]
enabled = false
[channels.till]
type = "csv_till"
drop_folder = "till/inbox"
push = false
settle_seconds = 0.2
poll_seconds = 1
[channels.webshop]
type = "prestashop"
url = "{env["REALPS_URL"]}"
api_key = "{env["REALPS_KEY"]}"
combination_sku = "{PATTERN}"
concurrency = {CONCURRENCY}
poll_seconds = 2
""",
        encoding="utf-8",
    )
    c = connector(env)
    await c.open()
    try:
        levels = [lvl async for page in c.read_levels() for lvl in page]
        picked = [lvl for lvl in levels if lvl.sku and lvl.quantity >= seconds][:10]
        rows = {lvl.sku: int(lvl.detail["stock_available"]) for lvl in picked}
    finally:
        await c.close()
    init = subprocess.run(
        [*SYNCD, "init", "--config", str(config), "--from", "webshop", "--yes", "--json"],
        capture_output=True,
        text=True,
        cwd=work,
        timeout=300,
    )
    if init.returncode != 0:
        raise SystemExit(f"syncd init failed: {init.stderr[-2000:]}")
    log = (work / "daemon.log").open("ab")
    daemon = subprocess.Popen([*SYNCD, "run", "--config", str(config)], stderr=log, cwd=work)
    samples: list[float] = []
    try:
        c = connector(env)
        await c.open()
        try:
            await asyncio.sleep(3)  # the daemon's start-up (check, first pull)
            skus = sorted(rows)
            shows = await c.read_figures(skus)
            # sku → (figure the sale leads to, when its file landed), until the shop shows it.
            waiting: dict[str, list[tuple[int, float]]] = {}
            done = asyncio.Event()

            async def watch() -> None:
                # One list request for every watched row every 50 ms: polling each sale on its
                # own would take the shop's 4 PHP workers from the daemon it measures.
                while not done.is_set() or any(waiting.values()):
                    ids = "|".join(str(rows[s]) for s in skus if waiting.get(s))
                    if ids:
                        data = await c.client.get_json(
                            "stock_availables",
                            {"filter[id]": f"[{ids}]", "display": "[id,quantity]"},
                        )
                        now = time.perf_counter()
                        by_id = {
                            int(r["id"]): int(r["quantity"])
                            for r in data.get("stock_availables", [])
                        }
                        for sku in skus:
                            shown = by_id.get(rows[sku])
                            while (
                                waiting.get(sku)
                                and shown is not None
                                and shown <= waiting[sku][0][0]
                            ):
                                samples.append(now - waiting[sku].pop(0)[1])
                        if any(now - t > 30 for q in waiting.values() for _, t in q):
                            break  # a sale never seen: reported as fewer samples than sales
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch())
            for n in range(seconds):
                tick = time.perf_counter()
                sku = skus[n % len(skus)]
                shows[sku] -= 1
                staging = work / "till" / f".r{n}"
                staging.write_text(
                    HEADER + f"7/28/26 1:33 PM,4-{n},Sale,Shirts,{sku},Shirt,,,1,20.00,0.00,20.00,"
                    "8.00,12.00,0.00,POS 1,Shop,Ann,,,,Closed\n",
                    encoding="utf-8",
                )
                os.replace(staging, work / "till" / "inbox" / f"r{n}.csv")
                waiting.setdefault(sku, []).append((shows[sku], time.perf_counter()))
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
            done.set()
            await watcher
        finally:
            await c.close()
    finally:
        daemon.terminate()
        daemon.wait(30)
        log.close()
    return {
        "sales": seconds,
        "seen": len(samples),
        "p50_seconds": round(statistics.median(samples), 3) if samples else None,
        "p99_seconds": round(_pct(samples, 0.99), 3) if samples else None,
        "max_seconds": round(max(samples), 3) if samples else None,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench prestashop --real", description=__doc__)
    parser.add_argument("--real", action="store_true", required=True)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--writes", type=int, default=200, help="writes per round and side")
    parser.add_argument("--seconds", type=int, default=60, help="till sales, one per second")
    args = parser.parse_args(argv)
    configure_logging("warning")
    env = real_shop_env()
    out: dict[str, Any] = {"shop": "real PrestaShop 8.2.0"}
    out["writes"] = asyncio.run(throughput(env, args.rounds, args.writes))
    print(f"writes: {out['writes']}", file=sys.stderr)
    out["till_to_shop"] = asyncio.run(latency(env, args.seconds))
    print(f"till to shop: {out['till_to_shop']}", file=sys.stderr)
    print(json.dumps(out) if args.json else out)
    return 0
