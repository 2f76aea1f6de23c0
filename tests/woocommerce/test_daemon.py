"""The WooCommerce channel in an in-process daemon over its emulator, on both ledgers: a figure
edited in WooCommerce's back office while a customer orders is adopted once (+10), the order
counted once; and the shop going below zero through a REST order (never checked against stock)
is brought back to what the ledger says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncd.cli.run import ServedDaemon
from syncd.config import parse_config
from syncd.connectors.emulation import start_server
from syncd.connectors.woocommerce.emulator import WooCommerceEmulator, create_app
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product
from syncd.testing.harness import until
from tests.woocommerce.shop import KEY, SECRET


@pytest.fixture
async def running(
    tmp_path: Path, ledger_backend: tuple[str, str]
) -> AsyncIterator[tuple[ServedDaemon, WooCommerceEmulator]]:
    emulator = WooCommerceEmulator()
    emulator.add_product("MUG", 10)
    emulator.add_product("CAP", 1)
    runner, port = await start_server(
        create_app(emulator, consumer_key=KEY, consumer_secret=SECRET, webhook_delay=None)
    )
    backend, dsn = ledger_backend
    settings = parse_config(
        {
            "ledger": (
                {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")}
                if backend == "sqlite"
                else {"backend": "postgres", "dsn": dsn}
            ),
            "sync": {"grace_seconds": 1, "outbox_poll_seconds": 1, "retry_max_seconds": 1},
            "web": {"enabled": False},
            "alerts": {"enabled": False},
            "reconcile": {"enabled": False},
            "channels": {
                "woo": {
                    "type": "woocommerce",
                    "url": f"http://127.0.0.1:{port}",
                    "consumer_key": KEY,
                    "consumer_secret": SECRET,
                    "poll_seconds": 0.3,
                    "overlap_seconds": 2,
                    "hand_edits": "adopt",
                },
            },
        },
        file=str(tmp_path / "syncd.toml"),
    )
    daemon = ServedDaemon(settings)
    await daemon.start()
    assert daemon.store is not None
    await daemon.store.upsert_products([Product("MUG", "Mug"), Product("CAP", "Cap")])
    await daemon.store.apply_document(
        Document(
            "init", "opening", DocumentKind.STOCK_COUNT, {"MUG": 10, "CAP": 1}, datetime.now(UTC)
        )
    )
    store = daemon.store

    async def first_sync_done() -> bool:  # the opening figures pushed (or found) everywhere
        return not await store.outbox_stats()

    await asyncio.sleep(1)
    await until(first_sync_done, 30)
    try:
        yield daemon, emulator
    finally:
        await daemon.stop()
        await runner.cleanup()


async def test_a_back_office_edit_is_adopted_once_and_the_order_counted_once(
    running: tuple[ServedDaemon, WooCommerceEmulator],
) -> None:
    daemon, emulator = running
    store: Any = daemon.store
    mug = emulator.by_sku("MUG")
    assert mug is not None
    emulator.set_stock(mug, 20, record=False)  # typed in wp-admin: not a write of ours
    emulator.create_order([(mug["id"], 0, 1)], status="processing")  # 20 → 19

    async def settled() -> bool:
        return bool(await store.levels(["MUG"]) == {"MUG": 19} and mug["stock_quantity"] == 19)

    await until(settled, 30)
    edits = [m.delta for m in await store.movements(sku="MUG") if m.reason.value == "hand_edit"]
    orders = [m.delta for m in await store.movements(sku="MUG") if m.reason.value == "web_order"]
    assert edits == [10] and orders == [-1]


async def test_an_order_past_zero_is_booked_and_the_shop_shows_zero(
    running: tuple[ServedDaemon, WooCommerceEmulator],
) -> None:
    daemon, emulator = running
    store: Any = daemon.store
    cap = emulator.by_sku("CAP")
    assert cap is not None
    emulator.create_order([(cap["id"], 0, 3)], status="processing")  # REST: 1 → -2, allowed

    async def booked() -> bool:
        levels = await store.levels(["CAP"])
        return bool(levels == {"CAP": -2} and cap["stock_quantity"] == 0)

    # the ledger books the sale as it happened; the shop is told 0 (what sells nothing)
    await until(booked, 30)
    conflicts = [c for c in await store.conflicts() if c.kind.value == "oversell"]
    assert conflicts and conflicts[0].sku == "CAP"
