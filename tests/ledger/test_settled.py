"""Settled documents (onboarding's history, already in the figures the opening count reads), on
SQLite and PostgreSQL: stored with their lines in effect, they move nothing and raise nothing; a
later version applies only its difference; an unknown identifier in one stays quiet, and once
mapped its replay moves nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.domain import Document, DocumentKind
from syncd.ledger import ApplyStatus, ChannelInfo, Product
from tests.conftest import StoreFactory

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def order(
    doc_id: str, lines: dict[str, int], version: int = 1, cancelled: bool = False
) -> Document:
    return Document(
        "web", doc_id, DocumentKind.WEB_ORDER, lines, T0, version=version, cancelled=cancelled
    )


async def test_settled_history_moves_nothing_and_a_later_version_applies_its_difference(
    make_store: StoreFactory,
) -> None:
    store = await make_store(strict_skus=True)
    await store.register_channels([ChannelInfo("web", "prestashop", True, True)])
    await store.upsert_products([Product("CAP", "Cap"), Product("MUG", "Mug")])
    history = [order("1", {"CAP": 2}), order("2", {"CAP": 1, "MUG": 1}), order("3", {"GONE": 4})]
    results = await store.apply_batch(
        history, channel="web", cursors={"date_upd": "2026-11-23 10:00:00"}, settled=True
    )
    assert [r.status for r in results] == [ApplyStatus.APPLIED] * 3
    assert [r.movements for r in results] == [0, 0, 0]
    assert results[2].pending == ("GONE",)
    assert await store.levels() == {"CAP": 0, "MUG": 0}
    assert await store.movements() == []
    assert await store.conflicts() == []  # neither an oversell nor an unknown SKU
    assert await store.cursors("web") == {"date_upd": "2026-11-23 10:00:00"}
    assert await store.document_lines("web", "2") == {"CAP": (1, 1), "MUG": (1, 1)}

    # The opening count; then the same versions again change nothing.
    await store.apply_document(
        Document("init", "count", DocumentKind.STOCK_COUNT, {"CAP": 7, "MUG": 0}, T0)
    )
    again = await store.apply_batch(history[:2], channel="web")
    assert [r.status for r in again] == [ApplyStatus.UNCHANGED] * 2
    # An old order cancelled, another edited: only the difference moves.
    await store.apply_batch(
        [order("1", {}, version=2, cancelled=True), order("2", {"CAP": 3, "MUG": 1}, version=2)],
        channel="web",
    )
    assert await store.levels() == {"CAP": 7 + 2 - 2, "MUG": 0}
    assert await store.conflicts() == []

    # The unknown identifier mapped later: the line was in effect, its replay moves nothing.
    await store.upsert_products([Product("GONE", "A product no longer sold")])
    assert (await store.levels()).get("GONE", 0) == 0
    assert await store.document_lines("web", "3") == {"GONE": (4, 4)}
    assert await store.conflicts() == []


async def test_a_document_applied_normally_beside_a_settled_one_still_moves(
    make_store: StoreFactory,
) -> None:
    """Settled is per call, even when the writer groups both calls into one transaction."""
    import asyncio

    store = await make_store(strict_skus=True)
    await store.upsert_products([Product("CAP", "Cap")])
    await store.apply_document(Document("init", "count", DocumentKind.STOCK_COUNT, {"CAP": 5}, T0))
    settled, normal = await asyncio.gather(
        store.apply_batch([order("1", {"CAP": 2})], channel="web", settled=True),
        store.apply_batch([order("2", {"CAP": 1})], channel="web"),
    )
    assert settled[0].movements == 0 and normal[0].movements == 1
    assert await store.levels() == {"CAP": 4}
