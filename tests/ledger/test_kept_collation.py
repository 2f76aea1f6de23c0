"""Kept rows on a ledger whose database sorts text as French does (issue 17).

A merchant's PostgreSQL is often created with the system's locale (Debian's ``initdb`` takes it:
``fr_FR.UTF-8``), and its ``ORDER BY`` then sorts ``mug`` before ``TEA`` (case counts last)
where Python, like the ``C`` collation, sorts ``TEA`` first (``T`` < ``m``). The rows kept
between batches (``syncd/ledger/keptrows.py``) are assembled in Python's order; when another
transaction has committed, ``syncd_apply_next`` compares them with the rows it reads again. That
comparison must not depend on the order of rows: else every such batch would be refused,
read and planned again (one more round trip), whenever a batch holds SKUs of both cases, or accented ones."""

from __future__ import annotations

import os
from collections.abc import Iterator

import asyncpg
import pytest

from syncd.ledger import ApplyStatus
from syncd.ledger.locations import LocationInfo
from syncd.testing import pg
from tests.conftest import _admin
from tests.ledger.test_contract import receipt, till
from tests.ledger.test_kept_rows import _count_reads, _store


@pytest.fixture
def pg_french_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """An empty database sorting text by ICU's French rules (PostgreSQL 15+, ICU built in)."""
    name = f"syncd_fr_{os.getpid()}"
    _admin(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(
        pg_admin_dsn,
        f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
        "ICU_LOCALE 'fr-FR' LOCALE 'C.UTF-8'",
    )
    yield pg.with_database(pg_admin_dsn, name)
    _admin(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_the_database_sorts_as_french_does(pg_french_dsn: str) -> None:
    conn = await asyncpg.connect(pg_french_dsn)
    try:
        order = await conn.fetchval(
            "SELECT array_agg(s ORDER BY s) FROM unnest($1::text[]) s", ["TEA", "mug"]
        )
    finally:
        await conn.close()
    assert order == ["mug", "TEA"]  # the case below is real: not Python's order
    assert sorted(["mug", "TEA"]) == ["TEA", "mug"]


async def test_a_commit_elsewhere_does_not_refuse_kept_rows_sorted_otherwise(
    pg_french_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _store(pg_french_dsn, strict_skus=False)
    other = await _store(pg_french_dsn, strict_skus=False)
    try:
        await store.apply_document(receipt("r1", {"TEA": 100, "mug": 100, "Z": 100}))
        await store.apply_document(till("t0", {"TEA": 1, "mug": 1}))  # kept: both SKUs
        await other.apply_document(receipt("r2", {"Z": 1}))  # another transaction committed
        names = _count_reads(monkeypatch)
        result = await store.apply_document(till("t1", {"TEA": 1, "mug": 1}))
        assert result.status is ApplyStatus.APPLIED
        # Checked under the locks against the rows read again, and found the same: no new read.
        assert names == ["apply_next"]
        assert await store.levels(["TEA", "mug"]) == {"TEA": 98, "mug": 98}
    finally:
        await other.close()
        await store.close()


async def test_the_order_of_the_locations_still_counts(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Locations are in their configured order (the first is where a document naming none
    # happens): another daemon's new order is a change of the rows, refused and read again.
    store = await _store(pg_dsn, strict_skus=False)
    other = await _store(pg_dsn, strict_skus=False)
    try:
        await store.register_locations([LocationInfo("shop"), LocationInfo("back")])
        await store.apply_document(receipt("r1", {"A": 5}))  # at shop; A's rows kept
        await store.apply_document(receipt("r2", {"A": 1}))
        await other.register_locations([LocationInfo("back"), LocationInfo("shop")])
        names = _count_reads(monkeypatch)
        await store.apply_document(receipt("r3", {"A": 2}))
        assert "read_snapshot" in names  # refused under the locks, read again
        at = {s.location: s.on_hand for s in await store.location_stock(["A"])}
        assert at == {"shop": 6, "back": 2}
    finally:
        await other.close()
        await store.close()
