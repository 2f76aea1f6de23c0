"""Booking deliveries, counts, adjustments and voids, on SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from syncd.domain import STOCK_CHANNEL, Document, DocumentKind
from syncd.ledger import ChannelInfo, Product
from syncd.ledger.sqlstore import SqlStore
from syncd.stockin.booking import (
    BookingError,
    Line,
    book_adjustment,
    book_count,
    book_receipt,
    void,
)

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


async def _shop(store: SqlStore, stock: dict[str, int]) -> None:
    await store.register_channels([ChannelInfo("web", "fake", push=True)])
    await store.upsert_products(
        [Product(sku, sku.lower(), f"40000000{i:05d}") for i, sku in enumerate(stock)]
    )
    opening = Document("init", "opening", DocumentKind.STOCK_COUNT, stock, T0)
    await store.apply_document(opening)


def _sale(doc_id: str, lines: dict[str, int]) -> Document:
    return Document("till", doc_id, DocumentKind.TILL_RECEIPT, lines, T0 + timedelta(hours=1))


async def test_the_same_delivery_twice_books_once(store: SqlStore) -> None:
    await _shop(store, {"SHIRT-44": 2, "CAP": 0})
    lines = [Line("SHIRT-44", 10, "row 2"), Line("4000000000001", 3, "row 3")]  # CAP's barcode
    first = await book_receipt(store, lines, origin="file", supplier="Acme", delivery_note="BL-7")
    again = await book_receipt(store, lines, origin="file", supplier="Acme", delivery_note="BL-7")
    assert (first.status, again.status) == ("applied", "unchanged")
    assert first.doc_id == again.doc_id
    assert await store.levels(["SHIRT-44", "CAP"]) == {"SHIRT-44": 12, "CAP": 3}
    stored = await store.stored_document(STOCK_CHANNEL, first.doc_id)
    assert stored is not None and stored.meta["supplier"] == "Acme"
    assert stored.meta["origin"] == "file"
    # pushed like a sale
    outbox = {i.sku: i.wanted for i in await store.take_outbox("web", 10)}
    assert outbox == {"SHIRT-44": 12, "CAP": 3}


async def test_unknown_codes_are_refused_with_where_they_came_from(store: SqlStore) -> None:
    await _shop(store, {"SHIRT-44": 2})
    lines = [Line("SHIRT-44", 1, "note.csv row 2"), Line("NOPE", 4, "note.csv row 3")]
    booking = await book_receipt(store, lines, origin="file")
    assert booking.lines == {"SHIRT-44": 1}
    assert [(r.line.where, r.reason) for r in booking.refused] == [
        ("note.csv row 3", "'NOPE' is not a known SKU, barcode or alias")
    ]
    with pytest.raises(BookingError, match="note.csv row 3"):
        await book_receipt(store, [Line("NOPE", 4, "note.csv row 3")], origin="file")


async def test_a_dry_run_books_nothing(store: SqlStore) -> None:
    await _shop(store, {"SHIRT-44": 2})
    booking = await book_receipt(store, [Line("SHIRT-44", 5)], origin="command", dry_run=True)
    assert booking.status == "planned" and booking.after == {"SHIRT-44": 7}
    assert await store.levels(["SHIRT-44"]) == {"SHIRT-44": 2}


async def test_a_count_keeps_the_sales_made_while_counting(store: SqlStore) -> None:
    await _shop(store, {"A": 10, "B": 5})
    await asyncio.sleep(0.002)
    counted_a = datetime.now(UTC)  # A counted: 9 on the shelf (one unit missing)
    await asyncio.sleep(0.002)
    await store.apply_document(_sale("t1", {"A": 2, "B": 1}))  # sold while counting
    booking = await book_count(
        store, [Line("A", 9, "scan 1", counted_a), Line("B", 4, "scan 2")], origin="page"
    )
    # A: 9 counted when the ledger said 10 → −1, and the 2 sold since stay sold: 7.
    # B: counted after the sale (no time given: at booking) → on hand becomes 4.
    assert await store.levels(["A", "B"]) == {"A": 7, "B": 4}
    assert booking.after == {"A": 7, "B": 4}
    # booking the same count again changes nothing
    again = await book_count(
        store, [Line("A", 9, "scan 1", counted_a), Line("B", 4, "scan 2")], origin="page"
    )
    assert again.status == "unchanged"
    assert await store.levels(["A", "B"]) == {"A": 7, "B": 4}


async def test_a_partial_count_sets_what_its_scope_missed_to_zero(store: SqlStore) -> None:
    await _shop(store, {"SHIRT-1": 3, "SHIRT-2": 2, "CAP": 4})
    await book_count(store, [Line("SHIRT-1", 3)], zero=["SHIRT-1", "SHIRT-2"], origin="file")
    assert await store.levels(["SHIRT-1", "SHIRT-2", "CAP"]) == {
        "SHIRT-1": 3,
        "SHIRT-2": 0,
        "CAP": 4,
    }


async def test_an_adjustment_records_its_reason(store: SqlStore) -> None:
    await _shop(store, {"MUG": 6})
    booking = await book_adjustment(
        store, "MUG", -2, reason="breakage", origin="command", note="dropped a box"
    )
    assert await store.levels(["MUG"]) == {"MUG": 4}
    moves = [m for m in await store.movements(sku="MUG") if m.doc_id == booking.doc_id]
    assert [(m.delta, m.reason.value) for m in moves] == [(-2, "breakage")]
    stored = await store.stored_document(STOCK_CHANNEL, booking.doc_id)
    assert stored is not None and stored.meta["note"] == "dropped a box"
    with pytest.raises(BookingError, match="not one of"):
        await book_adjustment(store, "MUG", 1, reason="lost", origin="command")


async def test_void_undoes_a_delivery_a_count_and_a_till_receipt(store: SqlStore) -> None:
    await _shop(store, {"A": 10})
    receipt = await book_receipt(store, [Line("A", 5)], origin="page")
    count = await book_count(store, [Line("A", 12)], origin="page")  # 15 → 12
    await store.apply_document(_sale("t9", {"A": 1}))  # 11
    assert await store.levels(["A"]) == {"A": 11}
    await void(store, STOCK_CHANNEL, count.doc_id, origin="command")  # undo −3
    assert await store.levels(["A"]) == {"A": 14}
    await void(store, STOCK_CHANNEL, receipt.doc_id, origin="page")  # undo +5
    await void(store, "till", "t9", origin="page")  # undo the sale
    assert await store.levels(["A"]) == {"A": 10}
    assert await void(store, STOCK_CHANNEL, receipt.doc_id, origin="page") == []  # twice: no-op
    assert await store.levels(["A"]) == {"A": 10}
    stored = await store.stored_document(STOCK_CHANNEL, receipt.doc_id)
    assert stored is not None and stored.cancelled and stored.version == 1
    reasons = {m.reason.value for m in await store.movements(sku="A") if m.delta}
    assert "void" in reasons
    with pytest.raises(BookingError, match="no document"):
        await void(store, STOCK_CHANNEL, "receipt:nope", origin="page")


async def test_a_corrected_count_of_the_same_moment_is_not_applied_twice(store: SqlStore) -> None:
    await _shop(store, {"A": 10})
    await asyncio.sleep(0.002)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.002)
    await store.apply_document(_sale("t1", {"A": 1}))  # sold after the count: stays sold
    await book_count(store, [Line("A", 9, "", moment)], origin="file", doc_id="count:1")
    assert await store.levels(["A"]) == {"A": 8}
    # the same shelf, same moment, corrected to 8: the shelf had 8, one sold since → 7
    await book_count(store, [Line("A", 8, "", moment)], origin="file", doc_id="count:2")
    assert await store.levels(["A"]) == {"A": 7}
