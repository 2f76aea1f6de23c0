"""Migration 0012 on an existing ledger (built at migration 0009 with rows written as that
version wrote them): every figure is unchanged, all of it at one location, and later versions of
old documents give back where the units were."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest

from syncd.domain import DEFAULT_LOCATION, ConflictKind
from syncd.ledger import ChannelInfo
from syncd.ledger.locations import LocationInfo
from syncd.ledger.postgres import PostgresStore
from syncd.ledger.sqlite import SqliteStore
from syncd.ledger.sqlstore import SqlStore
from tests.locations.helpers import at, order, queued

BEFORE = 9  # the last migration before locations on main
# A ledger as version 0009 wrote it: X received 5, web order o1 took 2 (X: 3); Y sold 1 below
# zero at the till (Y: -1, an open oversell conflict naming no location).
OLD_ROWS = [
    "INSERT INTO channels (name, type, push, registered_us, follows_own_sales) "
    "VALUES ('web', 'prestashop', true, 1, true), ('till', 'csv_till', true, 1, false)",
    "INSERT INTO documents (channel, doc_id, kind, version, content_hash, reference, cancelled, "
    "url, occurred_us, first_us, updated_us) VALUES "
    "('stock', 'r1', 'goods_receipt', 0, 'h1', 'r1', false, '', 1, 1, 1), "
    "('web', 'o1', 'web_order', 1, 'h2', 'o1', false, '', 2, 2, 2), "
    "('till', 't1', 'till_receipt', 0, 'h3', 't1', false, '', 3, 3, 3)",
    "INSERT INTO document_lines (channel, doc_id, line_key, sku, wanted, applied) VALUES "
    "('stock', 'r1', 'X', 'X', 5, 5), ('web', 'o1', 'X', 'X', 2, 2), "
    "('till', 't1', 'Y', 'Y', 1, 1)",
    "INSERT INTO movements (sku, delta, reason, channel, doc_id, doc_version, occurred_us, "
    "recorded_us) VALUES ('X', 5, 'receipt', 'stock', 'r1', 0, 1, 1), "
    "('X', -2, 'web_order', 'web', 'o1', 1, 2, 2), ('Y', -1, 'till_sale', 'till', 't1', 0, 3, 3)",
    "INSERT INTO levels (sku, on_hand, updated_us) VALUES ('X', 3, 2), ('Y', -1, 3)",
    "INSERT INTO products (sku, name, updated_us) VALUES ('X', 'x', 1), ('Y', 'y', 1)",
    "INSERT INTO conflicts (kind, status, sku, channel, shortfall, detail, created_us, "
    "updated_us) VALUES ('oversell', 'open', 'Y', 'till', 1, '{\"on_hand\": -1}', 3, 3)",
]


async def _old_ledger(backend: str, tmp_path: Path, dsn: str) -> SqlStore:
    store: SqlStore
    if backend == "sqlite":
        path = tmp_path / "old.sqlite3"
        store = await SqliteStore(path).open(migrate=False, check=False)
        assert await store.migrate(target=BEFORE, fresh=False) == list(range(1, BEFORE + 1))
        await store.close()
        conn = sqlite3.connect(path)
        with conn:
            for statement in OLD_ROWS:
                conn.execute(statement.replace("true", "1").replace("false", "0"))
        conn.close()
        return await SqliteStore(path).open(migrate=False, check=False)
    store = await PostgresStore(dsn).open(migrate=False, check=False, listen=False)
    await store.migrate(target=BEFORE, fresh=False)
    await store.close()
    pg = await asyncpg.connect(dsn)
    try:
        for statement in OLD_ROWS:
            await pg.execute(statement)
    finally:
        await pg.close()
    return await PostgresStore(dsn).open(migrate=False, check=False, listen=False)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_ledger(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(backend, dsn of an empty database on PostgreSQL)."""
    if request.param == "postgres":
        return ("postgres", request.getfixturevalue("pg_empty_dsn"))
    return ("sqlite", "")


async def test_an_existing_ledger_migrates_to_one_location_with_no_figure_changed(
    empty_ledger: tuple[str, str], tmp_path: Path
) -> None:
    backend, dsn = empty_ledger
    store = await _old_ledger(backend, tmp_path, dsn)
    try:
        before = await store.levels()
        applied = await store.migrate()
        assert 12 in applied
        assert await store.levels() == before == {"X": 3, "Y": -1}
        assert await at(store, "X") == {DEFAULT_LOCATION: 3}
        assert await at(store, "Y") == {DEFAULT_LOCATION: -1}
        assert await store.movement_totals() == (3, 2)

        # A later version of an old order gives its units back at the one location.
        await store.apply_document(order("o1", {"X": 0}, version=2, cancelled=True))
        assert await at(store, "X") == {DEFAULT_LOCATION: 5}
        # The old open conflict (no location) is the default location's: stock back there
        # resolves it, no second conflict is opened.
        await store.register_channels([ChannelInfo("till", "csv_till", True, False)])
        assert (await queued(store, "till"))["X"] == 5

        # Locations configured later: the stock held at "main" is the first location's.
        await store.register_locations([LocationInfo("shop"), LocationInfo("depot", "warehouse")])
        assert await at(store, "X") == {"shop": 5}
        assert await at(store, "Y") == {"shop": -1}
        assert await store.levels() == {"X": 5, "Y": -1}
        oversells = [c for c in await store.conflicts() if c.kind is ConflictKind.OVERSELL]
        assert len(oversells) == 1
    finally:
        await store.close()
