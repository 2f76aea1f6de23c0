"""A caller cancelled while its documents are being applied: the writer applies them all the
same (shutdown mid-batch, a request dropped), and the writer carries on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from syncd.domain import Document, DocumentKind
from syncd.ledger import ApplyStatus
from syncd.ledger.sqlstore import SqlStore

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def test_a_caller_cancelled_mid_apply_leaves_its_document_applied(store: SqlStore) -> None:
    await store.apply_document(Document("office", "r1", DocumentKind.GOODS_RECEIPT, {"A": 9}, T0))
    sale = Document("till", "t1", DocumentKind.TILL_RECEIPT, {"A": 2}, T0)
    caller = asyncio.create_task(store.apply_document(sale))
    await asyncio.sleep(0)  # queued: the writer takes it
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    later = await store.apply_document(
        Document("till", "t2", DocumentKind.TILL_RECEIPT, {"A": 3}, T0)
    )
    assert later.status is ApplyStatus.APPLIED
    for _ in range(100):  # two writers on PostgreSQL: the first batch may commit last
        if await store.levels(["A"]) == {"A": 4}:
            break
        await asyncio.sleep(0.02)
    assert await store.levels(["A"]) == {"A": 4}
    again = await store.apply_document(sale)
    assert again.status is ApplyStatus.UNCHANGED
