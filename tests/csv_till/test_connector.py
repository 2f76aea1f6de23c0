"""The till connector against a real SQLite ledger: exactly once, complete files only, stock out."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from syncd.config import SyncSettings, parse_config
from syncd.connectors.base import PushItem, PushStatus
from syncd.connectors.csv_till.connector import CsvTillConnector
from syncd.engine.channel import ChannelRunner
from syncd.events import EventFeed
from syncd.ledger.sqlite import SqliteStore
from syncd.stockin.booking import void
from syncd.testing import tillsamples as samples


def make(tmp_path: Path, **extra: Any) -> tuple[CsvTillConnector, Any]:
    table = {
        "type": "csv_till",
        "drop_folder": str(tmp_path / "inbox"),
        "settle_seconds": 0.3,
        "stock_file": str(tmp_path / "out" / "stock.csv"),
        "stock_min_interval_seconds": 0.5,
        **extra,
    }
    settings = parse_config(
        {"ledger": {"path": str(tmp_path / "l.sqlite3")}, "channels": {"till": table}},
        file=str(tmp_path / "c.toml"),
    )
    channel = settings.channel("till")
    (tmp_path / "inbox").mkdir(
        parents=True, exist_ok=True
    )  # the till's folder (never ours to make)
    return CsvTillConnector("till", channel.options), channel


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore(tmp_path / "l.sqlite3", strict_skus=False).open()
    yield s
    await s.close()


def drop(folder: Path, name: str, data: bytes, age: float = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder.parent / f"{name}.partial"
    temp.write_bytes(data)
    old = time.time() - age
    os.utime(temp, (old, old))
    target = folder / name
    os.replace(temp, target)  # an atomic rename into the folder, as tills should do
    return target


async def test_same_export_twice_renamed_and_after_a_crash_is_applied_once(
    tmp_path: Path, store: SqliteStore
) -> None:
    connector, channel = make(tmp_path)
    await connector.open()
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    inbox = tmp_path / "inbox"
    data = samples.LOYVERSE.encode()

    # A crash after reading but before the commit: the iterator is abandoned mid-file.
    drop(inbox, "receipts.csv", data)
    pull = connector.pull(await store.cursors("till"))
    batch = await pull.__anext__()
    assert len(batch.documents) == 2
    await pull.aclose()
    assert await store.movement_totals() == (0, 0)
    assert (inbox / "receipts.csv").exists()  # still there to be read again

    assert await runner.pull_once() == 2
    assert not (inbox / "receipts.csv").exists() and (inbox / "done" / "receipts.csv").exists()
    levels = await store.levels()
    assert levels == {"SHIRT-0000-44": -1, "SHIRT-0001-40": -1}

    drop(inbox, "receipts.csv", data)  # the same export again
    drop(inbox, "receipts-copy.csv", data)  # and under another name
    assert await runner.pull_once() == 0
    assert await store.levels() == levels
    assert await store.movement_totals() == (3, -2)
    rejected = (inbox / "rejected" / "receipts.csv.rejected.csv").read_text(encoding="utf-8")
    assert "receipts.csv,6,Quantity,two,quantity is not a number" in rejected
    [stored] = await store.rejections()
    assert stored.row == 6 and connector.counters.skipped_rows == 1


async def test_a_file_still_being_written_is_not_read(tmp_path: Path, store: SqliteStore) -> None:
    connector, channel = make(tmp_path, settle_seconds=0.5)
    await connector.open()
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    inbox = tmp_path / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    lines = samples.LOYVERSE.encode().splitlines(keepends=True)
    path = inbox / "slow.csv"

    async def write_slowly() -> None:
        with open(path, "wb") as handle:
            for line in lines:
                handle.write(line)
                handle.flush()
                await asyncio.sleep(0.15)

    writer = asyncio.create_task(write_slowly())
    for _ in range(8):
        assert await runner.pull_once() == 0  # never a partial file
        await asyncio.sleep(0.1)
    await writer
    deadline = time.monotonic() + 5
    applied = 0
    while applied == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        applied = await runner.pull_once()
    assert applied == 2
    assert await store.levels() == {"SHIRT-0000-44": -1, "SHIRT-0001-40": -1}


async def test_a_file_held_open_is_waited_for_and_a_closed_one_is_read_at_once(
    tmp_path: Path, store: SqliteStore
) -> None:
    # The writer pauses far longer than settle_seconds mid-file: the size rule alone would read
    # half a file. The kernel says the file is still open for writing, so it is not read; once
    # closed it is read at once, long before a 30 s settle time.
    connector, channel = make(tmp_path, settle_seconds=0.2)
    await connector.open()
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    inbox = tmp_path / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    lines = samples.LOYVERSE.encode().splitlines(keepends=True)
    with open(inbox / "paused.csv", "wb") as handle:
        handle.write(b"".join(lines[:3]))
        handle.flush()
        for _ in range(4):
            await asyncio.sleep(0.3)
            assert await runner.pull_once() == 0
        handle.write(b"".join(lines[3:]))
    assert await runner.pull_once() == 2

    connector, channel = make(tmp_path, settle_seconds=30)
    await connector.open()
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    (inbox / "fresh.csv").write_bytes(samples.LOYVERSE.encode().replace(b"4-103", b"5-103"))
    assert await runner.pull_once() >= 1


async def test_an_unreadable_file_is_quarantined_with_its_reason(
    tmp_path: Path, store: SqliteStore
) -> None:
    connector, channel = make(tmp_path)
    await connector.open()
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    drop(tmp_path / "inbox", "photo.csv", b"\x89PNG\x00\x00\x00binary")
    await runner.pull_once()
    assert (tmp_path / "inbox" / "rejected" / "photo.csv").exists()
    assert "binary" in (tmp_path / "inbox" / "rejected" / "photo.csv.reason.txt").read_text(
        encoding="utf-8"
    )
    [conflict] = await store.conflicts()
    assert conflict.kind.value == "unreadable"


async def test_watcher_wakes_on_a_dropped_file(tmp_path: Path) -> None:
    connector, _ = make(tmp_path)
    await connector.open()
    try:
        waiter = asyncio.create_task(connector.wait_for_change(30))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        drop(tmp_path / "inbox", "new.csv", samples.LOYVERSE.encode())
        await asyncio.wait_for(waiter, 10)
        assert time.monotonic() - started < 5
    finally:
        await connector.close()


async def test_stock_file_is_complete_atomic_and_written_only_on_change(tmp_path: Path) -> None:
    connector, _ = make(tmp_path)
    items = [PushItem("B", 3, None), PushItem("A", 0, None)]
    results = await connector.push(items)
    assert {r.status for r in results} == {PushStatus.WRITTEN}
    target = tmp_path / "out" / "stock.csv"
    assert target.read_bytes() == b"sku;quantity\r\nA;0\r\nB;3\r\n"
    mtime = target.stat().st_mtime_ns
    await connector.push(items)  # unchanged: not rewritten
    assert target.stat().st_mtime_ns == mtime
    started = time.monotonic()
    await connector.push([PushItem("B", 2, 3), PushItem("A", 0, 0)])  # within the interval: waits
    assert time.monotonic() - started >= 0.3
    assert target.read_bytes() == b"sku;quantity\r\nA;0\r\nB;2\r\n"
    assert not list(target.parent.glob(".*tmp"))
    levels = [lvl async for page in connector.read_levels() for lvl in page]
    assert [(lvl.sku, lvl.quantity) for lvl in levels] == [("A", 0), ("B", 2)]


async def test_journal_file_is_read_incrementally_from_the_committed_offset(
    tmp_path: Path, store: SqliteStore
) -> None:
    connector, channel = make(tmp_path, journal_files=["journal.csv"])
    await connector.open()
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    journal = tmp_path / "inbox" / "journal.csv"
    journal.write_text("sku,quantity\nA,1\nB,2\n", encoding="utf-8")
    assert await runner.pull_once() == 2
    with open(journal, "a", encoding="utf-8") as handle:
        handle.write("A,3\nB,")  # the last line is still being written
    assert await runner.pull_once() == 1
    assert await store.levels() == {"A": -4, "B": -2}
    with open(journal, "a", encoding="utf-8") as handle:
        handle.write("1\n")
    assert await runner.pull_once() == 1
    assert await runner.pull_once() == 0  # nothing new, nothing twice
    assert await store.levels() == {"A": -4, "B": -3}
    assert journal.exists()  # a journal stays where the till writes it


async def test_a_missing_drop_folder_is_waited_for_never_created(tmp_path: Path) -> None:
    # An unmounted share: creating the folder would hide the till's files under the mount point.
    from syncd.exceptions import NotReadyError

    connector, _ = make(tmp_path)
    (tmp_path / "inbox").rmdir()
    await connector.open()
    with pytest.raises(NotReadyError, match="does not exist"):
        await connector.check()
    assert not (tmp_path / "inbox").exists()


async def test_the_same_export_twice_in_one_pull_is_read_once(
    tmp_path: Path, store: SqliteStore
) -> None:
    connector, channel = make(tmp_path)
    await connector.open()
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    drop(tmp_path / "inbox", "a.csv", samples.LOYVERSE.encode())
    drop(tmp_path / "inbox", "b.csv", samples.LOYVERSE.encode())
    assert await runner.pull_once() == 2
    assert len(await store.rejections()) == 1  # its bad row is recorded once, not per copy
    assert connector.counters.duplicate_files == 1


async def test_each_receipt_names_its_file_so_the_whole_file_can_be_voided(
    tmp_path: Path, store: SqliteStore
) -> None:
    connector, channel = make(tmp_path)
    await connector.open()
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    drop(tmp_path / "inbox", "receipts.csv", samples.LOYVERSE.encode())
    assert await runner.pull_once() == 2
    ids = await store.documents_with_meta("till", "file", "receipts.csv")
    assert len(ids) == 2
    assert await store.levels() == {"SHIRT-0000-44": -1, "SHIRT-0001-40": -1}
    results = await void(store, "till", "receipts.csv", origin="command")
    assert sorted(r.doc_id for r in results) == ids
    assert await store.levels() == {"SHIRT-0000-44": 0, "SHIRT-0001-40": 0}
