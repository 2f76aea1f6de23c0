"""Stores whose next document transaction fails after writing everything, before it commits (a
process killed at that instant): model tests prove nothing of it remains and a retry applies once.

Both paths a batch can take are covered: the transaction that locks and writes row by row
(SQLite, and PostgreSQL for a batch that records a conflict) and PostgreSQL's one-statement
``syncd_apply_next``, run here inside a transaction that is rolled back after the statement."""

from __future__ import annotations

from typing import Any

from syncd.ledger.planner import Plan, Snapshot
from syncd.ledger.postgres import PostgresStore, _PgTx
from syncd.ledger.sqlbase import Tx
from syncd.ledger.sqlite import SqliteStore


class CrashError(Exception):
    """Raised inside the transaction, after every write of the plan: nothing may remain."""


class _Crashing:
    crash_next = False

    def _take_crash(self) -> bool:
        crash, self.crash_next = self.crash_next, False
        return crash

    async def _write_plan(self, tx: Tx, plan: Plan, snap: Snapshot, now_us: int) -> None:
        await super()._write_plan(tx, plan, snap, now_us)  # type: ignore[misc]
        if self._take_crash():
            raise CrashError("killed before commit")


class CrashingSqlite(_Crashing, SqliteStore):
    pass


class CrashingPostgres(_Crashing, PostgresStore):
    async def _apply_plan(self, tx: Tx, *args: Any) -> tuple[str, str, bool]:
        if not self._take_crash():
            return await super()._apply_plan(tx, *args)
        assert isinstance(tx, _PgTx)
        async with tx.conn.transaction():
            await super()._apply_plan(tx, *args)
            raise CrashError("killed before commit")
