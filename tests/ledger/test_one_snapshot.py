"""PostgreSQL reads a batch's rows once (issue 17, migration 0016): ``syncd_apply_next`` reads
them again only when some transaction committed since the read, and a change found then is
planned again (SY001), never written over."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from syncd.ledger import ApplyStatus, Product
from tests.ledger.test_contract import receipt, till


async def _xmax(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text"))
    finally:
        await conn.close()


async def test_nothing_committed_since_the_read_writes_without_reading_again(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rows are not read again when nothing committed since the read: told that the
    # planner saw rows they are not (a wrong md5), the function still writes the plan, at the
    # first attempt. A read "after every transaction there will be" (a snapshot far ahead) makes
    # this independent of other databases' transactions on the same server.
    from syncd.ledger.postgres import PostgresStore

    store = await PostgresStore(pg_dsn, strict_skus=False).open(listen=False)
    try:
        await store.apply_document(receipt("r1", {"HOT": 10}))
        ahead = await _xmax(pg_dsn) + 1_000_000
        calls: list[int] = []
        original = PostgresStore._apply_plan

        async def apply_plan(self: PostgresStore, tx: Any, *args: Any) -> tuple[str, str, bool]:
            calls.append(1)
            changed = list(args)
            changed[5] = "0" * 32  # seen: not the md5 of what is there
            # since: nothing committed after it (on this server)
            changed[7] = f"{ahead}:{ahead}:@" + args[7].split("@")[1]
            return await original(self, tx, *changed)

        monkeypatch.setattr(PostgresStore, "_apply_plan", apply_plan)
        store._kept = None  # rows read for this batch, not kept from the last (test_kept_rows.py)
        assert (await store.apply_document(till("t1", {"HOT": 2}))).status is ApplyStatus.APPLIED
        assert calls == [1]
        assert await store.levels(["HOT"]) == {"HOT": 8}
    finally:
        await store.close()


async def test_a_commit_since_the_read_has_the_rows_read_again(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another daemon commits (another SKU) between the read and the write: the rows are read
    # again and compared; told the planner saw other rows (a wrong md5), the write is refused
    # (SY001) and the batch planned again.
    from syncd.ledger.postgres import PostgresStore

    mine = await PostgresStore(pg_dsn, strict_skus=False).open(listen=False)
    other = await PostgresStore(pg_dsn, strict_skus=False).open(listen=False)
    try:
        await mine.apply_document(receipt("r1", {"HOT": 10, "COLD": 10}))
        refused: list[str] = []
        original = PostgresStore._apply_plan

        async def apply_plan(self: PostgresStore, tx: Any, *args: Any) -> tuple[str, str, bool]:
            if self is other or refused:
                return await original(self, tx, *args)
            await other.apply_document(till("theirs", {"COLD": 1}))
            changed = list(args)
            changed[5] = "0" * 32
            try:
                return await original(self, tx, *changed)
            except asyncpg.PostgresError as err:
                refused.append(getattr(err, "sqlstate", ""))
                raise

        monkeypatch.setattr(PostgresStore, "_apply_plan", apply_plan)
        mine._kept = None  # rows read for this batch, not kept from the last (test_kept_rows.py)
        assert (await mine.apply_document(till("mine", {"HOT": 2}))).status is ApplyStatus.APPLIED
        assert refused == ["SY001"]
        assert await mine.levels(["HOT", "COLD"]) == {"HOT": 8, "COLD": 9}
    finally:
        await mine.close()
        await other.close()


async def test_an_alias_changed_between_read_and_write_is_planned_again(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not only stock rows: the read found EAN-1 an alias of COLD; the alias is changed to HOT
    # and committed before the write, so the line moves HOT's stock, not COLD's.
    from syncd.ledger.postgres import PostgresStore, _PgTx

    mine = await PostgresStore(pg_dsn).open(listen=False)
    other = await PostgresStore(pg_dsn).open(listen=False)
    try:
        await mine.upsert_products([Product("HOT"), Product("COLD")])
        await mine.set_aliases({"EAN-1": "COLD"})
        await mine.apply_document(receipt("r1", {"HOT": 10, "COLD": 10}))
        original = _PgTx.fetch
        interfered: list[str] = []

        async def fetch(self: _PgTx, name: str, *args: object) -> list[object]:
            rows = await original(self, name, *args)
            if name == "read_snapshot" and not interfered:
                interfered.append(name)
                await other.set_aliases({"EAN-1": "HOT"})
            return rows

        monkeypatch.setattr(_PgTx, "fetch", fetch)
        mine._kept = None  # rows read for this batch, not kept from the last (test_kept_rows.py)
        result = await mine.apply_document(till("mine", {"EAN-1": 2}))
        assert interfered
        assert result.status is ApplyStatus.APPLIED
        assert await mine.levels(["HOT", "COLD"]) == {"HOT": 8, "COLD": 10}
    finally:
        await mine.close()
        await other.close()
