"""PostgreSQL: a writer sends NOTIFY at most every ``NOTIFY_EVERY`` (issue 17); the channels of the
writes between are notified by the next write that may, or by one transaction of their own, and
always after the writes commit. Another process (a second store with its listener) is woken for
every channel written, in a burst as after a quiet spell, and a burst costs it few wake-ups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from syncd.ledger import ApplyStatus, ChannelInfo
from tests.ledger.test_contract import receipt, till


@asynccontextmanager
async def _two_stores(
    dsn: str, monkeypatch: pytest.MonkeyPatch, every: float | None = None
) -> AsyncIterator[tuple[Any, Any, list[str]]]:
    """A writing store with two channels and stock of A and B, and another store listening;
    the channels the other is woken for by notifications (it writes nothing), in order, from
    the moment it listens. ``every``: NOTIFY_EVERY for the test."""
    import syncd.ledger.postgres as postgres

    if every is not None:
        monkeypatch.setattr(postgres, "NOTIFY_EVERY", every)
    writer = await postgres.PostgresStore(dsn, strict_skus=False).open()
    other = await postgres.PostgresStore(dsn, strict_skus=False).open()
    try:
        await writer.register_channels(
            [ChannelInfo("till", "csv_till"), ChannelInfo("web", "prestashop")]
        )
        await writer.apply_document(receipt("r1", {"A": 500, "B": 500}))
        heard: list[str] = []
        original = other._wake

        def wake(channels: set[str]) -> None:
            heard.extend(sorted(channels))
            original(channels)

        other._wake = wake
        for _ in range(100):  # until the listener's LISTEN is in place
            if other._listener is not None and other._events:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        heard.clear()
        writer._notified_at = 0.0  # quiet for long: the next write notifies itself
        yield writer, other, heard
    finally:
        await writer.close()
        await other.close()


async def test_a_burst_of_writes_wakes_another_process_for_every_channel_with_few_notifies(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncd.ledger.postgres import NOTIFY_EVERY

    async with _two_stores(pg_dsn, monkeypatch) as (writer, other, heard):
        started = asyncio.get_running_loop().time()
        for n in range(60):
            result = await writer.apply_document(till(f"t{n}", {"A" if n % 2 else "B": 1}))
            assert result.status is ApplyStatus.APPLIED
        elapsed = asyncio.get_running_loop().time() - started
        # The first write of the burst notified at once ...
        assert sorted(heard[:2]) == ["till", "web"]
        # ... and the rest, deferred, arrive after the last write committed.
        await asyncio.sleep(4 * NOTIFY_EVERY + 0.3)
        assert set(heard) == {"till", "web"}
        assert writer._deferred == set()
        # Each channel at most once per NOTIFY_EVERY of the burst, and the one after it.
        bound = 2 * (elapsed / NOTIFY_EVERY + 3)
        assert len(heard) <= bound, (len(heard), elapsed)
        assert await other.levels(["A", "B"]) == {"A": 470, "B": 470}


async def test_a_write_deferred_is_notified_after_it_commits(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two writes within NOTIFY_EVERY: the second sends no NOTIFY; when the other process is
    # woken for its channel, the row it wrote is already there to read.
    async with _two_stores(pg_dsn, monkeypatch, every=0.5) as (writer, other, _heard):
        await writer.apply_document(till("t1", {"A": 1}))  # notifies itself
        for event in other._events.values():
            event.clear()
        waiter = asyncio.create_task(other.wait_for_outbox("web", 5))
        await asyncio.sleep(0)
        await writer.apply_document(till("t2", {"A": 2}))  # deferred
        assert writer._deferred == {"till", "web"}
        await asyncio.wait_for(waiter, 3)
        assert await other.levels(["A"]) == {"A": 497}
        assert {i.sku: i.wanted for i in await other.take_outbox("web", 10)}["A"] == 497


async def test_channels_deferred_at_close_are_notified_at_once(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _two_stores(pg_dsn, monkeypatch, every=30.0) as (writer, _other, heard):
        await writer.apply_document(till("t1", {"A": 1}))
        await writer.apply_document(till("t2", {"A": 1}))
        await asyncio.sleep(0.3)
        heard.clear()
        assert writer._deferred == {"till", "web"}
        started = asyncio.get_running_loop().time()
        await writer.close()  # sends what is deferred before it goes, not 60 s later
        assert asyncio.get_running_loop().time() - started < 5
        await asyncio.sleep(0.3)
        assert sorted(heard) == ["till", "web"]


async def test_channels_taken_by_a_write_that_fails_are_notified_later(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write takes the channels deferred by earlier ones into its own NOTIFY; its connection
    # is lost (it may or may not have committed): they are deferred again, never dropped.
    import syncd.ledger.postgres as postgres
    from syncd.exceptions import LedgerError

    async with _two_stores(pg_dsn, monkeypatch, every=30.0) as (writer, _other, _heard):
        await writer.apply_document(till("t1", {"A": 1}))
        await writer.apply_document(till("t2", {"A": 1}))
        assert writer._deferred == {"till", "web"}
        original = postgres.PostgresStore._apply_plan
        calls: list[int] = []

        async def lost(self: Any, tx: Any, *args: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                raise ConnectionResetError("the connection was lost")
            return await original(self, tx, *args)

        monkeypatch.setattr(postgres.PostgresStore, "_apply_plan", lost)
        writer._notified_at = 0.0  # the next write may notify: it takes the deferred
        with pytest.raises((LedgerError, OSError)):
            await writer.apply_document(till("t3", {"A": 1}))
        assert writer._deferred >= {"till", "web"}
