"""syncd with the real WooCommerce 11.0.1 (../shared/real-shops, installed once per run): `syncd
init` and `reconcile` against it, and the daemon end to end: a till file lowers the real shop,
real orders (a product and a variation) reach the till through signed webhooks only (polling set
to an hour), a cancellation gives the stock back.

The shop keeps its state between runs (SYNCD_REAL_SHOPS_REUSE=1): each test makes its own
products (SKUs prefixed per run) and asserts relationships."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from syncd.testing.harness import SYNCD, DaemonProcess, free_port, until
from syncd.testing.harness import write_config as write_toml
from tests.e2e.test_daemon_process import HEADER
from tests.woocommerce.shop import WooShop

pytestmark = pytest.mark.realshop("woocommerce")
PARIS = ZoneInfo("Europe/Paris")
HOOK_SECRET = "syncd-webhook-secret-0123456789"


def syncd(*args: str, cwd: Path) -> dict[str, Any]:
    out = subprocess.run(
        [*SYNCD, *args, "--json"], capture_output=True, text=True, timeout=300, cwd=cwd
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return dict(json.loads(out.stdout))


def config_for(tmp: Path, shop: WooShop, port: int, start_from: str) -> Path:
    config = write_toml(
        tmp / "syncd.toml",
        {
            "ledger": {"backend": "sqlite", "path": "ledger.sqlite3"},
            "log": {"level": "info", "format": "json"},
            "sync": {"grace_seconds": 5, "outbox_poll_seconds": 1},
            "web": {"enabled": True, "host": "127.0.0.1", "port": port},
            "reconcile": {"enabled": False},
            "channels": {
                "till": {
                    "type": "csv_till",
                    "drop_folder": "till/inbox",
                    "stock_file": "till/stock.csv",
                    "settle_seconds": 0.2,
                    "poll_seconds": 1,
                    "stock_min_interval_seconds": 0.1,
                },
                "woo": {
                    "type": "woocommerce",
                    "url": shop.url,
                    "consumer_key": shop.key,
                    "consumer_secret": shop.secret,
                    "poll_seconds": 3600,  # only webhooks bring its orders in quickly
                    "overlap_seconds": 2,
                    "start_from": start_from,
                    "webhook_secret": HOOK_SECRET,
                    "webhook_min_seconds": 0.1,
                },
            },
        },
    )
    (tmp / "till" / "inbox").mkdir(parents=True)
    return config


def till_stock(tmp: Path) -> dict[str, int]:
    path = tmp / "till" / "stock.csv"
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return {line.split(";")[0]: int(line.split(";")[1]) for line in lines}


def sell_at_till(tmp: Path, receipt: str, lines: dict[str, int]) -> None:
    rows = "".join(
        f"7/28/26 1:33 PM,{receipt},Sale,Shirts,{sku},Shirt,,,{qty},20.00,0.00,20.00,8.00,12.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
        for sku, qty in lines.items()
    )
    staging = tmp / "till" / f".{receipt}"
    staging.write_text(HEADER + rows, encoding="utf-8")
    staging.replace(tmp / "till" / "inbox" / f"{receipt}.csv")


async def test_init_reconcile_and_the_daemon_with_webhooks(tmp_path: Path, real: WooShop) -> None:
    start_from = (datetime.now(PARIS) - timedelta(seconds=5)).strftime("%Y-%m-%d %H:%M:%S")
    mug = await asyncio.to_thread(real.product, "MUG", 40)
    tee, sizes = await asyncio.to_thread(real.variable, "TEE", {"S": 30, "M": 12})
    mug_sku, tee_sku = real.sku("MUG"), real.sku("TEE-S")
    port = free_port()
    config = config_for(tmp_path, real, port, start_from)

    plan = syncd("init", "--config", str(config), "--from", "woo", "--dry-run", cwd=tmp_path)
    counted = {c["sku"]: c for c in plan["ledger_changes"]}
    assert mug_sku in counted and tee_sku in counted and real.sku("TEE-M") in counted
    assert real.sku("TEE") not in counted  # the variable product holds no stock of its own
    done = syncd("init", "--config", str(config), "--from", "woo", "--yes", cwd=tmp_path)
    assert done["applied"]
    report = syncd(
        "reconcile", "--config", str(config), "--channel", "woo", "--dry-run", cwd=tmp_path
    )
    [channel] = report["channels"]
    assert channel["error"] in (None, "") and channel["differences"] == 0, channel["findings"]

    daemon = DaemonProcess(config, cwd=tmp_path)
    daemon.start()
    try:
        await until(lambda: till_stock(tmp_path).get(mug_sku) == 40, 60)
        await until(lambda: till_stock(tmp_path).get(tee_sku) == 30, 30)
        # a till sale lowers the real shop (a product and a variation)
        sell_at_till(tmp_path, "4-20001", {mug_sku: 2, tee_sku: 1})

        async def shop_shows(mug_qty: int, tee_qty: int) -> bool:
            figures = await asyncio.to_thread(
                lambda: (real.stock(mug), real.variation_stock(tee, sizes["S"]))
            )
            return figures == (mug_qty, tee_qty)

        await until(lambda: shop_shows(38, 29), 30)
        # webhooks to the daemon: WooCommerce pings the URL when each is saved
        for topic in ("order.created", "order.updated", "product.updated"):
            await asyncio.to_thread(
                real.call,
                "post",
                "webhooks",
                {
                    "name": f"syncd {topic}",
                    "topic": topic,
                    "delivery_url": f"http://127.0.0.1:{port}/hooks/woocommerce/woo",
                    "secret": HOOK_SECRET,
                    "status": "active",
                },
            )
        # a real order: in only when WooCommerce delivers its webhooks (WP-cron's queue)
        order = await asyncio.to_thread(real.order, [(mug, 0, 3), (tee, sizes["S"], 1)])
        await asyncio.sleep(2)
        assert till_stock(tmp_path).get(mug_sku) == 38  # no webhook yet, no pull
        await asyncio.to_thread(real.run_queue)
        await until(lambda: till_stock(tmp_path).get(mug_sku) == 35, 30)
        await until(lambda: till_stock(tmp_path).get(tee_sku) == 28, 30)
        # (polling is hourly: only the webhook deliveries made that pull happen)
        # a cancellation gives it back, in the shop and everywhere
        await asyncio.sleep(1.05)
        await asyncio.to_thread(real.set_status, order["id"], "cancelled")
        assert await asyncio.to_thread(real.stock, mug) == 38
        await asyncio.to_thread(real.run_queue)
        await until(lambda: till_stock(tmp_path).get(mug_sku) == 38, 30)
        await until(lambda: till_stock(tmp_path).get(tee_sku) == 29, 30)
        assert await shop_shows(38, 29)
    finally:
        if daemon.running:
            assert daemon.stop() == 0
        # the webhooks point at this daemon only: leave none behind in the shop
        hooks = await asyncio.to_thread(real.call, "get", "webhooks", per_page=100)
        for hook in hooks:
            if f":{port}/" in hook["delivery_url"]:
                await asyncio.to_thread(real.call, "delete", f"webhooks/{hook['id']}", force="true")
    log = daemon.log()
    assert real.secret not in log and HOOK_SECRET not in log
    refused = [e for e in daemon.events() if e.get("event") == "webhook_refused"]
    assert not refused, refused
    report = syncd(
        "reconcile", "--config", str(config), "--channel", "woo", "--dry-run", cwd=tmp_path
    )
    [channel] = report["channels"]
    mine = [f for f in channel["findings"] if str(f.get("sku", "")).startswith(real.prefix)]
    assert not mine, mine
