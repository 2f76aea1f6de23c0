"""End to end, as a merchant runs it: `syncd run` as a subprocess, a PrestaShop emulator as
another process (`syncd emulator prestashop`), a CSV till folder; on SQLite and on PostgreSQL.
The processes, the waits and the config writer are syncd/testing/harness.py's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncd.config import load_config
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product, open_store
from syncd.testing.harness import SYNCD, DaemonProcess, Emulator, until
from syncd.testing.harness import write_config as write_toml

HEADER = (
    "Date,Receipt number,Receipt type,Category,SKU,Item,Variant,Modifiers applied,Quantity,"
    "Gross sales,Discounts,Net sales,Cost of goods,Gross profit,Taxes,POS,Store,Cashier name,"
    "Customer name,Customer contacts,Comment,Status\n"
)


@pytest.fixture
def shop() -> Iterator[dict[str, Any]]:
    with Emulator("prestashop", 8) as emulator:
        yield emulator.info


@pytest.fixture
def magento() -> Iterator[dict[str, Any]]:
    with Emulator("magento", 8) as emulator:
        yield emulator.info


def write_config(
    tmp: Path, shop: dict[str, Any], magento: dict[str, Any], backend: str, dsn: str
) -> Path:
    ledger = (
        {"backend": "postgres", "dsn": dsn}
        if backend == "postgres"
        else {"backend": "sqlite", "path": "ledger.sqlite3"}
    )
    config = write_toml(
        tmp / "syncd.toml",
        {
            "ledger": ledger,
            "log": {"level": "info", "format": "json"},
            "sync": {"grace_seconds": 5, "outbox_poll_seconds": 1},
            "web": {"enabled": False},
            "channels": {
                "till": {
                    "type": "csv_till",
                    "drop_folder": "till/inbox",
                    "stock_file": "till/stock.csv",
                    "settle_seconds": 0.2,
                    "poll_seconds": 1,
                    "stock_min_interval_seconds": 0.1,
                },
                "webshop": {
                    "type": "prestashop",
                    "url": shop["url"],
                    "api_key": shop["api_key"],
                    "poll_seconds": 0.3,
                    "overlap_seconds": 2,
                },
                "magento": {
                    "type": "magento",
                    "url": magento["url"],
                    "username": "admin",
                    "password": magento["password"],
                    "poll_seconds": 0.3,
                    "overlap_seconds": 2,
                },
            },
        },
    )
    (tmp / "till" / "inbox").mkdir(parents=True)
    return config


async def onboard(config: Path, quantities: dict[str, int]) -> None:
    """The shop's figures become the ledger's (what `syncd init --from webshop` will do)."""
    settings = load_config(config)
    store = await open_store(settings.ledger)
    try:
        await store.upsert_products([Product(sku) for sku in quantities])
        await store.apply_document(
            Document("init", "opening", DocumentKind.STOCK_COUNT, quantities, datetime.now(UTC))
        )
    finally:
        await store.close()


class Env:
    def __init__(
        self, tmp: Path, shop: dict[str, Any], magento: dict[str, Any], config: Path
    ) -> None:
        self.tmp, self.shop, self.magento, self.config = tmp, shop, magento, config
        self.daemon = DaemonProcess(config, cwd=tmp)
        self.receipts = 0

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.daemon.proc

    def start(self) -> None:
        self.daemon.start()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return self.daemon.stop(sig)

    def sell_at_till(self, lines: dict[str, int]) -> str:
        self.receipts += 1
        receipt = f"4-{10000 + self.receipts}"
        rows = "".join(
            f"7/28/26 1:33 PM,{receipt},Sale,Shirts,{sku},Shirt,,,{qty},20.00,0.00,20.00,8.00,12.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
            for sku, qty in lines.items()
        )
        staging = self.tmp / "till" / f".{receipt}"
        staging.write_text(HEADER + rows, encoding="utf-8")
        os.replace(staging, self.tmp / "till" / "inbox" / f"{receipt}.csv")
        return receipt

    async def admin(
        self, method: str, path: str, body: Any = None, shop: str = "prestashop"
    ) -> Any:
        base = self.shop["url"] if shop == "prestashop" else self.magento["url"]
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{base}/__emulator/{path}", json=body) as resp,
        ):
            assert resp.status == 200, await resp.text()
            return await resp.json()

    def till_stock(self) -> dict[str, int]:
        path = self.tmp / "till" / "stock.csv"
        if not path.exists():
            return {}
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        return {line.split(";")[0]: int(line.split(";")[1]) for line in lines}

    def status(self) -> dict[str, Any]:
        out = subprocess.run(
            [*SYNCD, "status", "--config", str(self.config), "--json"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        return dict(json.loads(out.stdout))


async def test_sales_flow_both_ways_and_survive_sigterm(
    ledger_backend: tuple[str, str], tmp_path: Path, shop: dict[str, Any], magento: dict[str, Any]
) -> None:
    backend, dsn = ledger_backend
    config = write_config(tmp_path, shop, magento, backend, dsn)
    env = Env(tmp_path, shop, magento, config)
    initial = await env.admin("GET", "quantities")
    await onboard(config, initial)
    env.start()
    try:
        skus = sorted(initial)
        a, b = (
            next(s for s in skus if initial[s] >= 3),
            next(s for s in reversed(skus) if initial[s] >= 3),
        )
        # the till's stock file appears with every SKU
        await until(lambda: env.till_stock() == initial)

        # a till sale reaches the webshop
        env.sell_at_till({a: 2})

        async def shop_shows(sku: str, qty: int) -> bool:
            return bool((await env.admin("GET", "quantities"))[sku] == qty)

        await until(lambda: shop_shows(a, initial[a] - 2))

        async def magento_shows(sku: str, qty: int) -> bool:
            figures = (await env.admin("GET", "quantities", shop="magento"))[sku]
            return bool(figures["salable"] == qty)

        await until(lambda: magento_shows(a, initial[a] - 2))

        # a web order reaches the till
        order = (await env.admin("POST", "orders", {"lines": {b: 1}}))["id"]
        await until(lambda: env.till_stock().get(b) == initial[b] - 1)
        await until(lambda: magento_shows(b, initial[b] - 1))
        # a Magento order reaches the till and PrestaShop, and shipping it changes nothing
        m_order = (
            await env.admin(
                "POST", "orders", {"lines": {b: 1}, "configurable": True}, shop="magento"
            )
        )["id"]
        await until(lambda: env.till_stock().get(b) == initial[b] - 2)
        await until(lambda: shop_shows(b, initial[b] - 2))
        await env.admin("POST", f"orders/{m_order}/ship", {}, shop="magento")
        await asyncio.sleep(1)
        assert await magento_shows(b, initial[b] - 2) and env.till_stock().get(b) == initial[b] - 2
        m_figures = (await env.admin("GET", "quantities", shop="magento"))[b]
        assert m_figures["source"] == initial[b] - 2  # shipped: source and salable agree again

        # a cancellation is restored everywhere, once
        await env.admin("POST", f"orders/{order}/state", {"state": "PS_OS_CANCELED"})
        await until(lambda: env.till_stock().get(b) == initial[b] - 1)
        await until(lambda: magento_shows(b, initial[b] - 1))
        assert (await env.admin("GET", "quantities"))[b] == initial[b] - 1

        # the last unit sold at the till and online at the same moment
        last = a
        remaining = initial[a] - 2
        env.sell_at_till({last: remaining - 1})
        await until(lambda: shop_shows(last, 1))
        env.sell_at_till({last: 1})
        await env.admin("POST", "orders", {"lines": {last: 1}})
        await until(lambda: env.till_stock().get(last) == 0)
        await until(lambda: shop_shows(last, 0))
        await until(lambda: magento_shows(last, 0))
        await until(lambda: any(c["sku"] == last for c in env.status()["open_conflicts"]))

        # SIGTERM in the middle of a burst: exit 0, and nothing lost after a restart
        burst = [env.sell_at_till({b: 1}) for _ in range(5)]
        orders = [(await env.admin("POST", "orders", {"lines": {b: 1}}))["id"] for _ in range(3)]
        await asyncio.sleep(0.3)
        assert env.stop() == 0
        env.start()
        expected_b = initial[b] - 1 - len(burst) - len(orders)

        async def ledger_holds(sku: str, qty: int) -> bool:
            # The shops and the till file stop at 0: only the ledger tells that every sale of
            # the burst was applied when the figure goes below zero.
            store = await open_store(load_config(config).ledger, migrate=False)
            try:
                return (await store.levels([sku])).get(sku) == qty
            finally:
                await store.close()

        await until(lambda: ledger_holds(b, expected_b), timeout=20)
        await until(lambda: env.till_stock().get(b) == max(0, expected_b), timeout=20)
        await until(lambda: shop_shows(b, max(0, expected_b)), timeout=20)
        await until(lambda: magento_shows(b, max(0, expected_b)), timeout=20)
    finally:
        if env.proc is not None and env.proc.poll() is None:
            env.stop()
    settings = load_config(config)
    store = await open_store(settings.ledger, migrate=False)
    try:
        levels = await store.levels([a, b])
        assert levels[b] == expected_b and levels[a] == -1
        for receipt in [f"4-{10000 + i}" for i in range(1, env.receipts + 1)]:
            lines = await store.document_lines("till", receipt)
            assert lines and all(wanted == applied for wanted, applied in lines.values()), receipt
        count, _ = await store.movement_totals()
        # opening count (SKUs not at 0) + one per till receipt + web: order, cancel, last unit,
        # 3 more + the Magento order
        opening = sum(1 for q in initial.values() if q)
        assert count == opening + env.receipts + 1 + 1 + 1 + len(orders) + 1
    finally:
        await store.close()
    log = (tmp_path / "daemon.log").read_text(encoding="utf-8")
    assert shop["api_key"] not in log and magento["password"] not in log


async def test_a_shop_down_never_blocks_the_others_and_sighup_reloads_buffers(
    tmp_path: Path, shop: dict[str, Any], magento: dict[str, Any]
) -> None:
    config = write_config(tmp_path, shop, magento, "sqlite", "")
    env = Env(tmp_path, shop, magento, config)
    initial = await env.admin("GET", "quantities")
    await onboard(config, initial)
    env.start()
    try:
        sku = next(s for s in sorted(initial) if initial[s] >= 4)
        await until(lambda: env.till_stock() == initial)

        async def magento_shows(qty: int) -> bool:
            return bool(
                (await env.admin("GET", "quantities", shop="magento"))[sku]["salable"] == qty
            )

        async def prestashop_shows(qty: int) -> bool:
            return bool((await env.admin("GET", "quantities"))[sku] == qty)

        await env.admin("POST", "faults", {"down": True})  # PrestaShop answers 503 to everything
        env.sell_at_till({sku: 1})
        await until(lambda: magento_shows(initial[sku] - 1))  # the others keep syncing
        await asyncio.sleep(1)
        assert await prestashop_shows(initial[sku])
        await env.admin("POST", "faults", {"down": False})
        await until(lambda: prestashop_shows(initial[sku] - 1), timeout=30)  # and it converges

        # SIGHUP: keep 2 units back from every channel for this SKU, without a restart
        text = config.read_text(encoding="utf-8").replace(
            "[sync]", f'[stock]\nbuffers = {{ "{sku}" = 2 }}\n[sync]'
        )
        config.write_text(text, encoding="utf-8")
        assert env.proc is not None
        env.proc.send_signal(signal.SIGHUP)
        await until(lambda: prestashop_shows(initial[sku] - 3))
        await until(lambda: magento_shows(initial[sku] - 3))
        await until(lambda: env.till_stock().get(sku) == initial[sku] - 3)
        assert env.proc.poll() is None
    finally:
        if env.proc is not None and env.proc.poll() is None:
            assert env.stop() == 0
