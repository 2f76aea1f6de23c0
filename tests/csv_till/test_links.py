"""The till's folders against planted links, pipes, huge files and growing journals (issue 22):
nothing is read or written through a link, nothing large is read, a journal costs its growth."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from syncd.config import SyncSettings
from syncd.connectors.base import PushItem
from syncd.connectors.csv_till.connector import CsvTillConnector
from syncd.engine.catchup import catch_up
from syncd.engine.channel import ChannelRunner
from syncd.events import EventFeed
from syncd.exceptions import ChannelConfigError
from syncd.ledger.sqlite import SqliteStore
from syncd.testing import tillsamples as samples
from tests.csv_till.test_connector import drop, make

ORIGINAL = b"precious\n"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore(tmp_path / "l.sqlite3", strict_skus=False).open()
    yield s
    await s.close()


def rchar() -> int:
    """Bytes this process read through read(2) and pread(2) so far (/proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


async def test_a_named_pipe_named_like_an_export_is_quarantined_without_hanging(
    tmp_path: Path, store: SqliteStore
) -> None:
    connector, channel = make(tmp_path)
    await connector.open()
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    os.mkfifo(tmp_path / "inbox" / "pipe.csv")
    drop(tmp_path / "inbox", "receipts.csv", samples.LOYVERSE.encode())
    assert await asyncio.wait_for(runner.pull_once(), 10) == 2
    reason = (tmp_path / "inbox" / "rejected" / "pipe.csv.reason.txt").read_text(encoding="utf-8")
    assert reason == "a named pipe, not a file: not read\n"


async def test_a_file_over_max_file_mb_is_quarantined_unread(
    tmp_path: Path, store: SqliteStore
) -> None:
    connector, channel = make(tmp_path, max_file_mb=1)
    await connector.open()
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    big = samples.LOYVERSE.encode() + b"x" * 1_100_000
    drop(tmp_path / "inbox", "big.csv", big)
    before = rchar()
    await runner.pull_once()
    assert rchar() - before < 200_000
    reason = (tmp_path / "inbox" / "rejected" / "big.csv.reason.txt").read_text(encoding="utf-8")
    assert "the file is 1.1 MB, more than max_file_mb = 1 MB: not read" in reason
    [rejection] = await store.rejections()
    assert rejection.source == "big.csv" and rejection.row is None


async def test_a_growing_journal_costs_what_it_grew_by(tmp_path: Path, store: SqliteStore) -> None:
    connector, channel = make(tmp_path, journal_files=["journal.csv"])
    await connector.open()
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    journal = tmp_path / "inbox" / "journal.csv"
    note = "n" * 1000  # long lines: a 2 MB journal of 2,000 receipts
    lines = "".join(f"SKU-{i % 100},1,{note}\n" for i in range(2000))
    journal.write_text("sku,quantity,note\n" + lines, encoding="utf-8")
    assert await runner.pull_once() == 2000
    with open(journal, "a", encoding="utf-8") as handle:
        handle.write("SKU-1,5,\n")
    before = rchar()
    assert await runner.pull_once() == 1
    read = rchar() - before
    assert read < 100_000, f"{read} bytes read for one new line"
    assert (await store.levels())["SKU-1"] == -25


async def test_a_journal_larger_than_max_file_mb_is_read_in_windows_nothing_lost(
    tmp_path: Path, store: SqliteStore
) -> None:
    connector, channel = make(tmp_path, journal_files=["journal.csv"], max_file_mb=0.1)
    await connector.open()
    journal = tmp_path / "inbox" / "journal.csv"
    journal.write_text(
        "sku,quantity\n" + "".join(f"SKU-{i % 7},1\n" for i in range(30_000)), encoding="utf-8"
    )
    batches = [b async for b in connector.pull({})]
    assert len(batches) >= 3  # ~270 kB in windows of 100 kB
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    assert await runner.pull_once() == 30_000
    assert sum((await store.levels()).values()) == -30_000
    assert await runner.pull_once() == 0


async def test_a_linked_journal_is_not_read(tmp_path: Path, store: SqliteStore) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("sku,quantity\nSECRET,1\n", encoding="utf-8")
    connector, channel = make(tmp_path, journal_files=["journal.csv"])
    await connector.open()
    (tmp_path / "inbox" / "journal.csv").symlink_to(outside)
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    assert await runner.pull_once() == 0
    assert await store.levels() == {}


async def test_a_link_planted_as_the_stock_file_is_replaced_not_written_through(
    tmp_path: Path,
) -> None:
    connector, _ = make(tmp_path)
    victim = tmp_path / "victim"
    victim.write_bytes(ORIGINAL)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stock.csv").symlink_to(victim)
    assert [lvl async for lvl in connector.read_levels()] == []  # a link is not read back
    await connector.push([PushItem("A", 1, None)])
    assert victim.read_bytes() == ORIGINAL
    stock = tmp_path / "out" / "stock.csv"
    assert not stock.is_symlink() and stock.read_bytes() == b"sku;quantity\r\nA;1\r\n"


async def test_a_linked_delta_folder_is_refused_naming_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "deltas").symlink_to(elsewhere, target_is_directory=True)
    connector, _ = make(tmp_path, delta_folder=str(tmp_path / "deltas"))
    await connector.push([PushItem("A", 1, None)])
    with pytest.raises(ChannelConfigError, match="till delta folder .*deltas is a symbolic link"):
        await connector.push([PushItem("A", 2, 1)])
    assert list(elsewhere.iterdir()) == []


async def test_the_catch_up_reads_no_link_in_done(tmp_path: Path, store: SqliteStore) -> None:
    """The catch-up uses the till's own file selection: a link in done/ to an export
    elsewhere is not read, hence not applied."""
    connector, _ = make(tmp_path)
    await connector.open()
    outside = tmp_path / "outside.csv"
    outside.write_text(samples.LOYVERSE, encoding="utf-8")
    (tmp_path / "inbox" / "done" / "linked.csv").symlink_to(outside)
    found = await catch_up(store, connector, "till", repull_seconds=3600)
    assert found.documents == 0 and found.findings == []
    assert await store.levels() == {}


def test_max_file_mb_is_a_documented_till_setting() -> None:
    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text("utf-8")
    assert "\nmax_file_mb = 20.0 " in text
    connector_type: type[CsvTillConnector] = CsvTillConnector
    settings, issues = connector_type.parse_settings(
        {"drop_folder": "/srv/till"}, file="syncd.toml", prefix="channels.till"
    )
    assert issues == [] and settings.max_file_bytes == 20_000_000
