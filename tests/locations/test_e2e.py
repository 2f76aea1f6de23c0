"""End to end, as a merchant runs it: `syncd run` as a process with two CSV tills at two stores
(A and B) and a PrestaShop emulator (a process) whose shop sells from both; `syncd transfer` and
`syncd status` as commands. On SQLite and on PostgreSQL.

- each till's stock file shows its store's stock, the shop the sum of both;
- the last unit sold at store A and online at once: one conflict, naming location A;
- a transfer A → B moves the figures: out of A at once, into B when received.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncd.config import load_config
from syncd.domain import Document, DocumentKind
from syncd.engine.declare import declare_channels
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
    with Emulator("prestashop", 6) as emulator:
        yield emulator.info


def _till(name: str) -> dict[str, Any]:
    return {
        "type": "csv_till",
        "drop_folder": f"{name}/inbox",
        "stock_file": f"{name}/stock.csv",
        "settle_seconds": 0.2,
        "poll_seconds": 1,
        "stock_min_interval_seconds": 0.1,
        "locations": ["A" if name == "till_a" else "B"],
    }


def write_config(tmp: Path, shop: dict[str, Any], backend: str, dsn: str) -> Path:
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
            "locations": {
                "A": {"kind": "store"},
                "B": {"kind": "store"},
            },
            "channels": {
                "till_a": _till("till_a"),
                "till_b": _till("till_b"),
                "webshop": {
                    "type": "prestashop",
                    "url": shop["url"],
                    "api_key": shop["api_key"],
                    "poll_seconds": 0.3,
                    "overlap_seconds": 2,
                    "locations": ["A", "B"],
                },
            },
        },
    )
    for till in ("till_a", "till_b"):
        (tmp / till / "inbox").mkdir(parents=True)
    return config


class Env:
    def __init__(self, tmp: Path, shop: dict[str, Any], config: Path) -> None:
        self.tmp, self.shop, self.config = tmp, shop, config
        self.daemon = DaemonProcess(config, cwd=tmp)
        self.receipts = 0

    def sell_at_till(self, till: str, lines: dict[str, int]) -> None:
        self.receipts += 1
        receipt = f"4-{10000 + self.receipts}"
        rows = "".join(
            f"7/28/26 1:33 PM,{receipt},Sale,Shirts,{sku},Shirt,,,{qty},20.00,0.00,20.00,8.00,"
            f"12.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
            for sku, qty in lines.items()
        )
        staging = self.tmp / till / f".{receipt}"
        staging.write_text(HEADER + rows, encoding="utf-8")
        os.replace(staging, self.tmp / till / "inbox" / f"{receipt}.csv")

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.shop['url']}/__emulator/{path}", json=body) as resp,
        ):
            assert resp.status == 200, await resp.text()
            return await resp.json()

    def till_stock(self, till: str) -> dict[str, int]:
        path = self.tmp / till / "stock.csv"
        if not path.exists():
            return {}
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        return {line.split(";")[0]: int(line.split(";")[1]) for line in lines}

    def syncd(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*SYNCD, *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.tmp,
        )

    def status(self) -> dict[str, Any]:
        out = self.syncd("status", "--json")
        assert out.returncode == 0, out.stderr
        return dict(json.loads(out.stdout))


async def stock_the_stores(config: Path, a: dict[str, int], b: dict[str, int]) -> None:
    """An opening count at each store (what `syncd count --location` books)."""
    settings = load_config(config)
    store = await open_store(settings.ledger)
    try:
        await declare_channels(store, settings)
        await store.upsert_products([Product(sku) for sku in a])
        now = datetime.now(UTC)
        for name, counted in (("A", a), ("B", b)):
            await store.apply_document(
                Document(
                    "init", f"opening-{name}", DocumentKind.STOCK_COUNT, counted, now, location=name
                )
            )
    finally:
        await store.close()


async def test_two_tills_at_two_stores_and_a_shop_selling_from_both(
    ledger_backend: tuple[str, str], tmp_path: Path, shop: dict[str, Any]
) -> None:
    backend, dsn = ledger_backend
    config = write_config(tmp_path, shop, backend, dsn)
    env = Env(tmp_path, shop, config)
    skus = sorted(await env.admin("GET", "quantities"))
    last, moved = skus[0], skus[1]
    at_a = dict.fromkeys(skus, 4) | {last: 1, moved: 5}
    at_b = dict.fromkeys(skus, 2) | {last: 0, moved: 1}
    await stock_the_stores(config, at_a, at_b)
    env.daemon.start()
    try:

        async def shop_shows(expected: dict[str, int]) -> bool:
            figures = await env.admin("GET", "quantities")
            return all(figures[s] == q for s, q in expected.items())

        # Each till is told its store's stock, the shop the sum of both.
        await until(lambda: env.till_stock("till_a") == at_a)
        await until(lambda: env.till_stock("till_b") == at_b)
        await until(lambda: shop_shows({s: at_a[s] + at_b[s] for s in skus}))

        # The last unit of `last` (at A) sold at store A and online at once.
        env.sell_at_till("till_a", {last: 1})
        await env.admin("POST", "orders", {"lines": {last: 1}})

        async def one_conflict_at_a() -> bool:
            found = [c for c in env.status()["open_conflicts"] if c["sku"] == last]
            return len(found) == 1 and found[0]["location"] == "A"

        await until(one_conflict_at_a, timeout=30)
        await until(lambda: env.till_stock("till_a").get(last) == 0)
        await until(lambda: shop_shows({last: 0}))
        await asyncio.sleep(1)  # nothing else comes: still one conflict, at A
        conflicts = [c for c in env.status()["open_conflicts"] if c["sku"] == last]
        assert len(conflicts) == 1 and conflicts[0]["location"] == "A", conflicts
        assert conflicts[0]["kind"] == "oversell" and conflicts[0]["shortfall"] == 1

        # A transfer A → B while the daemon runs: out of A at once, in transit, then into B.
        out = env.syncd("transfer", "--from", "A", "--to", "B", moved, "3", "--json")
        assert out.returncode == 0, out.stderr
        transfer = json.loads(out.stdout)
        assert transfer["status"] == "applied" and transfer["destination"] == "B"
        await until(lambda: env.till_stock("till_a").get(moved) == 2, timeout=30)
        await until(lambda: shop_shows({moved: 3}))  # 3 units on the road are sold nowhere
        assert env.till_stock("till_b").get(moved) == 1
        status = env.status()
        assert status["stock_per_location"][moved] == {"A": 2, "B": 1, "transit:B": 3}
        in_b = next(p for p in status["locations"] if p["name"] == "B")
        assert in_b["in_transit"] == 3

        received = env.syncd("transfer", "--receive", transfer["doc_id"], "--json")
        assert received.returncode == 0, received.stderr
        assert json.loads(received.stdout)["location"] == "B"
        await until(lambda: env.till_stock("till_b").get(moved) == 4, timeout=30)
        await until(lambda: shop_shows({moved: 6}))
        assert env.till_stock("till_a").get(moved) == 2
        assert env.status()["stock_per_location"][moved] == {"A": 2, "B": 4}
    finally:
        if env.daemon.proc is not None and env.daemon.proc.poll() is None:
            env.daemon.stop()
    store = await open_store(load_config(config).ledger, migrate=False)
    try:
        levels = await store.levels([last, moved])
        assert levels == {last: -1, moved: 6}
    finally:
        await store.close()
