"""Retention: what may be forgotten is, once old; the history and what is still open stay."""

from __future__ import annotations

from datetime import timedelta

from syncd.domain import ConflictKind, ConflictStatus, Rejection, utcnow
from syncd.ledger import ChannelInfo
from syncd.ledger.sqlstore import SqlStore


async def test_prune_forgets_only_what_served_its_purpose(store: SqlStore) -> None:
    await store.register_channels([ChannelInfo("till", "csv_till")])
    await store.apply_batch(
        [],
        channel="till",
        cursors={"file:abc": "done", "journal:journal.csv": "1234"},
        rejections=[Rejection("till", "r1.csv", 3, "Quantity", "deux", "not a number")],
    )
    resolved = await store.record_conflict(ConflictKind.UNKNOWN_SKU, sku="X", detail={})
    await store.set_conflict_status(resolved, ConflictStatus.RESOLVED)
    still_open = await store.record_conflict(ConflictKind.UNKNOWN_SKU, sku="Y", detail={})

    # Nothing is old enough yet.
    assert not any((await store.prune(utcnow() - timedelta(days=1))).values())

    removed = await store.prune(utcnow() + timedelta(days=1))
    assert removed["file_cursors"] == 1 and removed["rejections"] == 1
    assert removed["conflicts"] == 1
    assert await store.cursors("till") == {"journal:journal.csv": "1234"}  # offsets stay
    assert await store.rejections() == []
    assert [c.id for c in await store.conflicts()] == [still_open]
    assert not any((await store.prune(utcnow() + timedelta(days=1))).values())


async def test_the_same_rejection_read_again_is_recorded_once(store: SqlStore) -> None:
    # A broken web order comes back at every poll (the cursor overlap): one rejection, not one
    # a poll; another row or another reason is another rejection.
    await store.register_channels([ChannelInfo("webshop", "prestashop")])
    bad = Rejection("webshop", "order 7", None, "", "", "order_rows is not a list")
    for _ in range(3):
        await store.apply_batch([], channel="webshop", rejections=[bad])
    await store.apply_batch(
        [], channel="webshop", rejections=[Rejection("webshop", "order 7", 2, "", "", "x")]
    )
    assert len(await store.rejections()) == 2


async def test_a_document_the_ledger_refuses_is_quarantined_not_dropped(store: SqlStore) -> None:
    from syncd.domain import Document, DocumentKind

    await store.register_channels([ChannelInfo("webshop", "prestashop")])
    bad = Document("webshop", "42\ud800", DocumentKind.WEB_ORDER, {"SKU-1": 10**12}, utcnow())
    [result] = await store.apply_batch([bad], channel="webshop")
    assert result.status.value == "rejected"
    [rejection] = await store.rejections()
    assert rejection.source == "document 42?" and "out of range" in rejection.reason
