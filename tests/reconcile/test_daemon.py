"""Reconciliation inside the daemon: orders created while it was stopped are applied once after
the restart; the schedule repairs a hand edit, and finding it again is a conflict; a channel
back from an outage is reconciled at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syncd.cli.run import ServedDaemon
from syncd.config import parse_config
from syncd.domain import ConflictKind, Document, DocumentKind
from syncd.events import EventFeed
from syncd.exceptions import RetriableError
from syncd.ledger import ChannelInfo, Product, open_store
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.harness import until
from tests.prestashop.conftest import KEY, Shop, start

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FIGURES = {"SHIRT-BLUE-42": 3, "SHIRT-BLUE-44": 1, "CAP": 5, "MUG": 4}


def settings_for(tmp_path: Path, channels: dict[str, Any], **reconcile: Any) -> Any:
    return parse_config(
        {
            "ledger": {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")},
            "sync": {
                "degraded_after_failures": 2,
                "retry_max_seconds": 1,
                "outbox_poll_seconds": 0.5,
                "grace_seconds": 2,
            },
            "web": {"enabled": False},
            "channels": channels,
            "reconcile": {"first_run_seconds": 0, **reconcile},
        },
        file=str(tmp_path / "syncd.toml"),
    )


async def next_event(feed: asyncio.Queue[dict[str, Any]], name: str) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            event = await feed.get()
            if event["event"] == name:
                return event

    return await asyncio.wait_for(wait(), 20)


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    s, runner = await start("8.1.0")
    yield s
    await runner.cleanup()


async def test_orders_created_while_the_daemon_was_stopped_are_applied_once_after_restart(
    tmp_path: Path, shop: Shop
) -> None:
    webshop = {
        "type": "prestashop",
        "url": shop.url,
        "api_key": KEY,
        "poll_seconds": 0.2,
        "overlap_seconds": 0,
        "timeout_seconds": 5,
    }
    settings = settings_for(tmp_path, {"webshop": webshop})
    store = await open_store(settings.ledger)
    await store.register_channels([ChannelInfo("webshop", "prestashop")])
    await store.upsert_products([Product(sku) for sku in FIGURES])
    await store.apply_document(Document("init", "count", DocumentKind.STOCK_COUNT, FIGURES, T0))
    await store.record_shown("webshop", FIGURES)
    await store.close()

    first = ServedDaemon(settings)
    await first.start()
    try:
        assert first.store is not None
        store = first.store
        before = shop.emulator.create_order({"CAP": 1})
        await until(lambda: _level(store, "CAP", 4))
    finally:
        await first.stop()

    # While syncd is stopped: an order, and an order the shop dates two days back (an import,
    # a clock put right) that no pull from the stored cursor would ever see.
    during = shop.emulator.create_order({"CAP": 2})
    late = shop.emulator.create_order({"SHIRT-BLUE-42": 1})
    old = (datetime.now(shop.emulator.zone) - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    shop.emulator.orders[late].date_upd = old
    shop.emulator.orders[late].date_add = old

    second = ServedDaemon(settings)
    feed = second.events.subscribe()
    await second.start()
    try:
        assert second.store is not None and second.reconciler is not None
        store = second.store
        finished = await next_event(feed, "reconcile_finished")
        assert finished["channels"] == {"webshop": 1}  # the late order, found and applied
        await until(lambda: _level(store, "CAP", 2))
        assert await store.levels(["CAP", "SHIRT-BLUE-42"]) == {"CAP": 2, "SHIRT-BLUE-42": 2}
        report = await second.reconciler.run_once()
        assert report is not None and report.differences == 0
        moves = [m.doc_id for m in await store.movements(channel="webshop", limit=100)]
        assert sorted(moves) == sorted([str(before), str(during), str(late)])  # once each
        assert shop.emulator.quantity("CAP") == 2 and shop.emulator.quantity("SHIRT-BLUE-42") == 2
    finally:
        await second.stop()


async def _level(store: Any, sku: str, wanted: int) -> bool:
    return bool((await store.levels([sku])).get(sku) == wanted)


@pytest.fixture
def channels(fake_connector: type[FakeConnector]) -> dict[str, FakeChannel]:
    fake_connector.channels["till"] = FakeChannel(figures={"CAP": 5})
    fake_connector.channels["shop"] = FakeChannel(figures={"CAP": 5})
    return fake_connector.channels


async def _counted(daemon: ServedDaemon) -> None:
    assert daemon.store is not None
    await daemon.store.upsert_products([Product("CAP")])
    await daemon.store.apply_document(
        Document("init", "count", DocumentKind.STOCK_COUNT, {"CAP": 5}, T0)
    )
    await daemon.store.record_shown("shop", {"CAP": 5})
    await daemon.store.record_shown("till", {"CAP": 5})


async def test_the_schedule_repairs_a_hand_edit_and_a_repeat_is_a_conflict(
    tmp_path: Path, channels: dict[str, FakeChannel]
) -> None:
    fake = {"type": "fake", "poll_seconds": 0.2, "hand_edits": "revert"}
    settings = settings_for(
        tmp_path,
        {"till": fake, "shop": fake},
        interval_seconds=0.3,
        drift_again_seconds=3600,
    )
    daemon = ServedDaemon(settings)
    await daemon.start()
    try:
        await _counted(daemon)
        assert daemon.store is not None
        store = daemon.store
        channels["shop"].figures["CAP"] = 50  # by hand
        await until(lambda: channels["shop"].figures["CAP"] == 5)
        assert await store.conflicts() == []
        channels["shop"].figures["CAP"] = 50  # and again
        await until(lambda: _has_drift_again(store))
        (conflict,) = await store.conflicts()
        assert (conflict.sku, conflict.channel) == ("CAP", "shop")
        await until(lambda: channels["shop"].figures["CAP"] == 5)
    finally:
        await daemon.stop()


async def _has_drift_again(store: Any) -> bool:
    return any(c.kind is ConflictKind.DRIFT_AGAIN for c in await store.conflicts())


async def test_a_channel_back_from_an_outage_is_reconciled_at_once(
    tmp_path: Path, channels: dict[str, FakeChannel]
) -> None:
    fake = {"type": "fake", "poll_seconds": 0.1, "hand_edits": "revert"}
    settings = settings_for(
        tmp_path, {"till": fake, "shop": fake}, interval_seconds=3600, after_outage_seconds=0
    )
    daemon = ServedDaemon(settings)
    feed = daemon.events.subscribe()
    await daemon.start()
    try:
        await next_event(feed, "reconcile_finished")  # the first, scheduled run
        await _counted(daemon)
        channels["shop"].fail_pull = RetriableError("HTTP 503", channel="shop")
        await until(lambda: daemon.runners["shop"].status.state.value == "degraded")
        channels["shop"].figures["CAP"] = 2  # edited while we could not see the shop
        channels["shop"].fail_pull = None
        event = await next_event(feed, "reconcile_finished")
        assert event["channels"] == {"shop": 1}
        await until(lambda: channels["shop"].figures["CAP"] == 5)
    finally:
        await daemon.stop()


async def test_a_channel_back_is_reconciled_even_when_the_event_feed_overflowed(
    tmp_path: Path, channels: dict[str, FakeChannel]
) -> None:
    """The scheduler is busy (its first run waits on the till) while the shop goes down and
    comes back, and the feed carries more events than a subscriber's buffer holds: the
    "channel back" change still reaches it, so the shop is reconciled without waiting an hour."""
    fake = {"type": "fake", "poll_seconds": 0.1, "hand_edits": "revert"}
    settings = settings_for(
        tmp_path, {"till": fake, "shop": fake}, interval_seconds=3600, after_outage_seconds=0
    )
    gate = asyncio.Event()
    channels["till"].read_gate = gate  # the first scheduled run waits here
    daemon = ServedDaemon(settings, events=EventFeed(queue_size=4))
    await daemon.start()
    try:
        await _counted(daemon)
        channels["shop"].fail_pull = RetriableError("HTTP 503", channel="shop")
        await until(lambda: daemon.runners["shop"].status.state.value == "degraded")
        channels["shop"].fail_pull = None
        await until(lambda: daemon.runners["shop"].status.state.value == "in_sync")
        for n in range(10):  # a busy feed: stock pushes, webhooks… more than the buffer holds
            daemon.events.publish("stock_pushed", channel="till", sku=f"SKU-{n}")
        assert daemon.reconciler is not None
        assert daemon.reconciler.runs == 0
        gate.set()
        reconciler = daemon.reconciler
        await until(lambda: reconciler.runs >= 2)
        assert reconciler.last is not None
        assert [c.channel for c in reconciler.last.channels] == ["shop"]
    finally:
        gate.set()
        await daemon.stop()
