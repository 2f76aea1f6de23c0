"""Idle footprint: `syncd run` with 3 channels (CSV till, PrestaShop, Magento) and 10,000 SKUs.

The emulators run as their own processes; the ledger is onboarded with every SKU; once the first
full pushes are done, the daemon's RSS and CPU are read from /proc over the measuring window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncd.config import load_config
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product, open_store
from syncd.logs import configure_logging
from syncd.testing.harness import SYNCD, Emulator


def _proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds used, RSS in MiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss_kb / 1024


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="syncd-footprint-"))
    shop = Emulator("prestashop", args.skus)
    magento = Emulator("magento", args.skus)
    shop_info, magento_info = shop.info, magento.info
    daemon: subprocess.Popen[bytes] | None = None
    try:
        (folder / "till" / "inbox").mkdir(parents=True)
        config = folder / "syncd.toml"
        config.write_text(
            f"""[ledger]
path = "ledger.sqlite3"
[log]
level = "warning"
format = "json"
[web]
port = 0
[channels.till]
type = "csv_till"
drop_folder = "till/inbox"
stock_file = "till/stock.csv"
[channels.webshop]
type = "prestashop"
url = "{shop_info["url"]}"
api_key = "{shop_info["api_key"]}"
[channels.magento]
type = "magento"
url = "{magento_info["url"]}"
access_token = "{magento_info["access_token"]}"
""",
            encoding="utf-8",
        )
        from syncd.connectors.emulation import demo_catalog

        catalog = demo_catalog(args.skus)
        store = await open_store(load_config(config).ledger)
        await store.upsert_products([Product(i.sku, i.name, i.ean13) for i in catalog])
        await store.apply_document(
            Document(
                "init",
                "opening",
                DocumentKind.STOCK_COUNT,
                {i.sku: i.quantity for i in catalog},
                datetime.now(UTC),
            )
        )
        await store.close()
        daemon = subprocess.Popen(
            [*SYNCD, "run", "--config", str(config)],
            stderr=subprocess.DEVNULL,
            cwd=folder,
        )
        started = time.monotonic()
        while True:  # wait for the first full pushes (every SKU to every channel) to finish
            out = subprocess.run(
                [*SYNCD, "status", "--config", str(config), "--json"],
                capture_output=True,
                text=True,
            )
            if out.returncode == 0:
                report = json.loads(out.stdout)
                if all(
                    c["outbox"] == 0 and c["state"] in ("in_sync", "catching_up")
                    for c in report["channels"]
                ):
                    break
            if time.monotonic() - started > 600:
                raise RuntimeError("the first pushes did not finish within 10 minutes")
            await asyncio.sleep(2)
        initial_sync = time.monotonic() - started
        await asyncio.sleep(5)
        cpu0, rss0 = _proc_stats(daemon.pid)
        t0 = time.monotonic()
        peak = rss0
        while time.monotonic() - t0 < args.seconds:
            await asyncio.sleep(1)
            peak = max(peak, _proc_stats(daemon.pid)[1])
        cpu1, rss1 = _proc_stats(daemon.pid)
        elapsed = time.monotonic() - t0
        return {
            "skus": args.skus,
            "channels": 3,
            "initial_full_sync_seconds": round(initial_sync, 1),
            "idle_seconds": round(elapsed, 1),
            "idle_cpu_percent": round(100 * (cpu1 - cpu0) / elapsed, 2),
            "rss_mb": round(rss1, 1),
            "rss_peak_mb_while_idle": round(peak, 1),
        }
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(30)
        for emulator in (shop, magento):
            emulator.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench footprint", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args(argv)
    configure_logging("error")
    result = asyncio.run(run(args))
    print(json.dumps(result) if args.json else result)
    return 0
