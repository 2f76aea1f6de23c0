"""The Store contract: every test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from syncd.domain import ConflictKind, ConflictStatus, Document, DocumentKind, Reason, Rejection
from syncd.ledger import Ack, ApplyStatus, ChannelInfo, Product
from syncd.ledger.sqlstore import SqlStore
from tests.conftest import StoreFactory

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def till(doc_id: str, lines: dict[str, int], minute: int = 0, reference: str = "") -> Document:
    return Document(
        channel="till",
        doc_id=doc_id,
        kind=DocumentKind.TILL_RECEIPT,
        lines=lines,
        occurred_at=T0 + timedelta(minutes=minute),
        reference=reference or doc_id,
    )


def order(
    doc_id: str,
    lines: dict[str, int],
    version: int = 1,
    cancelled: bool = False,
    channel: str = "web",
) -> Document:
    return Document(
        channel=channel,
        doc_id=doc_id,
        kind=DocumentKind.WEB_ORDER,
        lines=lines,
        occurred_at=T0 + timedelta(seconds=version),
        version=version,
        reference=f"WEB-{doc_id}",
        cancelled=cancelled,
    )


def receipt(doc_id: str, lines: dict[str, int]) -> Document:
    return Document(
        channel="office",
        doc_id=doc_id,
        kind=DocumentKind.GOODS_RECEIPT,
        lines=lines,
        occurred_at=T0,
    )


def count(doc_id: str, lines: dict[str, int], version: int = 0) -> Document:
    return Document(
        channel="office",
        doc_id=doc_id,
        kind=DocumentKind.STOCK_COUNT,
        lines=lines,
        occurred_at=T0,
        version=version,
    )


async def test_same_version_twice_is_applied_once(store: SqlStore) -> None:
    await store.apply_document(receipt("r1", {"A": 10}))
    first = await store.apply_document(order("1", {"A": 3}))
    again = await store.apply_document(order("1", {"A": 3}))
    assert first.status is ApplyStatus.APPLIED and first.movements == 1
    assert again.status is ApplyStatus.UNCHANGED and again.movements == 0
    assert await store.levels(["A"]) == {"A": 7}
    assert len(await store.movements(sku="A")) == 2


async def test_edit_cancel_and_restocked_refund_give_back_only_the_difference(
    store: SqlStore,
) -> None:
    await store.apply_document(receipt("r1", {"A": 10, "B": 5}))
    await store.apply_document(order("1", {"A": 3, "B": 2}, version=1))
    assert await store.levels(["A", "B"]) == {"A": 7, "B": 3}
    # edit: 3 → 2 gives back one unit of A; B unchanged
    await store.apply_document(order("1", {"A": 2, "B": 2}, version=2))
    assert await store.levels(["A", "B"]) == {"A": 8, "B": 3}
    # partial refund with restock of one B: quantity in effect 2 → 1
    await store.apply_document(order("1", {"A": 2, "B": 1}, version=3))
    assert await store.levels(["A", "B"]) == {"A": 8, "B": 4}
    refund = (await store.movements(sku="B"))[0]
    assert refund.delta == 1 and refund.reason is Reason.WEB_REFUND
    # cancellation gives back everything that is still out, once
    await store.apply_document(order("1", {"A": 0, "B": 0}, version=4, cancelled=True))
    await store.apply_document(order("1", {"A": 0, "B": 0}, version=4, cancelled=True))
    await store.apply_document(order("1", {"A": 0, "B": 0}, version=5, cancelled=True))
    assert await store.levels(["A", "B"]) == {"A": 10, "B": 5}
    cancel = (await store.movements(sku="A"))[0]
    assert cancel.delta == 2 and cancel.reason is Reason.WEB_CANCEL
    assert len(await store.movements(sku="A")) == 4  # receipt, order, edit, cancel


async def test_an_older_version_never_resurrects_a_cancelled_order(store: SqlStore) -> None:
    await store.apply_document(receipt("r1", {"A": 5}))
    await store.apply_document(order("9", {"A": 0}, version=20, cancelled=True))
    stale = await store.apply_document(order("9", {"A": 2}, version=10))
    assert stale.status is ApplyStatus.STALE
    assert await store.levels(["A"]) == {"A": 5}
    # a line a newer version no longer names goes to zero
    await store.apply_document(order("10", {"A": 1, "B": 1}, version=1))
    await store.apply_document(order("10", {"A": 1}, version=2))
    assert (await store.levels(["B"]))["B"] == 0


async def test_stock_count_moves_on_hand_to_the_counted_figure(store: SqlStore) -> None:
    await store.apply_document(receipt("r1", {"A": 10}))
    await store.apply_document(till("t1", {"A": 4}))
    await store.apply_document(count("c1", {"A": 9}))
    assert await store.levels(["A"]) == {"A": 9}
    adj = (await store.movements(sku="A"))[0]
    assert adj.delta == 3 and adj.reason is Reason.COUNT_ADJUSTMENT
    again = await store.apply_document(count("c1", {"A": 9}))
    assert again.status is ApplyStatus.UNCHANGED
    assert await store.levels(["A"]) == {"A": 9}


async def test_oversell_records_a_conflict_naming_the_documents(store: SqlStore) -> None:
    await store.upsert_products([Product("SHIRT-44", "Blue shirt, size 44")])
    await store.apply_document(receipt("r1", {"SHIRT-44": 1}))
    await store.apply_document(till("4-10378", {"SHIRT-44": 1}, minute=2))
    assert await store.conflicts() == []
    await store.apply_document(order("1042", {"SHIRT-44": 1}, version=5))
    assert await store.levels(["SHIRT-44"]) == {"SHIRT-44": -1}
    [conflict] = await store.conflicts(status=ConflictStatus.OPEN)
    assert conflict.kind is ConflictKind.OVERSELL
    assert conflict.sku == "SHIRT-44" and conflict.shortfall == 1
    assert conflict.detail["name"] == "Blue shirt, size 44"
    assert [(d.channel, d.reference) for d in conflict.documents] == [
        ("till", "4-10378"),
        ("web", "WEB-1042"),
    ]
    # a second oversell of the same SKU joins the open conflict
    await store.apply_document(order("1043", {"SHIRT-44": 1}, version=6))
    [conflict] = await store.conflicts(status=ConflictStatus.OPEN)
    assert conflict.shortfall == 2 and len(conflict.documents) == 3
    # acknowledged conflicts stay acknowledged; stock back resolves them
    assert await store.set_conflict_status(conflict.id, ConflictStatus.ACKNOWLEDGED)
    assert (await store.conflicts())[0].status is ConflictStatus.ACKNOWLEDGED
    await store.apply_document(receipt("r2", {"SHIRT-44": 5}))
    assert (await store.conflicts())[0].status is ConflictStatus.RESOLVED


async def test_outbox_coalesces_and_acknowledges_only_the_pushed_figure(store: SqlStore) -> None:
    await store.register_channels(
        [ChannelInfo("till", "csv_till"), ChannelInfo("web", "prestashop")]
    )
    await store.apply_document(receipt("r1", {"A": 20}))
    for i in range(10):
        await store.apply_document(till(f"t{i}", {"A": 1}))
    [item] = await store.take_outbox("web", 100)
    assert item.sku == "A" and item.wanted == 10 and item.last_known is None
    # a sale lands between take and ack: the row stays with the new figure
    await store.apply_document(till("t10", {"A": 1}))
    await store.ack_outbox("web", [Ack("A", 10, 10)])
    [item] = await store.take_outbox("web", 100)
    assert item.wanted == 9 and item.last_known == 10
    await store.ack_outbox("web", [Ack("A", 9, 9)])
    assert await store.take_outbox("web", 100) == []
    # the web channel's own order moves its known figure: nothing to push back to it
    await store.apply_document(order("1", {"A": 2}))
    assert await store.take_outbox("web", 100) == []
    till_items = await store.take_outbox("till", 100)
    assert [(i.sku, i.wanted) for i in till_items] == [("A", 7)]
    stats = await store.outbox_stats()
    assert "web" not in stats and stats["till"].depth == 1


async def test_a_row_settled_while_its_push_was_in_flight_is_queued_again(
    store: SqlStore,
) -> None:
    """Found by campaign seed 20261123: the push takes 10, the shop's own order is pulled
    (belief 9 - 1 = 8, row 9) and a read-back of the shop, made before our write landed,
    finds 9 and settles the row; then the write of 10 lands. The shop shows 10 and must be
    corrected to 9, not left until the next reconcile."""
    await store.register_channels(
        [ChannelInfo("till", "csv_till"), ChannelInfo("web", "prestashop", follows_own_sales=True)]
    )
    await store.apply_document(receipt("r1", {"A": 9}))
    await store.record_shown("web", {"A": 9})
    await store.apply_document(receipt("r2", {"A": 1}))
    [item] = await store.take_outbox("web", 100)
    assert item.wanted == 10 and item.last_known == 9
    await store.apply_document(order("1", {"A": 1}))  # the shop's own sale, pulled meanwhile
    await store.record_shown("web", {"A": 9}, only_higher=True)  # read back before our write
    assert await store.take_outbox("web", 100) == []  # settled on the old figure
    await store.ack_outbox("web", [Ack("A", 10, 10)])  # then our write of 10 lands
    [item] = await store.take_outbox("web", 100)
    assert item.wanted == 9 and item.last_known == 10


async def test_buffers_and_negative_stock_correct_the_source_channel(store: SqlStore) -> None:
    await store.register_channels([ChannelInfo("web", "prestashop")])
    await store.apply_document(receipt("r1", {"A": 5}))
    await store.ack_outbox("web", [Ack("A", 5, 5)])
    await store.set_buffer(2, channel="web")
    [item] = await store.take_outbox("web", 10)
    assert item.wanted == 3
    await store.ack_outbox("web", [Ack("A", 3, 3)])
    # the shop sells 1 → it shows 2 by itself, which is on_hand 4 − buffer 2: nothing to push
    await store.apply_document(order("1", {"A": 1}))
    assert await store.take_outbox("web", 10) == []
    # the till sells 3 → on_hand 1, below the buffer: the shop must show 0
    await store.apply_document(till("t1", {"A": 3}))
    [item] = await store.take_outbox("web", 10)
    assert (item.wanted, item.last_known) == (0, 2)
    await store.ack_outbox("web", [Ack("A", 0, 0)])
    # the shop sold one more on backorder: it shows -1 by itself and gets corrected to 0
    await store.apply_document(order("2", {"A": 1}))
    [item] = await store.take_outbox("web", 10)
    assert (item.wanted, item.last_known) == (0, -1)
    await store.ack_outbox("web", [Ack("A", 0, 0)])
    await store.apply_document(receipt("r2", {"A": 4}))  # on_hand 4
    await store.ack_outbox("web", [Ack("A", 2, 2)])
    await store.set_buffer(0, channel="web")
    await store.set_buffer(1, sku="A")
    [item] = await store.take_outbox("web", 10)
    assert item.wanted == 3  # on_hand 4, per-SKU buffer 1


async def test_unknown_skus_are_kept_pending_and_applied_once_mapped(
    make_store: StoreFactory,
) -> None:
    store = await make_store(strict_skus=True)
    await store.upsert_products([Product("A", "Thing A", "2000000000015")])
    await store.apply_document(receipt("r1", {"A": 5}))
    result = await store.apply_document(till("t1", {"A": 1, "UNKNOWN-7": 2, "2000000000015": 1}))
    assert result.pending == ("UNKNOWN-7",)
    assert await store.levels(["A"]) == {"A": 3}  # barcode resolved to A
    pending = await store.pending_lines()
    assert [(p.identifier, p.quantity) for p in pending] == [("UNKNOWN-7", 2)]
    [conflict] = await store.conflicts(status=ConflictStatus.OPEN)
    assert conflict.kind is ConflictKind.UNKNOWN_SKU and conflict.sku == "UNKNOWN-7"
    await store.upsert_products([Product("B", "Thing B")])
    await store.apply_document(receipt("r2", {"B": 10}))
    replayed = await store.set_aliases({"UNKNOWN-7": "B"})
    assert [r.status for r in replayed] == [ApplyStatus.APPLIED]
    assert await store.levels(["A", "B"]) == {"A": 3, "B": 8}
    assert await store.pending_lines() == []
    # replaying again changes nothing
    assert await store.set_aliases({"UNKNOWN-7": "B"}) == []
    assert await store.levels(["B"]) == {"B": 8}


async def test_cursors_and_rejections_commit_with_their_documents(store: SqlStore) -> None:
    rejected = Rejection("till", "sales.csv", 7, "Qty", "x", "not a number")
    await store.apply_batch(
        [till("t1", {"A": 1})], channel="till", cursors={"file:abc": "done"}, rejections=[rejected]
    )
    assert await store.cursors("till") == {"file:abc": "done"}
    [stored] = await store.rejections()
    assert (stored.source, stored.row, stored.column, stored.reason) == (
        "sales.csv",
        7,
        "Qty",
        "not a number",
    )
    whole = Rejection("till", "broken.csv", None, "", "", "cannot decode")
    await store.apply_batch([], channel="till", rejections=[whole])
    kinds = {c.kind for c in await store.conflicts()}
    assert ConflictKind.UNREADABLE in kinds


async def test_invalid_document_is_rejected_alone(store: SqlStore) -> None:
    bad = Document("till", "", DocumentKind.TILL_RECEIPT, {"A": 1}, T0)
    good = till("t1", {"A": 1})
    results = await store.apply_batch([bad, good])
    assert [r.status for r in results] == [ApplyStatus.REJECTED, ApplyStatus.APPLIED]
    assert "empty document id" in results[0].error
    assert await store.levels(["A"]) == {"A": -1}


async def test_concurrent_producers_give_the_exact_level(store: SqlStore) -> None:
    await store.apply_document(receipt("r1", {"HOT": 5000}))

    async def producer(n: int) -> None:
        for i in range(200):
            await store.apply_document(till(f"p{n}-{i}", {"HOT": 1}))

    await asyncio.gather(*(producer(n) for n in range(8)))
    assert await store.levels(["HOT"]) == {"HOT": 5000 - 1600}
    count_, total = await store.movement_totals()
    assert count_ == 1601 and total == 5000 - 1600


async def test_concurrent_stores_on_one_postgres_give_the_exact_level(
    pg_dsn: str,
) -> None:
    from syncd.ledger.postgres import PostgresStore

    stores = [await PostgresStore(pg_dsn, strict_skus=False).open() for _ in range(4)]
    try:
        await stores[0].apply_document(receipt("r1", {"HOT": 1000}))

        async def producer(n: int) -> None:
            s = stores[n % 4]
            for i in range(100):
                await s.apply_document(till(f"p{n}-{i}", {"HOT": 1}))
                # the same document from another daemon is applied once
                await stores[(n + 1) % 4].apply_document(till(f"p{n}-{i}", {"HOT": 1}))

        await asyncio.gather(*(producer(n) for n in range(8)))
        assert await stores[0].levels(["HOT"]) == {"HOT": 200}
    finally:
        for s in stores:
            await s.close()


@pytest.mark.parametrize("unlocked_attempts", [2, 0], ids=["one-statement", "locking"])
async def test_the_same_new_document_from_two_daemons_at_once_moves_once(
    pg_dsn: str, unlocked_attempts: int
) -> None:
    # Two daemons on one PostgreSQL pull the same new order at the same moment: neither finds
    # it stored, so there is no row to lock; without a lock on its key both moved its lines.
    # "one-statement": each plans from rows read without locks and writes only if they did not
    # change (the usual path); "locking": each locks the rows first.
    from syncd.ledger.postgres import PostgresStore

    stores = [await PostgresStore(pg_dsn, strict_skus=False).open() for _ in range(2)]
    for s in stores:
        s.unlocked_attempts = unlocked_attempts
    try:
        await stores[0].apply_document(receipt("r1", {"HOT": 1000}))
        for i in range(60):
            doc = till(f"same-{i}", {"HOT": 1, "COLD": 2})
            await asyncio.gather(*(s.apply_document(doc) for s in stores))
        assert await stores[0].levels(["HOT", "COLD"]) == {"HOT": 940, "COLD": -120}
        count_, total = await stores[1].movement_totals()
        assert (count_, total) == (1 + 120, 1000 - 180)
    finally:
        for s in stores:
            await s.close()


async def test_wake_up_on_commit(store: SqlStore) -> None:
    await store.register_channels([ChannelInfo("web", "prestashop")])
    waiter = asyncio.create_task(store.wait_for_outbox("web", 10))
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    await store.apply_document(receipt("r1", {"A": 1}))
    await asyncio.wait_for(waiter, 5)
    assert asyncio.get_running_loop().time() - started < 2


async def test_restart_keeps_everything(make_store: StoreFactory) -> None:
    first = await make_store()
    await first.register_channels([ChannelInfo("web", "prestashop")])
    await first.apply_document(receipt("r1", {"A": 3}))
    await first.close()
    second = await make_store()
    assert await second.levels(["A"]) == {"A": 3}
    assert [i.wanted for i in await second.take_outbox("web", 10)] == [3]
    again = await second.apply_document(receipt("r1", {"A": 3}))
    assert again.status is ApplyStatus.UNCHANGED


async def test_new_channel_gets_every_sku_queued(store: SqlStore) -> None:
    await store.apply_document(receipt("r1", {"A": 3, "B": 0, "C": 7}))
    await store.register_channels([ChannelInfo("magento", "magento")])
    items = await store.take_outbox("magento", 10)
    assert sorted((i.sku, i.wanted) for i in items) == [("A", 3), ("B", 0), ("C", 7)]
    levels = await store.wanted_levels("magento")
    assert [(w.sku, w.wanted) for w in levels] == [("A", 3), ("B", 0), ("C", 7)]
    await store.record_shown("magento", {"A": 3, "B": 0, "C": 7})
    assert await store.take_outbox("magento", 10) == []
    await store.record_shown("magento", {"C": 5})  # edited by hand in the shop
    assert [(i.sku, i.wanted, i.last_known) for i in await store.take_outbox("magento", 10)] == [
        ("C", 7, 5)
    ]


async def test_rows_changed_between_read_and_write_are_planned_again(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL plans a batch from rows read without locks; another daemon's sale of the same
    # SKU commits between that read and the write: the write must notice and plan again.
    from syncd.ledger.postgres import PostgresStore, _PgTx

    mine = await PostgresStore(pg_dsn).open(listen=False)
    other = await PostgresStore(pg_dsn).open(listen=False)
    try:
        await mine.upsert_products([Product("HOT")])
        await mine.apply_document(receipt("r1", {"HOT": 10}))
        original = _PgTx.fetch
        interfered: list[str] = []

        async def fetch(self: _PgTx, name: str, *args: object) -> list[object]:
            rows = await original(self, name, *args)
            if name == "read_snapshot" and not interfered:
                interfered.append(name)
                await other.apply_document(till("theirs", {"HOT": 3}))
            return rows

        monkeypatch.setattr(_PgTx, "fetch", fetch)
        mine._kept = None  # rows read for this batch, not kept from the last (test_kept_rows.py)
        assert (await mine.apply_document(till("mine", {"HOT": 2}))).status is ApplyStatus.APPLIED
        assert interfered
        assert await mine.levels(["HOT"]) == {"HOT": 5}
        assert await mine.movement_totals() == (3, 5)
    finally:
        await mine.close()
        await other.close()


async def test_a_read_that_settles_attempts_keeps_what_our_write_plus_own_sales_may_show(
    store: SqlStore,
) -> None:
    """Found by the campaign with WooCommerce (seed 74): a read-back found the shop showing our
    write (206, as believed) and settled the attempts; the shop's own cancellation, applied
    next, put it at 207, which is still our write plus that cancellation, never a back-office
    edit to adopt."""
    await store.register_channels(
        [ChannelInfo("till", "csv_till"), ChannelInfo("web", "prestashop", follows_own_sales=True)]
    )
    await store.apply_document(receipt("r1", {"A": 207}))
    await store.apply_document(order("1", {"A": 1}))
    await store.note_attempts("web", {"A": 206})  # the push of 206 starts
    await store.ack_outbox("web", [Ack("A", 206, 206)])
    await store.settle_attempts("web", {"A": 206})  # read back: 206, as believed
    assert 207 not in (await store.written_figures("web", ["A"]))["A"]
    await store.apply_document(order("1", {"A": 0}, version=2, cancelled=True))
    assert await store.believed_figures("web", ["A"]) == {"A": 207}
    assert 207 in (await store.written_figures("web", ["A"]))["A"]
