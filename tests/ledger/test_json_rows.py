"""A batch's rows travel to the database as JSON written by orjson (issue 17): what it writes
reads back as written on both ledgers, and what orjson refuses is refused as before."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from syncd.domain import Document, DocumentKind
from syncd.ledger import ApplyStatus
from syncd.ledger.sqlstore import SqlStore
from syncd.ledger.values import to_json

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_to_json_is_json_and_hands_what_orjson_refuses_to_json_dumps() -> None:
    value = {"documents": [{"doc_id": "ticket-é", "wanted": -3, "sku": None, "cancelled": False}]}
    assert json.loads(to_json(value)) == value
    assert to_json(("a", "b")) == '["a","b"]'
    # A lone surrogate, an integer past 64 bits: the database refuses them, as it did when
    # json.dumps wrote every batch.
    for refused in (["42\ud800"], [2**64]):
        assert to_json(refused) == json.dumps(refused)


async def test_non_ascii_rows_are_written_and_read_back_as_they_are(store: SqlStore) -> None:
    teapot, tea = "Théière-ø", "茶-01"
    await store.apply_document(
        Document(
            "office",
            "réception-1",
            DocumentKind.GOODS_RECEIPT,
            {teapot: 5, tea: 2},
            T0,
            reference="Bon n°1",
            meta={"note": "livré à l’atelier"},
        )
    )
    sale = Document("till", "ticket-é-1", DocumentKind.TILL_RECEIPT, {teapot: 1, tea: 2}, T0)
    first = await store.apply_document(sale)
    again = await store.apply_document(sale)  # the same content hash: nothing moves again
    assert first.status is ApplyStatus.APPLIED and first.movements == 2
    assert again.status is ApplyStatus.UNCHANGED
    assert await store.levels([teapot, tea]) == {teapot: 4, tea: 0}
    assert await store.document_ids("till") == ["ticket-é-1"]
    assert await store.document_lines("till", "ticket-é-1") == {teapot: (1, 1), tea: (2, 2)}
    moved = await store.movements(sku=teapot)
    assert sorted((m.doc_id, m.delta) for m in moved) == [("réception-1", 5), ("ticket-é-1", -1)]
