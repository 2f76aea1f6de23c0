"""PostgreSQL plans a batch from the rows kept since the previous write (issue 17, migration 0017,
``syncd/ledger/keptrows.py``): no read round trip, and never a plan from rows another writer has
changed since. Transaction ids are the server's, so a commit in another database of the same
server counts as "something committed": a test that needs the quiet case tries a few times."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
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


# -- kits ---------------------------------------------------------------------------------------

KITS = {"K1": {"A": 1, "B": 2}, "K2": {"A": 1, "C": 1}}  # A shared; C also in K3 below
STOCK = 200  # of each of A to E, 9 of them in the back


def _sale(doc_id: str, lines: dict[str, int], location: str = "") -> Document:
    return Document("till", doc_id, DocumentKind.TILL_RECEIPT, lines, T0, location=location)


async def _read(store: Any, batch: list[Document]) -> dict[str, Any]:
    """What ``syncd_snapshot`` returns for the batch, unlocked."""
    keys, identifiers = batch_keys(batch)
    async with store._read() as tx:
        found = await tx.fetch(
            "read_snapshot", [k[0] for k in keys], [k[1] for k in keys], identifiers, False, 0
        )
    data: dict[str, Any] = json.loads(found[0][1])
    return data


async def _kit_ledger(store: Any) -> None:
    """Two locations; K1 and K2 share A; K3 (derived by web) holds C of K2; E is in no kit."""
    await store.register_locations([LocationInfo("shop"), LocationInfo("back")])
    await store.register_channels(
        [
            ChannelInfo("till", "csv_till", locations=("shop",)),
            ChannelInfo("web", "prestashop", locations=("shop", "back")),
        ]
    )
    await store.set_kits(KITS, source="config")
    await store.set_kits({"K3": {"C": 1, "D": 3}}, source="magento", derived_by="web")
    await store.set_buffer(1, channel="till", sku="B")
    for place, units in (("shop", STOCK - 9), ("back", 9)):
        stock = dict.fromkeys("ABCDE", units)
        await store.apply_document(
            Document("office", f"r-{place}", DocumentKind.GOODS_RECEIPT, stock, T0, location=place)
        )
    await store.apply_document(_sale("t0", {"K1": 1, "C": 2}, location="shop"))


async def test_kept_kit_rows_are_the_rows_a_read_returns(pg_dsn: str) -> None:
    # Rows kept from the reads of a few batches (a kit, a component, a SKU in no kit, the rest
    # of the identifiers and a stored sale) and the kit table: every batch below, whose rows
    # they hold, is assembled exactly as syncd_snapshot returns it (its kits array, the SKUs
    # that adds, their levels, stock per location, buffers, figures shown, the outbox).
    from syncd.ledger.keptrows import KeptRows

    store = await _store(pg_dsn, strict_skus=False)
    try:
        await _kit_ledger(store)
        kept = KeptRows()
        no_rows: dict[str, list[Any]] = {
            k: [] for k in ("documents", "lines", "levels", "at", "shown", "outbox_set")
        }
        reads = (
            [_sale("k1", {"K1": 1})],
            [_sale("d", {"D": 1})],
            [_sale("e", {"E": 1})],
            [_sale("t0", {"C": 1}), order("o", {"A": 1, "B": 1, "C": 1, "K2": 1, "K3": 1})],
        )
        for batch in reads:
            kept.add_read(await _read(store, batch), batch_keys(batch)[1])
            assert kept.wrote(no_rows | {"outbox_delete": []}, "", "", clean=True)
            async with store._read() as tx:
                await kept.load_kits(tx)
        assert kept.kits is not None
        shapes = {
            "kit sold": [_sale("n1", {"K1": 1})],
            "component of two kits": [_sale("n2", {"A": 2}, location="back")],
            "component of a kit holding a component of another": [_sale("n3", {"C": 1})],
            "kit derived by a channel": [_sale("n4", {"K3": 1}, location="shop")],
            "component of one kit": [_sale("n5", {"D": 1})],
            "in no kit": [_sale("n6", {"E": 1})],
            "kit, component and other SKU": [
                _sale("n7", {"K2": 1, "E": 1}, location="back"),
                order("n8", {"B": 1, "K3": 2}),
            ],
            "stored sale again": [_sale("t0", {"K1": 2, "C": 1}, location="shop")],
        }
        for shape, batch in shapes.items():
            keys, identifiers = batch_keys(batch)
            assembled = kept.assemble(keys, identifiers)
            assert assembled is not None, shape
            read = await _read(store, batch)
            assert json.loads(json.dumps(assembled.rows)) == read, shape
            assert read["kits"] or shape == "in no kit", shape
        # C's kits hold A and D: without A's rows kept, not assembled (D's still is).
        del kept.skus["A"]
        assert kept.assemble(*batch_keys([_sale("n9", {"C": 1})])) is None
        assert kept.assemble(*batch_keys([_sale("n9", {"D": 1})])) is not None
    finally:
        await store.close()


async def _kits_kept(store: Any, doc_id: str) -> bool:
    """Sells K1; whether the rows kept after it hold the kit table (a quiet write)."""
    assert (await store.apply_document(_sale(doc_id, {"K1": 1}))).status is ApplyStatus.APPLIED
    return store._kept is not None and store._kept.kits is not None


async def _until_kits_kept(store: Any) -> int:
    """Sells K1 until the rows kept after a sale hold the kit table (a commit elsewhere on the
    server may spoil a few); the number of K1 sold."""
    for n in range(6):
        if await _kits_kept(store, f"warm-{n}"):
            return n + 1
    pytest.fail("the kit table was never kept")


async def test_kit_batches_are_planned_from_kept_rows(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kit sold reads its rows, then the kit table once (after the write); the next sales of
    # kits and components are planned from kept rows (one round trip each), and the rows kept
    # after them are exactly what a read returns.
    store = await _store(pg_dsn, strict_skus=False)
    try:
        await _kit_ledger(store)
        names = _count_reads(monkeypatch)
        sold: list[dict[str, int]] = []

        async def attempt(n: int) -> bool:
            store._kept = None
            names.clear()
            sales = [{"K1": 1, "A": 1, "K2": 1, "C": 1, "E": 1}]  # read: every identifier
            sales += [{"K2": 1}, {"C": 1, "E": 1}, {"K1": 2}]
            for i, lines in enumerate(sales):
                doc = _sale(f"q{n}-{i}", lines, location="shop")
                assert (await store.apply_document(doc)).status is ApplyStatus.APPLIED
            sold.extend(sales)
            if names != ["read_snapshot", "apply_next", "kit_table"] + ["apply_next"] * 3:
                return False
            batch = [_sale("next", {"K2": 1, "E": 1}, location="back")]
            assembled = store._kept.assemble(*batch_keys(batch))
            assert assembled is not None
            assert json.loads(json.dumps(assembled.rows)) == await _read(store, batch)
            return True

        await _quietly(attempt)
        a = sum(s.get("A", 0) + s.get("K1", 0) + s.get("K2", 0) for s in sold)
        b = sum(2 * s.get("K1", 0) for s in sold)
        levels = await store.levels(["A", "B"])
        assert levels == {"A": STOCK - 1 - a, "B": STOCK - 2 - b}  # t0 sold K1 once
    finally:
        await store.close()


async def test_a_kit_redefined_by_another_writer_is_sold_as_defined_now(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # K1's table is kept; another daemon makes K1 two A and one C: the sale planned from the
    # kept table is refused under the locks (its kits array is not the ledger's), read and
    # planned again with the new definition.
    mine = await _store(pg_dsn, strict_skus=False)
    other = await _store(pg_dsn, strict_skus=False)
    try:
        await _kit_ledger(mine)
        sold = 1 + await _until_kits_kept(mine)  # t0, then the warm-up sales
        await other.set_kits({"K1": {"A": 2, "C": 1}}, source="config")
        names = _count_reads(monkeypatch)
        assert (await mine.apply_document(_sale("new", {"K1": 1}))).status is ApplyStatus.APPLIED
        assert names[:3] == ["apply_next", "read_snapshot", "apply_next"]
        assert await mine.levels(["A", "B", "C"]) == {
            "A": STOCK - sold - 2,
            "B": STOCK - 2 * sold,
            "C": STOCK - 3,  # t0 sold two
        }
    finally:
        await mine.close()
        await other.close()


async def test_a_kit_defined_elsewhere_is_seen_after_a_batch_it_did_not_touch(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another daemon defines K4 of B. Our next batch (A: K4 is not among its kits) is written
    # checked, found nothing else changed in its rows, but something committed: the kit table
    # kept may be older than the rows now, so it goes, with the kit SKUs. Every sale of K1 after
    # that moves K4's figure too (a plan from the old table would leave it as it was).
    mine = await _store(pg_dsn, strict_skus=False)
    other = await _store(pg_dsn, strict_skus=False)
    try:
        await _kit_ledger(mine)
        for n in range(6):
            if await _kits_kept(mine, f"warm-{n}"):
                break
        else:
            pytest.fail("the kit table was never kept")
        await other.set_kits({"K4": {"B": 1}}, source="other")
        names = _count_reads(monkeypatch)
        assert (await mine.apply_document(_sale("a", {"A": 1}))).status is ApplyStatus.APPLIED
        assert names == ["apply_next"]
        conn = await asyncpg.connect(pg_dsn)
        try:

            async def attempt(n: int) -> bool:
                names.clear()
                table_kept = await _kits_kept(mine, f"k1-{n}")
                planned = list(names)
                queued = await conn.fetchval(
                    "SELECT wanted FROM outbox WHERE channel = 'web' AND sku = 'K4'"
                )
                wanted = {w.sku: w.wanted for w in await mine.wanted_levels("web")}
                assert queued == wanted["K4"] == (await mine.levels(["B"]))["B"]
                if n == 0:  # the kit SKUs went with the table: read
                    assert planned[:2] == ["read_snapshot", "apply_next"]
                return table_kept and planned == ["apply_next"]  # from the table read again

            await _quietly(attempt)
        finally:
            await conn.close()
    finally:
        await mine.close()
        await other.close()


async def test_a_kit_table_too_big_to_keep_leaves_kit_batches_to_reads(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past MAX_KIT_ROWS the table is not kept (looked at once), nor the kit SKUs of a batch:
    # kit batches are read, batches of SKUs in no kit are still planned from kept rows.
    import syncd.ledger.keptrows as keptrows

    monkeypatch.setattr(keptrows, "MAX_KIT_ROWS", 4)  # the ledger has 6
    store = await _store(pg_dsn, strict_skus=False)
    try:
        await _kit_ledger(store)
        names = _count_reads(monkeypatch)
        sold = 1  # t0

        async def attempt(n: int) -> bool:
            nonlocal sold
            store._kept = None
            names.clear()
            for i, lines in enumerate([{"K1": 1, "E": 1}, {"K1": 1}, {"E": 1}, {"K1": 1}]):
                doc = _sale(f"q{n}-{i}", lines)
                assert (await store.apply_document(doc)).status is ApplyStatus.APPLIED
            sold += 3
            read = ["read_snapshot", "apply_next"]
            return names == [*read, "kit_table", *read, "apply_next", *read]

        await _quietly(attempt)
        levels = await store.levels(["A", "B", "E"])
        assert levels["A"] == STOCK - sold and levels["B"] == STOCK - 2 * sold
    finally:
        await store.close()


async def test_a_kit_is_never_planned_as_in_no_kit_after_a_commit_elsewhere(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another daemon sells E (in no kit) before our sale of K1: that write finds the commit,
    # checks K1's rows (unchanged) and drops the kit table, and with it the kit SKUs: the next
    # sale of K1 is read (then the table again), never planned from K1's rows as in no kit.
    mine = await _store(pg_dsn, strict_skus=False)
    other = await _store(pg_dsn, strict_skus=False)
    try:
        await _kit_ledger(mine)
        sold = 1 + await _until_kits_kept(mine)  # t0, then the warm-up sales
        await other.apply_document(_sale("theirs", {"E": 1}))
        names = _count_reads(monkeypatch)
        assert not await _kits_kept(mine, "after")
        assert names == ["apply_next"]
        assert mine._kept is not None and not {"A", "B", "C", "K1", "K2"} & set(mine._kept.skus)
        names.clear()
        await _kits_kept(mine, "next")  # the table is kept again if this write is quiet
        assert names[:2] == ["read_snapshot", "apply_next"]
        sold += 2
        assert await mine.levels(["A", "B"]) == {"A": STOCK - sold, "B": STOCK - 2 * sold}
    finally:
        await mine.close()
        await other.close()
