"""Export files ready at the same pull are applied in one commit (one fsync), each moved to
done/ only after it; a receipt found in two of them is applied file by file, as one by one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from syncd.config import SyncSettings
from syncd.connectors.csv_till import connector as till
from syncd.engine.channel import ChannelRunner
from syncd.events import EventFeed
from syncd.ledger.sqlite import SqliteStore
from tests.csv_till.test_connector import drop, make

HEADER = (
    "Date,Receipt number,Receipt type,Category,SKU,Item,Variant,Modifiers applied,Quantity,"
    "Gross sales,Discounts,Net sales,Cost of goods,Gross profit,Taxes,POS,Store,Cashier name,"
    "Customer name,Customer contacts,Comment,Status\n"
)


def export(*rows: tuple[str, str, int]) -> bytes:
    """A Loyverse export of (receipt, SKU, quantity) sales."""
    lines = [
        f"7/28/26 1:33 PM,{receipt},Sale,Shirts,{sku},Shirt,,,{qty},9,0,9,4,5,0,POS 1,Shop,Ann,,,,Closed\n"
        for receipt, sku, qty in rows
    ]
    return (HEADER + "".join(lines)).encode()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore(tmp_path / "l.sqlite3", strict_skus=False).open()
    yield s
    await s.close()


async def test_files_ready_together_are_applied_in_one_commit(
    tmp_path: Path, store: SqliteStore
) -> None:
    connector, channel = make(tmp_path)
    await connector.open()
    inbox = tmp_path / "inbox"
    for n in range(5):
        drop(inbox, f"B-{n}.csv", export((f"R{n}", "CAP", 1)), age=10 - n)
    pull = connector.pull({})
    batch = await pull.__anext__()
    assert len(batch.documents) == 5 and len(batch.cursors) == 5
    assert len(list(inbox.glob("*.csv"))) == 5  # not committed yet: every file still there
    assert [b async for b in pull] == []  # resumed: committed, nothing more
    assert sorted(p.name for p in (inbox / "done").iterdir()) == [f"B-{n}.csv" for n in range(5)]

    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    for n in range(5, 8):
        drop(inbox, f"B-{n}.csv", export((f"R{n}", "CAP", 1)), age=10 - n)
    assert await runner.pull_once() == 3
    assert await store.levels() == {"CAP": -3}
    assert await runner.pull_once() == 0


async def test_a_receipt_in_two_files_is_applied_file_by_file(
    tmp_path: Path, store: SqliteStore
) -> None:
    connector, channel = make(tmp_path)
    await connector.open()
    inbox = tmp_path / "inbox"
    drop(inbox, "a.csv", export(("R1", "A", 1), ("R2", "B", 1)), age=12)
    drop(inbox, "b.csv", export(("R1", "A", 3), ("R3", "C", 1)), age=11)  # R1 again, changed
    drop(inbox, "c.csv", export(("R4", "C", 1)), age=10)
    batches = [b async for b in connector.pull({})]
    assert [len(b.cursors) for b in batches] == [1, 2]  # a.csv; then b.csv and c.csv
    assert [d.doc_id for d in batches[1].documents] == ["R1", "R3", "R4"]
    for age, name in enumerate(("c.csv", "b.csv", "a.csv"), start=1):  # the same, into a ledger
        drop(inbox, f"again-{name}", (inbox / "done" / name).read_bytes(), age=age)
    runner = ChannelRunner(channel, connector, store, SyncSettings(), EventFeed())
    assert await runner.pull_once() == 5
    assert await store.levels() == {"A": -3, "B": -1, "C": -2}  # R1's later version
    assert await store.movement_totals() == (5, -6)


async def test_a_commit_reads_at_most_load_bytes_of_files(
    tmp_path: Path, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(till, "LOAD_BYTES", 1)  # each file read fills the budget
    connector, channel = make(tmp_path)
    await connector.open()
    for n in range(3):
        drop(tmp_path / "inbox", f"B-{n}.csv", export((f"R{n}", "CAP", 1)), age=10 - n)
    batches = [b async for b in connector.pull({})]
    assert [len(b.documents) for b in batches] == [1, 1, 1]
