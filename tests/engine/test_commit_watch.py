"""A booking made beside a running daemon on SQLite (`syncd receive`, another connection to the
same file) wakes the daemon's pushers at once, not at its next outbox poll (30 s here); the
daemon's own commits cause no extra wake-up; closing the store stops the watcher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from syncd.cli import main
from syncd.ledger import Product
from syncd.ledger.sqlite import SqliteStore
from syncd.stockin.booking import Line, book_receipt
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.daemon import settings_for
from syncd.testing.harness import until, write_config
from tests.conftest import DaemonStarter

POLL = 30  # the pushers' outbox poll and the channels' pull: neither may explain a push
DEFAULTS: dict[str, Any] = {
    "sync": {"outbox_poll_seconds": POLL},
    "channels": {
        "till": {"type": "fake", "poll_seconds": POLL},
        "shop": {"type": "fake", "poll_seconds": POLL},
    },
}


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`syncd receive` configures logging onto pytest's captured stderr: put it back after."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def channels(fake_connector: type[FakeConnector]) -> dict[str, FakeChannel]:
    fake_connector.channels["till"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    fake_connector.channels["shop"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    return fake_connector.channels


async def _book_beside(path: Path, quantity: int, doc_id: str) -> float:
    """A delivery booked through its own connection (another store on the file); returns when
    its transaction committed (monotonic)."""
    other = await SqliteStore(path).open(migrate=False)
    try:
        await book_receipt(other, [Line("CAP", quantity)], origin="command", doc_id=doc_id)
        return time.monotonic()
    finally:
        await other.close()


async def test_a_booking_from_another_connection_reaches_the_shops_before_the_poll(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    start_daemon: DaemonStarter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")}
    config = write_config(tmp_path / "syncd.toml", {"ledger": ledger, **DEFAULTS})
    daemon = await start_daemon(settings_for(tmp_path, DEFAULTS))
    try:
        store = daemon.store
        assert isinstance(store, SqliteStore)
        await until(lambda: store._watcher is not None)  # the pushers wait: it runs
        await asyncio.sleep(0.5)  # every pusher is waiting on its poll now

        note = tmp_path / "bl-1.csv"
        note.write_text("sku;quantity\nCAP;10\n", encoding="utf-8")
        receive = ["receive", "--config", str(config), str(note), "--json"]
        assert await asyncio.to_thread(main, receive) == 0
        committed = time.monotonic()
        await until(
            lambda: channels["shop"].figures["CAP"] == 15 and channels["till"].figures["CAP"] == 15,
            timeout=POLL / 3,
        )
        # Measured, not a speed goal (bench/latency has it): far below the 30 s poll.
        assert time.monotonic() - committed < POLL / 3

        # The control: with the watcher asleep, the same booking waits for the poll.
        monkeypatch.setattr(SqliteStore, "commit_watch_seconds", 3600.0)
        assert store._watcher is not None
        store._watcher.cancel()
        await asyncio.gather(store._watcher, return_exceptions=True)
        store._watcher = asyncio.create_task(store._watch_commits())
        await asyncio.sleep(0.2)
        await _book_beside(tmp_path / "ledger.sqlite3", 1, "delivery-2")
        await asyncio.sleep(2)
        assert channels["shop"].figures["CAP"] == 15
    finally:
        await daemon.stop()
    assert store._watcher is None  # closed with the store


async def test_own_commits_wake_no_pusher_through_the_watcher(tmp_path: Path) -> None:
    store = await SqliteStore(tmp_path / "ledger.sqlite3").open()
    await store.upsert_products([Product("CAP", "Cap")])
    woken = 0
    wake_all = store.wake_all

    def counting() -> None:
        nonlocal woken
        woken += 1
        wake_all()

    store.wake_all = counting  # type: ignore[method-assign]
    try:
        waiter = asyncio.create_task(store.wait_for_outbox("shop", 10))
        await until(lambda: store._watcher is not None)
        await asyncio.sleep(0.1)
        for n in range(20):  # our own commits, over several watch rounds
            await book_receipt(store, [Line("CAP", 1)], origin="command", doc_id=f"d-{n}")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert woken == 0
        await _book_beside(tmp_path / "ledger.sqlite3", 1, "from-elsewhere")
        await until(lambda: woken == 1)
        await waiter
    finally:
        await store.close()


class _SlowAfterCommit:
    """The writer's connection, its thread held up just after each COMMIT (a loaded machine
    does that at random): the watcher sees the commit before the writer thread runs on."""

    def __init__(self, conn: Any) -> None:
        self._inner = conn

    def execute(self, sql: str, *args: Any) -> Any:
        out = self._inner.execute(sql, *args)
        if sql == "COMMIT":
            time.sleep(0.15)  # three watch rounds
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_own_commits_wake_no_pusher_even_when_the_writer_thread_lags(
    tmp_path: Path,
) -> None:
    store = await SqliteStore(tmp_path / "ledger.sqlite3").open()
    await store.upsert_products([Product("CAP", "Cap")])
    woken = 0

    def counting() -> None:
        nonlocal woken
        woken += 1

    store.wake_all = counting  # type: ignore[method-assign]
    store._writer_conn = _SlowAfterCommit(store._writer_conn)  # type: ignore[assignment]
    try:
        waiter = asyncio.create_task(store.wait_for_outbox("shop", 3))
        await until(lambda: store._watcher is not None)
        await asyncio.sleep(0.1)
        for n in range(3):
            await book_receipt(store, [Line("CAP", 1)], origin="command", doc_id=f"d-{n}")
        await asyncio.sleep(0.2)
        assert woken == 0
        waiter.cancel()
    finally:
        await store.close()
