"""End to end: `syncd run` as a subprocess, a PrestaShop emulator process, a CSV till, a real
SMTP server. The last unit sells at the till and online; the merchant gets the mail."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncd.config import load_config
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product, open_store
from syncd.testing.harness import DaemonProcess, Emulator, until
from syncd.testing.harness import write_config as write_toml
from tests.alerts.conftest import SmtpServer

HEADER = (
    "Date,Receipt number,Receipt type,Category,SKU,Item,Variant,Modifiers applied,Quantity,"
    "Gross sales,Discounts,Net sales,Cost of goods,Gross profit,Taxes,POS,Store,Cashier name,"
    "Customer name,Customer contacts,Comment,Status\n"
)


@pytest.fixture
def shop() -> Iterator[dict[str, Any]]:
    with Emulator("prestashop", 4) as emulator:
        yield emulator.info


def write_config(tmp: Path, shop: dict[str, Any], smtp_port: int) -> Path:
    config = write_toml(
        tmp / "syncd.toml",
        {
            "ledger": {"backend": "sqlite", "path": "ledger.sqlite3"},
            "log": {"format": "json"},
            "sync": {"grace_seconds": 3, "outbox_poll_seconds": 1},
            "web": {"enabled": False},
            "channels": {
                "till": {
                    "type": "csv_till",
                    "drop_folder": "till/inbox",
                    "stock_file": "till/stock.csv",
                    "settle_seconds": 0.2,
                    "poll_seconds": 0.5,
                    "stock_min_interval_seconds": 0.1,
                },
                "webshop": {
                    "type": "prestashop",
                    "url": shop["url"],
                    "api_key": shop["api_key"],
                    "poll_seconds": 0.3,
                    "overlap_seconds": 2,
                    "admin_order_url": "https://shop.example.com/admin123/index.php?controller=AdminOrders&id_order={id}&vieworder",
                },
            },
            "alerts": {
                "to": ["shop@example.com"],
                "from": "syncd@example.com",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_port,
                "smtp_security": "none",
                "language": "fr",
                "group_window_seconds": 2,
                "poll_seconds": 0.2,
                "digest_time": "",
            },
        },
    )
    (tmp / "till" / "inbox").mkdir(parents=True)
    return config


async def admin(shop: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{shop['url']}/__emulator/{path}", json=body) as resp,
    ):
        assert resp.status == 200, await resp.text()
        return await resp.json()


def sell_at_till(tmp: Path, receipt: str, sku: str, qty: int) -> None:
    row = (
        f"7/28/26 1:33 PM,{receipt},Sale,Shirts,{sku},Shirt,,,{qty},20.00,0.00,20.00,8.00,"
        "12.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
    )
    staging = tmp / "till" / f".{receipt}"
    staging.write_text(HEADER + row, encoding="utf-8")
    os.replace(staging, tmp / "till" / "inbox" / f"{receipt}.csv")


async def test_the_daemon_mails_an_oversell_between_the_till_and_the_webshop(
    tmp_path: Path, shop: dict[str, Any], smtp: SmtpServer
) -> None:
    config = write_config(tmp_path, shop, smtp.port)
    initial: dict[str, int] = await admin(shop, "GET", "quantities")
    sku = next(s for s in sorted(initial) if initial[s] >= 2)
    store = await open_store(load_config(config).ledger)
    try:
        await store.upsert_products([Product(s, f"Chemise {s}") for s in initial])
        await store.apply_document(
            Document("init", "opening", DocumentKind.STOCK_COUNT, initial, datetime.now(UTC))
        )
    finally:
        await store.close()
    daemon = DaemonProcess(config, cwd=tmp_path)
    daemon.start()
    try:
        sell_at_till(tmp_path, "4-10001", sku, initial[sku] - 1)

        async def shop_shows(qty: int) -> bool:
            return bool((await admin(shop, "GET", "quantities"))[sku] == qty)

        await until(lambda: shop_shows(1))
        # the last unit leaves the shop while a web customer pays for it
        sell_at_till(tmp_path, "4-10002", sku, 1)
        order = (await admin(shop, "POST", "orders", {"lines": {sku: 1}}))["id"]
        started = time.monotonic()
        await until(lambda: len(smtp.inbox.messages) >= 1)
        elapsed = time.monotonic() - started
        print(f"oversell to mail: {elapsed:.2f} s")
        assert elapsed < 60  # the merchant knows within a minute
        await asyncio.sleep(3)  # a second mail would have gone by now (window: 2 s)
    finally:
        code = daemon.stop(signal.SIGTERM, 30)
    assert code == 0
    [message] = smtp.inbox.messages
    assert message["Subject"] == (
        f"[syncd] Survente : le dernier article a été vendu deux fois — {sku} Chemise {sku}"
    )
    [text] = smtp.inbox.texts()
    assert "Manque : 1 unité (stock du registre : -1)" in text
    assert "till — ticket de caisse 4-10002 — 1 unité" in text
    assert f"id_order={order}&vieworder" in text and "← commande à traiter" in text
    daemon_log = (tmp_path / "daemon.log").read_text(encoding="utf-8")
    assert '"event": "alert_mail_sent"' in daemon_log
    assert shop["api_key"] not in daemon_log
