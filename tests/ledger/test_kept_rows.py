"""PostgreSQL plans a batch from the rows kept since the previous write (issue 17, migration 0017,
``syncd/ledger/keptrows.py``): no read round trip, and never a plan from rows another writer has
changed since. Transaction ids are the server's, so a commit in another database of the same
server counts as "something committed": a test that needs the quiet case tries a few times."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from syncd.domain import Document, DocumentKind
from syncd.ledger import ApplyStatus, ChannelInfo
from syncd.ledger.locations import LocationInfo
from syncd.ledger.rows import batch_keys
from tests.ledger.test_contract import T0, order, receipt, till


async def _store(dsn: str, **options: Any) -> Any:
    from syncd.ledger.postgres import PostgresStore

    return await PostgresStore(dsn, **options).open(listen=False)


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the statements run through the store's transactions, in order."""
    from syncd.ledger.postgres import _PgTx

    names: list[str] = []
    original = _PgTx.fetch

    async def fetch(self: _PgTx, name: str, *args: object) -> list[object]:
        names.append(name)
        return await original(self, name, *args)

    monkeypatch.setattr(_PgTx, "fetch", fetch)
    return names


async def _quietly(attempt: Callable[[int], Awaitable[bool]]) -> None:
    """``attempt`` holds once in a few tries (a commit elsewhere on the server may spoil one)."""
    for n in range(6):
        if await attempt(n):
            return
    pytest.fail("never held in 6 attempts")


async def test_kept_rows_are_the_rows_a_read_returns(pg_dsn: str) -> None:
    # After batches of every kind of row (locations, buffers, an alias, an order changed to a
    # new version, figures shown, the outbox), the rows kept for a next batch are exactly those
    # syncd_snapshot returns for it: the planner gets from them what a read would give it.
    store = await _store(pg_dsn, strict_skus=False)
    try:
        await store.register_locations([LocationInfo("shop"), LocationInfo("back")])
        await store.register_channels(
            [
                ChannelInfo("till", "csv_till", locations=("shop",)),
                ChannelInfo("web", "prestashop", locations=("shop", "back")),
            ]
        )
        await store.set_buffer(2, channel="web")
        await store.set_buffer(1, channel="till", sku="B")
        await store.set_aliases({"EAN-B": "B"})
        shop = Document(
            "office", "r-shop", DocumentKind.GOODS_RECEIPT, {"A": 10, "B": 10}, T0, location="shop"
        )
        back = Document(
            "office", "r-back", DocumentKind.GOODS_RECEIPT, {"A": 5, "B": 7}, T0, location="back"
        )
        for doc in (shop, back, order("o1", {"A": 2, "EAN-B": 1})):
            assert (await store.apply_document(doc)).status is ApplyStatus.APPLIED
        # The rows of the batch below, kept whatever committed elsewhere meanwhile.
        await store.apply_batch(
            [order("o1", {"A": 3, "EAN-B": 1}, version=2), till("t8", {"B": 1})]
        )
        batch = [order("o1", {"A": 1, "EAN-B": 2}, version=3), till("t9", {"B": 1})]
        keys, identifiers = batch_keys(batch)
        kept = store._kept
        assert kept is not None
        assembled = kept.assemble(keys, identifiers)
        assert assembled is not None  # every row it needs is kept
        assert assembled.absent == [("till", "t9")]
        async with store._read() as tx:
            found = await tx.fetch(
                "read_snapshot", [k[0] for k in keys], [k[1] for k in keys], identifiers, False, 0
            )
        read = json.loads(found[0][1])
        assert json.loads(json.dumps(assembled.rows)) == read
        assert len(read["docs"]) == 1 and read["lines"] and read["at"] and read["buffers"]
    finally:
        await store.close()


