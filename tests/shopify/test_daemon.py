"""A daemon with a Shopify channel (the emulator) and a till, on both ledgers: a lost update
provoked on purpose is refused by the compare-and-set and repaired; webhooks signed by the
shop trigger a pull, once per delivery id."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncd.cli.run import ServedDaemon
from syncd.domain import Document, DocumentKind
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.daemon import settings_for
from syncd.testing.harness import until
from tests.conftest import DaemonStarter
from tests.shopify.conftest import SECRET, Shop, channel_table, start

T0 = datetime(2026, 11, 23, 10, 2, tzinfo=UTC)


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    s, runner = await start()
    yield s
    await runner.cleanup()


@pytest.fixture
def till(fake_connector: type[FakeConnector]) -> FakeChannel:
    fake_connector.channels["till"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    return fake_connector.channels["till"]


def settings(tmp_path: Path, ledger: tuple[str, str], shop: Shop, **channel: Any) -> Any:
    return settings_for(
        tmp_path,
        {
            "sync": {"retry_max_seconds": 1, "outbox_poll_seconds": 1, "grace_seconds": 2},
            "channels": {
                "till": {"type": "fake", "poll_seconds": 0.2},
                "shop": channel_table(shop, **{"poll_seconds": 30, **channel}),
            },
        },
        ledger=ledger,
        web={"enabled": True, "port": 0},
    )


async def ledger_cap(daemon: ServedDaemon, figure: int) -> bool:
    assert daemon.store is not None
    return await daemon.store.levels(["CAP"]) == {"CAP": figure}


def till_sale(daemon: ServedDaemon, doc_id: str, lines: dict[str, int]) -> None:
    connector = daemon.runners["till"].connector
    assert isinstance(connector, FakeConnector)
    connector.sell(Document("till", doc_id, DocumentKind.TILL_RECEIPT, lines, T0, version=1))


async def test_a_lost_update_is_refused_by_compare_and_set_and_repaired(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    till: FakeChannel,
    start_daemon: DaemonStarter,
) -> None:
    state = shop.emulator.state
    writes: list[tuple[str, int]] = []
    state.on_write = lambda sku, qty: writes.append((sku, qty))
    daemon = await start_daemon(settings(tmp_path, ledger_backend, shop))
    assert daemon.store is not None
    await until(lambda: daemon.runners["shop"].status.pull_generation >= 1)
    till_sale(daemon, "t1", {"CAP": 1})
    await until(lambda: state.available("CAP") == 4)  # written: syncd now believes 4
    # Shopify sells a cap; our next pull is 30 s away and no webhook is set up. The till
    # sells one too: syncd wants Shopify at 3 and believes it shows 4. A plain write of 3
    # would erase Shopify's sale.
    state.place_order({"CAP": 1})
    till_sale(daemon, "t2", {"CAP": 1})
    await until(lambda: state.available("CAP") == 2)
    await until(lambda: ledger_cap(daemon, 2))
    await asyncio.sleep(0.5)
    assert state.available("CAP") == 2
    assert await ledger_cap(daemon, 2)
    assert state.stale_refusals >= 1  # the write of 3 was refused by Shopify itself
    assert ("CAP", 3) not in writes
    assert writes[-1] == ("CAP", 2)


async def test_signed_webhooks_trigger_one_pull_per_delivery(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    shop: Shop,
    till: FakeChannel,
    start_daemon: DaemonStarter,
) -> None:
    state, emulator = shop.emulator.state, shop.emulator
    daemon = await start_daemon(
        settings(tmp_path, ledger_backend, shop, poll_seconds=60, webhook_secret=SECRET)
    )
    assert daemon.store is not None
    await until(lambda: daemon.runners["shop"].status.pull_generation >= 1)
    url = f"http://127.0.0.1:{daemon.web_port}/hooks/shopify/shop"
    emulator.subscribe(url)
    emulator.mode.duplicate = True
    emulator.mode.delay_seconds = 0.2  # late
    state.place_order({"CAP": 2})
    # The pull is 60 s away: only the webhook brings the order in.
    await until(lambda: ledger_cap(daemon, 3), timeout=10)
    await until(lambda: state.available("CAP") == 3)
    body = b'{"id":1}'
    signed = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    async with aiohttp.ClientSession() as http:
        headers = {"X-Shopify-Hmac-Sha256": signed, "X-Shopify-Webhook-Id": "dup-1"}
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 202
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "already received"
        forged = {**headers, "X-Shopify-Webhook-Id": "dup-2"}
        async with http.post(url, data=body + b" ", headers=forged) as resp:
            assert resp.status == 401
        async with http.post(url, data=body) as resp:
            assert resp.status == 401
        # A large order's payload (well over the 64 KB of syncd's own webhooks) is checked.
        large = b'{"line_items":"' + b"x" * 300_000 + b'"}'
        digest = hmac.new(SECRET.encode(), large, hashlib.sha256).digest()
        big = {"X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode()}
        async with http.post(url, data=io.BytesIO(large), headers=big) as resp:
            assert resp.status == 202
        huge = io.BytesIO(b"x" * (4 * 1024 * 1024 + 1))
        async with http.post(url, data=huge, headers=big) as resp:
            assert resp.status == 413
        other = f"http://127.0.0.1:{daemon.web_port}/hooks/shopify/nope"
        async with http.post(other, data=body, headers=headers) as resp:
            assert resp.status == 401