async def test_a_batch_after_a_write_is_planned_without_reading(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sales of A, then B, then A again: only the first batch reads; the write of the second
    # does not count as "something else committed" (its own transaction), so A's rows stay.
    store = await _store(pg_dsn, strict_skus=False)
    try:
        await store.apply_document(receipt("r1", {"A": 100, "B": 100}))
        names = _count_reads(monkeypatch)
        attempts: list[int] = []

        async def attempt(n: int) -> bool:
            attempts.append(n)
            names.clear()
            for i, sku in enumerate(["A", "B", "A"]):
                result = await store.apply_document(till(f"t{n}-{i}", {sku: 1}))
                assert result.status is ApplyStatus.APPLIED
            return names == ["apply_next"] * 3

        await _quietly(attempt)
        sold = len(attempts)
        assert await store.levels(["A", "B"]) == {"A": 100 - 2 * sold, "B": 100 - sold}
    finally:
        await store.close()


async def test_a_commit_by_another_writer_between_two_batches_is_never_written_over(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another daemon sells A between two of ours: the batch planned from the rows kept (A at 9)
    # is refused by the rows read again under the locks (A at 7), then read and planned again.
    mine = await _store(pg_dsn, strict_skus=False)
    other = await _store(pg_dsn, strict_skus=False)
    try:
        await mine.apply_document(receipt("r1", {"A": 10}))
        await mine.apply_document(till("mine-1", {"A": 1}))
        assert mine._kept is not None and "A" in mine._kept.skus
        await other.apply_document(till("theirs", {"A": 2}))
        names = _count_reads(monkeypatch)
        assert (await mine.apply_document(till("mine-2", {"A": 3}))).status is ApplyStatus.APPLIED
        assert names == ["apply_next", "read_snapshot", "apply_next"]
        assert await mine.levels(["A"]) == {"A": 4}
    finally:
        await mine.close()
        await other.close()


async def test_a_commit_elsewhere_keeps_only_the_batch_rows_it_checked(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another daemon sells B: the next batch (A) is planned from kept rows and written, its own
    # rows read again under the locks and found unchanged (one round trip); B's kept rows are
    # forgotten, so a batch on B reads them.
    mine = await _store(pg_dsn, strict_skus=False)
    other = await _store(pg_dsn, strict_skus=False)
    try:
        await mine.apply_document(receipt("r1", {"A": 10, "B": 10}))
        await other.apply_document(till("theirs", {"B": 2}))
        names = _count_reads(monkeypatch)
        assert (await mine.apply_document(till("mine-1", {"A": 1}))).status is ApplyStatus.APPLIED
        assert names == ["apply_next"]
        assert mine._kept is not None and sorted(mine._kept.skus) == ["A"]
        names.clear()
        assert (await mine.apply_document(till("mine-2", {"B": 1}))).status is ApplyStatus.APPLIED
        assert names == ["read_snapshot", "apply_next"]
        assert await mine.levels(["A", "B"]) == {"A": 9, "B": 7}
    finally:
        await mine.close()
        await other.close()


async def test_a_stored_document_taken_for_new_is_refused_then_read(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A document the kept rows no longer hold (forgotten: too many) is taken for new; the write
    # finds it stored and refuses (SY001), so its new version moves only its difference, never
    # its lines a second time.
    store = await _store(pg_dsn, strict_skus=False)
    try:
        await store.apply_document(receipt("r1", {"A": 10}))
        assert (await store.apply_document(order("o1", {"A": 2}))).status is ApplyStatus.APPLIED
        kept = store._kept
        assert kept is not None and ("web", "o1") in kept.docs
        kept.docs.clear()
        names = _count_reads(monkeypatch)
        result = await store.apply_document(order("o1", {"A": 3}, version=2))
        assert result.status is ApplyStatus.APPLIED
        assert names == ["apply_next", "read_snapshot", "apply_next"]
        assert await store.levels(["A"]) == {"A": 7}
    finally:
        await store.close()


async def test_rows_kept_too_long_are_read_again(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import syncd.ledger.keptrows as keptrows

    store = await _store(pg_dsn, strict_skus=False)
    try:
        await store.apply_document(receipt("r1", {"A": 10}))
        monkeypatch.setattr(keptrows, "KEEP_SECONDS", 0.0)
        names = _count_reads(monkeypatch)
        assert (await store.apply_document(till("t1", {"A": 1}))).status is ApplyStatus.APPLIED
        assert names[0] == "read_snapshot"
    finally:
        await store.close()


async def test_a_commit_before_a_read_is_checked_for_the_rows_kept_too(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another daemon sells A (kept) before our batch on C (not kept, so read): that batch is
    # checked from the kept rows' snapshot, not the read's, finds the commit, and keeps only
    # its own rows; the next batch on A reads A again instead of planning from 10.
    mine = await _store(pg_dsn, strict_skus=False)
    other = await _store(pg_dsn, strict_skus=False)
    try:
        await mine.apply_document(receipt("r1", {"A": 10}))
        await other.apply_document(receipt("r2", {"C": 10}))
        await other.apply_document(till("theirs", {"A": 2}))
        names = _count_reads(monkeypatch)
        assert (await mine.apply_document(till("mine-1", {"C": 1}))).status is ApplyStatus.APPLIED
        assert (await mine.apply_document(till("mine-2", {"A": 1}))).status is ApplyStatus.APPLIED
        assert names == ["read_snapshot", "apply_next", "read_snapshot", "apply_next"]
        assert await mine.levels(["A", "C"]) == {"A": 7, "C": 9}
    finally:
        await mine.close()
        await other.close()


async def test_rows_kept_from_another_server_are_read_again_under_the_locks(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kept rows known as of a snapshot of another server (a promoted standby that never got our
    # last write, this one restarted) are checked whatever committed. Here they are wrong (A at
    # 999) and their snapshot is ahead of every transaction there will be, so only the server
    # tells them apart: read again under the locks, refused, read and planned again.
    from tests.ledger.test_one_snapshot import _xmax

    store = await _store(pg_dsn, strict_skus=False)
    try:
        await store.apply_document(receipt("r1", {"A": 10}))
        kept = store._kept
        assert kept is not None
        kept.skus["A"].level[1] = 999
        ahead = await _xmax(pg_dsn) + 1_000_000
        kept.since = f"{ahead}:{ahead}:@0"
        names = _count_reads(monkeypatch)
        assert (await store.apply_document(till("t1", {"A": 1}))).status is ApplyStatus.APPLIED
        assert names == ["apply_next", "read_snapshot", "apply_next"]
        assert await store.levels(["A"]) == {"A": 9}
    finally:
        await store.close()


async def test_nothing_to_write_is_decided_from_a_read(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kept rows say o1 is stored at this version, but only a write checks them: here our
    # write of o1 is gone from the database (as when a failover loses it), so the same order
    # pulled again must be read and applied, not skipped as unchanged.
    import asyncpg

    store = await _store(pg_dsn, strict_skus=False)
    try:
        await store.apply_document(receipt("r1", {"A": 10}))
        assert (await store.apply_document(order("o1", {"A": 2}))).status is ApplyStatus.APPLIED
        kept = store._kept
        assert kept is not None and ("web", "o1") in kept.docs
        conn = await asyncpg.connect(pg_dsn)
        try:
            for table in ("movements", "document_lines", "documents"):
                await conn.execute(f"DELETE FROM {table} WHERE doc_id = 'o1'")
            await conn.execute("UPDATE levels SET on_hand = 10 WHERE sku = 'A'")
            await conn.execute("UPDATE location_levels SET on_hand = 10 WHERE sku = 'A'")
        finally:
            await conn.close()
        names = _count_reads(monkeypatch)
        assert (await store.apply_document(order("o1", {"A": 2}))).status is ApplyStatus.APPLIED
        assert names[0] == "read_snapshot"
        assert await store.levels(["A"]) == {"A": 8}
    finally:
        await store.close()
